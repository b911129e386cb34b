"""The outbox dispatcher: claims due events, runs their handlers after commit, concurrently, retries with backoff.

Delivery is at least once. An event is claimed by pushing its `available_at` one lease ahead in a
short transaction (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so several workers on several machines
share the outbox; `BEGIN IMMEDIATE` on SQLite); events of kinds nobody handles are closed right
there. The handler runs outside any transaction; success sets `delivered_at`, failure schedules the
next attempt by the handler's retry policy (resell.domain.retry), recorded together with the next
claim (one commit for many events). A worker that dies mid-handler leaves the event to be claimed
again when the lease ends: handlers must be idempotent per event id.

Concurrency: a pass keeps up to RESELL_WORKER_CONCURRENCY deliveries in flight on a pool of threads,
at most RESELL_WORKER_PER_DESTINATION of them to one destination (the webhook endpoints of one
merchant, publisher or the operator; one publisher's callbacks; the SMTP server), so receivers that
hang tie up their owner's share and nobody else's, however many endpoints the owner registers.

Leases: a claim takes only events that start at once (a free thread, room at their destination),
so no claimed event waits in a queue while its lease runs out; claims of destinations already full
pass over their events, which stay free for later or for another worker. While an event is in
flight its lease is renewed every HEARTBEAT_SECONDS (a tenth of the lease), so a live worker keeps
the events it is on however slow the receiver. Each claim counts an attempt, and that count is the
claim's token: renewing and settling only touch a row whose count is still the one claimed, so a
worker that lost a lease (stalled longer than the lease, say) never overwrites what the worker that
took the event over wrote.

Handlers register themselves per event kind with `@handler("kind")`; periodic jobs (subscription
renewals, say) with `@periodic`. Modules that define them are listed in HANDLER_MODULES.
"""

from __future__ import annotations

import datetime as dt
import importlib
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Row, String, and_, bindparam, cast, func, or_, select, true, update
from sqlalchemy.sql import ColumnElement

from resell.db.locking import for_update
from resell.db.tables import outbox
from resell.domain import retry
from resell.domain.retry import RetryPolicy
from resell.logs import get_logger
from resell.services.context import Context

log = get_logger("resell.worker")

LEASE = dt.timedelta(minutes=5)
HEARTBEAT_SECONDS = LEASE.total_seconds() / 10  # real seconds between lease renewals of events in flight
POLL_SECONDS = 1.0  # while deliveries are in flight, look for newly due events this often
SCAN = 4  # a claim reads up to SCAN rows per free thread, to pass over events of destinations already full
SCAN_AT_LEAST = 200  # ... and at least this many, as many of them are closed at once (kinds nobody handles)

# Modules whose import registers handlers and periodic jobs.
HANDLER_MODULES: list[str] = [
    "resell.worker.mail",
    "resell.worker.publishers",
    "resell.worker.webhooks",
    "resell.worker.renewals",
]


@dataclass(frozen=True)
class Event:
    id: int
    event_id: str
    kind: str
    payload: dict[str, Any]
    attempts: int  # including this one; also the claim's token
    created_at: dt.datetime


class GiveUp(Exception):
    """A handler's verdict that retrying cannot help (the event is closed as failed)."""


@dataclass
class _Handler:
    run: Callable[[Context, Event], None]
    policy: RetryPolicy
    # the payload field naming where the handler sends (deliveries are limited per value of it);
    # None: the whole kind goes to one place (the SMTP server)
    destination: str | None = None


HANDLERS: dict[str, _Handler] = {}
PERIODIC: list[Callable[[Context], int]] = []
Destination = tuple[str, str]  # (kind, value of the handler's destination field)


def handler(
    kind: str, policy: RetryPolicy | None = None, destination: str | None = None
) -> Callable[[Callable[[Context, Event], None]], Any]:
    def register(fn: Callable[[Context, Event], None]) -> Callable[[Context, Event], None]:
        HANDLERS[kind] = _Handler(fn, policy or retry.DEFAULT, destination)
        return fn

    return register


