"""The delivery email: the order number, serials, download links and instructions, sent to the end user.

Who gets one (decided in the createOrder transaction, queued in the outbox there):
- the lines whose publisher delivers directly (publishers.delivers_directly), always;
- every line of the order when the merchant's catalogue says so (catalogs.delivery_email).
One email per recipient: a line's `endUserEmail`, else the customer's email.

What it says is read when the worker sends it (so a cancelled order sends nothing), in the customer's
language (one of resell.i18n.LANGUAGES; English otherwise; the sentences are in the gettext catalogues
of resell/locale), with the products' names and instructions in that language where the catalogue
gives them (resell.services.order_contents.line_texts), as plain text and HTML, in the shop's name
(resell.domain.branding): From the shop's sender name at RESELL_MAIL_FROM's address, Reply-To its
support, its name, logo and support contact in the email, and its own order number (partnerOrderNumber)
beside the platform's. A subscription's renewal order gets the same email, which then says the
subscription was renewed. Its Message-ID is made from the outbox event id, so a retried send is
recognisably the same message.
"""

from __future__ import annotations

import datetime as dt
import email.utils
from collections import defaultdict
from dataclasses import dataclass, field
from email.message import EmailMessage
from functools import lru_cache
from typing import Any

import jinja2
from sqlalchemy import Connection, bindparam, select, update

from resell import i18n
from resell.db.prepared import Prepared
from resell.db.tables import (
    catalogs,
    merchants,
    order_lines,
    orders,
    products,
)
from resell.domain.branding import Shop, sender_address
from resell.domain.html import as_text, safe_html
from resell.domain.links import download_path
from resell.services import branding, downloads
from resell.services.audit_log import audit
from resell.services.context import Context
from resell.services.iam import forget_credentials
from resell.services.order_contents import file_title, line_texts, serials_and_files, subscription_dates
from resell.services.outbox import enqueue

KIND = "mail.delivery"
# a test order's delivery email: rendered as KIND's and kept (resell.services.sandbox), never sent
SANDBOX_KIND = "mail.sandbox"


def language_of(customer_language: str | None) -> str:
    """`fr_FR`, `fr`, `FR-ca` -> fr; anything not translated -> en (resell.i18n.LANGUAGES)."""
    return i18n.language_of(customer_language)


# ---------------------------------------------------------------- createOrder: who gets an email


_EVERY_ORDER = Prepared(select(catalogs.c.delivery_email).where(catalogs.c.id == bindparam("catalog_id")))


def enqueue_for_order(
    conn: Connection,
    now: dt.datetime,
    catalog_id: int,
    order_id: int,
    customer_email: str,
    lines: list[tuple[int, bool, str | None]],
    test: bool = False,
    every_line: bool | None = None,
) -> list[str]:
    """Queue the delivery emails of a new order; `lines` are (line id, publisher delivers directly,
    line's endUserEmail). Returns the event ids (none when nobody is to be emailed). A test order
    keeps the email of every line, as the end user would get it, for the merchant to read.
    `every_line`: the catalogue's delivery_email when the caller has it already (createOrder's comes
    with its authentication: one read less in the writer's turn); None reads it here."""
    if every_line is None:
        every_line = bool(_EVERY_ORDER.scalar(conn, catalog_id=catalog_id))
    every_line = every_line or test
    by_recipient: dict[str, list[int]] = defaultdict(list)
    for line_id, direct, end_user_email in lines:
        if every_line or direct:
            by_recipient[end_user_email or customer_email].append(line_id)
    return [
        enqueue(conn, now, SANDBOX_KIND if test else KIND, {"orderNumber": order_id, "to": to, "lineIds": line_ids})
        for to, line_ids in by_recipient.items()
    ]


_ORDER_LINES = Prepared(
    select(order_lines.c.id, order_lines.c.end_user_email)
    .where(order_lines.c.order_id == bindparam("order_id"))
    .order_by(order_lines.c.position)
)


def enqueue_again(
    conn: Connection, now: dt.datetime, order_id: int, customer_email: str, test: bool = False
) -> list[str]:
    """Queue the delivery email of every line of an order again, one per recipient (a line's
    endUserEmail, else the customer's email): the end user asked for it from the locker, so every
    line is in, whatever the catalogue's setting. Never to any other address; a test order's is kept
    for its merchant, as its first one was, never sent."""
    lines = [(line.id, True, line.end_user_email) for line in _ORDER_LINES.all(conn, order_id=order_id)]
    return enqueue_for_order(conn, now, 0, order_id, customer_email, lines, test, every_line=True)


def set_every_order(ctx: Context, realm: str, currency: str | None, enabled: bool, actor: str = "operator") -> int:
    """Turn the catalogue-wide delivery email on or off for a merchant's catalogues; returns how many changed."""
    now = ctx.now()
    with ctx.db.write() as conn:
        merchant_id = conn.execute(select(merchants.c.id).where(merchants.c.realm == realm)).scalar()
        if merchant_id is None:
            raise ValueError(f"no merchant {realm!r}")
        # live catalogues: a sandbox keeps the email of every test order whatever this says
        query = select(catalogs.c.id).where(catalogs.c.merchant_id == merchant_id, catalogs.c.sandbox.is_(False))
        if currency:
            query = query.where(catalogs.c.currency == currency.upper())
        ids = list(conn.execute(query).scalars())
        if not ids:
            raise ValueError(f"merchant {realm!r} has no catalogue" + (f" in {currency.upper()}" if currency else ""))
        conn.execute(update(catalogs).where(catalogs.c.id.in_(ids)).values(delivery_email=enabled))
        audit(
            conn,
            now,
            actor,
            "merchant",
            merchant_id,
            "delivery_email_set",
            after={"catalogs": ids, "deliveryEmail": enabled},
        )
    forget_credentials(ctx.db)
    return len(ids)


