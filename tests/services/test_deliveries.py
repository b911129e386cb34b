"""The outbox for the back office: states after real SMTP and HTTP deliveries, filters, keyset pages,
an order's deliveries, and redeliver (emails anew; webhooks through webhooks.redeliver)."""

# ruff: noqa: F811 - the mail tests' fixtures, imported, are parameters here

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from resell.db.tables import audit_events, outbox
from resell.services import dashboard, deliveries, webhooks
from resell.services import orders as order_service
from resell.services.context import Context
from resell.worker import dispatcher
from tests.conftest import World, order_body
from tests.delivery_support import HttpReceiver, SmtpSink
from tests.renewal_support import caller_of
from tests.worker.test_mail import direct, settings, smtp_port  # noqa: F401 - fixtures

MAIL = "mail.delivery"


@pytest.fixture(autouse=True)
def _no_kept_days() -> None:
    dashboard.clear_cache()


class Refuse:
    async def handle_RCPT(self, server, session, envelope, address, options):  # type: ignore[no-untyped-def]  # noqa: N802
        return "550 5.1.1 no such user"


@pytest.fixture
def refusing(smtp_port: int) -> Iterator[None]:
    controller = Controller(Refuse(), hostname="127.0.0.1", port=smtp_port)
    controller.start()
    yield
    controller.stop()


def buy(ctx: Context, world: World, pon: str) -> int:
    return order_service.submit_order(ctx, caller_of(ctx, world.a), order_body(pon, (1301, 1))).order_number


def test_an_email_the_smtp_server_cannot_take_is_retrying_with_its_error(
    ctx: Context,
    world: World,
    direct: bytes,
    clock,
) -> None:
    number = buy(ctx, world, "DLV-DOWN")
    (waiting,) = deliveries.for_order(ctx, number)
    assert (waiting.kind, waiting.category, waiting.state, waiting.attempts) == (MAIL, "email", "waiting", 0)
    assert waiting.to == "buyer@example.com" and waiting.order_number == number
    assert dispatcher.run_pass(ctx).retried == 1  # nothing listens on the SMTP port
    (row,) = deliveries.for_order(ctx, number)
    assert row.state == "retrying" and row.attempts == 1 and row.max_attempts == 100
    assert "refused" in row.last_error.lower() or "connection" in row.last_error.lower()
    assert row.next_attempt_at == clock.now + dt.timedelta(minutes=1) and row.delivered_at is None
    # the dashboard lists it, with its error
    summary = dashboard.summary(ctx)
    assert [(d.id, d.last_error) for d in summary.failed_deliveries] == [(row.id, row.last_error)]
    assert summary.failed_deliveries_total == 1
    assert deliveries.listing(ctx, state="retrying").rows == [row]
    # still the worker's: not redelivered by hand
    with pytest.raises(deliveries.DeliveryError, match="retrying"):
        deliveries.redeliver(ctx, row.id)


def test_a_refused_email_fails_and_redeliver_sends_it_once_the_server_accepts(
    ctx: Context,
    world: World,
    direct: bytes,
    smtp_port: int,
    refusing: None,
    clock,
) -> None:
    number = buy(ctx, world, "DLV-550")
    assert dispatcher.run_pass(ctx).failed == 1
    (failed,) = deliveries.for_order(ctx, number)
    assert failed.state == "failed" and failed.last_error.startswith("gave up: recipient refused")
    assert deliveries.listing(ctx, state="failed", kinds=[MAIL]).rows == [failed]
    assert [d.id for d in dashboard.summary(ctx).failed_deliveries] == [failed.id]


