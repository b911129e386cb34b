"""Finance: the merchant's monthly statement and the publisher's monthly report, as plain data.

The rules, each written once, here:

- **The recorded price.** A line is billed at the retailer price (duty-free, per unit) recorded on
  it when the order was placed (`order_lines.retailer_unit_price`), never at today's catalogue.
  A line recorded without a price (its product had none in the order's currency) is listed with no
  amount and counted in `unpriced_lines`; it adds nothing to the totals.
- **UTC calendar months.** An order counts in the month it was placed (`orders.created_at`, the
  platform's clock, not the merchant's `orderDate`); a cancellation counts in the month it happened
  (`orders.cancelled_at`), as a negative amount, whatever the month of the order. An order placed and
  cancelled in the same month appears twice and nets to zero.
- **Rounding.** See `ROUNDING`: each line's amount is rounded to the cent once, and every total is
  the exact sum of the rounded line amounts, so the printed figures add up.
- **Per currency.** Nothing is converted: each currency has its own orders, cancellations and totals.

Rendering (CSV, JSON, PDF) is not done here: see resell/reports/.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import Connection, Select, select

from resell.db.tables import merchants, order_lines, orders, products, publishers
from resell.services.context import Context

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
ROUNDING = (
    "each line's amount is its quantity times its recorded unit price, rounded to the cent half up "
    "(0.005 -> 0.01); order and month totals are exact sums of those rounded amounts"
)


class ReportError(ValueError):
    """An unknown merchant or publisher, a month that is not YYYY-MM: the operator's to fix."""


