"""Webhook delivery by the worker to a real HTTP receiver on loopback: Standard Webhooks signatures,
the same webhook-id on every retry, backoff for about three days, 410, timeouts, the delivery log,
redelivery, and stock.low / stock.out for the operator and publishers."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from resell.db.tables import outbox, webhook_deliveries, webhook_endpoints
from resell.domain.retry import WEBHOOKS
from resell.services import orders as order_service
from resell.services import stock
from resell.services import webhooks as endpoints
from resell.services.catalog_import import import_catalog
from resell.services.context import Context
from resell.worker import dispatcher
from tests.conftest import Clock, World, order_body
from tests.renewal_support import (  # noqa: F401 - fixtures: fresh_stock_check (autouse), receiver
    Receiver,
    buy,
    caller_of,
    fresh_stock_check,
    outbox_events,
    receiver_fixture,
)


def register(ctx: Context, rec: Receiver, events: list[str], realm: str | None = "shop-a", **kw) -> int:  # type: ignore[no-untyped-def]
    made = endpoints.add_endpoint(ctx, rec.url, events, realm=realm, **kw)
    rec.secret = made.signing_secret
    return made.endpoint.id


def log_of(ctx: Context, endpoint_id: int) -> list[tuple[int, int | None, str | None]]:
    with ctx.db.read() as conn:
        rows = conn.execute(
            select(webhook_deliveries)
            .where(webhook_deliveries.c.endpoint_id == endpoint_id)
            .order_by(webhook_deliveries.c.id)
        ).all()
    return [(r.attempt, r.status_code, r.error) for r in rows]


def deliveries(ctx: Context) -> list[object]:
    return outbox_events(ctx, "webhook.deliver")


def test_an_event_reaches_the_merchants_endpoint_signed(ctx: Context, world: World, receiver: Receiver) -> None:
    endpoint_id = register(ctx, receiver, ["order.created"])
    who = caller_of(ctx, world.a)
    view = order_service.submit_order(ctx, who, order_body("PON", (1003, 1)))
    stats = dispatcher.run_pass(ctx)
    assert stats.kinds.get("webhook.deliver") == 1
    (got,) = receiver.all()
    assert got.error is None, got.error  # standardwebhooks.Webhook.verify accepted the signature
    (event,) = outbox_events(ctx, "order.created")
    assert got.headers["webhook-id"] == event.event_id
    assert got.headers["content-type"] == "application/json" and got.path == "/hooks"
    assert got.verified == {
        "type": "order.created",
        "timestamp": ctx.now().replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "data": {"orderNumber": view.order_number, "partnerOrderNumber": "PON"},
    }
    assert log_of(ctx, endpoint_id) == [(1, 204, None)]


def test_a_tampered_body_does_not_verify(ctx: Context, world: World, receiver: Receiver) -> None:
    register(ctx, receiver, ["order.created"])
    order_service.submit_order(ctx, caller_of(ctx, world.a), order_body("PON", (1003, 1)))
    dispatcher.run_pass(ctx)
    (got,) = receiver.all()
    from standardwebhooks import Webhook, WebhookVerificationError

    with pytest.raises(WebhookVerificationError):
        Webhook(receiver.secret or "").verify(got.body.replace(b"PON", b"POX"), got.headers)
    with pytest.raises(WebhookVerificationError):  # another endpoint's secret
        other = endpoints.add_endpoint(ctx, "https://x.example/h", ["order.created"], realm="shop-a")
        Webhook(other.signing_secret).verify(got.body, got.headers)


def test_only_subscribed_events_of_the_merchant_itself_are_sent(ctx: Context, world: World, receiver: Receiver) -> None:
    register(ctx, receiver, ["order.cancelled"])
    a, b = caller_of(ctx, world.a), caller_of(ctx, world.b)
    order_service.submit_order(ctx, a, order_body("A1", (1003, 1)))  # order.created: not subscribed
    order_service.submit_order(ctx, b, order_body("B1", (1003, 1)))
    order_service.cancel_order(ctx, b, "B1", 2, None)  # another merchant's cancellation
    order_service.cancel_order(ctx, a, "A1", 2, None)
    dispatcher.run_pass(ctx)
    assert [(r.verified["type"], r.verified["data"]["partnerOrderNumber"]) for r in receiver.all()] == [
        ("order.cancelled", "A1")
    ]


def test_a_failing_receiver_is_retried_with_the_same_id_until_it_comes_back(
    ctx: Context, world: World, clock: Clock, receiver: Receiver
) -> None:
    endpoint_id = register(ctx, receiver, ["order.created"])
    receiver.mode = "fail"
    order_service.submit_order(ctx, caller_of(ctx, world.a), order_body("PON", (1003, 1)))
    assert dispatcher.run_pass(ctx).retried == 1
    (delivery,) = deliveries(ctx)
    assert (
        delivery.available_at == clock.now + dt.timedelta(minutes=1)
        and delivery.last_error == "DeliveryFailed: HTTP 503"
    )
    assert dispatcher.run_pass(ctx).retried == 0  # not before the backoff is over
    clock.advance(minutes=1)
    assert dispatcher.run_pass(ctx).retried == 1
    assert deliveries(ctx)[0].available_at == clock.now + dt.timedelta(minutes=2)  # doubled
    receiver.mode = "ok"
    clock.advance(minutes=2)
    assert dispatcher.run_pass(ctx).delivered == 1
    got = receiver.all()
    assert len(got) == 3 and all(r.error is None for r in got)
    assert len({r.headers["webhook-id"] for r in got}) == 1  # one event, one id, on every attempt
    assert log_of(ctx, endpoint_id) == [(1, 503, "HTTP 503"), (2, 503, "HTTP 503"), (3, 204, None)]
    assert deliveries(ctx)[0].delivered_at == clock.now


def test_a_receiver_that_does_not_answer_in_time_is_retried(
    ctx: Context, world: World, clock: Clock, receiver: Receiver
) -> None:
    ctx.settings.webhook_timeout_seconds = 0.3
    endpoint_id = register(ctx, receiver, ["order.created"])
    receiver.mode = "hang"
    order_service.submit_order(ctx, caller_of(ctx, world.a), order_body("PON", (1003, 1)))
    assert dispatcher.run_pass(ctx).retried == 1
    assert log_of(ctx, endpoint_id) == [(1, None, "timed out after 0.3 s")]
    assert deliveries(ctx)[0].last_error == "DeliveryFailed: timed out after 0.3 s"
    receiver.mode = "ok"
    receiver.release.set()
    clock.advance(minutes=1)
    assert dispatcher.run_pass(ctx).delivered == 1
    assert [a for a, _, _ in log_of(ctx, endpoint_id)] == [1, 2] and log_of(ctx, endpoint_id)[1][1] == 204


def test_a_refused_connection_is_retried_and_logged(ctx: Context, world: World, receiver: Receiver) -> None:
    made = endpoints.add_endpoint(ctx, "http://127.0.0.1:9/nobody-listens", ["order.created"], realm="shop-a")
    order_service.submit_order(ctx, caller_of(ctx, world.a), order_body("PON", (1003, 1)))
    assert dispatcher.run_pass(ctx).retried == 1
    ((attempt, status, error),) = log_of(ctx, made.endpoint.id)
    assert (attempt, status) == (1, None) and error.startswith("ConnectError")


def test_backoff_lasts_about_three_days_then_gives_up(
    ctx: Context, world: World, clock: Clock, receiver: Receiver
) -> None:
    endpoint_id = register(ctx, receiver, ["order.created"])
    receiver.mode = "fail"
    order_service.submit_order(ctx, caller_of(ctx, world.a), order_body("PON", (1003, 1)))
    first = clock.now
    for _ in range(WEBHOOKS.max_attempts):
        dispatcher.run_pass(ctx)
        row = deliveries(ctx)[0]
        if row.delivered_at is None:
            clock.now = row.available_at
    row = deliveries(ctx)[0]
    assert row.delivered_at is not None and row.last_error == "gave up: DeliveryFailed: HTTP 503"
    span = clock.now - first
    assert dt.timedelta(days=2.5) < span < dt.timedelta(days=3.5), span
    assert len(log_of(ctx, endpoint_id)) == WEBHOOKS.max_attempts == len(receiver.all())
    assert len({r.headers["webhook-id"] for r in receiver.all()}) == 1
    clock.advance(days=30)
    assert dispatcher.run_pass(ctx).retried == 0 and len(receiver.all()) == WEBHOOKS.max_attempts


def test_410_gone_disables_the_endpoint(ctx: Context, world: World, clock: Clock, receiver: Receiver) -> None:
    endpoint_id = register(ctx, receiver, ["order.created"])
    receiver.mode = "gone"
    who = caller_of(ctx, world.a)
    order_service.submit_order(ctx, who, order_body("PON", (1003, 1)))
    stats = dispatcher.run_pass(ctx)
    assert (stats.failed, stats.retried) == (1, 0)
    with ctx.db.read() as conn:
        row = conn.execute(select(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id)).one()
    assert (row.active, row.disabled_reason, row.disabled_at) == (False, "410 Gone", clock.now)
    assert deliveries(ctx)[0].last_error == "gave up: 410 Gone: endpoint disabled"
    order_service.submit_order(ctx, who, order_body("PON2", (1003, 1)))
    assert len(deliveries(ctx)) == 1  # nothing more is queued for it
    (listed,) = endpoints.list_endpoints(ctx, "shop-a")
    assert (listed.active, listed.disabled_reason) == (False, "410 Gone")


def test_a_delivery_pending_for_a_removed_endpoint_is_dropped(ctx: Context, world: World, receiver: Receiver) -> None:
    endpoint_id = register(ctx, receiver, ["order.created"])
    order_service.submit_order(ctx, caller_of(ctx, world.a), order_body("PON", (1003, 1)))
    endpoints.remove_endpoint(ctx, endpoint_id)
    assert dispatcher.run_pass(ctx).failed == 1
    assert receiver.all() == []
    assert log_of(ctx, endpoint_id) == [(1, None, "not sent: endpoint removed")]


def test_redeliver_sends_the_same_event_again_with_the_same_id(ctx: Context, world: World, receiver: Receiver) -> None:
    endpoint_id = register(ctx, receiver, ["order.created"])
    order_service.submit_order(ctx, caller_of(ctx, world.a), order_body("PON", (1003, 1)))
    dispatcher.run_pass(ctx)
    (event,) = outbox_events(ctx, "order.created")
    assert endpoints.redeliver(ctx, event.event_id) == 1
    assert dispatcher.run_pass(ctx).delivered == 1
    first, second = receiver.all()
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == event.event_id
    assert first.verified == second.verified and second.error is None
    assert log_of(ctx, endpoint_id) == [(1, 204, None), (2, 204, None)]
    with pytest.raises(endpoints.WebhookError):
        endpoints.redeliver(ctx, "no-such-event")


# ---------------------------------------------------------------- stock.low and stock.out


def test_stock_crossing_its_thresholds_tells_the_operator_and_the_products_publisher(
    ctx: Context, world: World, clock: Clock, receiver: Receiver
) -> None:
    import_catalog(ctx, {"publishers": [{"key": "other", "name": "Another Publisher"}], "products": []})
    operator = endpoints.add_endpoint(ctx, receiver.url + "?operator", ["stock.low", "stock.out"])
    publisher = endpoints.add_endpoint(ctx, receiver.url + "?pub", ["stock.out"], publisher="pub")
    endpoints.add_endpoint(ctx, receiver.url + "?other", ["stock.low", "stock.out"], publisher="other")
    assert operator.signing_secret != publisher.signing_secret
    receiver.secret = operator.signing_secret  # the publisher's copies are checked below with its own secret
    who = caller_of(ctx, world.a)
    dispatcher.run_pass(ctx)  # first look: levels recorded silently (1001: 20 serials, threshold 3)
    assert outbox_events(ctx, "stock.low") == []

    order_service.submit_order(ctx, who, order_body("P1", (1001, 17)))  # 3 left: almost out
    clock.advance(minutes=1)
    dispatcher.run_pass(ctx)
    order_service.submit_order(ctx, who, order_body("P2", (1001, 3)))  # none left
    clock.advance(minutes=1)
    dispatcher.run_pass(ctx)
    stock.import_serials(ctx, 1001, [f"MORE-{i}" for i in range(50)])  # back up: no alert, an audit row
    clock.advance(minutes=1)
    dispatcher.run_pass(ctx)

    by_path = [(r.path.split("?")[1], r.verified["type"] if r.verified else None) for r in receiver.all()]
    assert sorted(by_path, key=str) == sorted(
        [("operator", "stock.low"), ("operator", "stock.out"), ("pub", None)], key=str
    )
    from standardwebhooks import Webhook

    (pub_copy,) = [r for r in receiver.all() if r.path.endswith("?pub")]
    message = Webhook(publisher.signing_secret).verify(pub_copy.body, pub_copy.headers)
    assert message["type"] == "stock.out"
    assert message["data"] == {
        "publisher": "pub",
        "productRef": 1001,
        "productName": "Serial and files",
        "available": 0,
        "almostOutThreshold": 3,
    }
    (low,) = outbox_events(ctx, "stock.low")
    assert low.payload["available"] == 3 and low.payload["productRef"] == 1001


def test_stock_is_checked_at_most_once_a_minute_per_worker(ctx: Context, world: World, clock: Clock) -> None:
    who = caller_of(ctx, world.a)
    dispatcher.run_pass(ctx)
    order_service.submit_order(ctx, who, order_body("P1", (1001, 20)))
    clock.advance(seconds=30)
    dispatcher.run_pass(ctx)
    assert outbox_events(ctx, "stock.out") == []
    clock.advance(seconds=30)
    dispatcher.run_pass(ctx)
    assert [e.payload["productRef"] for e in outbox_events(ctx, "stock.out")] == [1001]


def test_subscription_events_go_out_in_the_pass_that_renews(
    ctx: Context, world: World, clock: Clock, receiver: Receiver
) -> None:
    register(ctx, receiver, ["subscription.renewed"])
    who = caller_of(ctx, world.a)
    (sub_id,) = buy(ctx, who, "PON")
    clock.advance(days=366)
    dispatcher.run_pass(ctx)
    (got,) = receiver.by_type("subscription.renewed")
    assert got.verified["data"]["subscriptionId"] == sub_id
    assert got.verified["data"]["renewalPartnerOrderNumber"] == "PON-1"
    with ctx.db.read() as conn:
        pending = conn.execute(select(outbox).where(outbox.c.delivered_at.is_(None))).all()
    assert pending == []
