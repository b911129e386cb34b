"""Test clocks: the merchant moves a sandbox catalogue's time forward, and its subscriptions renew,
expire and fire their webhooks as if that time had passed (Stripe's test clocks are the model).

A sandbox catalogue's clock follows the wall clock until the merchant first advances it; from then on
it stands still at the time it was moved to (table test_clocks) and moves only forward, only when
advanced. The subscriptions of the catalogue's orders live on it (resell.services.sandbox_clock).

Advancing, in this order: one transaction moves the clock (one advance of a clock at a time: the
catalogue's row is locked); then, before the reply, everything due up to the new time happens, moment
by moment: for each next moment a subscription of the catalogue changes at, the renewal pass of
resell.services.subscriptions runs as if at that moment, for that catalogue only (the same code as
the worker's: renewal orders, generation + 1, expiries, retries, events). So a yearly subscription
advanced by P3Y renews three times, each renewal order dated at the end of its term. Should an
advance stop half-way (a crash), the next one, even to the clock's own time, does the rest. Two
advances of one clock at once take turns moving it, then share the renewals (the claims skip the
rows the other holds, resell/db/locking.py); each waits for what the other holds, so that every
moment up to its own time has happened when it answers, each term renewed once.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

from sqlalchemy import Connection, insert, select, update

from resell.db.locking import for_update
from resell.db.tables import catalogs, subscriptions, test_clocks
from resell.domain import codes
from resell.domain.codes import Refusal
from resell.domain.periods import add_duration, parse_offset_timestamp
from resell.domain.request_fields import is_blank
from resell.services import sandbox_clock
from resell.services import subscriptions as subscription_service
from resell.services.audit_log import audit
from resell.services.context import Caller, Context

STALLED_PASSES = 100  # empty passes (another advance holds the due rows) waited out, STALLED_WAIT apart
STALLED_WAIT = 0.05


@dataclass(frozen=True)
class ClockView:
    """A sandbox's clock: its time, and whether it stands still (advanced at least once); after an
    advance, what the advance did to the sandbox's subscriptions."""

    time: dt.datetime
    frozen: bool
    renewed: int = 0
    expired: int = 0
    failed: int = 0  # renewal attempts that failed (no stock): retried later on the clock, then expired


def _sandbox_of(caller: Caller) -> int:
    """The sandbox catalogue the call acts on; 1070 for a live secret."""
    if caller.sandbox_catalog_id is None:
        raise Refusal(codes.CLOCK_NOT_SANDBOX)
    return caller.sandbox_catalog_id


def get_clock(ctx: Context, caller: Caller) -> ClockView:
    catalog_id = _sandbox_of(caller)
    return clocks_of(ctx, [catalog_id])[catalog_id]


def clocks_of(ctx: Context, catalog_ids: list[int]) -> dict[int, ClockView]:
    """The clocks of these sandbox catalogues, by id, as the API's getTestClock reads them (the
    merchant's credentials page shows them, read-only): the wall clock's time where none was advanced."""
    if not catalog_ids:
        return {}
    with ctx.db.read() as conn:
        frozen = dict(
            conn.execute(
                select(test_clocks.c.catalog_id, test_clocks.c.frozen_time).where(
                    test_clocks.c.catalog_id.in_(catalog_ids)
                )
            ).all()
        )
    now = ctx.now()
    return {i: ClockView(time=frozen[i], frozen=True) if i in frozen else ClockView(now, False) for i in catalog_ids}


def _target(raw_to: object, raw_by: object, start: dt.datetime) -> dt.datetime:
    """Where the clock goes: `advanceTo` (a date-time with its offset) or `advanceBy` (a duration) from
    `start`, exactly one of them."""
    if is_blank(raw_to) == is_blank(raw_by):
        raise Refusal(codes.CLOCK_MOVE_MISSING)
    if not is_blank(raw_to):
        try:
            return parse_offset_timestamp(raw_to)
        except ValueError:
            raise Refusal(codes.CLOCK_ADVANCE_TO_NOT_VALID) from None
    try:
        return add_duration(start, raw_by)
    except ValueError:
        raise Refusal(codes.CLOCK_ADVANCE_BY_NOT_VALID) from None


