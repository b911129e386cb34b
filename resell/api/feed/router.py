"""The product feed: GET /flow/getcatalog/v2.4/ as XML or CSV, full, differential or incremental.

`?secret=&provider=&config=[&diff=YYYY-MM-DD|last]`. The feed configuration (provider and config,
on the catalogue the secret opens) chooses the format. The body streams as it is read from the
database. A request that cannot be served gets a JSON `{"responseCode", "responseMessage"}` with an
HTTP error status, so that a scheduled download fails loudly.
"""

from __future__ import annotations

import re

from fastapi import APIRouter, Query, Request
from starlette.responses import Response, StreamingResponse

from resell.api.feed import csv_feed, xml_feed
from resell.api.shapes import JSONReply
from resell.domain import codes
from resell.domain.codes import Refusal
from resell.services import feeds

router = APIRouter(tags=["feed"])

HTTP_STATUS = {codes.SECRET_NOT_VALID: 403, codes.FEED_CONFIG_NOT_FOUND: 404}  # anything else: 400
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@router.get("/flow/getcatalog/v2.4/", name="getCatalog")
def get_catalog(
    request: Request,
    secret: str | None = Query(None, description="the catalogue secret"),
    provider: str | None = Query(None, description="the feed configuration's provider"),
    config: str | None = Query(None, description="the feed configuration's name"),
    diff: str | None = Query(None, description="YYYY-MM-DD: changes since that day; last: since the last fetch"),
) -> Response:
    """The merchant's catalogue as XML or CSV (the feed configuration decides)."""
    try:
        feed = feeds.open_feed(request.app.state.ctx, secret, provider, config, diff)
    except Refusal as refusal:
        request.state.response_code = refusal.code
        return JSONReply(
            {"responseCode": refusal.code, "responseMessage": refusal.message_in("getCatalog")},
            status_code=HTTP_STATUS.get(refusal.code, 400),
        )
    request.state.merchant = feed.caller.realm
    request.state.response_code = codes.OK
    renderer, extension = (csv_feed, "csv") if feed.config.format == "csv" else (xml_feed, "xml")
    name = _UNSAFE.sub("_", f"catalog-{feed.config.provider}-{feed.config.name}")
    return StreamingResponse(
        renderer.render(feed),
        media_type=renderer.MEDIA_TYPE,
        headers={"Content-Disposition": f'inline; filename="{name}.{extension}"'},
    )
