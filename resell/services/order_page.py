"""What the back office's order page shows about one order, gathered in one read transaction (one
snapshot, the order row read once): the support view (resell.services.support_orders.detail_of:
customer, lines, serials with their state, files and download counters, subscriptions), each
line's product, quantity and amounts, the merchant and catalogue, the whole audit trail
(resell.services.audit_log.entries_of_order) and the emails, webhooks and publisher callbacks sent
for it (resell.services.deliveries.for_order).

A bounded number of queries whatever the order's size (each part reads its rows in a handful of
statements, none per line or per serial), all on indexes, so the page costs the same at the
millionth order as at the first.

A publisher's view (`publisher_id`): the order only when it holds one of that publisher's
products (else OrderNotFound, as for an order that does not exist), and of it only that
publisher's lines, serials and subscriptions, the order's own audit rows and the callbacks sent
to that publisher.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from resell.db.tables import catalogs, merchants, order_lines, orders, products, publishers
from resell.services import audit_log, deliveries, support_orders
from resell.services.audit_log import AuditEntry
from resell.services.context import Context
from resell.services.deliveries import Delivery
from resell.services.orders import FileView
from resell.services.support_orders import OrderDetail


class OrderNotFound(LookupError):
    """No order with that number (or none this publisher may see)."""


@dataclass(frozen=True)
class PageLine:
    position: int
    product_ref: int
    product_name: str
    quantity: int
    vat_rate: Decimal | None
    amount_duty_free: Decimal | None  # as the merchant sent them (None: not sent)
    amount_total: Decimal | None
    delivery_mode: str
    end_user_email: str | None
    serials: list[tuple[str, str]]  # (value, assigned | revoked), replaced ones too
    files: list[FileView]


@dataclass(frozen=True)
class OrderPage:
    detail: OrderDetail
    merchant_name: str
    catalog_name: str
    lines: list[PageLine]
    subscriptions: list[dict[str, Any]]
    timeline: list[AuditEntry]  # oldest first
    deliveries: list[Delivery]  # oldest first
    partial: bool  # a publisher's view: other publishers' lines left out

    @property
    def customer_name(self) -> str:
        invoice = self.detail.customer.get("locationInvoice") or {}
        return " ".join(p for p in (invoice.get("firstName"), invoice.get("lastName")) if p)

    @property
    def customer_country(self) -> str:
        invoice = self.detail.customer.get("locationInvoice") or {}
        return str(invoice.get("country") or "")

    @property
    def customer_language(self) -> str:
        return str(self.detail.customer.get("language") or "")

    @property
    def live_serials(self) -> list[str]:
        return [value for line in self.lines for value, state in line.serials if state == "assigned"]

    @property
    def download_end_date(self) -> dt.date:
        return self.detail.download_end_date


def order_page(ctx: Context, number: int, publisher_id: int | None = None, merchant_id: int | None = None) -> OrderPage:
    """The order whose platform order number is `number`, as its page shows it (OrderNotFound; also
    when `merchant_id` is given and the order is another merchant's). Read in one snapshot
    (`Database.run_read`: REPEATABLE READ on PostgreSQL too), the order row once."""
    return ctx.db.run_read(lambda: _read_page(ctx, number, publisher_id, merchant_id))


def _read_page(ctx: Context, number: int, publisher_id: int | None, merchant_id: int | None) -> OrderPage:
    with ctx.db.read() as conn:
        head = conn.execute(
            select(
                orders,
                merchants.c.realm,
                merchants.c.name.label("merchant_name"),
                catalogs.c.name.label("catalog_name"),
            )
            .join(merchants, merchants.c.id == orders.c.merchant_id)
            .join(catalogs, catalogs.c.id == orders.c.catalog_id)
            .where(orders.c.id == number)
        ).first()
        if head is None or (merchant_id is not None and head.merchant_id != merchant_id):
            raise OrderNotFound(f"no order {number}")
        rows = conn.execute(
            select(
                order_lines.c.position,
                order_lines.c.product_ref,
                order_lines.c.quantity,
                order_lines.c.vat_rate,
                order_lines.c.amount_duty_free,
                order_lines.c.amount_total,
                order_lines.c.end_user_email,
                products.c.name,
                products.c.publisher_id,
            )
            .join(products, products.c.id == order_lines.c.product_id)
            .where(order_lines.c.order_id == number)
            .order_by(order_lines.c.position)
        ).all()
        publisher_key = None
        if publisher_id is not None:
            if not any(r.publisher_id == publisher_id for r in rows):
                raise OrderNotFound(f"no order {number}")
            publisher_key = conn.execute(select(publishers.c.key).where(publishers.c.id == publisher_id)).scalar()
        detail = support_orders.detail_of(conn, ctx, head)
        trail = audit_log.entries_of_order(conn, head)
        sent = deliveries.for_order(ctx, number)  # its read() joins this transaction
    serials_by_line = detail.line_serials or [[] for _ in rows]
    lines = [
        PageLine(
            position=r.position,
            product_ref=r.product_ref,
            product_name=r.name,
            quantity=r.quantity,
            vat_rate=r.vat_rate,
            amount_duty_free=r.amount_duty_free,
            amount_total=r.amount_total,
            delivery_mode=view.delivery_mode,
            end_user_email=r.end_user_email,
            serials=held,
            files=view.files,
        )
        for r, view, held in zip(rows, detail.view.lines, serials_by_line, strict=True)
        if publisher_id is None or r.publisher_id == publisher_id
    ]
    refs = {line.product_ref for line in lines}
    if publisher_id is not None:
        trail = [e for e in trail if e.entity == "order" and e.entity_id == str(number)]
        sent = [d for d in sent if d.category == "publisher callback" and d.to == publisher_key]
    if merchant_id is not None:  # what reached the merchant and its end users, not the publishers' callbacks
        sent = [d for d in sent if d.category in ("email", "webhook")]
    return OrderPage(
        detail=detail,
        merchant_name=head.merchant_name,
        catalog_name=head.catalog_name,
        lines=lines,
        subscriptions=[s for s in detail.subscriptions if s["productRef"] in refs],
        timeline=trail,
        deliveries=sent,
        partial=len(lines) < len(rows),
    )


def realm_of(ctx: Context, number: int) -> str:
    """The realm of the merchant of order `number` (OrderNotFound): the actions name the order by
    number and realm, so that a number is never taken for another merchant's partnerOrderNumber."""
    with ctx.db.read() as conn:
        realm = conn.execute(
            select(merchants.c.realm).join(orders, orders.c.merchant_id == merchants.c.id).where(orders.c.id == number)
        ).scalar()
    if realm is None:
        raise OrderNotFound(f"no order {number}")
    return str(realm)
