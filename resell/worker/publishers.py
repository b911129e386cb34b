"""Calls to publishers: revoked-serial callbacks.

`POST callback_url` with JSON `{"type": "serials.revoked", "eventId", "reason", "orderNumber", "serials":
[{"productRef", "serial"}]}`, signed per Standard Webhooks with the publisher's derived key
(`webhook-id` is the outbox event id: stable across retries, so the publisher can ignore repeats).
`reason` is `order_cancelled`, or `order_not_created` for generated keys that were never handed out.
Any 2xx is success; anything else, or no answer within RESELL_PUBLISHER_TIMEOUT_SECONDS, is retried
with backoff (resell.domain.retry.PUBLISHER_CALLBACKS). A publisher without a callback URL has nothing to
be told. The URL must lead to a public address (resell.outbound): a refused one is logged and retried
like a failed call.
"""

from __future__ import annotations

import orjson
from sqlalchemy import select

from resell.db.tables import publishers
from resell.domain.retry import PUBLISHER_CALLBACKS
from resell.domain.signing import check_publisher_url, publisher_secret, signed_headers
from resell.logs import get_logger
from resell.outbound import AddressRefused
from resell.services.context import Context, utc_now
from resell.worker import http
from resell.worker.dispatcher import Event, GiveUp, handler

log = get_logger("resell.publishers")


class CallbackFailed(Exception):
    pass


@handler("publisher.serials_revoked", PUBLISHER_CALLBACKS, destination="publisher")
def serials_revoked(ctx: Context, event: Event) -> None:
    payload = event.payload
    with ctx.db.read() as conn:
        publisher = conn.execute(select(publishers).where(publishers.c.key == payload["publisher"])).first()
    if publisher is None or not publisher.callback_url:
        log.info("publisher_not_notified", publisher=payload["publisher"], reason="no callback URL")
        return
    try:
        url = check_publisher_url(publisher.callback_url)
    except ValueError as exc:
        raise GiveUp(str(exc)) from None
    body = orjson.dumps(
        {
            "type": "serials.revoked",
            "eventId": event.event_id,
            "reason": payload.get("reason", "order_cancelled"),
            "orderNumber": payload.get("orderNumber"),
            "serials": payload["serials"],
        }
    ).decode()
    secret = publisher_secret(ctx.settings.effective_publisher_key, publisher.key)
    headers = {"Content-Type": "application/json", **signed_headers(secret, event.event_id, utc_now(), body)}
    try:
        reply = http.client(ctx.settings).post(
            url, content=body, headers=headers, timeout=ctx.settings.publisher_timeout_seconds
        )
    except AddressRefused as refused:  # retried: the operator may correct the URL or its DNS meanwhile
        log.warning("publisher_call_refused", publisher=publisher.key, error=str(refused))
        raise CallbackFailed(str(refused)) from None
    if not 200 <= reply.status_code < 300:
        raise CallbackFailed(f"HTTP {reply.status_code}")
    log.info("publisher_notified", publisher=publisher.key, serials=len(payload["serials"]))