def test_redeliver_after_the_server_accepts(
    ctx: Context,
    world: World,
    direct: bytes,
    smtp_port: int,
    clock,
) -> None:
    controller = Controller(Refuse(), hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        number = buy(ctx, world, "DLV-AGAIN")
        assert dispatcher.run_pass(ctx).failed == 1
    finally:
        controller.stop()
    (failed,) = deliveries.for_order(ctx, number)
    sink = SmtpSink(smtp_port)
    try:
        clock.advance(minutes=1)
        assert deliveries.redeliver(ctx, failed.id, actor="admin:ann") == 1
        assert dispatcher.run_pass(ctx).delivered == 1
        (message,) = sink.messages
        assert message["To"] == "buyer@example.com" and str(number) in message["Subject"]
    finally:
        sink.stop()
    old, new = deliveries.for_order(ctx, number)
    assert (old.id, old.state) == (failed.id, "failed")  # the record of what happened stays
    assert new.state == "delivered" and new.last_error is None and new.delivered_at == clock.now
    with ctx.db.read() as conn:
        (audited,) = conn.execute(select(audit_events).where(audit_events.c.action == "redelivered")).all()
    assert (audited.actor, audited.entity, audited.entity_id) == ("admin:ann", "outbox", str(failed.id))
    assert audited.after == {"eventId": new.event_id}
    # a delivered email may go again too; a waiting one may not
    assert deliveries.redeliver(ctx, new.id) == 1
    waiting = deliveries.for_order(ctx, number)[-1]
    assert waiting.state == "waiting"
    with pytest.raises(deliveries.DeliveryError):
        deliveries.redeliver(ctx, waiting.id)
    with pytest.raises(deliveries.DeliveryError):
        deliveries.redeliver(ctx, 10**9)


def test_webhooks_of_an_order_filters_and_keyset_pages(ctx: Context, world: World) -> None:
    receiver = HttpReceiver(lambda _request: (200, b"{}"))
    try:
        made = webhooks.add_endpoint(ctx, receiver.url, ["order.created"], realm=world.a.realm)
        who = caller_of(ctx, world.a)
        numbers = [
            order_service.submit_order(ctx, who, order_body(f"DLV-W{i}", (1002, 1))).order_number for i in range(3)
        ]
        dispatcher.run_pass(ctx)
        (hook,) = deliveries.for_order(ctx, numbers[1])  # the webhook delivery; order.created itself is no delivery
        assert (hook.category, hook.state, hook.order_number) == ("webhook", "delivered", numbers[1])
        assert hook.to == f"endpoint {made.endpoint.id}" and hook.webhook_id
        # every outbox row of that order, events included, newest first
        rows = deliveries.listing(ctx, order_number=numbers[1]).rows
        assert {r.kind for r in rows} == {"order.created", "webhook.deliver"}
        assert all(r.state == "delivered" for r in rows)
        # keyset pages over the webhook deliveries
        first = deliveries.listing(ctx, kinds=["webhook.deliver"], limit=2)
        assert [r.order_number for r in first.rows] == [numbers[2], numbers[1]] and first.next_after
        second = deliveries.listing(ctx, kinds=["webhook.deliver"], limit=2, before=first.next_after)
        assert [r.order_number for r in second.rows] == [numbers[0]] and second.next_after is None
        assert deliveries.listing(ctx, state="waiting").rows == []
        with pytest.raises(deliveries.DeliveryError):
            deliveries.listing(ctx, state="lost")
        # redeliver a webhook: the same webhook-id, to the same endpoint, through webhooks.redeliver
        assert deliveries.redeliver(ctx, hook.id) == 1
        dispatcher.run_pass(ctx)
        ids = [r.headers.get("webhook-id") for r in receiver.requests]
        assert ids.count(hook.webhook_id) == 2
        # an event itself is not something to send
        event = next(r for r in rows if r.kind == "order.created")
        with pytest.raises(deliveries.DeliveryError, match="order.created"):
            deliveries.redeliver(ctx, event.id)
    finally:
        receiver.close()
    with ctx.db.read() as conn:
        assert conn.execute(select(outbox.c.id).where(outbox.c.id == hook.id)).scalar() == hook.id
