"""Revoked-serial callbacks to publishers through the outbox, to a real HTTP receiver."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from standardwebhooks import Webhook

from resell.config import Settings
from resell.db.tables import outbox
from resell.domain.signing import publisher_secret
from resell.services.catalog_import import import_catalog
from resell.services.context import Context
from resell.worker import dispatcher
from tests.conftest import Merchant, World, order_body, settings_for
from tests.delivery_support import HttpReceiver, Received


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return settings_for(
        tmp_path,
        db_url,
        publisher_timeout_seconds=0.5,
    )


class Plan:
    def __init__(self) -> None:
        self.steps: list[str] = ["200"]

    def __call__(self, request: Received) -> tuple[int, bytes] | str:
        step = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
        return "hang" if step == "hang" else (int(step), b"{}")


@pytest.fixture
def plan() -> Plan:
    return Plan()


@pytest.fixture
def receiver(plan: Plan) -> Iterator[HttpReceiver]:
    server = HttpReceiver(plan)
    yield server
    server.close()


@pytest.fixture
def listening(ctx: Context, world: World, receiver: HttpReceiver) -> None:
    """The test publisher ("pub") gets a callback URL."""
    import_catalog(ctx, {"publishers": [{"key": "pub", "name": "Test Publisher", "callbackUrl": receiver.url + "/cb"}]})


def revocation_events(ctx: Context) -> list:
    with ctx.db.read() as conn:
        return conn.execute(select(outbox).where(outbox.c.kind == "publisher.serials_revoked")).all()


def cancel(shop: Merchant, pon: str) -> None:
    reply = shop.call("PUT", "/order/cancel", {"partnerOrderNumber": pon, "reasonCode": 16})
    assert reply.json()["responseCode"] == 0, reply.text


def test_cancelling_tells_the_publisher_which_serials_died_with_a_signed_call(
    ctx: Context, shop_a: Merchant, receiver: HttpReceiver, listening: None
) -> None:
    order = shop_a.call("POST", "/order/new", order_body("PUB-1", (1001, 2), (1003, 1))).json()
    sold = [
        (line["productRef"], item["serials"][0]["data"]) for line in order["orderLines"] for item in line["lineItems"]
    ]
    cancel(shop_a, "PUB-1")
    assert receiver.requests == []  # nothing leaves before the worker runs, after the commit
    (event,) = revocation_events(ctx)
    assert dispatcher.run_pass(ctx).kinds.get("publisher.serials_revoked") == 1
    (call,) = receiver.requests
    assert call.path == "/cb"
    body = Webhook(publisher_secret(ctx.settings.effective_publisher_key, "pub")).verify(call.body, call.headers)
    assert call.headers["webhook-id"] == event.event_id == body["eventId"]
    assert body["type"] == "serials.revoked" and body["reason"] == "order_cancelled"
    assert body["orderNumber"] == order["orderNumber"]
    assert sorted((s["productRef"], s["serial"]) for s in body["serials"]) == sorted(sold)
    with pytest.raises(Exception, match="signature"):
        Webhook(publisher_secret(b"another platform key", "pub")).verify(call.body, call.headers)


@pytest.mark.parametrize("failure", ["500", "404", "hang"])
def test_a_publisher_that_fails_or_times_out_is_called_again_later_with_the_same_event_id(
    ctx: Context, shop_a: Merchant, receiver: HttpReceiver, plan: Plan, listening: None, clock, failure: str
) -> None:
    plan.steps = [failure, "200"]
    shop_a.call("POST", "/order/new", order_body("PUB-2", (1003, 1)))
    cancel(shop_a, "PUB-2")
    assert dispatcher.run_pass(ctx).retried == 1
    (row,) = revocation_events(ctx)
    assert row.delivered_at is None and row.available_at == clock.now + dt.timedelta(minutes=1)
    assert ("Timeout" in row.last_error) if failure == "hang" else (f"HTTP {failure}" in row.last_error)
    clock.advance(minutes=1)
    assert dispatcher.run_pass(ctx).delivered == 1
    first, second = receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == row.event_id
    assert json.loads(second.body)["serials"] == json.loads(first.body)["serials"]


def test_a_publisher_without_a_callback_url_is_not_called(
    ctx: Context, shop_a: Merchant, receiver: HttpReceiver, world: World
) -> None:
    shop_a.call("POST", "/order/new", order_body("PUB-3", (1003, 1)))
    cancel(shop_a, "PUB-3")
    assert dispatcher.run_pass(ctx).kinds.get("publisher.serials_revoked") == 1
    assert receiver.requests == []
    assert revocation_events(ctx)[0].delivered_at is not None
