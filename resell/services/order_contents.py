"""What an order line holds for the end user now: its live (not revoked) serials, its product files,
and the next date of the subscriptions it bought or renewed, and its product's name and instructions
in the end user's language.

Read the same way by the digital locker and the delivery email, so both show the same thing.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, or_, select

from resell.db.tables import line_items, product_files, serial_assignments, serials, subscriptions
from resell.domain.product_texts import ProductText, choose_text
from resell.domain.remarks import fill_remark
from resell.services.product_texts import translations


def file_title(label: str, group: str) -> str:
    """What a file link says: its label, with its group (the platform) when the label does not already
    name it: "Installer (Windows)", but "Windows installer", never "Windows installer (Windows)"."""
    if not group or group.casefold() in label.casefold():
        return label
    return f"{label} ({group})"


def serials_and_files(conn: Connection, lines: Sequence[Row]) -> tuple[dict[int, list[str]], dict[int, list[Row]]]:
    """Serials by order line id and files by product id, for rows of order_lines (id, product_id)."""
    values: dict[int, list[str]] = defaultdict(list)
    files: dict[int, list[Row]] = defaultdict(list)
    if not lines:
        return values, files
    for line_id, value in conn.execute(
        select(line_items.c.order_line_id, serials.c.value)
        .join(serial_assignments, serial_assignments.c.line_item_id == line_items.c.id)
        .join(serials, serials.c.id == serial_assignments.c.serial_id)
        .where(line_items.c.order_line_id.in_([line.id for line in lines]), serial_assignments.c.revoked_at.is_(None))
        .order_by(line_items.c.position, serials.c.id)
    ):
        values[line_id].append(value)
    for f in conn.execute(
        select(product_files)
        .where(product_files.c.product_id.in_({line.product_id for line in lines}))
        .order_by(product_files.c.position, product_files.c.id)
    ):
        files[f.product_id].append(f)
    return values, files


@dataclass(frozen=True)
class NextDate:
    """A subscription's next date: it renews on `day` (`renews`), or it ends then (cancelled)."""

    day: dt.date
    renews: bool


def subscription_dates(conn: Connection, lines: Sequence[Row]) -> dict[int, NextDate]:
    """By order line id, the earliest next date of the live subscriptions the line bought (its first
    order) or renewed (a renewal order): the same date in the first order's email and locker as in the
    renewal's. Lines without a live subscription are left out."""
    if not lines:
        return {}
    found: dict[int, NextDate] = {}
    for line_id, status, expires_at in conn.execute(
        select(line_items.c.order_line_id, subscriptions.c.status, subscriptions.c.expires_at)
        .join(
            subscriptions,
            or_(
                subscriptions.c.line_item_id == line_items.c.id,
                subscriptions.c.id == line_items.c.renews_subscription_id,
            ),
        )
        .where(
            line_items.c.order_line_id.in_([line.id for line in lines]),
            subscriptions.c.status.in_(("ACTIVE", "RENEWAL_PENDING", "CANCELLED")),
        )
    ):
        date = NextDate(expires_at.date(), status != "CANCELLED")
        if line_id not in found or date.day < found[line_id].day:
            found[line_id] = date
    return found


@dataclass(frozen=True)
class LineText:
    name: str
    remark: str  # HTML, the buyer's details filled in (resell.domain.remarks)


def line_texts(conn: Connection, order: Row, lines: Sequence[Row]) -> dict[int, LineText]:
    """Name and remark of each order line (rows with id, product_id, name, remark) in the order's
    customer language, by line id. A line keeps the remark filled in when it was ordered (what
    getOrderData answers) unless its product has a remark in that language, filled in here the same way."""
    language = order.customer_language
    found = translations(conn, {line.product_id for line in lines}, language)
    invoice: dict[str, Any] = (order.customer or {}).get("locationInvoice") or {}
    texts = {}
    for line in lines:
        chosen = choose_text(ProductText(line.name, "", ""), found.get(line.product_id, {}), language)
        remark = line.remark
        if chosen.remark_template:
            remark = fill_remark(
                chosen.remark_template, invoice.get("firstName"), invoice.get("lastName"), chosen.name, order.id
            )
        texts[line.id] = LineText(chosen.name, remark)
    return texts
