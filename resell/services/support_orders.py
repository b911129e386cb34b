"""The operator's support desk: find an order by the number the end user has (the platform order
number) or by the merchant's partnerOrderNumber, show it whole, and act on it with the same service
functions the API uses (the actor recorded is `operator` from the CLI, `staff:<email>` from the back office)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
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
    publishers,
    serial_assignments,
    serials,
)
from resell.db.tables import subscriptions as subscriptions_table
from resell.services.context import Caller, Context

if TYPE_CHECKING:
    from resell.services.orders import CancelResult, DownloadTimeResult, OrderView

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
    found = [r for r in found if not r.test] or found  # a live order before a test one of the same number
    if not found:
        raise OrderLookupError(f"no order {ref!r}" + (f" of merchant {realm!r}" if realm else ""))
    if len(found) > 1:
        realms = ", ".join(sorted(r.realm for r in found))
        raise OrderLookupError(f"several merchants have an order {ref!r} ({realms}): add --realm")
    return found[0]


def caller_for(conn: Connection, order: Row) -> Caller:
    """The merchant and catalogue of the order, as the API's authentication would have resolved them."""
    catalog = conn.execute(select(catalogs).where(catalogs.c.id == order.catalog_id)).one()
    live = catalog
    if catalog.live_catalog_id is not None:  # a test order: the sandbox acts on its live catalogue
        live = conn.execute(select(catalogs).where(catalogs.c.id == catalog.live_catalog_id)).one()
    return Caller.of_catalog(live, order.merchant_id, order.realm, catalog.id if catalog.sandbox else None)


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
    # each line's serials (value, state), the view's lines' order: replaced ones too, which the view omits
    line_serials: list[list[tuple[str, str]]] = field(default_factory=list)
    test: bool = False  # a sandbox order (TEST- serials, no sale)

    def as_json(self) -> dict[str, Any]:
        return {
            "realm": self.realm,
            "orderNumber": self.order_number,
            "partnerOrderNumber": self.partner_order_number,
            "status": self.status,
            "test": self.test,
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
                    "serials": [{"value": value, "state": state} for value, state in serials],
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
                for line, serials in zip(self.view.lines, self._serials_by_line(), strict=True)
            ],
            "subscriptions": self.subscriptions,
        }

    def _serials_by_line(self) -> list[list[tuple[str, str]]]:
        if self.line_serials:
            return self.line_serials
        return [
            [(s, self.serial_states.get(s, "")) for item in line.line_items for s in item.serials]
            for line in self.view.lines
        ]


def order_detail(ctx: Context, ref: str, realm: str | None = None) -> OrderDetail:
    """The order `ref` names (find_order), read whole in one snapshot (`Database.run_read`: REPEATABLE
    READ on PostgreSQL too), so that a cancellation committed meanwhile shows whole or not at all."""

    def read() -> OrderDetail:
        with ctx.db.read() as conn:
            return detail_of(conn, ctx, find_order(conn, ref, realm))

    return ctx.db.run_read(read)


def detail_of(conn: Connection, ctx: Context, order: Row) -> OrderDetail:
    """order_detail of an order row (with its merchant's `realm`) already read on `conn`: the rest is
    read on `conn` too, the order row not again."""
    from resell.services import orders as order_service

    held = conn.execute(
        select(order_lines.c.id, serials.c.value, serials.c.status)
        .join(line_items, line_items.c.order_line_id == order_lines.c.id)
        .join(serial_assignments, serial_assignments.c.line_item_id == line_items.c.id)
        .join(serials, serials.c.id == serial_assignments.c.serial_id)
        .where(order_lines.c.order_id == order.id)
        .order_by(line_items.c.position, serial_assignments.c.assigned_at, serials.c.id)
    ).all()
    states = {h.value: h.status for h in held}
    line_ids = conn.execute(
        select(order_lines.c.id).where(order_lines.c.order_id == order.id).order_by(order_lines.c.position)
    ).scalars()
    by_line: dict[int, list[tuple[str, str]]] = {line_id: [] for line_id in line_ids}
    for h in held:
        by_line[h.id].append((h.value, h.status))
    subs = conn.execute(
        select(subscriptions_table, products.c.ref)
        .join(products, products.c.id == subscriptions_table.c.product_id)
        .where(subscriptions_table.c.order_id == order.id)
        .order_by(subscriptions_table.c.id)
    ).all()
    amounts = conn.execute(select(order_lines.c.amount_total).where(order_lines.c.order_id == order.id)).scalars()
    known = [a for a in amounts if a is not None]
    view = order_service.download_view(conn, ctx, order)
    return OrderDetail(
        realm=order.realm,
        order_number=order.id,
        partner_order_number=order.partner_order_number,
        status=order.status,
        test=bool(order.test),
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
        line_serials=list(by_line.values()),
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
    end users do not remember how they typed it). Found through the index on lower(customer_email);
    each order's total summed from its own lines."""
    total = (
        select(func.sum(order_lines.c.amount_total))
        .where(order_lines.c.order_id == orders.c.id)
        .scalar_subquery()
        .label("total")
    )
    with ctx.db.read() as conn:
        rows = conn.execute(
            select(orders, merchants.c.realm, total)
            .join(merchants, merchants.c.id == orders.c.merchant_id)
            .where(func.lower(orders.c.customer_email) == func.lower(email.strip()))
            .order_by(orders.c.order_date.desc(), orders.c.id.desc())
        ).all()
    return [
        OrderSummary(r.id, r.realm, r.partner_order_number, r.order_date, r.status, r.currency, r.total) for r in rows
    ]


