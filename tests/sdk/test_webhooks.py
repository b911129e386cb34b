"""resell_client.webhooks.verify against what the server sends: a real delivery by the worker to a
receiver on loopback, and headers made by the worker's own signing code; tampering, other secrets and
stale timestamps are refused."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from resell_client import Client
from resell_client.webhooks import WebhookVerificationError, sign, verify

from resell.services.context import Context
from resell.worker import dispatcher
from resell.worker.webhooks import signed_headers
from tests.renewal_support import (  # noqa: F401 - fixtures: fresh_stock_check (autouse), receiver
    Receiver,
    fresh_stock_check,
    receiver_fixture,
)
from tests.sdk.conftest import order_request

SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # base64 of 24 bytes


def test_a_real_delivery_verifies(ctx: Context, sdk: Client, receiver: Receiver) -> None:
    made = sdk.create_webhook(receiver.url, ["order.created"])
    receiver.secret = made.signing_secret
    order = sdk.create_order(order_request("HOOK-1", (1003, 1)))
    dispatcher.run_pass(ctx)
    (got,) = receiver.all()
    event = verify(got.body, got.headers, made.signing_secret)
    assert event.type == "order.created" and event.id == got.headers["webhook-id"]
    assert event.data == {"orderNumber": order.order_number, "partnerOrderNumber": "HOOK-1"}
    assert event.timestamp.tzinfo is not None

    with pytest.raises(WebhookVerificationError):
        verify(got.body.replace(b"HOOK-1", b"HOOK-2"), got.headers, made.signing_secret)
    other = sdk.create_webhook(receiver.url, ["order.created"]).signing_secret
    with pytest.raises(WebhookVerificationError):
        verify(got.body, got.headers, other)
    sent_at = int(got.headers["webhook-timestamp"])
    with pytest.raises(WebhookVerificationError, match="too old"):
        verify(got.body, got.headers, made.signing_secret, now=sent_at + 301)
    assert verify(got.body, got.headers, made.signing_secret, now=sent_at + 299).id == event.id


def test_the_servers_signing_code_and_the_verifier_agree() -> None:
    body = '{"type":"order.cancelled","timestamp":"2026-12-01T10:00:00Z","data":{"orderNumber":7}}'
    at = dt.datetime.now(dt.UTC)
    headers = signed_headers(SECRET, "msg_1", body, at)
    event = verify(body.encode(), headers, SECRET)
    assert (event.id, event.type, event.data) == ("msg_1", "order.cancelled", {"orderNumber": 7})
    assert headers["webhook-signature"] == sign(body, SECRET, "msg_1", int(at.timestamp()))
    upper = {k.upper(): v for k, v in headers.items()}  # header names in any case
    assert verify(body, upper, SECRET).id == "msg_1"


def test_several_signatures_one_of_which_matches() -> None:
    body = b'{"type":"order.created","timestamp":"2026-12-01T10:00:00Z","data":{}}'
    now = int(time.time())
    good = sign(body, SECRET, "msg_2", now)
    headers = {"webhook-id": "msg_2", "webhook-timestamp": str(now), "webhook-signature": f"v1,AAAA {good}"}
    assert verify(body, headers, SECRET).id == "msg_2"


@pytest.mark.parametrize(
    "broken",
    [
        {"webhook-signature": None},
        {"webhook-id": None},
        {"webhook-timestamp": "soon"},
        {"webhook-timestamp": str(int(time.time()) + 3600)},
        {"webhook-signature": "v2,abc"},
        {"webhook-id": "msg_other"},
    ],
)
def test_broken_headers_are_refused(broken: dict[str, str | None]) -> None:
    body = b'{"type":"order.created","timestamp":"2026-12-01T10:00:00Z","data":{}}'
    now = int(time.time())
    headers: dict[str, str | None] = {
        "webhook-id": "msg_3",
        "webhook-timestamp": str(now),
        "webhook-signature": sign(body, SECRET, "msg_3", now),
    }
    headers.update(broken)
    with pytest.raises(WebhookVerificationError):
        verify(body, {k: v for k, v in headers.items() if v is not None}, SECRET)