def periodic(fn: Callable[[Context], int]) -> Callable[[Context], int]:
    """A job run at the start of every pass; returns how many things it did."""
    PERIODIC.append(fn)
    return fn


def load_handlers() -> None:
    for module in HANDLER_MODULES:
        importlib.import_module(module)


@dataclass
class PassStats:
    periodic: int = 0
    delivered: int = 0
    retried: int = 0
    failed: int = 0
    kinds: dict[str, int] = field(default_factory=dict)


def destination_of(kind: str, payload: dict[str, Any]) -> Destination | None:
    """Where an event goes, for the per-destination limit; None (no limit) for kinds nobody handles."""
    entry = HANDLERS.get(kind)
    if entry is None:
        return None
    return (kind, "" if entry.destination is None else str(payload.get(entry.destination)))


def _not_to(full: Iterable[Destination]) -> ColumnElement[bool]:
    """SQL: the event does not go to one of the `full` destinations."""
    values: dict[str, list[str]] = defaultdict(list)
    for kind, value in full:
        values[kind].append(value)
    conditions: list[ColumnElement[bool]] = []
    for kind, these in values.items():
        name = HANDLERS[kind].destination
        if name is None:
            conditions.append(outbox.c.kind != kind)
        else:
            field_text = func.coalesce(cast(outbox.c.payload[name].as_string(), String), "None")  # as str(None)
            conditions.append(or_(outbox.c.kind != kind, field_text.not_in(these)))
    return and_(true(), *conditions)


def _claim(
    conn: Connection,
    now: dt.datetime,
    limit: int,
    load: Counter[Destination] | None = None,
    per_destination: int | None = None,
) -> tuple[list[Event], int]:
    """Claim up to `limit` due events, oldest first; with `per_destination`, none that would put more
    than that many in flight to one destination (`load`: how many are in flight now). Events of kinds
    nobody handles (order.created, subscription.renewed: the webhook rows carry them out) are closed
    in the same transaction. Returns the claimed events and how many were closed."""
    load_handlers()
    load = Counter(load or {})
    full = [key for key, n in load.items() if per_destination and n >= per_destination]
    query = for_update(
        select(outbox)
        .where(outbox.c.delivered_at.is_(None), outbox.c.available_at <= now, _not_to(full))
        .order_by(outbox.c.id)
        .limit(max(limit * SCAN, SCAN_AT_LEAST) if per_destination else limit),
        skip_locked=True,  # workers share the outbox: each claims rows no other is claiming
    )
    rows: list[Row[Any]] = []
    unhandled: list[int] = []
    for row in conn.execute(query):
        key = destination_of(row.kind, row.payload)
        if key is None:
            unhandled.append(row.id)
            continue
        if len(rows) == limit:
            continue
        if per_destination:
            if load[key] >= per_destination:
                continue  # left as it is: due, free for a later claim or another worker
            load[key] += 1
        rows.append(row)
    if rows:
        conn.execute(
            update(outbox)
            .where(outbox.c.id.in_([r.id for r in rows]))
            .values(available_at=now + LEASE, attempts=outbox.c.attempts + 1)
        )
    if unhandled:
        conn.execute(
            update(outbox)
            .where(outbox.c.id.in_(unhandled))
            .values(delivered_at=now, attempts=outbox.c.attempts + 1, last_error=None)
        )
    return [Event(r.id, r.event_id, r.kind, r.payload, r.attempts + 1, r.created_at) for r in rows], len(unhandled)


def _ours(event: Event) -> ColumnElement[bool]:
    """SQL: the row is still claimed by this claim (nobody claimed it since, nobody closed it)."""
    return and_(outbox.c.id == event.id, outbox.c.attempts == event.attempts, outbox.c.delivered_at.is_(None))