def cancel(
    ctx: Context, ref: str, realm: str | None, reason: object, comment: object, actor: str = OPERATOR
) -> tuple[Row, CancelResult]:
    """cancelOrder for the merchant, with its rules (a Refusal when already cancelled or too late),
    audited as `actor`'s (the operator's from the CLI). Returns the order as found and the result."""
    from resell.services import orders as order_service

    with ctx.db.read() as conn:
        order = find_order(conn, ref, realm)
        caller = caller_for(conn, order)
    result = order_service.cancel_order(ctx, caller, order.partner_order_number, reason, comment, actor=actor)
    return order, result


class ResendRefused(ValueError):
    """The delivery email cannot go again: a cancelled order, or a corrected address that is not one."""


def resend_email(
    ctx: Context, ref: str, realm: str | None, to: str | None = None, actor: str = OPERATOR
) -> tuple[Row, list[tuple[str, str]]]:
    """Queue the order's delivery email again through the outbox: every line, to each line's end user
    (else the order's address) as createOrder did, or all to the corrected address `to`. Returns the
    order and the queued (event id, address) pairs; audited as `actor`'s (the operator's from the CLI)."""
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
        audit(conn, now, actor, "order", order.id, "delivery_email_resent", after={"to": sorted(by_recipient)})
    return order, queued


# ---------------------------------------------------------------- replacing one serial


class ReplaceRefused(ValueError):
    """A serial support cannot replace: the order is cancelled, the serial is not one of the order's
    live serials, its product has no pool to draw from, or the pool is empty."""


@dataclass(frozen=True)
class SerialReplacement:
    order_number: int
    partner_order_number: str
    realm: str
    product_ref: int
    old_serial: str
    new_serial: str
    email_to: str  # who the delivery email showing the new serial goes to
    email_event_id: str  # its outbox event


