"""What a new order (createOrder's or a renewal's, through order_writer) and cancelOrder set in motion
for delivery, inside their own transactions: the backup-DVD shipment and the delivery emails (queued
in the outbox, sent after commit)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection

from resell.services import delivery_mail, shipments


def on_order_created(
    conn: Connection,
    now: dt.datetime,
    actor: str,
    catalog_id: int,
    order_id: int,
    customer_email: str,
    delivery: dict[str, Any] | None,
    placed: list[tuple[Any, int]],
    test: bool = False,
    every_line: bool | None = None,
) -> None:
    """`placed`: (new line, order line id) pairs; a new line (order_writer.NewLine) has `.product`,
    `.quantity` and `.end_user_email`. A first order and a renewal order alike. A test order ships
    nothing, and its emails are kept for the merchant instead of sent (resell.services.sandbox).
    `every_line`: the catalogue's delivery_email, if known (delivery_mail.enqueue_for_order)."""
    if not test and delivery and any(line.product.option_kind == "backup_dvd" for line, _ in placed):
        base = [line for line, _ in placed if line.product.type != "option"]
        with_files = shipments.products_with_files(conn, [line.product.id for line in base])
        items = [
            {"productRef": line.product.ref, "name": line.product.name, "quantity": line.quantity}
            for line in base
            if line.product.id in with_files
        ]
        shipments.create_for_order(conn, now, actor, order_id, delivery, items)
    delivery_mail.enqueue_for_order(
        conn,
        now,
        catalog_id,
        order_id,
        customer_email,
        [(line_id, bool(line.product.delivers_directly), line.end_user_email) for line, line_id in placed],
        test=test,
        every_line=every_line,
    )


def on_order_cancelled(conn: Connection, now: dt.datetime, actor: str, order_id: int) -> None:
    shipments.cancel_for_order(conn, now, actor, order_id)
