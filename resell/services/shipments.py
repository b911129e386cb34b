"""Backup DVDs: a shipment per order that took the backup-DVD option, to the order's delivery address.

Rule for 1041 ("backup DVD not possible for this cart"): a DVD carries the installers of the cart's
products, so at least one non-option product of the cart must have download files. The shipment is
created in the createOrder transaction, lists the products with files and their quantities, and is
cancelled with the order as long as it has not shipped. The warehouse works from
`resell shipments export --csv` and reports with `resell shipments mark-shipped ID`.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from typing import IO, Any

from sqlalchemy import Connection, select, update

from resell.db.engine import inserted_id
from resell.db.tables import orders, product_files, shipments
from resell.domain import codes
from resell.domain.codes import Refusal
from resell.services.audit_log import audit
from resell.services.context import Context


class ShipmentError(ValueError):
    """An operator mistake (unknown shipment, already shipped...): the CLI prints it."""


@dataclass(frozen=True)
class Shipment:
    id: int
    order_number: int
    partner_order_number: str
    status: str
    address: dict[str, Any]
    items: list[dict[str, Any]]
    created_at: dt.datetime
    shipped_at: dt.datetime | None
    cancelled_at: dt.datetime | None
    tracking: str | None


def products_with_files(conn: Connection, product_ids: list[int]) -> set[int]:
    if not product_ids:
        return set()
    return set(
        conn.execute(
            select(product_files.c.product_id).where(product_files.c.product_id.in_(product_ids)).distinct()
        ).scalars()
    )


def check_cart(conn: Connection, base_product_ids: list[int]) -> None:
    """1041 unless some product of the cart has files to burn."""
    if not products_with_files(conn, base_product_ids):
        raise Refusal(codes.BACKUP_DVD_IMPOSSIBLE)


def create_for_order(
    conn: Connection, now: dt.datetime, actor: str, order_id: int, address: dict[str, Any], items: list[dict[str, Any]]
) -> int:
    shipment_id = inserted_id(
        conn.execute(
            shipments.insert().values(order_id=order_id, status="pending", address=address, items=items, created_at=now)
        )
    )
    audit(conn, now, actor, "shipment", shipment_id, "created", after={"orderNumber": order_id, "items": items})
    return shipment_id


def cancel_for_order(conn: Connection, now: dt.datetime, actor: str, order_id: int) -> list[int]:
    """Cancel the order's shipments that have not left; returns their ids. Shipped ones stay shipped."""
    pending = list(
        conn.execute(
            select(shipments.c.id).where(shipments.c.order_id == order_id, shipments.c.status == "pending")
        ).scalars()
    )
    if pending:
        conn.execute(update(shipments).where(shipments.c.id.in_(pending)).values(status="cancelled", cancelled_at=now))
        for shipment_id in pending:
            audit(
                conn,
                now,
                actor,
                "shipment",
                shipment_id,
                "cancelled",
                before={"status": "pending"},
                after={"status": "cancelled"},
            )
    return pending


def _query():  # type: ignore[no-untyped-def]
    return (
        select(shipments, orders.c.partner_order_number)
        .join(orders, orders.c.id == shipments.c.order_id)
        .order_by(shipments.c.id)
    )


def _shipment(row: Any) -> Shipment:
    return Shipment(
        id=row.id,
        order_number=row.order_id,
        partner_order_number=row.partner_order_number,
        status=row.status,
        address=row.address,
        items=row.items,
        created_at=row.created_at,
        shipped_at=row.shipped_at,
        cancelled_at=row.cancelled_at,
        tracking=row.tracking,
    )


def list_shipments(ctx: Context, status: str | None = None) -> list[Shipment]:
    query = _query()
    if status:
        query = query.where(shipments.c.status == status)
    with ctx.db.read() as conn:
        return [_shipment(r) for r in conn.execute(query)]


def for_order(ctx: Context, order_id: int) -> list[Shipment]:
    with ctx.db.read() as conn:
        return [_shipment(r) for r in conn.execute(_query().where(shipments.c.order_id == order_id))]


def mark_shipped(ctx: Context, shipment_id: int, tracking: str | None = None, actor: str = "operator") -> Shipment:
    now = ctx.now()
    with ctx.db.write() as conn:
        row = conn.execute(_query().where(shipments.c.id == shipment_id)).first()
        if row is None:
            raise ShipmentError(f"no shipment {shipment_id}")
        if row.status != "pending":
            raise ShipmentError(f"shipment {shipment_id} is {row.status}, not pending")
        conn.execute(
            update(shipments)
            .where(shipments.c.id == shipment_id)
            .values(status="shipped", shipped_at=now, tracking=tracking or None)
        )
        audit(
            conn,
            now,
            actor,
            "shipment",
            shipment_id,
            "shipped",
            before={"status": "pending"},
            after={"status": "shipped", "tracking": tracking},
        )
        return _shipment(conn.execute(_query().where(shipments.c.id == shipment_id)).one())


CSV_COLUMNS = [
    "shipmentId",
    "orderNumber",
    "partnerOrderNumber",
    "status",
    "createdAt",
    "companyName",
    "firstName",
    "lastName",
    "address1",
    "address2",
    "zipCode",
    "city",
    "province",
    "country",
    "phone",
    "items",
]


def _cell(value: object) -> str:
    """A CSV cell that a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def write_csv(found: list[Shipment], out: IO[str]) -> int:
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for s in found:
        a = s.address
        items = "; ".join(f"{i['quantity']} x {i['productRef']} {i['name']}" for i in s.items)
        writer.writerow(
            [
                _cell(v)
                for v in (
                    s.id,
                    s.order_number,
                    s.partner_order_number,
                    s.status,
                    s.created_at.astimezone(dt.UTC).replace(microsecond=0).isoformat(),
                    a.get("companyName"),
                    a.get("firstName"),
                    a.get("lastName"),
                    a.get("address1"),
                    a.get("address2"),
                    a.get("zipCode"),
                    a.get("city"),
                    a.get("province"),
                    a.get("country"),
                    a.get("phone"),
                    items,
                )
            ]
        )
    return len(found)
