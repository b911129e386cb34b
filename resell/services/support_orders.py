"""The operator's support desk: find an order by the number the end user has (the platform order
number) or by the merchant's partnerOrderNumber, show it whole, and act on it with the same service
functions the API uses (the actor recorded is `operator`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, func, select

from resell.db.tables import (
    catalogs,
    line_items,
    merchants,
    order_lines,
    orders,
    products,
    serial_assignments,
    serials,
)
from resell.db.tables import subscriptions as subscriptions_table
from resell.services.context import Caller, Context

if TYPE_CHECKING:
    from resell.services.orders import CancelResult, OrderView

OPERATOR = "operator"  # the audit's actor for what support does


class OrderLookupError(ValueError):
    """No such order, or a partnerOrderNumber several merchants use (the CLI prints it)."""


def find_order(conn: Connection, ref: str, realm: str | None = None) -> Row:
    """The order (with its merchant's `realm`) whose platform number is `ref` when `ref` is an integer
    naming one, else the order with that partnerOrderNumber, narrowed to `realm` when given."""
    base = select(orders, merchants.c.realm).join(merchants, merchants.c.id == orders.c.merchant_id)
    if realm:
        base = base.where(merchants.c.realm == realm)
    ref = ref.strip()
    if ref.isdigit() and len(ref) < 19:
        by_number = conn.execute(base.where(orders.c.id == int(ref))).first()
        if by_number is not None:
            return by_number
    found = conn.execute(base.where(orders.c.partner_order_number == ref)).all()
    if not found:
        raise OrderLookupError(f"no order {ref!r}" + (f" of merchant {realm!r}" if realm else ""))
    if len(found) > 1:
        realms = ", ".join(sorted(r.realm for r in found))
        raise OrderLookupError(f"several merchants have an order {ref!r} ({realms}): add --realm")
    return found[0]


def caller_for(conn: Connection, order: Row) -> Caller:
    """The merchant and catalogue of the order, as the API's authentication would have resolved them."""
    catalog = conn.execute(select(catalogs).where(catalogs.c.id == order.catalog_id)).one()
    return Caller(
        merchant_id=order.merchant_id,
        realm=order.realm,
        catalog_id=catalog.id,
        currency=catalog.currency,
        cancel_period_days=catalog.cancel_period_days,
        requires_amounts=catalog.requires_amounts,
    )


@dataclass(frozen=True)
class OrderDetail:
    """Everything support needs to answer an end user about one order."""

    realm: str
    order_number: int
    partner_order_number: str
    status: str
    order_date: dt.datetime
    customer_email: str
    customer: dict[str, Any]
    download_end_date: dt.date
    cancel_reason: int | None
    currency: str
    total: Decimal | None  # the lines' amountTotal; None when the merchant sent none
    serial_states: dict[str, str]  # serial value -> available | assigned | revoked
    subscriptions: list[dict[str, Any]]
    view: OrderView  # the lines, serials, files and download counters, as getDownloadInfo shows them

    def as_json(self) -> dict[str, Any]:
        return {
            "realm": self.realm,
            "orderNumber": self.order_number,
            "partnerOrderNumber": self.partner_order_number,
            "status": self.status,
            "orderDate": self.order_date.isoformat(),
            "customerEmail": self.customer_email,
            "customer": self.customer,
            "dateEndDownload": self.download_end_date.isoformat(),
            "cancelReason": self.cancel_reason,
            "currency": self.currency,
            "total": self.total,
            "lines": [
                {
                    "productRef": line.product_ref,
                    "deliveryMode": line.delivery_mode,
                    "serials": [
                        {"value": s, "state": self.serial_states.get(s, "")}
                        for item in line.line_items
                        for s in item.serials
                    ],
                    "subscriptionIds": [i.subscription_id for i in line.line_items if i.subscription_id],
                    "files": [
                        {
                            "label": f.label,
                            "size": f.size,
                            "url": f.url,
                            "countStartDownload": f.count_start_download,
                            "countCompleteDownload": f.count_complete_download,
                            "dateLastDownload": f.date_last_download.isoformat() if f.date_last_download else None,
                        }
                        for f in line.files
                    ],
                }
                for line in self.view.lines
            ],
            "subscriptions": self.subscriptions,
        }


def order_detail(ctx: Context, ref: str, realm: str | None = None) -> OrderDetail:
    from resell.services import orders as order_service

    with ctx.db.read() as conn:
        order = find_order(conn, ref, realm)
        caller = caller_for(conn, order)
        states = dict(
            conn.execute(
                select(serials.c.value, serials.c.status)
                .join(serial_assignments, serial_assignments.c.serial_id == serials.c.id)
                .join(line_items, line_items.c.id == serial_assignments.c.line_item_id)
                .join(order_lines, order_lines.c.id == line_items.c.order_line_id)
                .where(order_lines.c.order_id == order.id)
            ).all()
        )
        subs = conn.execute(
            select(subscriptions_table, products.c.ref)
            .join(products, products.c.id == subscriptions_table.c.product_id)
            .where(subscriptions_table.c.order_id == order.id)
            .order_by(subscriptions_table.c.id)
        ).all()
        amounts = conn.execute(select(order_lines.c.amount_total).where(order_lines.c.order_id == order.id)).scalars()
        known = [a for a in amounts if a is not None]
    view = order_service.download_info(ctx, caller, order.partner_order_number)
    return OrderDetail(
        realm=order.realm,
        order_number=order.id,
        partner_order_number=order.partner_order_number,
        status=order.status,
        order_date=order.order_date,
        customer_email=order.customer_email,
        customer=order.customer or {},
        download_end_date=view.download_end_date,
        cancel_reason=order.cancel_reason,
        currency=order.currency,
        total=sum(known, Decimal(0)) if known else None,
        serial_states=states,
        subscriptions=[
            {
                "id": s.id,
                "productRef": s.ref,
                "status": s.status,
                "period": s.period,
                "generation": s.generation,
                "expiresAt": s.expires_at.isoformat(),
            }
            for s in subs
        ],
        view=view,
    )


@dataclass(frozen=True)
class OrderSummary:
    order_number: int
    realm: str
    partner_order_number: str
    order_date: dt.datetime
    status: str
    currency: str
    total: Decimal | None

    def as_json(self) -> dict[str, Any]:
        return {
            "orderNumber": self.order_number,
            "realm": self.realm,
            "partnerOrderNumber": self.partner_order_number,
            "orderDate": self.order_date.isoformat(),
            "status": self.status,
            "currency": self.currency,
            "total": self.total,
        }


def orders_of_email(ctx: Context, email: str) -> list[OrderSummary]:
    """Every order of that customer email, all merchants, newest first (the address compared without case:
    end users do not remember how they typed it). A scan of the orders: an operator's occasional query."""
    totals = (
        select(order_lines.c.order_id, func.sum(order_lines.c.amount_total).label("total"))
        .group_by(order_lines.c.order_id)
        .subquery()
    )
    with ctx.db.read() as conn:
        rows = conn.execute(
            select(orders, merchants.c.realm, totals.c.total)
            .join(merchants, merchants.c.id == orders.c.merchant_id)
            .outerjoin(totals, totals.c.order_id == orders.c.id)
            .where(func.lower(orders.c.customer_email) == email.strip().lower())
            .order_by(orders.c.order_date.desc(), orders.c.id.desc())
        ).all()
    return [
        OrderSummary(r.id, r.realm, r.partner_order_number, r.order_date, r.status, r.currency, r.total) for r in rows
    ]


def cancel(ctx: Context, ref: str, realm: str | None, reason: object, comment: object) -> tuple[Row, CancelResult]:
    """cancelOrder for the merchant, with its rules (a Refusal when already cancelled or too late),
    audited as the operator's. Returns the order as found and the result."""
    from resell.services import orders as order_service

    with ctx.db.read() as conn:
        order = find_order(conn, ref, realm)
        caller = caller_for(conn, order)
    result = order_service.cancel_order(ctx, caller, order.partner_order_number, reason, comment, actor=OPERATOR)
    return order, result


class ResendRefused(ValueError):
    """The delivery email cannot go again: a cancelled order, or a corrected address that is not one."""


def resend_email(ctx: Context, ref: str, realm: str | None, to: str | None = None) -> tuple[Row, list[tuple[str, str]]]:
    """Queue the order's delivery email again through the outbox: every line, to each line's end user
    (else the order's address) as createOrder did, or all to the corrected address `to`. Returns the
    order and the queued (event id, address) pairs; audited as the operator's."""
    from resell.domain.codes import CUSTOMER_EMAIL_NOT_VALID, Refusal
    from resell.domain.order_request import normalized_email
    from resell.services.audit_log import audit
    from resell.services.delivery_mail import KIND
    from resell.services.outbox import enqueue

    if to is not None:
        try:
            to = normalized_email(to, CUSTOMER_EMAIL_NOT_VALID)
        except Refusal:
            raise ResendRefused(f"{to!r} is not a valid email address") from None
    now = ctx.now()
    with ctx.db.write() as conn:
        order = find_order(conn, ref, realm)
        if order.status == "cancelled":
            raise ResendRefused(f"order {order.id} is cancelled: its links no longer work")
        by_recipient: dict[str, list[int]] = {}
        for line_id, end_user_email in conn.execute(
            select(order_lines.c.id, order_lines.c.end_user_email)
            .where(order_lines.c.order_id == order.id)
            .order_by(order_lines.c.position)
        ).all():
            by_recipient.setdefault(to or end_user_email or order.customer_email, []).append(line_id)
        queued = [
            (enqueue(conn, now, KIND, {"orderNumber": order.id, "to": address, "lineIds": line_ids}), address)
            for address, line_ids in by_recipient.items()
        ]
        audit(conn, now, OPERATOR, "order", order.id, "delivery_email_resent", after={"to": sorted(by_recipient)})
    return order, queued
