"""The one order writer: what every new order writes, a merchant's (createOrder) and a renewal's alike.

`insert_order` runs in the caller's write transaction (createOrder's group-commit turn, the renewal
worker's batch) and writes, all or nothing: the order, its lines and line items, the serials (from
the pool under the lock rules of resell/db/locking.py, or the keys a publisher's generator made for
it), the subscriptions a first order starts, the delivery (backup DVD shipment, delivery emails:
services/delivery.py) and the audit rows. It returns what it wrote, so that a reply can be built
without reading it back.

What needs the network comes before: a caller plans the order, asks the generators for keys
(keygen.generate, outside any transaction) and only then takes its turn to write. Checking that the
keys still fit the order (the catalogue may have changed meanwhile) is the writer's job.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import Connection, Row, Table, bindparam, select

from resell.db import prepared
from resell.db.prepared import Prepared
from resell.db.tables import line_items, order_lines, orders, products, publishers, serial_assignments, subscriptions
from resell.domain import codes
from resell.domain.codes import Refusal
from resell.domain.links import new_line_token
from resell.domain.periods import parse_period
from resell.domain.remarks import fill_remark
from resell.services import delivery, keygen, sandbox, sandbox_clock, stock
from resell.services.audit_log import audit_rows

# What the writer, the delivery and the reply need to know of a product (a row of these columns
# of products joined with publishers).
PRODUCT_COLUMNS = (
    products.c.id,
    products.c.ref,
    products.c.name,
    products.c.type,
    products.c.status,
    products.c.release_date,
    products.c.serial_source,
    products.c.remark_template,
    products.c.subscription_period,
    products.c.option_kind,
    products.c.option_period,
    products.c.almost_out_threshold,
    products.c.delivery_mode,
    products.c.publisher_id,
    publishers.c.key.label("publisher_key"),
    publishers.c.delivers_directly,
    publishers.c.keygen_url,
)
PRODUCTS_WITH_PUBLISHER = products.join(publishers, publishers.c.id == products.c.publisher_id)

_INSERT_ORDER = prepared.insert(orders)
_INSERT_LINE = prepared.insert(order_lines)
# An order's line items, and its serial assignments, go in one multi-row INSERT each (ten units: two
# statements, not twenty), of at most _ROWS rows: a statement is compiled for each row count.
_ROWS = 16


@cache
def _insert_statement(table: Table, columns: tuple[str, ...], count: int, returning: tuple[str, ...]) -> Prepared:
    """INSERT of `count` rows giving `columns` (row i's values named `<column>_<i>`)."""
    rows = [{name: bindparam(f"{name}_{i}", type_=table.c[name].type) for name in columns} for i in range(count)]
    statement = table.insert().values(rows)
    return Prepared(statement.returning(*(table.c[name] for name in returning)) if returning else statement)


def _insert_rows(
    conn: Connection, table: Table, rows: list[dict[str, Any]], returning: tuple[str, ...] = ()
) -> list[Any]:
    """Insert `rows` (the same keys in each) in as few statements as _ROWS allows; with `returning`,
    those columns of the rows inserted (generated keys included), in no particular order (RETURNING
    promises none)."""
    inserted: list[Any] = []
    for start in range(0, len(rows), _ROWS):
        chunk = rows[start : start + _ROWS]
        values = {f"{name}_{i}": value for i, row in enumerate(chunk) for name, value in row.items()}
        statement = _insert_statement(table, tuple(chunk[0]), len(chunk), returning)
        if returning:
            inserted += statement.all(conn, **values)
        else:
            statement.execute(conn, **values)
    return inserted


@dataclass
class NewLine:
    """One line of a new order. `renews`: the subscription each unit renews (a renewal order); a
    first order's units of a subscription product start one each, at `subscription_amount`.
    `retailer_unit_price` / `retailer_vat_rate`: the catalogue's price of the product in the order's
    currency when the order is placed, recorded on the line: the merchant's statement bills it
    (services/reports.py); None when the product has no price in that currency."""

    position: int
    product: Any  # a row of PRODUCT_COLUMNS
    quantity: int
    vat_rate: Decimal | None = None
    amount_duty_free: Decimal | None = None
    amount_total: Decimal | None = None
    end_user_email: str | None = None
    discounts: list[dict[str, Any]] | None = None
    renews: list[int] | None = None
    subscription_amount: Decimal | None = None
    retailer_unit_price: Decimal | None = None
    retailer_vat_rate: Decimal | None = None


@dataclass
class NewOrder:
    """Everything an order row and its delivery need; `audit` adds to the order's "created" audit row."""

    merchant_id: int
    catalog_id: int
    partner_order_number: str
    order_date: dt.datetime
    currency: str
    customer_email: str
    customer_language: str | None
    customer_partner_id: str | None
    customer: dict[str, Any]
    download_end_date: dt.date
    lines: list[NewLine]
    actor: str
    first_name: str | None = None  # the invoice's names, for the remarks
    last_name: str | None = None
    delivery: dict[str, Any] | None = None  # where a backup DVD goes
    payment: dict[str, Any] | None = None
    discounts: list[dict[str, Any]] | None = None
    metadata: list[dict[str, Any]] | None = None
    marketing_program_id: str | None = None
    affiliate_id: int | None = None
    parent_order_id: int | None = None
    generation: int = 0
    renewed_subscription_id: int | None = None
    audit: dict[str, Any] = field(default_factory=dict)
    # a test order (the sandbox): TEST- serials instead of stock or generated keys, its emails kept, not sent
    test: bool = False
    # the catalogue's delivery_email (every line's end user gets an email) when the caller has it
    # already; None: read in the transaction (resell.services.delivery_mail.enqueue_for_order)
    delivery_email: bool | None = None

    def key_requests(self) -> list[keygen.KeyRequest]:
        """What to ask the publishers' generators for, before writing (nothing for a test order)."""
        if self.test:
            return []
        return keygen.requests_for((line.product, line.quantity) for line in self.lines)


@dataclass(frozen=True)
class WrittenItem:
    item_id: int
    serials: list[str]
    subscription_id: int | None  # the one it started, or the one it renews


@dataclass(frozen=True)
class WrittenLine:
    line_id: int
    line: NewLine
    remark: str
    download_token: str
    items: list[WrittenItem]


@dataclass(frozen=True)
class WrittenOrder:
    order_id: int
    order: NewOrder
    lines: list[WrittenLine]
    serials: int  # how many were assigned


def insert_order(conn: Connection, order: NewOrder, keys: keygen.Keys, now: dt.datetime) -> WrittenOrder:
    """Write the order in the caller's transaction; a Refusal (1044: the pool is short, 1051: the keys
    no longer fit the order) leaves the transaction for the caller to roll back."""
    pooled: Counter[int] = Counter()
    for line in order.lines:
        if line.product.serial_source == "pool":
            pooled[line.product.id] += line.quantity
    if not keys.fit(order.key_requests()):
        raise Refusal(codes.LICENCES_NOT_AVAILABLE)  # the catalogue changed between the plan and now
    if order.test:  # no real stock: generated TEST- serials for what would take a pool's or a generator's
        wanted = Counter(pooled)
        for line in order.lines:
            if line.product.serial_source == "generator":
                wanted[line.product.id] += line.quantity
        pools = {pid: sandbox.new_serials(conn, now, pid, n) for pid, n in sorted(wanted.items())}
    else:
        # The serials: the whole order or nothing. Products in id order (resell/db/locking.py).
        pools = {pid: stock.allocate(conn, pid, n) for pid, n in sorted(pooled.items())}
        pools.update(keygen.store(conn, now, keys))

    order_id = _INSERT_ORDER.scalar(
        conn,
        merchant_id=order.merchant_id,
        catalog_id=order.catalog_id,
        partner_order_number=order.partner_order_number,
        status="active",
        order_date=order.order_date,
        currency=order.currency,
        customer_email=order.customer_email,
        customer_language=order.customer_language,
        customer_partner_id=order.customer_partner_id,
        customer=order.customer,
        payment=order.payment,
        discounts=order.discounts,
        metadata=order.metadata,
        marketing_program_id=order.marketing_program_id,
        affiliate_id=order.affiliate_id,
        download_end_date=order.download_end_date,
        parent_order_id=order.parent_order_id,
        generation=order.generation,
        renewed_subscription_id=order.renewed_subscription_id,
        created_at=now,
        test=order.test,
    )
    lines: list[tuple[NewLine, int, str, str]] = []
    for line in order.lines:
        product = line.product
        remark = fill_remark(
            product.remark_template,
            first_name=order.first_name,
            last_name=order.last_name,
            game_name=product.name,
            order_number=order_id,
        )
        token = new_line_token()
        line_id = _INSERT_LINE.scalar(
            conn,
            order_id=order_id,
            position=line.position,
            product_id=product.id,
            product_ref=product.ref,
            quantity=line.quantity,
            vat_rate=line.vat_rate,
            amount_duty_free=line.amount_duty_free,
            amount_total=line.amount_total,
            retailer_unit_price=line.retailer_unit_price,
            retailer_vat_rate=line.retailer_vat_rate,
            end_user_email=line.end_user_email,
            discounts=line.discounts,
            remark=remark,
            download_token=token,
        )
        lines.append((line, line_id, remark, token))
    item_ids = {
        (row.order_line_id, row.position): row.id
        for row in _insert_rows(
            conn,
            line_items,
            [
                {
                    "order_line_id": line_id,
                    "position": unit,
                    "renews_subscription_id": line.renews[unit] if line.renews is not None else None,
                }
                for line, line_id, _, _ in lines
                for unit in range(line.quantity)
            ],
            returning=("id", "order_line_id", "position"),
        )
    }
    assignments: list[dict[str, Any]] = []
    started: list[dict[str, Any]] = []
    starts: dt.datetime | None = None  # when the subscriptions the order starts begin (looked up once)
    placed: list[tuple[NewLine, int, str, str, list[tuple[int, list[str], int | None]]]] = []
    for line, line_id, remark, token in lines:
        product = line.product
        items = []
        for unit in range(line.quantity):
            renews = line.renews[unit] if line.renews is not None else None
            item_id = item_ids[line_id, unit]
            values = []
            if product.serial_source in ("pool", "generator"):
                serial_id, value = pools[product.id].pop(0)
                assignments.append({"serial_id": serial_id, "line_item_id": item_id, "assigned_at": now})
                values.append(value)
            if product.subscription_period and line.renews is None:
                if starts is None:  # a clocked sandbox's subscriptions start at its test clock's time
                    starts = sandbox_clock.time_of(conn, order.catalog_id, now)
                expires = starts + parse_period(product.subscription_period)
                started.append(
                    {
                        "order_id": order_id,
                        "line_item_id": item_id,
                        "product_id": product.id,
                        "period": product.subscription_period,
                        "generation": 0,
                        "status": "ACTIVE",
                        "currency": order.currency,
                        "amount": line.subscription_amount,
                        "created_at": starts,
                        "updated_at": starts,
                        "expires_at": expires,
                        "next_change_at": expires,
                    }
                )
            items.append((item_id, values, renews))
        placed.append((line, line_id, remark, token, items))
    _insert_rows(conn, serial_assignments, assignments)
    started_rows = _start_subscriptions(conn, order_id, started)
    delivery.on_order_created(
        conn,
        now,
        order.actor,
        order.catalog_id,
        order_id,
        order.customer_email,
        order.delivery,
        [(line, line_id) for line, line_id, *_ in placed],
        test=order.test,
        every_line=order.delivery_email,
    )
    created = {"partnerOrderNumber": order.partner_order_number, **order.audit, "serials": len(assignments)}
    audit_rows(
        conn,
        now,
        order.actor,
        [
            ("order", order_id, "created", None, created),
            *(
                (
                    "serial",
                    a["serial_id"],
                    "assigned",
                    {"status": "available"},
                    {"status": "assigned", "orderNumber": order_id},
                )
                for a in assignments
                if not order.test  # a TEST- serial was never stock: no serial history to keep
            ),
            *(
                (
                    "subscription",
                    r.id,
                    "created",
                    None,
                    {
                        "status": "ACTIVE",
                        "generation": r.generation,
                        "orderNumber": order_id,
                        "expiresAt": r.expires_at.isoformat(),
                    },
                )
                for r in started_rows
            ),
        ],
    )
    started_ids = {r.line_item_id: r.id for r in started_rows}
    return WrittenOrder(
        order_id=order_id,
        order=order,
        lines=[
            WrittenLine(
                line_id=line_id,
                line=line,
                remark=remark,
                download_token=token,
                items=[
                    WrittenItem(item_id, values, renews if renews is not None else started_ids.get(item_id))
                    for item_id, values, renews in items
                ],
            )
            for line, line_id, remark, token, items in placed
        ],
        serials=len(assignments),
    )


def _start_subscriptions(conn: Connection, order_id: int, started: Sequence[dict[str, Any]]) -> Sequence[Row]:
    """Insert a first order's subscriptions; read back their ids (an executemany returns none)."""
    if not started:
        return []
    conn.execute(subscriptions.insert(), list(started))
    return conn.execute(
        select(
            subscriptions.c.id, subscriptions.c.line_item_id, subscriptions.c.generation, subscriptions.c.expires_at
        ).where(subscriptions.c.order_id == order_id)
    ).all()
