"""The dispatcher with slow receivers, on real loopback HTTP servers: one merchant's hanging endpoints
do not hold up another merchant's webhooks, at most RESELL_WORKER_PER_DESTINATION deliveries go to one
endpoint at a time, and a second worker never takes an event the first one is still delivering."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from resell.db.tables import outbox
from resell.services import orders as order_service
from resell.services import webhooks as endpoints
from resell.services.context import Context
from resell.worker import dispatcher
from resell.worker.dispatcher import PassStats
from tests.conftest import Clock, World, order_body
from tests.delivery_support import wait_until
from tests.renewal_support import (  # noqa: F401 - fixtures: fresh_stock_check (autouse)
    Receiver,
    caller_of,
    finish,
    fresh_stock_check,
    serve_receiver,
    worker_process,
)

HANG = 25.0  # the webhook timeout here: far longer than any wait of these tests, shorter than the receiver's


@pytest.fixture
def slow() -> Iterator[Receiver]:
    with serve_receiver() as rec:
        rec.mode = "hang"  # takes the request, answers 204 only once the test releases it
        yield rec


@pytest.fixture
def fast() -> Iterator[Receiver]:
    with serve_receiver() as rec:
        yield rec


def register(ctx: Context, rec: Receiver, realm: str) -> int:
    made = endpoints.add_endpoint(ctx, rec.url, ["order.created"], realm=realm)
    rec.secret = made.signing_secret
    return made.endpoint.id


def deliveries(ctx: Context, endpoint_id: int) -> list:
    with ctx.db.read() as conn:
        rows = conn.execute(select(outbox).where(outbox.c.kind == "webhook.deliver").order_by(outbox.c.id)).all()
    return [r for r in rows if r.payload["endpointId"] == endpoint_id]


class Worker:
    """`dispatcher.run_pass` in a thread of its own, as a worker process runs it."""

    def __init__(self, ctx: Context):
        self.stats: list[PassStats] = []
        self.thread = threading.Thread(target=lambda: self.stats.append(dispatcher.run_pass(ctx)), daemon=True)
        self.thread.start()

    def join(self) -> PassStats:
        self.thread.join(timeout=HANG + 10)
        assert not self.thread.is_alive(), "the worker pass did not end"
        (stats,) = self.stats
        return stats


def test_a_merchants_hanging_endpoints_do_not_hold_up_another_merchants_webhooks(
    ctx: Context, world: World, slow: Receiver, fast: Receiver
) -> None:
    ctx.settings.webhook_timeout_seconds = HANG
    hanging = [register(ctx, slow, "shop-a") for _ in range(3)]
    register(ctx, fast, "shop-b")
    order_service.submit_order(ctx, caller_of(ctx, world.a), order_body("A-1", (1003, 1)))  # queued first
    order_service.submit_order(ctx, caller_of(ctx, world.b), order_body("B-1", (1003, 1)))
    worker = Worker(ctx)
    try:
        wait_until(lambda: fast.all(), timeout=HANG / 2, what="B's webhook")
        assert not slow.release.is_set()  # B's webhook came while every one of A's was still unanswered
        wait_until(lambda: len(slow.all()) == 3, what="A's three deliveries at once")
    finally:
        slow.release.set()
    stats = worker.join()
    assert stats.delivered == 4 and stats.retried == 0
    (got,) = fast.all()
    assert got.error is None and got.verified["data"]["partnerOrderNumber"] == "B-1"
    assert all(deliveries(ctx, e)[0].delivered_at is not None for e in hanging)


def test_a_merchant_with_more_hanging_endpoints_than_its_share_cannot_fill_the_worker(
    ctx: Context, world: World, slow: Receiver, fast: Receiver
) -> None:
    """Six threads, a share of four per owner: A's six hanging endpoints get four of them, B the rest."""
    ctx.settings.webhook_timeout_seconds = HANG
    ctx.settings.worker_concurrency = 6
    ctx.settings.worker_per_destination = 4
    hanging = [register(ctx, slow, "shop-a") for _ in range(6)]
    register(ctx, fast, "shop-b")
    order_service.submit_order(ctx, caller_of(ctx, world.a), order_body("A-1", (1003, 1)))
    order_service.submit_order(ctx, caller_of(ctx, world.b), order_body("B-1", (1003, 1)))
    worker = Worker(ctx)
    try:
        wait_until(lambda: fast.all() and len(slow.all()) == 4, timeout=HANG / 2, what="B's webhook and four of A's")
        assert [deliveries(ctx, e)[0].attempts for e in hanging] == [1, 1, 1, 1, 0, 0]
    finally:
        slow.release.set()
    assert worker.join().delivered == 7
    assert len(slow.all()) == 6


