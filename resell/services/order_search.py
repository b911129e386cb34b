"""The support search over every order: by what the end user or the merchant quotes (the platform
order number, the partnerOrderNumber, the customer's email, a serial), narrowed by merchant, status,
order date and publisher, newest first, a page at a time.

Pages are keyset pages on the order id (the platform order number), never OFFSET: each page asks for
ids below the last one shown, so a page costs the same at the millionth order as at the first, and
orders arriving meanwhile (higher ids) never shift a later page (no duplicates, no gaps). Every
filter has its index ending in the id (migration 0007_support_search_indexes); `q` is resolved
through one indexed lookup per kind it may be.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Select, exists, func, select, union

from resell.db.tables import line_items, merchants, order_lines, orders, products, serial_assignments, serials
from resell.services.context import Context

MAX_LIMIT = 200
STATUSES = ("active", "cancelled")


class SearchError(ValueError):
    """A filter that cannot be applied (unknown merchant or status, a cursor not made here)."""


@dataclass(frozen=True)
class ProductLine:
    product_ref: int
    name: str
    quantity: int


@dataclass(frozen=True)
class OrderRow:
    """One order in a result page."""

    order_number: int
    partner_order_number: str
    realm: str
    order_date: dt.datetime
    status: str
    customer_email: str
    currency: str
    products: list[ProductLine] = field(default_factory=list)
    test: bool = False  # a sandbox order: shown as such, never a sale

    @property
    def line_count(self) -> int:
        return len(self.products)

    def as_json(self) -> dict[str, Any]:
        return {
            "orderNumber": self.order_number,
            "partnerOrderNumber": self.partner_order_number,
            "realm": self.realm,
            "orderDate": self.order_date.isoformat(),
            "status": self.status,
            "customerEmail": self.customer_email,
            "currency": self.currency,
            "test": self.test,
            "lineCount": self.line_count,
            "products": [{"productRef": p.product_ref, "name": p.name, "quantity": p.quantity} for p in self.products],
        }


@dataclass(frozen=True)
class SearchPage:
    """A page of orders, newest first; `next_cursor` (None on the last page) is passed back as `after`."""

    orders: list[OrderRow]
    next_cursor: str | None


def encode_cursor(order_id: int) -> str:
    return base64.urlsafe_b64encode(f"o:{order_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor.strip() + "=" * (-len(cursor.strip()) % 4)).decode()
        kind, _, number = text.partition(":")
        if kind != "o" or not number.isdigit():
            raise ValueError(cursor)
        return int(number)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise SearchError(f"not a cursor of this search: {cursor!r}") from None


def _matching_q(q: str) -> Select:  # type: ignore[type-arg]
    """The ids of the orders `q` names: one indexed lookup per kind, as a UNION."""
    kinds: list[Select] = []  # type: ignore[type-arg]
    if q.isdigit() and len(q) < 19:
        kinds.append(select(orders.c.id).where(orders.c.id == int(q)))
    kinds.append(select(orders.c.id).where(orders.c.partner_order_number == q))
    kinds.append(select(orders.c.id).where(func.lower(orders.c.customer_email) == func.lower(q)))
    kinds.append(
        select(order_lines.c.order_id)
        .join(line_items, line_items.c.order_line_id == order_lines.c.id)
        .join(serial_assignments, serial_assignments.c.line_item_id == line_items.c.id)
        .join(serials, serials.c.id == serial_assignments.c.serial_id)
        .where(serials.c.value == q)
    )
    return union(*kinds)  # type: ignore[return-value]


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


def search_query(
    *,
    q: str | None = None,
    merchant_id: int | None = None,
    status: str | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    before_id: int | None = None,
    limit: int = 50,
    publisher_id: int | None = None,
    id_range: tuple[int, int] | None = None,
    test: bool | None = None,
) -> Select:  # type: ignore[type-arg]
    """The page's SELECT (ids and columns, newest first, `limit` rows): apart so its plan can be checked."""
    query = select(
        orders.c.id,
        orders.c.partner_order_number,
        orders.c.merchant_id,
        orders.c.order_date,
        orders.c.status,
        orders.c.customer_email,
        orders.c.currency,
        orders.c.test,
    )
    if q:
        query = query.where(orders.c.id.in_(_matching_q(q)))
    if merchant_id is not None:
        query = query.where(orders.c.merchant_id == merchant_id)
    if status is not None:
        query = query.where(orders.c.status == status)
    if test is not None:  # checked on the rows another filter's index walks: no index of its own
        query = query.where(orders.c.test.is_(test))
    if date_from is not None or date_to is not None:
        query = query.where(*_date_filter(date_from, date_to))
    if publisher_id is not None:  # the publisher's products, a set read once; each order's lines by its id
        of_publisher = select(products.c.id).where(products.c.publisher_id == publisher_id)
        query = query.where(
            exists(
                select(order_lines.c.id).where(
                    order_lines.c.order_id == orders.c.id, order_lines.c.product_id.in_(of_publisher)
                )
            )
        )
    if id_range is not None:
        query = query.where(orders.c.id.between(*id_range))
    if before_id is not None:
        query = query.where(orders.c.id < before_id)
    return query.order_by(orders.c.id.desc()).limit(limit)