# ---------------------------------------------------------------- the worker: what the email says


@dataclass
class MailProduct:
    name: str
    serials: list[str] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)
    remark: str = ""
    remark_html: str = ""
    remark_text: str = ""
    renews_on: str = ""  # the subscription's next date, when the line holds one that renews
    ends_on: str = ""  # ... or when it ends (a cancelled subscription)


@lru_cache(maxsize=len(i18n.LANGUAGES))
def _templates(language: str) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("resell", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_translations(i18n.translations(language), newstyle=True)  # type: ignore[attr-defined]
    return env


def build(ctx: Context, payload: dict[str, Any], event_id: str) -> EmailMessage | None:
    """The delivery email of an outbox event, or None when there is nothing to deliver any more."""
    order_id = int(payload["orderNumber"])
    line_ids = [int(i) for i in payload["lineIds"]]
    key = ctx.settings.effective_download_key
    base = ctx.settings.base_url
    with ctx.db.read() as conn:
        order = conn.execute(select(orders).where(orders.c.id == order_id)).first()
        if order is None or order.status == "cancelled":
            return None
        lines = conn.execute(
            select(order_lines, products.c.name)
            .join(products, products.c.id == order_lines.c.product_id)
            .where(order_lines.c.order_id == order_id, order_lines.c.id.in_(line_ids))
            .order_by(order_lines.c.position)
        ).all()
        values, files = serials_and_files(conn, lines)
        next_dates = subscription_dates(conn, lines)
        texts = line_texts(conn, order, lines)  # product names and instructions in the customer's language
        shop = branding.shop_of_order(conn, order_id)
    if not lines or shop is None:
        return None
    language = language_of(order.customer_language)
    items = [
        MailProduct(
            name=texts[line.id].name,
            serials=values[line.id],
            files=[
                {
                    "label": file_title(f.label, f.group),
                    "size": i18n.file_size(f.size, language),
                    "url": base + download_path(key, line.download_token, f.id),
                }
                for f in files[line.product_id]
            ],
            remark=texts[line.id].remark,
            remark_html=safe_html(texts[line.id].remark),
            remark_text=as_text(texts[line.id].remark),
            renews_on=_next_date(next_dates, line.id, True, language),
            ends_on=_next_date(next_dates, line.id, False, language),
        )
        for line in lines
    ]
    values_for_templates = {
        "language": language,
        "first_name": ((order.customer or {}).get("locationInvoice") or {}).get("firstName"),
        "renewal": order.parent_order_id is not None,
        "order_number": order.id,
        "shop": shop,
        "shop_order_number": order.partner_order_number,
        "product_names": ", ".join(p.name for p in items),
        "products": items,
        "end_date": i18n.long_date(order.download_end_date, language),
        "has_files": any(p.files for p in items),
        # the email's language in the link: the sign-in page opened from it speaks it, without the page
        # telling anyone else whether an order number exists (resell.web.language)
        "locker_link": downloads.locker_link(ctx.settings, order.id, language),
    }
    return compose(ctx, "mail/delivery", values_for_templates, str(payload["to"]), event_id, shop)


def _next_date(dates: dict[int, Any], line_id: int, renews: bool, language: str) -> str:
    date = dates.get(line_id)
    return i18n.long_date(date.day, language) if date is not None and date.renews == renews else ""


def compose(
    ctx: Context, template: str, values: dict[str, Any], to: str, event_id: str, shop: Shop | None = None
) -> EmailMessage:
    """An end user's email from `<template>.txt`, `.html` and `_subject.txt` in `values["language"]`;
    its Message-ID made from the outbox event id (shared by every email the worker sends to end users).
    `shop`: the shop the email speaks for (its sender name and Reply-To); none for the platform's own."""
    language = values["language"]
    env = _templates(language)
    text = env.get_template(f"{template}.txt").render(**values)
    html = env.get_template(f"{template}.html").render(**values)
    subject = env.get_template(f"{template}_subject.txt").render(**values).strip()

    message = EmailMessage()
    if shop is None:
        message["From"] = ctx.settings.mail_from
        domain = email.utils.parseaddr(ctx.settings.mail_from)[1].rpartition("@")[2] or "resell.invalid"
    else:
        sender = sender_address(shop, ctx.settings.mail_from)
        domain = sender.domain or "resell.invalid"
        message["From"] = sender
        if shop.reply_address:
            message["Reply-To"] = shop.reply_address
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = email.utils.format_datetime(ctx.now())
    message["Message-ID"] = f"<{event_id}@{domain}>"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    message["Content-Language"] = language  # after the content: setting it clears Content-* headers
    return message
