"""The "your orders" email: the list of an address's orders, sent to that address when its owner forgot
an order number (the locker's "Forgot my order number", resell.web.locker).

Queued for any address typed (so that asking tells nothing); the worker reads the orders when it sends
it, and sends nothing when the address has none (no email to a stranger's inbox from a typo). Each
order shows the platform's order number, the shop's own (partnerOrderNumber), its date, its products
and its locker link, grouped by shop (under its display name, resell.domain.branding); in the language
of the page it was asked from. Sandbox (test) orders are left out.

Orders are found by the address as the shop sent it, or in lower case (the merchant-and-email index
answers both; no scan of the orders table).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from sqlalchemy import Connection, func, select

from resell import i18n
from resell.db.tables import merchant_branding, merchants, order_lines, orders, products
from resell.services import delivery_mail, downloads
from resell.services.context import Context
from resell.services.outbox import enqueue

KIND = "mail.order_list"
MAX_ORDERS = 100  # the newest ones; an address with more is a shop's test address, not a customer


@dataclass(frozen=True)
class ListedOrder:
    order_number: int
    partner_order_number: str
    date: str
    products: str
    cancelled: bool
    locker_link: str


@dataclass(frozen=True)
class ShopOrders:
    shop: str
    orders: list[ListedOrder]


def enqueue_list(conn: Connection, now: dt.datetime, email: str, language: str) -> str:
    """Queue the list for `email`, in the caller's transaction; its event id."""
    return enqueue(conn, now, KIND, {"to": email, "language": i18n.supported(language) or i18n.DEFAULT})


def orders_of(ctx: Context, email: str, language: str) -> list[ShopOrders]:
    """The orders of an address, newest first, grouped by shop (shops in the order of their newest)."""
    spellings = sorted({email, email.lower()})
    with ctx.db.read() as conn:
        found = conn.execute(
            select(
                orders.c.id,
                orders.c.partner_order_number,
                orders.c.order_date,
                orders.c.status,
                func.coalesce(merchant_branding.c.display_name, merchants.c.name).label("shop"),
            )
            .join(merchants, merchants.c.id == orders.c.merchant_id)
            .outerjoin(merchant_branding, merchant_branding.c.merchant_id == merchants.c.id)
            .where(
                orders.c.merchant_id.in_(select(merchants.c.id)),
                orders.c.customer_email.in_(spellings),
                orders.c.test.is_(False),  # a sandbox's orders are its merchant's tests, not this person's
            )
            .order_by(orders.c.order_date.desc(), orders.c.id.desc())
            .limit(MAX_ORDERS)
        ).all()
        names: dict[int, list[str]] = {}
        if found:
            rows = conn.execute(
                select(order_lines.c.order_id, products.c.name)
                .join(products, products.c.id == order_lines.c.product_id)
                .where(order_lines.c.order_id.in_([o.id for o in found]))
                .order_by(order_lines.c.order_id, order_lines.c.position)
            ).all()
            for row in rows:
                names.setdefault(row.order_id, []).append(row.name)
    by_shop: dict[str, list[ListedOrder]] = {}
    for order in found:
        by_shop.setdefault(order.shop, []).append(
            ListedOrder(
                order_number=order.id,
                partner_order_number=order.partner_order_number,
                date=i18n.long_date(order.order_date.date(), language),
                products=", ".join(names.get(order.id, [])),
                cancelled=order.status == "cancelled",
                locker_link=downloads.locker_link(ctx.settings, order.id, language),
            )
        )
    return [ShopOrders(shop, listed) for shop, listed in by_shop.items()]


def build(ctx: Context, payload: dict[str, Any], event_id: str) -> EmailMessage | None:
    """The email of an outbox event, or None when the address has no order."""
    to = str(payload["to"])
    language = i18n.supported(payload.get("language")) or i18n.DEFAULT
    shops = orders_of(ctx, to, language)
    if not shops:
        return None
    values = {"language": language, "shops": shops, "count": sum(len(s.orders) for s in shops)}
    return delivery_mail.compose(ctx, "mail/order_list", values, to, event_id)