def _renew(ctx: Context, events: list[Event]) -> None:
    """Push the leases of events in flight one lease ahead (those still ours)."""
    if not events:
        return
    with ctx.db.write() as conn:
        conn.execute(
            update(outbox)
            .where(
                outbox.c.id == bindparam("event_row"),
                outbox.c.attempts == bindparam("claimed"),
                outbox.c.delivered_at.is_(None),
            )
            .values(available_at=ctx.now() + LEASE),
            [{"event_row": e.id, "claimed": e.attempts} for e in events],
        )


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to: "delivered", "retried" (at `retry_at`) or "failed" (given up)."""

    event: Event
    result: str
    error: str | None = None
    retry_at: dt.datetime | None = None


def attempt(ctx: Context, event: Event) -> Outcome:
    """Run the event's handler once and say what to record (the pass records outcomes in batches)."""
    entry = HANDLERS[event.kind]
    try:
        entry.run(ctx, event)
    except GiveUp as exc:
        log.warning("event_given_up", kind=event.kind, event_id=event.event_id, error=str(exc))
        return Outcome(event, "failed", str(exc))
    except Exception as exc:  # noqa: BLE001 - any failure is retried later
        error = f"{type(exc).__name__}: {exc}"
        wait = entry.policy.next_delay(event.attempts)
        if wait is None:
            log.error("event_failed", kind=event.kind, event_id=event.event_id, attempts=event.attempts, error=error)
            return Outcome(event, "failed", error)
        retry_at = ctx.now() + wait
        log.info("event_retry", kind=event.kind, event_id=event.event_id, attempts=event.attempts,
                 retry_at=retry_at.isoformat(), error=error)
        return Outcome(event, "retried", error, retry_at)
    return Outcome(event, "delivered")


def _settle(conn: Connection, now: dt.datetime, outcome: Outcome) -> bool:
    """Record an outcome on the event's row, if the claim is still ours; False when it is not."""
    values: dict[str, Any]
    if outcome.error is None:
        values = {"delivered_at": now, "last_error": None}
    elif outcome.retry_at is None:  # given up: closed, with the reason kept
        values = {"delivered_at": now, "last_error": f"gave up: {outcome.error}"[:2000]}
    else:
        values = {"available_at": outcome.retry_at, "last_error": outcome.error[:2000]}
    event = outcome.event
    if conn.execute(update(outbox).where(_ours(event)).values(**values)).rowcount:
        return True
    log.warning("event_lease_lost", kind=event.kind, event_id=event.event_id, attempts=event.attempts)
    return False


