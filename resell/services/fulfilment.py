"""What createOrder and cancelOrder set in motion for delivery, inside their own transactions:
the backup-DVD shipment and the delivery emails (queued in the outbox, sent after commit)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection

from resell.domain.order_request import OrderRequest
from resell.services import delivery_mail, shipments


def on_order_created(
    conn: Connection,
    now: dt.datetime,
    actor: str,
    catalog_id: int,
    order_id: int,
    request: OrderRequest,
    placed: list[tuple[Any, int]],
) -> None:
    """`placed`: (checked line, order line id) pairs; a checked line has `.product` and `.request_line`."""
    if any(entry.product.option_kind == "backup_dvd" for entry, _ in placed) and request.customer.delivery:
        base = [entry for entry, _ in placed if entry.product.type != "option"]
        with_files = shipments.products_with_files(conn, [entry.product.id for entry in base])
        items = [
            {"productRef": e.product.ref, "name": e.product.name, "quantity": e.request_line.quantity}
            for e in base
            if e.product.id in with_files
        ]
        shipments.create_for_order(conn, now, actor, order_id, request.customer.delivery.as_json(), items)
    delivery_mail.enqueue_for_order(
        conn,
        now,
        catalog_id,
        order_id,
        request.customer.email,
        [(line_id, bool(e.product.delivers_directly), e.request_line.end_user_email) for e, line_id in placed],
    )


def on_order_cancelled(conn: Connection, now: dt.datetime, actor: str, order_id: int) -> None:
    shipments.cancel_for_order(conn, now, actor, order_id)