def replace_serial(
    ctx: Context, ref: str, serial: str, realm: str | None = None, actor: str = OPERATOR
) -> SerialReplacement:
    """Revoke one live serial of an order and give its line item a fresh one of the same product,
    allocated as createOrder allocates; the end user gets the line's delivery email again (it shows
    the line's live serials, so the new one), the publisher is told of the revoked key as cancelOrder
    tells it (reason `serial_replaced`), and the audit records who did it (`actor`).

    Locks as resell/db/locking.py says: the order first (FOR UPDATE, as cancelOrder: so a replacement
    and a cancellation, or two replacements of the same serial, take turns and the second sees what
    the first did), the new serial last (SKIP LOCKED)."""
    from resell.db.locking import for_update
    from resell.domain.codes import Refusal
    from resell.services import stock
    from resell.services.audit_log import audit, audit_many
    from resell.services.delivery_mail import KIND
    from resell.services.outbox import enqueue

    serial = serial.strip()
    now = ctx.now()
    with ctx.db.write() as conn:
        found = find_order(conn, ref, realm)
        order = conn.execute(
            for_update(select(orders.c.id, orders.c.status).where(orders.c.id == found.id))
        ).one()  # read again under the lock: a cancellation may have committed meanwhile
        if order.status == "cancelled":
            raise ReplaceRefused(f"order {order.id} is cancelled: its serials are all revoked")
        held = conn.execute(
            select(
                serial_assignments.c.serial_id,
                serial_assignments.c.line_item_id,
                serial_assignments.c.revoked_at,
                serials.c.product_id,
                products.c.ref,
                products.c.serial_source,
                products.c.publisher_id,
                order_lines.c.id.label("line_id"),
                order_lines.c.end_user_email,
            )
            .join(serials, serials.c.id == serial_assignments.c.serial_id)
            .join(products, products.c.id == serials.c.product_id)
            .join(line_items, line_items.c.id == serial_assignments.c.line_item_id)
            .join(order_lines, order_lines.c.id == line_items.c.order_line_id)
            .where(order_lines.c.order_id == order.id, serials.c.value == serial)
        ).first()
        if held is None:
            raise ReplaceRefused(f"serial {serial!r} is not one of order {order.id}'s")
        if held.revoked_at is not None:
            raise ReplaceRefused(f"serial {serial!r} of order {order.id} is already revoked")
        if held.serial_source != "pool":
            raise ReplaceRefused(
                f"product {held.ref} has no serial pool (its keys come from {held.serial_source}): no replacement"
            )
        try:
            [(new_id, new_value)] = stock.allocate(conn, held.product_id, 1)
        except Refusal:
            raise ReplaceRefused(f"product {held.ref} is out of stock: no serial to give") from None
        revoked = conn.execute(
            serials.update()
            .where(serials.c.id == held.serial_id, serials.c.status == "assigned")
            .values(status="revoked")
        ).rowcount
        closed = conn.execute(
            serial_assignments.update()
            .where(serial_assignments.c.serial_id == held.serial_id, serial_assignments.c.revoked_at.is_(None))
            .values(revoked_at=now)
        ).rowcount
        if revoked != 1 or closed != 1:  # the lock makes this unreachable; never hand out a key regardless
            raise ReplaceRefused(f"serial {serial!r} of order {order.id} is already revoked")
        conn.execute(
            serial_assignments.insert().values(serial_id=new_id, line_item_id=held.line_item_id, assigned_at=now)
        )
        audit(
            conn,
            now,
            actor,
            "order",
            order.id,
            "serial_replaced",
            before={"serial": serial},
            after={"serial": new_value, "productRef": held.ref},
        )
        audit_many(
            conn,
            now,
            actor,
            "serial",
            "revoked",
            [(held.serial_id, {"status": "assigned"}, {"status": "revoked", "orderNumber": order.id})],
        )
        audit_many(
            conn,
            now,
            actor,
            "serial",
            "assigned",
            [(new_id, {"status": "available"}, {"status": "assigned", "orderNumber": order.id})],
        )
        publisher = conn.execute(select(publishers.c.key).where(publishers.c.id == held.publisher_id)).scalar_one()
        enqueue(
            conn,
            now,
            "publisher.serials_revoked",
            {
                "publisher": publisher,
                "orderNumber": order.id,
                "reason": "serial_replaced",
                "serials": [{"productRef": held.ref, "serial": serial}],
            },
        )
        to = held.end_user_email or found.customer_email
        event_id = enqueue(conn, now, KIND, {"orderNumber": order.id, "to": to, "lineIds": [held.line_id]})
    return SerialReplacement(
        order_number=order.id,
        partner_order_number=found.partner_order_number,
        realm=found.realm,
        product_ref=held.ref,
        old_serial=serial,
        new_serial=new_value,
        email_to=to,
        email_event_id=event_id,
    )


# ---------------------------------------------------------------- extending the downloads


def extend_downloads(
    ctx: Context, ref: str, realm: str | None, value: str, actor: str = OPERATOR
) -> tuple[Row, DownloadTimeResult]:
    """updateDownloadTime for the merchant, with its rules (a Refusal when cancelled or not a valid
    date): `value` a new end date (YYYY-MM-DD) or an ISO 8601 period added to the current end
    (`P30D`). The merchant's download.extended webhook goes as for the API; audited as `actor`'s."""
    from resell.services import orders as order_service

    with ctx.db.read() as conn:
        order = find_order(conn, ref, realm)
        caller = caller_for(conn, order)
    result = order_service.update_download_time(ctx, caller, order.partner_order_number, value, actor=actor)
    return order, result