class _InFlight:
    """The deliveries of one pass: a pool of threads, the load per destination, the leases to renew.
    The pass's own thread records the outcomes of finished deliveries and claims the next events in
    one transaction (one commit for many events); the pool's threads only run handlers."""

    def __init__(self, ctx: Context, stats: PassStats):
        self.ctx = ctx
        self.stats = stats
        self.size = max(1, ctx.settings.worker_concurrency)
        self.per_destination = max(1, ctx.settings.worker_per_destination)
        self.changed = threading.Condition()
        self.events: dict[int, Event] = {}  # claimed and not yet recorded
        self.finished: list[tuple[Event, Outcome | None]] = []  # None: the attempt itself broke
        self.load: Counter[Destination] = Counter()
        self.pool = ThreadPoolExecutor(self.size, thread_name_prefix="resell-delivery")

    def step(self, limit: int) -> tuple[int, bool]:
        """Record what finished, then claim and start as many due events as there are free threads
        (at most `limit`): how many started or were closed, and whether nothing was in flight (then no
        destination was full: none means none is due for this worker)."""
        with self.changed:
            finished, self.finished = self.finished, []
            free = min(self.size - len(self.events) + len(finished), limit)
            idle = not self.events
        if not finished and free <= 0:
            return 0, idle
        now = self.ctx.now()
        with self.ctx.db.write() as conn:
            for _event, outcome in finished:
                if outcome is not None and _settle(conn, now, outcome):
                    self._count(outcome)
            with self.changed:
                for event, _ in finished:
                    self._forget(event)
                load = Counter(self.load)
                idle = not self.events
            events, closed = _claim(conn, now, free, load, self.per_destination) if free > 0 else ([], 0)
        with self.changed:
            for event in events:
                self.events[event.id] = event
                key = destination_of(event.kind, event.payload)
                if key is not None:
                    self.load[key] += 1
        for event in events:
            self.pool.submit(self._run, event)
        return len(events) + closed, idle

    def _count(self, outcome: Outcome) -> None:
        kind = outcome.event.kind
        if outcome.result == "delivered":
            self.stats.delivered += 1
            self.stats.kinds[kind] = self.stats.kinds.get(kind, 0) + 1
        elif outcome.result == "retried":
            self.stats.retried += 1
        else:
            self.stats.failed += 1

    def _forget(self, event: Event) -> None:
        del self.events[event.id]
        key = destination_of(event.kind, event.payload)
        if key is not None:
            self.load[key] -= 1
            if self.load[key] <= 0:
                del self.load[key]

    def _run(self, event: Event) -> None:
        outcome = None
        try:
            outcome = attempt(self.ctx, event)
        except Exception as exc:  # noqa: BLE001 - nothing is recorded: the lease brings the event back
            error = f"{type(exc).__name__}: {exc}"
            log.error("event_attempt_broke", kind=event.kind, event_id=event.event_id, error=error)
        finally:
            with self.changed:
                self.finished.append((event, outcome))
                self.changed.notify_all()

    def wait(self, seconds: float) -> None:
        """Wait until a delivery ends (or `seconds` pass); not at all if one has ended or none is in flight."""
        with self.changed:
            if self.events and not self.finished:
                self.changed.wait(seconds)

    def renew(self) -> None:
        with self.changed:
            events = list(self.events.values())
        try:
            _renew(self.ctx, events)
        except Exception as exc:  # noqa: BLE001 - tried again at the next heartbeat
            log.error("lease_renewal_failed", events=len(events), error=f"{type(exc).__name__}: {exc}")

    def close(self) -> None:
        self.pool.shutdown(wait=True)


def run_pass(ctx: Context, limit: int = 10_000) -> PassStats:
    """One pass: periodic jobs, then every due outbox event (up to `limit`), until none is due and
    none is in flight."""
    load_handlers()
    stats = PassStats()
    for job in PERIODIC:
        stats.periodic += job(ctx)
    flight = _InFlight(ctx, stats)
    done = 0
    heartbeat = time.monotonic() + HEARTBEAT_SECONDS
    try:
        while True:
            if time.monotonic() >= heartbeat:
                flight.renew()
                heartbeat = time.monotonic() + HEARTBEAT_SECONDS
            claimed, idle = flight.step(limit - done)
            done += claimed
            if claimed:
                continue  # more may be due and threads free: claim again at once
            if idle:
                break
            flight.wait(max(0.0, min(POLL_SECONDS, heartbeat - time.monotonic())))
    finally:
        flight.close()
    return stats


def run_forever(ctx: Context, idle_seconds: float = 1.0, should_stop: Callable[[], bool] = lambda: False) -> None:
    """Pass after pass until stopped; sleeps only when a pass found nothing to do."""
    while not should_stop():
        try:
            stats = run_pass(ctx)
        except Exception as exc:  # noqa: BLE001 - a lost connection, a deadlock victim: try again shortly
            log.error("worker_pass_failed", error=f"{type(exc).__name__}: {exc}", exc_info=True)
            time.sleep(idle_seconds)
            continue
        if stats.delivered or stats.retried or stats.failed or stats.periodic:
            log.info("worker_pass", periodic=stats.periodic, delivered=stats.delivered, retried=stats.retried,
                     failed=stats.failed)
        else:
            time.sleep(idle_seconds)
