"""The outbox dispatcher: claims due events, runs their handlers after commit, concurrently, retries with backoff.

Delivery is at least once. An event is claimed by pushing its `available_at` one lease ahead in a
short transaction (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so several workers on several machines
share the outbox; `BEGIN IMMEDIATE` on SQLite). The handler runs outside any transaction; success
sets `delivered_at`, failure schedules the next attempt by the handler's retry policy
(resell.domain.retry). A worker that dies mid-handler leaves the event to be claimed again when the
lease ends: handlers must be idempotent per event id.

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

from sqlalchemy import String, and_, bindparam, cast, func, or_, select, true, update
from sqlalchemy.sql import ColumnElement

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
    ctx: Context, limit: int, load: Counter[Destination] | None = None, per_destination: int | None = None
) -> list[Event]:
    """Claim up to `limit` due events, oldest first; with `per_destination`, none that would put more
    than that many in flight to one destination (`load`: how many are in flight now)."""
    now = ctx.now()
    load = Counter(load or {})
    full = [key for key, n in load.items() if per_destination and n >= per_destination]
    with ctx.db.write() as conn:
        query = (
            select(outbox)
            .where(outbox.c.delivered_at.is_(None), outbox.c.available_at <= now, _not_to(full))
            .order_by(outbox.c.id)
            .limit(limit * SCAN if per_destination else limit)
        )
        if ctx.db.is_postgres:
            query = query.with_for_update(skip_locked=True)
        rows = []
        for row in conn.execute(query):
            key = destination_of(row.kind, row.payload)
            if key is not None and per_destination:
                if load[key] >= per_destination:
                    continue  # left as it is: due, free for a later claim or another worker
                load[key] += 1
            rows.append(row)
            if len(rows) == limit:
                break
        if rows:
            conn.execute(
                update(outbox)
                .where(outbox.c.id.in_([r.id for r in rows]))
                .values(available_at=now + LEASE, attempts=outbox.c.attempts + 1)
            )
    return [Event(r.id, r.event_id, r.kind, r.payload, r.attempts + 1, r.created_at) for r in rows]


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


def _settle(ctx: Context, event: Event, error: str | None, retry_at: dt.datetime | None) -> None:
    now = ctx.now()
    values: dict[str, Any]
    if error is None:
        values = {"delivered_at": now, "last_error": None}
    elif retry_at is None:  # given up: closed, with the reason kept
        values = {"delivered_at": now, "last_error": f"gave up: {error}"[:2000]}
    else:
        values = {"available_at": retry_at, "last_error": error[:2000]}
    with ctx.db.write() as conn:
        settled = conn.execute(update(outbox).where(_ours(event)).values(**values)).rowcount
    if not settled:
        log.warning("event_lease_lost", kind=event.kind, event_id=event.event_id, attempts=event.attempts)


def deliver(ctx: Context, event: Event) -> str:
    """Run the event's handler and record the outcome: "delivered", "retried" or "failed"."""
    entry = HANDLERS.get(event.kind)
    if entry is None:  # nobody consumes this kind (yet): nothing to deliver
        _settle(ctx, event, None, None)
        return "closed"
    try:
        entry.run(ctx, event)
    except GiveUp as exc:
        log.warning("event_given_up", kind=event.kind, event_id=event.event_id, error=str(exc))
        _settle(ctx, event, str(exc), None)
        return "failed"
    except Exception as exc:  # noqa: BLE001 - any failure is retried later
        error = f"{type(exc).__name__}: {exc}"
        wait = entry.policy.next_delay(event.attempts)
        if wait is None:
            log.error("event_failed", kind=event.kind, event_id=event.event_id, attempts=event.attempts, error=error)
            _settle(ctx, event, error, None)
            return "failed"
        retry_at = ctx.now() + wait
        log.info("event_retry", kind=event.kind, event_id=event.event_id, attempts=event.attempts,
                 retry_at=retry_at.isoformat(), error=error)
        _settle(ctx, event, error, retry_at)
        return "retried"
    _settle(ctx, event, None, None)
    return "delivered"


class _InFlight:
    """The deliveries of one pass: a pool of threads, the load per destination, the leases to renew."""

    def __init__(self, ctx: Context, stats: PassStats):
        self.ctx = ctx
        self.stats = stats
        self.size = max(1, ctx.settings.worker_concurrency)
        self.per_destination = max(1, ctx.settings.worker_per_destination)
        self.changed = threading.Condition()
        self.events: dict[int, Event] = {}
        self.load: Counter[Destination] = Counter()
        self.pool = ThreadPoolExecutor(self.size, thread_name_prefix="resell-delivery")

    def claim(self, limit: int) -> tuple[int, bool]:
        """Claim and start as many due events as there are free threads (at most `limit`): how many
        started, and whether nothing was in flight (then no destination was full: none started means
        none is due for this worker)."""
        with self.changed:
            free = min(self.size - len(self.events), limit)
            load = Counter(self.load)
            idle = not self.events
        if free <= 0:
            return 0, idle
        events = _claim(self.ctx, free, load, self.per_destination)
        with self.changed:
            for event in events:
                self.events[event.id] = event
                key = destination_of(event.kind, event.payload)
                if key is not None:
                    self.load[key] += 1
        for event in events:
            self.pool.submit(self._run, event)
        return len(events), idle

    def _run(self, event: Event) -> None:
        outcome = "failed"
        try:
            outcome = deliver(self.ctx, event)
        except Exception as exc:  # noqa: BLE001 - settling failed (database gone): the lease brings it back
            error = f"{type(exc).__name__}: {exc}"
            log.error("event_not_settled", kind=event.kind, event_id=event.event_id, error=error)
            outcome = "unsettled"
        finally:
            with self.changed:
                del self.events[event.id]
                key = destination_of(event.kind, event.payload)
                if key is not None:
                    self.load[key] -= 1
                    if self.load[key] <= 0:
                        del self.load[key]
                if outcome == "delivered":
                    self.stats.delivered += 1
                    self.stats.kinds[event.kind] = self.stats.kinds.get(event.kind, 0) + 1
                elif outcome in ("retried", "failed"):
                    setattr(self.stats, outcome, getattr(self.stats, outcome) + 1)
                self.changed.notify_all()

    def wait(self, seconds: float) -> None:
        """Wait until a delivery ends (or `seconds` pass); not at all when none is in flight."""
        with self.changed:
            if self.events:
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
            started, idle = flight.claim(limit - done)
            done += started
            if started:
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
