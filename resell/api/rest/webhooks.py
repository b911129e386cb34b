"""Merchant webhook endpoints: POST, GET, DELETE /connect/webhooks (the usual token and secret).

Parse, call resell.services.webhooks, render. The signing secret is in the POST reply only.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from resell.api.rest import replies
from resell.api.rest.deps import caller, context, json_object
from resell.api.rest.replies import JSONReply
from resell.domain.codes import Refusal
from resell.domain.request_fields import decimal_id
from resell.services import webhooks
from resell.services.context import Caller, Context

router = APIRouter(prefix="/connect/webhooks", default_response_class=JSONReply, tags=["webhooks"])

Body = dict[str, Any]


@router.post("", name="addWebhook", status_code=201, response_model=None)
def add_webhook(
    who: Caller = Depends(caller), data: Body = Depends(json_object), ctx: Context = Depends(context)
) -> Any:
    try:
        made = webhooks.add_merchant_endpoint(ctx, who, data.get("url"), data.get("events"))
    except Refusal as refusal:
        return JSONReply(replies.refusal("addWebhook", refusal), status_code=200)
    return replies.body(
        "addWebhook",
        id=made.endpoint.id,
        url=made.endpoint.url,
        events=made.endpoint.events,
        signingSecret=made.signing_secret,
    )


@router.get("", name="listWebhooks", response_model=None)
def list_webhooks(who: Caller = Depends(caller), ctx: Context = Depends(context)) -> Body:
    return replies.body(
        "listWebhooks", webhooks=[replies.webhook_endpoint(e) for e in webhooks.list_merchant_endpoints(ctx, who)]
    )


@router.delete("/{endpoint_id}", name="removeWebhook", response_model=None)
def remove_webhook(endpoint_id: str, who: Caller = Depends(caller), ctx: Context = Depends(context)) -> Body:
    try:
        removed = webhooks.remove_merchant_endpoint(ctx, who, endpoint_id)
    except Refusal as refusal:
        return replies.refusal("removeWebhook", refusal, id=decimal_id(endpoint_id))
    return replies.body("removeWebhook", id=removed)
