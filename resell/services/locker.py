"""The digital locker: an end user proves who they are with the order number and the order's email,
then sees, per product, the name, the serials, the instructions, the download links and the end date
(names and instructions in the order's customer language where the catalogue gives them).

Wrong pairs all get one answer (no telling whether the order exists); the comparison of emails is
constant-time. Rate limiting per IP and per order number is the web layer's job (resell.web.locker).
"""

from __future__ import annotations

import datetime as dt
import hmac
from dataclasses import dataclass

from sqlalchemy import select

from resell.db.tables import order_lines, orders, products
from resell.domain.links import download_path, metalink_path
from resell.domain.request_fields import decimal_id
from resell.services.context import Context
from resell.services.order_contents import file_title, line_texts, serials_and_files


@dataclass(frozen=True)
class LockerFile:
    """A download link, relative to the site: the locker is served by the host that serves the files."""

    label: str
    group: str
    size: int
    url: str

    @property
    def title(self) -> str:
        return file_title(self.label, self.group)


@dataclass(frozen=True)
class LockerProduct:
    name: str
    serials: list[str]
    remark: str
    files: list[LockerFile]


@dataclass(frozen=True)
class LockerView:
    order_number: int
    status: str
    cancelled_on: dt.date | None
    download_end_date: dt.date
    downloads_open: bool
    language: str | None  # the customer's, as the order has it ("fr_FR")
    products: list[LockerProduct]
    download_manager: str | None


def _normalise_email(email: str) -> bytes:
    return email.strip().casefold().encode()


def sign_in(ctx: Context, raw_order_number: str, email: str) -> int | None:
    """The order id when the order number and email belong together, else None (whatever the reason)."""
    order_id = decimal_id(raw_order_number.strip())
    if order_id is None or not email.strip():
        return None
    with ctx.db.read() as conn:
        stored = conn.execute(select(orders.c.customer_email).where(orders.c.id == order_id)).scalar()
    given = _normalise_email(email)
    if stored is None:
        hmac.compare_digest(given, given)  # same work either way
        return None
    return order_id if hmac.compare_digest(_normalise_email(stored), given) else None


def language(ctx: Context, order_id: int) -> str | None:
    """The order's customer language ("fr_FR"), for the sign-in form opened from its email's link."""
    with ctx.db.read() as conn:
        return conn.execute(select(orders.c.customer_language).where(orders.c.id == order_id)).scalar()


def view(ctx: Context, order_id: int) -> LockerView | None:
    key = ctx.settings.effective_download_key
    today = ctx.now().date()
    with ctx.db.read() as conn:
        order = conn.execute(select(orders).where(orders.c.id == order_id)).first()
        if order is None:
            return None
        lines = conn.execute(
            select(order_lines, products.c.name, products.c.type.label("product_type"))
            .join(products, products.c.id == order_lines.c.product_id)
            .where(order_lines.c.order_id == order_id)
            .order_by(order_lines.c.position)
        ).all()
        values, files = serials_and_files(conn, lines)
        texts = line_texts(conn, order, lines)  # product names and instructions in the customer's language
    cancelled = order.status == "cancelled"
    open_ = not cancelled and today <= order.download_end_date
    every_product_has_files = all(files[line.product_id] for line in lines if line.product_type != "option")
    return LockerView(
        order_number=order.id,
        status=order.status,
        cancelled_on=order.cancelled_at.date() if cancelled and order.cancelled_at else None,
        download_end_date=order.download_end_date,
        downloads_open=open_,
        language=order.customer_language,
        products=[
            LockerProduct(
                name=texts[line.id].name,
                serials=values[line.id],
                remark=texts[line.id].remark,
                files=[
                    LockerFile(f.label, f.group, f.size, download_path(key, line.download_token, f.id))
                    for f in files[line.product_id]
                ]
                if open_
                else [],
            )
            for line in lines
        ],
        download_manager=metalink_path(key, order.id) if open_ and every_product_has_files else None,
    )