def _stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat()


def _next_whole_second(moment: dt.datetime) -> dt.datetime:
    """Where an unfrozen clock starts from: now, rounded up to whole seconds (the replies' precision, so
    an `advanceTo` of the time a reply showed is never "backwards"), and never before a subscription
    bought a moment ago (so `advanceBy: P1Y` reaches the end of a yearly term bought in the same second)."""
    whole = moment.replace(microsecond=0)
    return whole if whole == moment else whole + dt.timedelta(seconds=1)


def advance_clock(ctx: Context, caller: Caller, raw_to: object, raw_by: object) -> ClockView:
    """Move the sandbox's clock forward (1071 backwards) and make everything due by then happen."""
    catalog_id = _sandbox_of(caller)
    if is_blank(raw_to) == is_blank(raw_by):  # before any I/O, like every field check
        raise Refusal(codes.CLOCK_MOVE_MISSING)
    wall = ctx.now()
    actor = f"merchant:{caller.realm}"
    with ctx.db.write() as conn:
        conn.execute(for_update(select(catalogs.c.id).where(catalogs.c.id == catalog_id)))
        frozen = sandbox_clock.frozen_time(conn, catalog_id)
        start = _next_whole_second(wall) if frozen is None else frozen
        target = _target(raw_to, raw_by, start)
        if target < start:
            raise Refusal(
                codes.CLOCK_BACKWARDS,
                f"{codes.message_for(codes.CLOCK_BACKWARDS, 'advanceTestClock')}: it is at {_stamp(start)}",
            )
        _set(conn, catalog_id, frozen, target, wall)
        audit(
            conn,
            wall,
            actor,
            "test_clock",
            catalog_id,
            "advanced",
            before={"time": _stamp(start), "frozen": frozen is not None},
            after={"time": _stamp(target), "frozen": True},
        )
    done = catch_up(ctx, catalog_id, target, actor)
    return ClockView(
        time=target, frozen=True, renewed=done.renewed, expired=done.expired + done.terminated, failed=done.failed
    )


def _set(conn: Connection, catalog_id: int, was: dt.datetime | None, to: dt.datetime, wall: dt.datetime) -> None:
    if was is None:
        conn.execute(
            insert(test_clocks).values(catalog_id=catalog_id, frozen_time=to, created_at=wall, updated_at=wall)
        )
    else:
        conn.execute(
            update(test_clocks).where(test_clocks.c.catalog_id == catalog_id).values(frozen_time=to, updated_at=wall)
        )


def _next_moment(ctx: Context, catalog_id: int, until: dt.datetime) -> dt.datetime | None:
    """The first moment, up to `until`, at which a subscription of the catalogue is due to change."""
    with ctx.db.read() as conn:
        return conn.execute(
            select(subscriptions.c.next_change_at)
            .where(
                subscriptions.c.status.in_(subscription_service.DUE_STATES),
                subscriptions.c.next_change_at <= until,
                sandbox_clock.on_clock_of(catalog_id),
            )
            .order_by(subscriptions.c.next_change_at)
            .limit(1)
        ).scalar_one_or_none()


def catch_up(ctx: Context, catalog_id: int, until: dt.datetime, actor: str) -> subscription_service.RenewalPass:
    """Run the renewal pass of the catalogue's subscriptions at each moment one of them is due, in time
    order, up to `until` (the clock's time)."""
    total = subscription_service.RenewalPass()
    stalled = 0
    while (moment := _next_moment(ctx, catalog_id, until)) is not None:
        done = subscription_service.renew_due(ctx, at=moment, catalog_id=catalog_id, actor=actor)
        total.renewed += done.renewed
        total.expired += done.expired
        total.terminated += done.terminated
        total.failed += done.failed
        total.renewal_orders += done.renewal_orders
        if done.total:
            stalled = 0
            continue
        # Due, but held by a concurrent advance of the same clock (or planned again for its keys): wait
        # for it rather than leave the later moments to nobody; the next advance does what is left.
        stalled += 1
        if stalled > STALLED_PASSES:
            break
        time.sleep(STALLED_WAIT)
    return total