def test_at_most_the_per_destination_limit_is_in_flight_to_one_endpoint(
    ctx: Context, world: World, slow: Receiver, fast: Receiver
) -> None:
    ctx.settings.webhook_timeout_seconds = HANG
    ctx.settings.worker_per_destination = 2
    endpoint_a = register(ctx, slow, "shop-a")
    register(ctx, fast, "shop-b")
    a = caller_of(ctx, world.a)
    for pon in ("A-1", "A-2", "A-3"):
        order_service.submit_order(ctx, a, order_body(pon, (1003, 1)))
    order_service.submit_order(ctx, caller_of(ctx, world.b), order_body("B-1", (1003, 1)))
    worker = Worker(ctx)
    try:
        wait_until(lambda: fast.all() and len(slow.all()) == 2, timeout=HANG / 2, what="B's webhook and two of A's")
        first, second, third = deliveries(ctx, endpoint_a)
        assert (first.attempts, second.attempts, third.attempts) == (1, 1, 0)  # the third is left unclaimed
        assert len(slow.all()) == 2
    finally:
        slow.release.set()
    stats = worker.join()
    assert stats.delivered == 4
    assert len(slow.all()) == 3 and len({r.headers["webhook-id"] for r in slow.all()}) == 3
    assert [d.attempts for d in deliveries(ctx, endpoint_a)] == [1, 1, 1]


def test_a_second_worker_never_takes_an_event_the_first_is_still_delivering(
    ctx: Context, world: World, clock: Clock, slow: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first worker is on a delivery when the clock passes its lease (as it would after five minutes
    of a slow receiver): its heartbeat renews the lease, so a second worker process, running a pass at
    that time, delivers the events nobody holds and leaves that one alone. Every event is sent once."""
    monkeypatch.setattr(dispatcher, "HEARTBEAT_SECONDS", 0.05)
    ctx.settings.webhook_timeout_seconds = HANG
    ctx.settings.worker_per_destination = 1
    endpoint_id = register(ctx, slow, "shop-a")
    a = caller_of(ctx, world.a)
    for pon in ("A-1", "A-2", "A-3"):
        order_service.submit_order(ctx, a, order_body(pon, (1003, 1)))
    first = Worker(ctx)
    second = None
    try:
        wait_until(lambda: len(slow.all()) == 1, what="the first worker on the first event")
        held = deliveries(ctx, endpoint_id)[0]
        assert held.attempts == 1 and held.event_id
        clock.advance(minutes=dispatcher.LEASE.total_seconds() / 60 + 1)
        wait_until(
            lambda: deliveries(ctx, endpoint_id)[0].available_at > clock.now,
            what="the first worker renewing the lease of the event it is on",
        )
        second = worker_process(
            ctx.settings,
            clock.now,
            RESELL_WEBHOOK_TIMEOUT_SECONDS=str(HANG),
            RESELL_WORKER_PER_DESTINATION="1",
        )
        wait_until(lambda: len(slow.all()) == 2, timeout=HANG - 5, what="the second worker on another event")
        assert slow.all()[0].headers["webhook-id"] != slow.all()[1].headers["webhook-id"]
    finally:
        slow.release.set()
    assert second is not None
    finish(second)
    first.join()
    got = [r.headers["webhook-id"] for r in slow.all()]
    assert len(got) == 3 and len(set(got)) == 3  # three events, each sent once
    rows = deliveries(ctx, endpoint_id)
    assert all(r.delivered_at is not None and r.attempts == 1 and r.last_error is None for r in rows)