@dataclass(frozen=True, order=True)
class Month:
    """A UTC calendar month: from its first day 00:00 UTC (included) to the next month's (excluded)."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        found = re.fullmatch(r"(\d{4})-(\d{2})", text.strip())
        if found is None or not 1 <= int(found[2]) <= 12 or int(found[1]) < 1:
            raise ReportError(f"month not valid: {text!r} (expected YYYY-MM, e.g. 2026-11)")
        return cls(int(found[1]), int(found[2]))

    @property
    def start(self) -> dt.datetime:
        return dt.datetime(self.year, self.month, 1, tzinfo=dt.UTC)

    @property
    def end(self) -> dt.datetime:
        if self.month == 12:
            return dt.datetime(self.year + 1, 1, 1, tzinfo=dt.UTC)
        return dt.datetime(self.year, self.month + 1, 1, tzinfo=dt.UTC)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def line_amount(unit_price: Decimal | None, quantity: int) -> Decimal | None:
    """The one rounding of the finance reports (`ROUNDING`)."""
    if unit_price is None:
        return None
    return (unit_price * quantity).quantize(CENT, rounding=ROUND_HALF_UP)


# ---------------------------------------------------------------- the merchant's statement


@dataclass(frozen=True)
class StatementLine:
    position: int
    product_ref: int
    product_name: str
    quantity: int
    unit_price: Decimal | None  # the recorded retailer price, duty-free (None: none was recorded)
    vat_rate: Decimal | None  # the VAT rate recorded with it, for information (amounts are duty-free)
    amount: Decimal | None  # quantity x unit_price, to the cent; negative on a cancellation


@dataclass(frozen=True)
class StatementEntry:
    """An order placed in the month, or one cancelled in it (then its amounts are negative)."""

    kind: str  # "order" | "cancellation"
    order_number: int  # the platform's order number
    partner_order_number: str
    date: dt.datetime  # when it was placed (an order) or cancelled (a cancellation), UTC
    placed_at: dt.datetime  # when the order was placed, UTC
    lines: list[StatementLine]
    total: Decimal  # the sum of its lines' amounts


@dataclass(frozen=True)
class CurrencyStatement:
    currency: str
    orders: list[StatementEntry]
    cancellations: list[StatementEntry]
    orders_total: Decimal
    cancellations_total: Decimal  # zero or negative
    net: Decimal  # orders_total + cancellations_total: what the merchant owes for the month
    unpriced_lines: int  # lines with no recorded price, left out of the totals


@dataclass(frozen=True)
class Statement:
    realm: str
    merchant_name: str
    month: Month
    currencies: list[CurrencyStatement]  # by currency code
    generated_at: dt.datetime
    rounding: str = ROUNDING


def billable_orders(query: Select[Any]) -> Select[Any]:
    """The one place that decides which orders the finance reports count: every order but test
    orders (the sandbox's, resell.services.sandbox), which are no sales."""
    return query.where(orders.c.test.is_(False))


_LINE_COLUMNS = (
    orders.c.id.label("order_id"),
    orders.c.partner_order_number,
    orders.c.currency,
    orders.c.created_at,
    orders.c.cancelled_at,
    order_lines.c.position,
    order_lines.c.product_ref,
    products.c.name.label("product_name"),
    order_lines.c.quantity,
    order_lines.c.retailer_unit_price,
    order_lines.c.retailer_vat_rate,
)


def _lines_query(*where: Any) -> Select[Any]:
    return billable_orders(
        select(*_LINE_COLUMNS)
        .select_from(
            orders.join(order_lines, order_lines.c.order_id == orders.c.id).join(
                products, products.c.id == order_lines.c.product_id
            )
        )
        .where(*where)
        .order_by(orders.c.currency, orders.c.id, order_lines.c.position)
    )


def _entries(rows: list[Any], kind: str) -> dict[str, list[StatementEntry]]:
    sign = -1 if kind == "cancellation" else 1
    by_order: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        by_order[row.order_id].append(row)
    result: dict[str, list[StatementEntry]] = defaultdict(list)
    for lines in by_order.values():
        first = lines[0]
        built = []
        for r in lines:
            amount = line_amount(r.retailer_unit_price, r.quantity)
            built.append(
                StatementLine(
                    position=r.position,
                    product_ref=r.product_ref,
                    product_name=r.product_name,
                    quantity=r.quantity,
                    unit_price=r.retailer_unit_price,
                    vat_rate=r.retailer_vat_rate,
                    amount=None if amount is None else (amount if sign > 0 else ZERO - amount),  # never -0.00
                )
            )
        result[first.currency].append(
            StatementEntry(
                kind=kind,
                order_number=first.order_id,
                partner_order_number=first.partner_order_number,
                date=first.cancelled_at if kind == "cancellation" else first.created_at,
                placed_at=first.created_at,
                lines=built,
                total=sum((line.amount for line in built if line.amount is not None), ZERO),
            )
        )
    for entries in result.values():
        entries.sort(key=lambda e: (e.date, e.order_number))
    return result


def _merchant(conn: Connection, realm: str) -> Any:
    merchant = conn.execute(
        select(merchants.c.id, merchants.c.realm, merchants.c.name).where(merchants.c.realm == realm)
    ).first()
    if merchant is None:
        raise ReportError(f"no merchant with realm {realm!r}")
    return merchant


def statement(ctx: Context, realm: str, month: Month | str) -> Statement:
    """What the merchant `realm` owes for `month` (a Month or "YYYY-MM"): per currency, the orders
    placed in it and the cancellations made in it, at the prices recorded on the lines."""
    month = Month.parse(month) if isinstance(month, str) else month
    with ctx.db.read() as conn:
        merchant = _merchant(conn, realm)
        placed = conn.execute(
            _lines_query(
                orders.c.merchant_id == merchant.id, orders.c.created_at >= month.start, orders.c.created_at < month.end
            )
        ).all()
        cancelled = conn.execute(
            _lines_query(
                orders.c.merchant_id == merchant.id,
                orders.c.cancelled_at.is_not(None),
                orders.c.cancelled_at >= month.start,
                orders.c.cancelled_at < month.end,
            )
        ).all()
    placed_entries = _entries(list(placed), "order")
    cancelled_entries = _entries(list(cancelled), "cancellation")
    sections = []
    for currency in sorted(set(placed_entries) | set(cancelled_entries)):
        ordered = placed_entries.get(currency, [])
        undone = cancelled_entries.get(currency, [])
        orders_total = sum((e.total for e in ordered), ZERO)
        cancellations_total = sum((e.total for e in undone), ZERO)
        sections.append(
            CurrencyStatement(
                currency=currency,
                orders=ordered,
                cancellations=undone,
                orders_total=orders_total,
                cancellations_total=cancellations_total,
                net=orders_total + cancellations_total,
                unpriced_lines=sum(1 for e in ordered + undone for line in e.lines if line.unit_price is None),
            )
        )
    return Statement(
        realm=merchant.realm,
        merchant_name=merchant.name,
        month=month,
        currencies=sections,
        generated_at=ctx.now(),
    )


# ---------------------------------------------------------------- the publisher's report


@dataclass(frozen=True)
class PublisherProduct:
    """One product in one currency: units sold and cancelled in the month, at the recorded prices."""

    product_ref: int
    product_name: str
    currency: str
    units_sold: int
    units_cancelled: int
    amount_sold: Decimal  # sum of the sold lines' amounts (recorded price x quantity, to the cent)
    amount_cancelled: Decimal  # zero or negative
    net: Decimal
    unpriced_units: int  # units on lines with no recorded price, left out of the amounts


@dataclass(frozen=True)
class PublisherReport:
    publisher_key: str
    publisher_name: str
    month: Month
    products: list[PublisherProduct]  # by product ref, then currency
    generated_at: dt.datetime
    rounding: str = ROUNDING


def _publisher(conn: Connection, id_or_key: str) -> Any:
    columns = (publishers.c.id, publishers.c.key, publishers.c.name)
    found = conn.execute(select(*columns).where(publishers.c.key == id_or_key)).first()
    if found is None and id_or_key.isdigit():
        found = conn.execute(select(*columns).where(publishers.c.id == int(id_or_key))).first()
    if found is None:
        raise ReportError(f"no publisher with key or id {id_or_key!r}")
    return found


def publisher_report(ctx: Context, publisher: str, month: Month | str) -> PublisherReport:
    """Units of the publisher's products sold (orders placed) and cancelled (orders cancelled) in
    `month`, every merchant together, per product and currency, with their amounts."""
    month = Month.parse(month) if isinstance(month, str) else month
    with ctx.db.read() as conn:
        found = _publisher(conn, publisher)
        mine = products.c.publisher_id == found.id
        sold = conn.execute(
            _lines_query(mine, orders.c.created_at >= month.start, orders.c.created_at < month.end)
        ).all()
        cancelled = conn.execute(
            _lines_query(
                mine,
                orders.c.cancelled_at.is_not(None),
                orders.c.cancelled_at >= month.start,
                orders.c.cancelled_at < month.end,
            )
        ).all()
    tally: dict[tuple[int, str], dict[str, Any]] = {}
    for rows, sign, units, amount in (
        (sold, 1, "sold", "amount_sold"),
        (cancelled, -1, "cancelled", "amount_cancelled"),
    ):
        for r in rows:
            t = tally.setdefault(
                (r.product_ref, r.currency),
                {
                    "name": r.product_name,
                    "sold": 0,
                    "cancelled": 0,
                    "amount_sold": ZERO,
                    "amount_cancelled": ZERO,
                    "unpriced": 0,
                },
            )
            t[units] += r.quantity
            value = line_amount(r.retailer_unit_price, r.quantity)
            if value is None:
                t["unpriced"] += r.quantity
            elif sign > 0:
                t[amount] += value
            else:
                t[amount] -= value
    return PublisherReport(
        publisher_key=found.key,
        publisher_name=found.name,
        month=month,
        products=[
            PublisherProduct(
                product_ref=ref,
                product_name=t["name"],
                currency=currency,
                units_sold=t["sold"],
                units_cancelled=t["cancelled"],
                amount_sold=t["amount_sold"],
                amount_cancelled=t["amount_cancelled"],
                net=t["amount_sold"] + t["amount_cancelled"],
                unpriced_units=t["unpriced"],
            )
            for (ref, currency), t in sorted(tally.items())
        ],
        generated_at=ctx.now(),
    )