def _date_filter(date_from: dt.date | None, date_to: dt.date | None) -> list[Any]:
    where = []
    if date_from is not None:
        where.append(orders.c.order_date >= _day_start(date_from))
    if date_to is not None:  # the whole day included
        where.append(orders.c.order_date < _day_start(date_to + dt.timedelta(days=1)))
    return where


def _narrow_dates(conn: Connection, date_from: dt.date | None, date_to: dt.date | None) -> tuple[int, int]:
    """The lowest and highest id of the orders of a date range ((0, 0): none), so that the page walks
    those ids only, newest first: without them PostgreSQL walks down from the newest order through
    every newer one, and SQLite sorts the whole range. One pass over the range's entries of the
    (order_date, id) index; `id + 0` keeps the databases from looking for the smallest id of the whole
    table instead and filtering their way up from there."""
    where = _date_filter(date_from, date_to)
    low, high = conn.execute(select(func.min(orders.c.id + 0), func.max(orders.c.id + 0)).where(*where)).one()
    return (0, 0) if low is None else (int(low), int(high))


def search(
    ctx: Context,
    q: str | None = None,
    merchant: str | None = None,
    status: str | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    after: str | None = None,
    limit: int = 50,
    publisher_id: int | None = None,
    merchant_id: int | None = None,
    test: bool | None = None,
) -> SearchPage:
    """A page of orders matching every filter given, newest first. `q` is a platform order number, a
    partnerOrderNumber, a customer email (without case) or a serial, exactly; `merchant` a realm;
    `date_from` / `date_to` days of the order date (UTC, both included); `after` the previous page's
    `next_cursor`; `publisher_id` keeps the orders holding at least one of that publisher's products;
    `merchant_id` keeps that merchant's orders only (a merchant account: `merchant` then narrows nothing
    further, another realm finds no order); `test` keeps test orders only (True), live ones only
    (False) or both (None). Test orders are few beside live ones (and purged), so a page of live
    orders skips few rows; the test filter has no index of its own."""
    q = (q or "").strip() or None
    if status is not None and status not in STATUSES:
        raise SearchError(f"status is one of {', '.join(STATUSES)}, not {status!r}")
    limit = max(1, min(int(limit), MAX_LIMIT))
    before_id = decode_cursor(after) if after else None
    with ctx.db.read() as conn:
        if merchant:
            named = conn.execute(select(merchants.c.id).where(merchants.c.realm == merchant.strip())).scalar()
            if named is None or (merchant_id is not None and named != merchant_id):
                raise SearchError(f"no merchant {merchant!r}")
            merchant_id = named
        id_range = None
        if date_from is not None or date_to is not None:
            id_range = _narrow_dates(conn, date_from, date_to)
            if id_range == (0, 0):
                return SearchPage([], None)
        rows = conn.execute(
            search_query(
                q=q,
                merchant_id=merchant_id,
                status=status,
                date_from=date_from,
                date_to=date_to,
                before_id=before_id,
                limit=limit + 1,
                publisher_id=publisher_id,
                id_range=id_range,
                test=test,
            )
        ).all()
        more = len(rows) > limit
        rows = rows[:limit]
        ids = [r.id for r in rows]
        lines: dict[int, list[ProductLine]] = {i: [] for i in ids}
        realms: dict[int, str] = {}
        if ids:
            for order_id, ref, name, quantity in conn.execute(
                select(order_lines.c.order_id, order_lines.c.product_ref, products.c.name, order_lines.c.quantity)
                .join(products, products.c.id == order_lines.c.product_id)
                .where(order_lines.c.order_id.in_(ids))
                .order_by(order_lines.c.order_id, order_lines.c.position)
            ):
                lines[order_id].append(ProductLine(ref, name, quantity))
            realms = dict(
                conn.execute(
                    select(merchants.c.id, merchants.c.realm).where(merchants.c.id.in_({r.merchant_id for r in rows}))
                ).all()
            )
    found = [
        OrderRow(
            order_number=r.id,
            partner_order_number=r.partner_order_number,
            realm=realms[r.merchant_id],
            order_date=r.order_date,
            status=r.status,
            customer_email=r.customer_email,
            currency=r.currency,
            products=lines[r.id],
            test=bool(r.test),
        )
        for r in rows
    ]
    return SearchPage(found, encode_cursor(ids[-1]) if more and ids else None)


def merchant_realms(ctx: Context) -> list[str]:
    """Every merchant's realm, sorted: the search form's merchant filter (one read of a small table)."""
    with ctx.db.read() as conn:
        return list(conn.execute(select(merchants.c.realm).order_by(merchants.c.realm)).scalars())
