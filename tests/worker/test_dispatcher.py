"""The outbox dispatcher: after-commit delivery, retries with backoff, leases, several workers."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter

import pytest
from sqlalchemy import select, update

from resell.db.tables import outbox
from resell.domain import retry
from resell.domain.retry import RetryPolicy
from resell.services.outbox import enqueue
from resell.worker import dispatcher
from resell.worker.dispatcher import GiveUp


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch):
    """A test handler for kind 'test.ping' that records what it saw and fails on demand."""
    seen: list[str] = []
    failures: Counter[str] = Counter()
    lock = threading.Lock()

    def ping(ctx, event) -> None:
        with lock:
            if failures[event.event_id] > 0:
                failures[event.event_id] -= 1
                raise ConnectionError("receiver down")
            if event.payload.get("give_up"):
                raise GiveUp("bad address")
            seen.append(event.event_id)

    monkeypatch.setitem(
        dispatcher.HANDLERS,
        "test.ping",
        dispatcher._Handler(ping, RetryPolicy(dt.timedelta(seconds=10), dt.timedelta(hours=6), 3)),
    )
    return seen, failures


def _enqueue(ctx, n: int = 1, **payload) -> list[str]:
    with ctx.db.write() as conn:
        return [enqueue(conn, ctx.now(), "test.ping", dict(payload)) for _ in range(n)]


def _claim(ctx) -> list[dispatcher.Event]:
    """Claim as a worker would (that then crashes or stalls, say)."""
    with ctx.db.write() as conn:
        return dispatcher._claim(conn, ctx.now(), 10)[0]


def _row(ctx, event_id: str):
    with ctx.db.read() as conn:
        return conn.execute(select(outbox).where(outbox.c.event_id == event_id)).one()


def test_delivers_each_event_once(ctx, recorded) -> None:
    seen, _ = recorded
    ids = _enqueue(ctx, 3)
    stats = dispatcher.run_pass(ctx)
    assert sorted(seen) == sorted(ids) and stats.delivered == 3
    assert dispatcher.run_pass(ctx).delivered == 0
    assert _row(ctx, ids[0]).delivered_at == ctx.now()


def test_failures_back_off_then_succeed_with_the_same_event_id(ctx, clock, recorded) -> None:
    seen, failures = recorded
    (event_id,) = _enqueue(ctx)
    failures[event_id] = 2
    assert dispatcher.run_pass(ctx).retried == 1
    row = _row(ctx, event_id)
    assert row.delivered_at is None and row.available_at == ctx.now() + dt.timedelta(seconds=10)
    assert "receiver down" in row.last_error
    assert dispatcher.run_pass(ctx).retried == 0  # not due yet: nothing happens
    clock.advance(seconds=10)
    assert dispatcher.run_pass(ctx).retried == 1
    assert _row(ctx, event_id).available_at == ctx.now() + dt.timedelta(seconds=20)  # doubled
    clock.advance(seconds=20)
    assert dispatcher.run_pass(ctx).delivered == 1
    assert seen == [event_id]


def test_gives_up_after_max_attempts_and_keeps_the_reason(ctx, clock, recorded) -> None:
    seen, failures = recorded
    (event_id,) = _enqueue(ctx)
    failures[event_id] = 99
    for _ in range(3):
        dispatcher.run_pass(ctx)
        clock.advance(hours=1)
    row = _row(ctx, event_id)
    assert row.delivered_at is not None and row.attempts == 3
    assert row.last_error.startswith("gave up:")
    assert seen == []


def test_give_up_closes_at_once(ctx, recorded) -> None:
    (event_id,) = _enqueue(ctx, give_up=True)
    assert dispatcher.run_pass(ctx).failed == 1
    assert _row(ctx, event_id).last_error == "gave up: bad address"


def test_a_crashed_workers_claim_is_taken_again_after_the_lease(ctx, clock, recorded) -> None:
    seen, _ = recorded
    (event_id,) = _enqueue(ctx)
    claimed = _claim(ctx)  # a worker claims, then dies before delivering
    assert [e.event_id for e in claimed] == [event_id]
    assert dispatcher.run_pass(ctx).delivered == 0  # leased: nobody else takes it
    clock.advance(seconds=dispatcher.LEASE.total_seconds())
    assert dispatcher.run_pass(ctx).delivered == 1
    assert seen == [event_id]


def test_events_without_a_handler_are_closed(ctx) -> None:
    with ctx.db.write() as conn:
        event_id = enqueue(conn, ctx.now(), "nobody.listens", {})
    dispatcher.run_pass(ctx)
    assert _row(ctx, event_id).delivered_at is not None


def test_concurrent_workers_share_the_outbox_without_duplicates(ctx, recorded) -> None:
    seen, _ = recorded
    ids = _enqueue(ctx, 200)
    workers = [threading.Thread(target=dispatcher.run_pass, args=(ctx,)) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert sorted(seen) == sorted(ids)  # every event once, none twice


def test_an_event_that_failed_many_times_is_still_retried_at_the_policys_cap(
    ctx, clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The 42nd failure of an email once overflowed the backoff and failed the whole worker pass."""

    def down(ctx, event) -> None:
        raise ConnectionError("smtp down")

    monkeypatch.setitem(dispatcher.HANDLERS, "test.down", dispatcher._Handler(down, retry.EMAILS))
    with ctx.db.write() as conn:
        event_id = enqueue(conn, ctx.now(), "test.down", {})
        conn.execute(update(outbox).where(outbox.c.event_id == event_id).values(attempts=44))
    assert dispatcher.run_pass(ctx).retried == 1
    row = _row(ctx, event_id)
    assert row.attempts == 45 and row.available_at == clock.now + retry.EMAILS.max_delay


def test_a_worker_that_lost_its_lease_neither_renews_nor_overwrites_the_new_claim(ctx, clock, recorded) -> None:
    seen, _ = recorded
    (event_id,) = _enqueue(ctx)
    (stalled,) = _claim(ctx)  # a worker claims, then stalls for longer than the lease
    clock.advance(seconds=dispatcher.LEASE.total_seconds())
    assert dispatcher.run_pass(ctx).delivered == 1  # another worker takes the event over
    closed = _row(ctx, event_id)
    assert closed.attempts == 2 and closed.delivered_at == clock.now
    clock.advance(minutes=1)
    dispatcher._renew(ctx, [stalled])
    with ctx.db.write() as conn:
        late = dispatcher.Outcome(stalled, "retried", "ConnectionError: late", clock.now + dt.timedelta(minutes=1))
        assert dispatcher._settle(conn, clock.now, late) is False
    assert _row(ctx, event_id) == closed  # what the worker that took over recorded stands
    assert seen == [event_id]
