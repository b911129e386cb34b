"""The back office's dashboard: what happened over the last days, in numbers, without HTTP.

`summary` reads, for the `days` UTC days ending today: orders and revenue per day and currency, the
top products and merchants, cancellations, the pools that are low or out and the deliveries that
fail. Revenue is counted at the retailer price (`line_value`, the one place that says how a line is
valued); an order counts on the UTC day it was received (`orders.created_at`), whatever its status;
a cancellation on the day it was cancelled. `publisher_id` narrows everything to that publisher's
products (an order counts when one of its lines is theirs, and only those lines make its revenue);
`include_money=False` leaves every amount out (None), for roles that see no money.

Speed: every query reads a window of `orders.created_at` (index `ix_orders_created_at`) and the lines
of those orders by `order_lines.order_id`; the result is kept per argument set (the summary says
`as_of`). Once older than CACHE_SECONDS it is still answered at once while one background thread per
argument set reads it again (stale-while-revalidate): only the very first read of a set waits, and
`warm` makes that happen when the server starts.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Connection, Select, desc, func, select

from resell import logs
from resell.db.engine import Database
from resell.db.tables import merchants, order_lines, orders, products
from resell.services import deliveries
from resell.services.context import Context
from resell.services.stock_pools import Pool, low_pools

TOP = 10  # products and merchants shown, per currency
LATEST_CANCELLATIONS = 10
FAILED_DELIVERIES = 20
CACHE_SECONDS = 30.0
T = TypeVar("T", "TopProduct", "TopMerchant")
log = logs.get_logger(__name__)


def line_value() -> ColumnElement[Decimal]:
    """SQL: an order line's value at the retailer price, duty free, in the order's currency: the unit
    price recorded on the line when the order was placed (as the statements bill it), times the
    quantity. A line without a recorded price (no price in that currency) counts 0."""
    return func.coalesce(order_lines.c.retailer_unit_price, 0) * order_lines.c.quantity


# ---------------------------------------------------------------- the summary


@dataclass(frozen=True)
class DayTotal:
    """One UTC day in one currency (days without orders are there, with zeros)."""

    day: dt.date
    currency: str
    orders: int
    revenue: Decimal | None  # None: money not shown


@dataclass(frozen=True)
class TopProduct:
    ref: int
    name: str
    currency: str
    units: int
    orders: int
    revenue: Decimal | None


@dataclass(frozen=True)
class TopMerchant:
    realm: str
    name: str
    currency: str
    orders: int
    revenue: Decimal | None


@dataclass(frozen=True)
class Cancellation:
    order_number: int
    partner_order_number: str
    realm: str
    cancelled_at: dt.datetime
    reason: int | None
    comment: str | None


@dataclass(frozen=True)
class Summary:
    as_of: dt.datetime  # when these numbers were read (they may be up to CACHE_SECONDS old)
    days: list[dt.date]  # oldest first, the last one is today (UTC)
    currencies: list[str]  # those with orders in the window, sorted
    per_day: list[DayTotal]  # one per day and currency, day by day
    top_products: list[TopProduct]  # per currency (sorted), the TOP best by revenue (by units without money)
    top_merchants: list[TopMerchant]  # per currency, the TOP best by revenue (by orders without money)
    cancellations_per_day: list[tuple[dt.date, int]]
    latest_cancellations: list[Cancellation]
    low_stock: list[Pool]  # pools of products on sale, low or out, emptiest first (stock_pools.low_pools)
    failed_deliveries: list[deliveries.Delivery]  # retrying after an error, or given up, newest first
    failed_deliveries_total: int
    include_money: bool
    publisher_id: int | None = None
    totals: dict[str, DayTotal] = field(default_factory=dict)  # per currency, over the window (day: the first)


# ---------------------------------------------------------------- reading, a day at a time


@dataclass
class _Day:
    """What one UTC day holds, per currency: orders, revenue, and per product / merchant."""

    orders: dict[str, int] = field(default_factory=dict)
    revenue: dict[str, Decimal] = field(default_factory=dict)
    products: dict[tuple[int, str], list[Any]] = field(default_factory=dict)  # units, orders, revenue
    merchants: dict[tuple[int, str], list[Any]] = field(default_factory=dict)  # orders, revenue

    def add(self, other: _Day, sign: int = 1) -> None:
        for c, n in other.orders.items():
            self.orders[c] = self.orders.get(c, 0) + sign * n
        for c, v in other.revenue.items():
            self.revenue[c] = self.revenue.get(c, Decimal(0)) + sign * v
        for key, (units, n, v) in other.products.items():
            mine = self.products.setdefault(key, [0, 0, Decimal(0)])
            mine[0] += sign * units
            mine[1] += sign * n
            mine[2] += sign * v
        for key, (n, v) in other.merchants.items():
            mine = self.merchants.setdefault(key, [0, Decimal(0)])
            mine[0] += sign * n
            mine[1] += sign * v


# Days that are over never change (orders are counted on the day they were received; cancellations
# are taken off at every reading, see _read): they are read once per process and kept here, per
# database (weakly: a disposed Database takes its days along) and publisher.
_closed: weakref.WeakKeyDictionary[Database, dict[tuple[int | None, str], _Day]] = weakref.WeakKeyDictionary()
_summaries: weakref.WeakKeyDictionary[Database, dict[tuple[object, ...], Summary]] = weakref.WeakKeyDictionary()
# the background refreshes running, per database and argument set: at most one each
_Refresh = tuple[threading.Thread, list[tuple[Any, ...]]]  # the thread, the argument sets it reads
_refreshing: weakref.WeakKeyDictionary[Database, dict[tuple[object, ...], _Refresh]] = weakref.WeakKeyDictionary()
FIRST_READ_WAIT = 120.0  # a first read waits this long at most for the same numbers being read already
_lock = threading.Lock()
CLOSED_AFTER = dt.timedelta(minutes=10)  # a day is over this long after midnight (late commits are in)
MAX_CLOSED_DAYS = 5000


def summary(
    ctx: Context,
    days: int = 30,
    publisher_id: int | None = None,
    include_money: bool = True,
    fresh: bool = False,
) -> Summary:
    """The dashboard for the `days` UTC days ending today, as of its `as_of`: once older than
    CACHE_SECONDS it is answered still and read again in the background, so no page waits but the
    first (`fresh`: read now, and wait)."""
    days = max(1, min(days, 366))
    key = (days, publisher_id, include_money)
    if not fresh:
        with _lock:
            hit = _summaries.get(ctx.db, {}).get(key)
        now = ctx.now()
        if hit is not None and hit.as_of <= now:
            if (now - hit.as_of).total_seconds() >= CACHE_SECONDS:
                _in_background(ctx, key, [key])
            return hit
        if hit is None and _wait_for_reading(ctx, key):  # being read (warm): wait for it, not read twice
            with _lock:
                hit = _summaries.get(ctx.db, {}).get(key)
            if hit is not None:
                return hit
    return _compute_and_keep(ctx, key)


def _wait_for_reading(ctx: Context, key: tuple[Any, ...]) -> bool:
    """Wait for the background thread reading `key` if there is one; True if there was."""
    with _lock:
        reading = [t for t, keys in _refreshing.get(ctx.db, {}).values() if key in keys]
    for thread in reading:
        thread.join(FIRST_READ_WAIT)
    return bool(reading)


def warm(ctx: Context) -> None:
    """Read the summaries most pages ask for (the admin's, and support's without money) in one
    background thread, so that the first page after a start does not wait (called when the server
    starts; not by the CLI nor the worker)."""
    _in_background(ctx, ("warm",), [(30, None, True), (30, None, False)])


def wait_for_refreshes(timeout: float = 10.0) -> bool:
    """Wait (at most `timeout` seconds) for the background refreshes running now; True if all ended."""
    with _lock:
        running = [t for per_db in _refreshing.values() for t, _keys in per_db.values()]
    deadline = time.monotonic() + timeout
    for thread in running:
        thread.join(max(0.0, deadline - time.monotonic()))
    return not any(t.is_alive() for t in running)


def clear_cache() -> None:
    """Forget every kept day and summary (tests), once the refreshes running have ended."""
    wait_for_refreshes()
    with _lock:
        _closed.clear()
        _summaries.clear()


def _compute_and_keep(ctx: Context, key: tuple[Any, ...]) -> Summary:
    days, publisher_id, include_money = key
    result = compute(ctx, days, publisher_id, include_money)
    with _lock:
        kept = _summaries.setdefault(ctx.db, {})
        if key not in kept or kept[key].as_of <= result.as_of:  # never replace newer numbers by older
            kept[key] = result
    return result


def _in_background(ctx: Context, name: tuple[Any, ...], keys: list[tuple[Any, ...]]) -> None:
    """Read `keys` again, one after the other, in a daemon thread known as `name`, unless that one is
    running already (one refresh per argument set, however many pages ask). A failure is logged and
    the numbers kept are answered until a later refresh succeeds."""

    def run() -> None:
        try:
            for key in keys:
                try:
                    _compute_and_keep(ctx, key)
                except Exception as exc:
                    log.exception("dashboard_refresh_failed", summary=list(key), error=type(exc).__name__)
        finally:
            with _lock:
                running = _refreshing.get(ctx.db, {})
                if name in running and running[name][0] is threading.current_thread():
                    del running[name]

    with _lock:
        running = _refreshing.setdefault(ctx.db, {})
        if name in running:
            return
        thread = threading.Thread(target=run, name="dashboard-refresh", daemon=True)
        running[name] = (thread, keys)
    thread.start()


def _utc_day(conn: Connection, column: ColumnElement[dt.datetime]) -> ColumnElement[str]:
    """SQL: the UTC day of a timestamp as 'YYYY-MM-DD' (SQLite keeps UTC text; PostgreSQL timestamptz)."""
    if conn.dialect.name == "sqlite":
        return func.substr(column, 1, 10)
    return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")


def _publisher_lines(publisher_id: int | None) -> ColumnElement[bool] | None:
    if publisher_id is None:
        return None
    return order_lines.c.product_id.in_(select(products.c.id).where(products.c.publisher_id == publisher_id))


def _read(
    conn: Connection,
    start: dt.datetime,
    end: dt.datetime,
    publisher_id: int | None,
    cancelled_since: dt.datetime | None,
) -> dict[str, _Day]:
    """The orders received in [start, end) per UTC day; with `cancelled_since`, the orders cancelled
    since then instead, per UTC day received, whatever the day (to take them off the days kept).
    Three grouped queries, from the indexes alone: ix_orders_created_at (or ix_orders_cancelled_at)
    and ix_order_lines_order_product."""
    day = _utc_day(conn, orders.c.created_at)
    mine = _publisher_lines(publisher_id)
    live = orders.c.test.is_(False)  # test orders (the sandbox) are no sales
    where: list[ColumnElement[bool]] = [orders.c.created_at >= start, orders.c.created_at < end, live]
    if cancelled_since is not None:
        # cancelled_at is set when (and only when) an order is cancelled. Nothing on `status` nor on
        # `created_at` (the caller keeps the days it wants), so that only the covering partial index
        # ix_orders_cancelled_at qualifies, with or without statistics (not ix_orders_status_id, nor
        # the window of ix_orders_created_at)
        where = [orders.c.cancelled_at.is_not(None), orders.c.cancelled_at >= cancelled_since, live]
    lines_where = [*where, *([mine] if mine is not None else [])]
    found: dict[str, _Day] = {}
    if mine is None:
        q: Select[Any] = select(day, orders.c.currency, orders.c.merchant_id, func.count()).where(*where)
    else:
        q = (
            select(day, orders.c.currency, orders.c.merchant_id, func.count(func.distinct(orders.c.id)))
            .join(order_lines, order_lines.c.order_id == orders.c.id)
            .where(*lines_where)
        )
    for d, currency, merchant_id, n in conn.execute(q.group_by(day, orders.c.currency, orders.c.merchant_id)):
        one = found.setdefault(d, _Day())
        one.orders[currency] = one.orders.get(currency, 0) + n
        one.merchants[(merchant_id, currency)] = [n, Decimal(0)]
    value = func.sum(line_value())
    for d, currency, product_id, units, n, amount in conn.execute(
        select(
            day,
            orders.c.currency,
            order_lines.c.product_id,
            func.sum(order_lines.c.quantity),
            func.count(func.distinct(orders.c.id)),
            value,
        )
        .join(order_lines, order_lines.c.order_id == orders.c.id)
        .where(*lines_where)
        .group_by(day, orders.c.currency, order_lines.c.product_id)
    ):
        one = found.setdefault(d, _Day())
        amount = Decimal(amount or 0)
        one.revenue[currency] = one.revenue.get(currency, Decimal(0)) + amount
        one.products[(product_id, currency)] = [int(units), n, amount]
    for d, currency, merchant_id, amount in conn.execute(
        select(day, orders.c.currency, orders.c.merchant_id, value)
        .join(order_lines, order_lines.c.order_id == orders.c.id)
        .where(*lines_where)
        .group_by(day, orders.c.currency, orders.c.merchant_id)
    ):
        one = found.setdefault(d, _Day())
        one.merchants.setdefault((merchant_id, currency), [0, Decimal(0)])[1] = Decimal(amount or 0)
    return found


def _window(
    ctx: Context, conn: Connection, window: list[dt.date], now: dt.datetime, publisher_id: int | None
) -> tuple[dict[str, _Day], _Day]:
    """Each day of the window (orders and revenue per currency) and the whole window (products and
    merchants too), net of cancellations. Days that are over come from memory once read (and so
    does their sum); the others are read now, in one query per aggregate."""
    start = dt.datetime.combine(window[0], dt.time(), dt.UTC)
    end = dt.datetime.combine(window[-1] + dt.timedelta(days=1), dt.time(), dt.UTC)
    closed = [
        d for d in window if now >= dt.datetime.combine(d + dt.timedelta(days=1), dt.time(), dt.UTC) + CLOSED_AFTER
    ]
    with _lock:
        kept = _closed.setdefault(ctx.db, {})
        days: dict[str, _Day | None] = {d.isoformat(): kept.get((publisher_id, d.isoformat())) for d in closed}
        span_key = (publisher_id, f"{closed[0]}..{closed[-1]}") if closed else None
        closed_total = kept.get(span_key) if span_key else None
    missing = [d for d in closed if days[d.isoformat()] is None]
    if missing:
        first = dt.datetime.combine(missing[0], dt.time(), dt.UTC)
        last = dt.datetime.combine(missing[-1] + dt.timedelta(days=1), dt.time(), dt.UTC)
        read = _read(conn, first, last, publisher_id, None)
        with _lock:
            if len(kept) >= MAX_CLOSED_DAYS:
                kept.clear()
            for d in missing:
                days[d.isoformat()] = kept[(publisher_id, d.isoformat())] = read.get(d.isoformat(), _Day())
    if closed_total is None:
        closed_total = _Day()
        for one in days.values():
            closed_total.add(one or _Day())
        if span_key:
            with _lock:
                kept[span_key] = closed_total
    opened = [d for d in window if d not in closed]
    fresh: dict[str, _Day] = {}
    if opened:
        fresh = _read(conn, dt.datetime.combine(opened[0], dt.time(), dt.UTC), end, publisher_id, None)
    # cancellations change past days: taken off at every reading (they are few: ix_orders_cancelled_at)
    cancelled = _read(conn, start, end, publisher_id, start)
    total = _Day()
    total.add(closed_total)
    per: dict[str, _Day] = {}
    for d in window:
        iso = d.isoformat()
        source = fresh.get(iso) if d in opened else days.get(iso)
        one = per[iso] = _Day(dict(source.orders), dict(source.revenue)) if source else _Day()
        if d in opened and source:
            total.add(source)
        if iso in cancelled:
            gone = cancelled[iso]
            total.add(gone, -1)
            for c, n in gone.orders.items():
                one.orders[c] = one.orders.get(c, 0) - n
            for c, v in gone.revenue.items():
                one.revenue[c] = one.revenue.get(c, Decimal(0)) - v
    return per, total


def compute(ctx: Context, days: int, publisher_id: int | None, include_money: bool) -> Summary:
    """The summary, read now (the days that are over come from memory once read)."""
    now = ctx.now()
    today = now.astimezone(dt.UTC).date()
    window = [today - dt.timedelta(days=n) for n in range(days - 1, -1, -1)]
    start = dt.datetime.combine(window[0], dt.time(), dt.UTC)
    end = dt.datetime.combine(today + dt.timedelta(days=1), dt.time(), dt.UTC)
    mine = _publisher_lines(publisher_id)
    with ctx.db.shared_read() as conn:
        per, total = _window(ctx, conn, window, now, publisher_id)
        names = {
            r.id: (r.ref, r.name)
            for r in conn.execute(
                select(products.c.id, products.c.ref, products.c.name).where(
                    products.c.id.in_({pid for pid, _c in total.products})
                )
            )
        }
        shops = {
            r.id: (r.realm, r.name)
            for r in conn.execute(
                select(merchants.c.id, merchants.c.realm, merchants.c.name).where(
                    merchants.c.id.in_({mid for mid, _c in total.merchants})
                )
            )
        }
        cancelled_day = _utc_day(conn, orders.c.cancelled_at)
        # a publisher's cancellations: orders with a line of theirs (looked up order by order, by index)
        narrowed = (
            [select(order_lines.c.id).where(order_lines.c.order_id == orders.c.id, mine).exists()]
            if mine is not None
            else []
        )
        per_cancel_day = dict(
            conn.execute(
                select(cancelled_day, func.count())
                .where(
                    orders.c.cancelled_at.is_not(None),
                    orders.c.cancelled_at >= start,
                    orders.c.cancelled_at < end,
                    orders.c.test.is_(False),
                    *narrowed,
                )
                .group_by(cancelled_day)
            ).all()
        )
        latest = conn.execute(
            select(
                orders.c.id,
                orders.c.partner_order_number,
                merchants.c.realm,
                orders.c.cancelled_at,
                orders.c.cancel_reason,
                orders.c.cancel_comment,
            )
            .join(merchants, merchants.c.id == orders.c.merchant_id)
            .where(orders.c.cancelled_at.isnot(None), orders.c.test.is_(False), *narrowed)
            .order_by(desc(orders.c.cancelled_at), desc(orders.c.id))
            .limit(LATEST_CANCELLATIONS)
        ).all()
        low = low_pools(ctx, publisher_id=publisher_id)
        failed, failed_total = deliveries.failed(ctx, FAILED_DELIVERIES, publisher_id=publisher_id)
    money = (lambda v: v) if include_money else (lambda _v: None)
    currencies = sorted(c for c, n in total.orders.items() if n) or sorted(c for c, v in total.revenue.items() if v)
    per_day = [
        DayTotal(
            d,
            c,
            per[d.isoformat()].orders.get(c, 0),
            money(per[d.isoformat()].revenue.get(c, Decimal(0))),
        )
        for d in window
        for c in currencies
    ]
    top_products = _top_per_currency(
        [
            TopProduct(names[pid][0], names[pid][1], c, units, n, money(v))
            for (pid, c), (units, n, v) in total.products.items()
            if units > 0 and pid in names
        ],
        lambda p: (p.revenue or 0, p.units, -p.ref),
    )
    top_merchants = _top_per_currency(
        [
            TopMerchant(shops[mid][0], shops[mid][1], c, n, money(v))
            for (mid, c), (n, v) in total.merchants.items()
            if n > 0 and mid in shops
        ],
        lambda m: (m.revenue or 0, m.orders),
    )
    return Summary(
        as_of=now,
        days=window,
        currencies=currencies,
        per_day=per_day,
        top_products=top_products,
        top_merchants=top_merchants,
        cancellations_per_day=[(d, per_cancel_day.get(d.isoformat(), 0)) for d in window],
        latest_cancellations=[Cancellation(r[0], r[1], r[2], r[3], r[4], r[5]) for r in latest],
        low_stock=low,
        failed_deliveries=failed,
        failed_deliveries_total=failed_total,
        include_money=include_money,
        publisher_id=publisher_id,
        totals={
            c: DayTotal(window[0], c, total.orders.get(c, 0), money(total.revenue.get(c, Decimal(0))))
            for c in currencies
        },
    )


def _top_per_currency(found: list[T], rank: Callable[[T], tuple[Any, ...]]) -> list[T]:
    """The TOP best of each currency (amounts of two currencies do not compare), currency by currency."""
    best: list[T] = []
    for currency in sorted({item.currency for item in found}):
        mine = [item for item in found if item.currency == currency]
        best += sorted(mine, key=rank, reverse=True)[:TOP]
    return best
