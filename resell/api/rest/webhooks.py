"""Merchant webhook endpoints: POST, GET, DELETE /connect/webhooks (the usual token and secret), an
endpoint's delivery log (GET /connect/webhooks/{id}/deliveries?limit=&before=) and redelivering one
event to it (POST /connect/webhooks/{id}/deliveries/{eventId}/redeliver).

Parse, call resell.services.webhooks, render; run by api/rest/dispatch.py like every /connect
operation. The signing secret is in the POST reply only.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from resell.api import shapes
from resell.api.rest.dispatch import Body, Call, Operation, add_routes
from resell.api.shapes import JSONReply
from resell.domain.codes import Refusal
from resell.domain.request_fields import decimal_id
from resell.services import webhooks


def add_webhook(call: Call) -> Body | Response:
    try:
        made = webhooks.add_merchant_endpoint(call.ctx, call.who, call.body.get("url"), call.body.get("events"))
    except Refusal as refusal:  # a refusal is HTTP 200, a created endpoint 201
        return JSONReply(shapes.refusal("addWebhook", refusal), status_code=200)
    return shapes.body(
        "addWebhook",
        id=made.endpoint.id,
        url=made.endpoint.url,
        events=made.endpoint.events,
        signingSecret=made.signing_secret,
    )


def list_webhooks(call: Call) -> Body:
    endpoints = webhooks.list_merchant_endpoints(call.ctx, call.who)
    return shapes.body("listWebhooks", webhooks=[shapes.webhook_endpoint(e) for e in endpoints])


def remove_webhook(call: Call) -> Body:
    endpoint_id = call.params["endpoint_id"]
    try:
        removed = webhooks.remove_merchant_endpoint(call.ctx, call.who, endpoint_id)
    except Refusal as refusal:
        return shapes.refusal("removeWebhook", refusal, id=decimal_id(endpoint_id))
    return shapes.body("removeWebhook", id=removed)


def list_deliveries(call: Call) -> Body:
    endpoint_id = call.params["endpoint_id"]
    try:
        log = webhooks.merchant_delivery_log(
            call.ctx, call.who.merchant_id, endpoint_id, call.query.get("limit"), call.query.get("before")
        )
    except Refusal as refusal:
        return shapes.refusal("listWebhookDeliveries", refusal, id=decimal_id(endpoint_id))
    return shapes.body(
        "listWebhookDeliveries",
        id=log.endpoint.id,
        deliveries=[shapes.webhook_delivery(d) for d in log.deliveries],
        nextBefore=log.next_before,
    )


def redeliver(call: Call) -> Body:
    endpoint_id, event_id = call.params["endpoint_id"], call.params["event_id"]
    try:
        done = webhooks.merchant_redeliver(
            call.ctx, call.who.merchant_id, endpoint_id, event_id, actor=f"merchant:{call.who.realm}"
        )
    except Refusal as refusal:
        return shapes.refusal("redeliverWebhookEvent", refusal, id=decimal_id(endpoint_id), eventId=event_id)
    return shapes.body("redeliverWebhookEvent", id=done.endpoint_id, eventId=done.event_id, eventType=done.event_type)


OPERATIONS = [
    Operation("addWebhook", ("POST",), "", add_webhook, reads_body=True, in_thread_pool=True, status_code=201),
    Operation("listWebhooks", ("GET",), "", list_webhooks, reads_body=False, in_thread_pool=True),
    Operation("removeWebhook", ("DELETE",), "/{endpoint_id}", remove_webhook, reads_body=False, in_thread_pool=True),
    Operation(
        "listWebhookDeliveries",
        ("GET",),
        "/{endpoint_id}/deliveries",
        list_deliveries,
        reads_body=False,
        in_thread_pool=True,
    ),
    Operation(
        "redeliverWebhookEvent",
        ("POST",),
        "/{endpoint_id}/deliveries/{event_id}/redeliver",
        redeliver,
        reads_body=False,
        in_thread_pool=True,
    ),
]

router = APIRouter(prefix="/connect/webhooks", default_response_class=JSONReply, tags=["webhooks"])
add_routes(router, OPERATIONS)
