"""The back office's dashboard: what happened over the last days, in numbers, without HTTP.

`summary` reads, for the `days` UTC days ending today: orders and revenue per day and currency, the
top products and merchants, cancellations, the pools that are low or out and the deliveries that
fail. Revenue is counted at the retailer price (`line_value`, the one place that says how a line is
valued); an order counts on the UTC day it was received (`orders.created_at`), whatever its status;
a cancellation on the day it was cancelled. `publisher_id` narrows everything to that publisher's
products (an order counts when one of its lines is theirs, and only those lines make its revenue);
`include_money=False` leaves every amount out (None), for roles that see no money.

Speed: every query reads a window of `orders.created_at` (index `ix_orders_created_at`) and the lines
of those orders by `order_lines.order_id`; the result is kept for CACHE_SECONDS per argument set (the
summary says `as_of`), so a page reloaded by many people costs one computation.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TypeVar

from sqlalchemy import ColumnElement, Connection, Select, and_, desc, func, select

from resell.db.tables import merchants, order_lines, orders, product_prices, products
from resell.services import deliveries
from resell.services.context import Context
from resell.services.stock_pools import Pool, low_pools

TOP = 10  # products and merchants shown, per currency
LATEST_CANCELLATIONS = 10
FAILED_DELIVERIES = 20
CACHE_SECONDS = 30.0
T = TypeVar("T", "TopProduct", "TopMerchant")


def line_value() -> ColumnElement[Decimal]:
    """SQL: an order line's value at the retailer price, duty free, in the order's currency.

    Today: the product's price in the order's currency (product_prices) times the quantity. Once
    order lines record the retailer unit price of the day of the order, this becomes
    `order_lines.c.retailer_unit_price * order_lines.c.quantity`: the one line to change.
    """
    unit = (
        select(product_prices.c.amount_duty_free)
        .where(product_prices.c.product_id == order_lines.c.product_id, product_prices.c.currency == orders.c.currency)
        .scalar_subquery()
    )
    return func.coalesce(unit, 0) * order_lines.c.quantity


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


_cache: dict[tuple[object, ...], tuple[float, Summary]] = {}
_cache_lock = threading.Lock()


def summary(
    ctx: Context,
    days: int = 30,
    publisher_id: int | None = None,
    include_money: bool = True,
    fresh: bool = False,
) -> Summary:
    """The dashboard for the `days` UTC days ending today; kept CACHE_SECONDS (`fresh`: read again)."""
    days = max(1, min(days, 366))
    key = (id(ctx.db), days, publisher_id, include_money)
    now_mono = time.monotonic()
    if not fresh:
        with _cache_lock:
            hit = _cache.get(key)
        if hit and now_mono - hit[0] < CACHE_SECONDS and hit[1].as_of <= ctx.now():
            return hit[1]
    result = compute(ctx, days, publisher_id, include_money)
    with _cache_lock:
        _cache[key] = (now_mono, result)
    return result


def _utc_day(conn: Connection, column: ColumnElement[dt.datetime]) -> ColumnElement[str]:
    """SQL: the UTC day of a timestamp as 'YYYY-MM-DD' (SQLite keeps UTC text; PostgreSQL timestamptz)."""
    if conn.dialect.name == "sqlite":
        return func.substr(column, 1, 10)
    return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")


def _publisher_lines(publisher_id: int | None) -> ColumnElement[bool] | None:
    if publisher_id is None:
        return None
    return order_lines.c.product_id.in_(select(products.c.id).where(products.c.publisher_id == publisher_id))


def compute(ctx: Context, days: int, publisher_id: int | None, include_money: bool) -> Summary:
    """The summary, read now (no cache)."""
    now = ctx.now()
    today = now.astimezone(dt.UTC).date()
    window = [today - dt.timedelta(days=n) for n in range(days - 1, -1, -1)]
    start = dt.datetime.combine(window[0], dt.time(), dt.UTC)
    end = dt.datetime.combine(today + dt.timedelta(days=1), dt.time(), dt.UTC)
    mine = _publisher_lines(publisher_id)
    in_window = and_(orders.c.created_at >= start, orders.c.created_at < end)
    with ctx.db.read() as conn:
        day = _utc_day(conn, orders.c.created_at)
        # orders per day and currency: from orders alone, unless a publisher narrows them to its lines
        counts: dict[tuple[str, str], int] = {}
        if mine is None:
            q: Select = select(day.label("day"), orders.c.currency, func.count()).where(in_window)
        else:
            q = (
                select(day.label("day"), orders.c.currency, func.count(func.distinct(orders.c.id)))
                .join(order_lines, order_lines.c.order_id == orders.c.id)
                .where(in_window, mine)
            )
        for d, currency, n in conn.execute(q.group_by(day, orders.c.currency)):
            counts[(d, currency)] = n
        revenue: dict[tuple[str, str], Decimal] = {}
        if include_money:
            value = func.sum(line_value())
            q = select(day.label("day"), orders.c.currency, value).join(
                order_lines, order_lines.c.order_id == orders.c.id
            )
            q = q.where(in_window, *([mine] if mine is not None else []))
            for d, currency, amount in conn.execute(q.group_by(day, orders.c.currency)):
                revenue[(d, currency)] = Decimal(amount or 0)
        top_products = _top_products(conn, in_window, mine, include_money)
        top_merchants = _top_merchants(conn, in_window, mine, include_money)
        cancelled_day = _utc_day(conn, orders.c.cancelled_at)
        cancelled_window = and_(orders.c.cancelled_at >= start, orders.c.cancelled_at < end)
        narrowed = (
            orders.c.id.in_(select(order_lines.c.order_id).where(mine))
            if mine is not None
            else orders.c.id.isnot(None)
        )
        per_cancel_day = dict(
            conn.execute(
                select(cancelled_day, func.count()).where(cancelled_window, narrowed).group_by(cancelled_day)
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
            .where(orders.c.cancelled_at.isnot(None), narrowed)
            .order_by(desc(orders.c.cancelled_at), desc(orders.c.id))
            .limit(LATEST_CANCELLATIONS)
        ).all()
    currencies = sorted({c for _d, c in counts} | {c for _d, c in revenue})
    per_day = [
        DayTotal(
            d,
            c,
            counts.get((d.isoformat(), c), 0),
            revenue.get((d.isoformat(), c), Decimal(0)) if include_money else None,
        )
        for d in window
        for c in currencies
    ]
    totals = {
        c: DayTotal(
            window[0],
            c,
            sum(t.orders for t in per_day if t.currency == c),
            sum((t.revenue or Decimal(0) for t in per_day if t.currency == c), Decimal(0)) if include_money else None,
        )
        for c in currencies
    }
    low = low_pools(ctx, publisher_id=publisher_id)
    failed, failed_total = deliveries.failed(ctx, FAILED_DELIVERIES, publisher_id=publisher_id)
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
        totals=totals,
    )


def _top_products(
    conn: Connection, in_window: ColumnElement[bool], mine: ColumnElement[bool] | None, include_money: bool
) -> list[TopProduct]:
    units = func.sum(order_lines.c.quantity)
    value = func.sum(line_value()) if include_money else func.sum(0)
    per = (
        select(
            order_lines.c.product_id,
            orders.c.currency,
            units.label("units"),
            func.count(func.distinct(orders.c.id)).label("orders"),
            value.label("revenue"),
        )
        .join(order_lines, order_lines.c.order_id == orders.c.id)
        .where(in_window, *([mine] if mine is not None else []))
        .group_by(order_lines.c.product_id, orders.c.currency)
    ).subquery()
    rows = conn.execute(
        select(products.c.ref, products.c.name, per.c.currency, per.c.units, per.c.orders, per.c.revenue).join(
            products, products.c.id == per.c.product_id
        )
    ).all()
    found = [
        TopProduct(r.ref, r.name, r.currency, int(r.units), int(r.orders), Decimal(r.revenue) if include_money else None)
        for r in rows
    ]
    return _top_per_currency(found, lambda p: (p.revenue or 0, p.units, -p.ref))


def _top_merchants(
    conn: Connection, in_window: ColumnElement[bool], mine: ColumnElement[bool] | None, include_money: bool
) -> list[TopMerchant]:
    if mine is None and not include_money:
        per = (
            select(orders.c.merchant_id, orders.c.currency, func.count().label("orders"), func.sum(0).label("revenue"))
            .where(in_window)
            .group_by(orders.c.merchant_id, orders.c.currency)
        ).subquery()
    else:
        per = (
            select(
                orders.c.merchant_id,
                orders.c.currency,
                func.count(func.distinct(orders.c.id)).label("orders"),
                (func.sum(line_value()) if include_money else func.sum(0)).label("revenue"),
            )
            .join(order_lines, order_lines.c.order_id == orders.c.id)
            .where(in_window, *([mine] if mine is not None else []))
            .group_by(orders.c.merchant_id, orders.c.currency)
        ).subquery()
    rows = conn.execute(
        select(merchants.c.realm, merchants.c.name, per.c.currency, per.c.orders, per.c.revenue).join(
            merchants, merchants.c.id == per.c.merchant_id
        )
    ).all()
    found = [
        TopMerchant(r.realm, r.name, r.currency, int(r.orders), Decimal(r.revenue) if include_money else None)
        for r in rows
    ]
    return _top_per_currency(found, lambda m: (m.revenue or 0, m.orders))


def _top_per_currency(found: list[T], rank: Callable[[T], tuple[object, ...]]) -> list[T]:
    """The TOP best of each currency (amounts of two currencies do not compare), currency by currency."""
    best: list[T] = []
    for currency in sorted({item.currency for item in found}):  # type: ignore[attr-defined]
        mine = [item for item in found if item.currency == currency]  # type: ignore[attr-defined]
        best += sorted(mine, key=rank, reverse=True)[:TOP]  # type: ignore[arg-type]
    return best


def clear_cache() -> None:
    """Forget the kept summaries (tests; a page that wants fresh numbers passes fresh=True)."""
    with _cache_lock:
        _cache.clear()
