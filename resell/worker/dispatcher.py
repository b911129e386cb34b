"""The outbox dispatcher: claims due events, runs their handler after commit, retries with backoff.

Delivery is at least once. An event is claimed by pushing its `available_at` one lease ahead in a
short transaction (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so several workers on several machines
share the outbox; `BEGIN IMMEDIATE` on SQLite). The handler runs outside any transaction; success
sets `delivered_at`, failure schedules the next attempt. A worker that dies mid-handler leaves the
event to be claimed again when the lease ends: handlers must be idempotent per event id.

Handlers register themselves per event kind with `@handler("kind")`; periodic jobs (subscription
renewals, say) with `@periodic`. Modules that define them are listed in HANDLER_MODULES.
"""

from __future__ import annotations

import datetime as dt
import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update

from resell.db.tables import outbox
from resell.logs import get_logger
from resell.services.context import Context

log = get_logger("resell.worker")

LEASE = dt.timedelta(minutes=5)
BATCH = 50

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
    attempts: int  # including this one
    created_at: dt.datetime


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff: first_delay * 2**(attempt-1), capped, for at most max_attempts."""

    first_delay: dt.timedelta = dt.timedelta(seconds=30)
    max_delay: dt.timedelta = dt.timedelta(hours=6)
    max_attempts: int = 20

    def delay(self, attempt: int) -> dt.timedelta:
        return min(self.first_delay * (2 ** max(attempt - 1, 0)), self.max_delay)


class GiveUp(Exception):
    """A handler's verdict that retrying cannot help (the event is closed as failed)."""


@dataclass
class _Handler:
    run: Callable[[Context, Event], None]
    policy: RetryPolicy


HANDLERS: dict[str, _Handler] = {}
PERIODIC: list[Callable[[Context], int]] = []


def handler(kind: str, policy: RetryPolicy | None = None) -> Callable[[Callable[[Context, Event], None]], Any]:
    def register(fn: Callable[[Context, Event], None]) -> Callable[[Context, Event], None]:
        HANDLERS[kind] = _Handler(fn, policy or RetryPolicy())
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


def _claim(ctx: Context, limit: int) -> list[Event]:
    now = ctx.now()
    with ctx.db.write() as conn:
        query = (
            select(outbox)
            .where(outbox.c.delivered_at.is_(None), outbox.c.available_at <= now)
            .order_by(outbox.c.id)
            .limit(limit)
        )
        if ctx.db.is_postgres:
            query = query.with_for_update(skip_locked=True)
        rows = conn.execute(query).all()
        if rows:
            conn.execute(
                update(outbox)
                .where(outbox.c.id.in_([r.id for r in rows]))
                .values(available_at=now + LEASE, attempts=outbox.c.attempts + 1)
            )
    return [Event(r.id, r.event_id, r.kind, r.payload, r.attempts + 1, r.created_at) for r in rows]


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
        conn.execute(update(outbox).where(outbox.c.id == event.id).values(**values))


def deliver(ctx: Context, event: Event, stats: PassStats) -> None:
    entry = HANDLERS.get(event.kind)
    if entry is None:  # nobody consumes this kind (yet): nothing to deliver
        _settle(ctx, event, None, None)
        return
    try:
        entry.run(ctx, event)
    except GiveUp as exc:
        log.warning("event_given_up", kind=event.kind, event_id=event.event_id, error=str(exc))
        _settle(ctx, event, str(exc), None)
        stats.failed += 1
        return
    except Exception as exc:  # noqa: BLE001 - any failure is retried later
        error = f"{type(exc).__name__}: {exc}"
        if event.attempts >= entry.policy.max_attempts:
            log.error("event_failed", kind=event.kind, event_id=event.event_id, attempts=event.attempts, error=error)
            _settle(ctx, event, error, None)
            stats.failed += 1
        else:
            retry_at = ctx.now() + entry.policy.delay(event.attempts)
            log.info("event_retry", kind=event.kind, event_id=event.event_id, attempts=event.attempts,
                     retry_at=retry_at.isoformat(), error=error)
            _settle(ctx, event, error, retry_at)
            stats.retried += 1
        return
    _settle(ctx, event, None, None)
    stats.delivered += 1
    stats.kinds[event.kind] = stats.kinds.get(event.kind, 0) + 1


def run_pass(ctx: Context, limit: int = 10_000) -> PassStats:
    """One pass: periodic jobs, then every due outbox event (up to `limit`)."""
    load_handlers()
    stats = PassStats()
    for job in PERIODIC:
        stats.periodic += job(ctx)
    done = 0
    while done < limit:
        events = _claim(ctx, min(BATCH, limit - done))
        if not events:
            break
        for event in events:
            deliver(ctx, event, stats)
        done += len(events)
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
