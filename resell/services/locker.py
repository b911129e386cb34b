"""The digital locker: an end user proves who they are with the order number and the order's email,
then sees, per product, the name, the serials, the instructions, the download links and the end date
(names and instructions in the order's customer language where the catalogue gives them), under the
shop's name and look (resell.domain.branding) with the shop's own order number.

Wrong pairs all get one answer (no telling whether the order exists); the comparison of emails is
constant-time. Rate limiting per IP and per order number is the web layer's job (resell.web.locker).

Getting back in, for an end user who lost the email or the order number (docs/fulfilment.md):
- `send_again`: the order's delivery email again, to the order's own addresses only;
- `send_order_list`: the list of an address's orders, to that address only (resell.services.order_list_mail).
Neither tells the asker anything: they return nothing, and the page says the same either way.
"""

from __future__ import annotations

import datetime as dt
import hmac
from dataclasses import dataclass

from sqlalchemy import select

from resell.db.tables import order_lines, orders, products
from resell.domain.branding import Shop
from resell.domain.links import download_path, metalink_path
from resell.domain.request_fields import decimal_id
from resell.services import branding, delivery_mail, order_list_mail
from resell.services.audit_log import audit
from resell.services.context import Context
from resell.services.order_contents import NextDate, file_title, line_texts, serials_and_files, subscription_dates


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
    subscription: NextDate | None = None  # the next date of the subscription the line bought or renewed


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
    shop: Shop
    shop_order_number: str  # the merchant's partnerOrderNumber


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


def send_again(ctx: Context, raw_order_number: str) -> None:
    """Queue the order's delivery email again, to the addresses the order holds (never one the asker
    typed); nothing for an unknown or cancelled order. The caller tells the asker the same either way."""
    order_id = decimal_id(raw_order_number.strip())
    if order_id is None:
        return
    now = ctx.now()
    with ctx.db.write() as conn:
        order = conn.execute(
            select(orders.c.status, orders.c.customer_email, orders.c.test).where(orders.c.id == order_id)
        ).first()
        if order is None or order.status == "cancelled":
            return
        events = delivery_mail.enqueue_again(conn, now, order_id, order.customer_email, order.test)
        audit(conn, now, "end user", "order", order_id, "delivery_email_requested", after={"emails": len(events)})


def send_order_list(ctx: Context, email: str, language: str) -> None:
    """Queue the list of the orders of `email`, to that address; the worker finds the orders when it
    sends it and sends nothing when there are none (resell.services.order_list_mail)."""
    address = email.strip()
    if "@" not in address or len(address) > 320:
        return
    with ctx.db.write() as conn:
        order_list_mail.enqueue_list(conn, ctx.now(), address, language)


def view(ctx: Context, order_id: int) -> LockerView | None:
    key = ctx.settings.effective_download_key
    today = ctx.now().date()
    with ctx.db.read() as conn:
        order = conn.execute(
            select(orders).where(orders.c.id == order_id)
        ).first()
        if order is None:
            return None
        lines = conn.execute(
            select(order_lines, products.c.name, products.c.type.label("product_type"))
            .join(products, products.c.id == order_lines.c.product_id)
            .where(order_lines.c.order_id == order_id)
            .order_by(order_lines.c.position)
        ).all()
        values, files = serials_and_files(conn, lines)
        next_dates = subscription_dates(conn, lines)
        texts = line_texts(conn, order, lines)  # product names and instructions in the customer's language
        shop = branding.shop_of_order(conn, order_id)
    assert shop is not None  # the order was just read
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
                subscription=next_dates.get(line.id),
            )
            for line in lines
        ],
        download_manager=metalink_path(key, order.id) if open_ and every_product_has_files else None,
        shop=shop,
        shop_order_number=order.partner_order_number,
    )
