"""The delivery email: the order number, serials, download links and instructions, sent to the end user.

Who gets one (decided in the createOrder transaction, queued in the outbox there):
- the lines whose publisher delivers directly (publishers.delivers_directly), always;
- every line of the order when the merchant's catalogue says so (catalogs.delivery_email).
One email per recipient: a line's `endUserEmail`, else the customer's email.

What it says is read when the worker sends it (so a cancelled order sends nothing), in the customer's
language (en, fr, de; English otherwise), as plain text and HTML. Its Message-ID is made from the
outbox event id, so a retried send is recognisably the same message.
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
from babel.dates import format_date
from babel.numbers import format_decimal
from sqlalchemy import Connection, bindparam, select, update

from resell.db.prepared import Prepared
from resell.db.tables import (
    catalogs,
    merchants,
    order_lines,
    orders,
    products,
)
from resell.domain.html import as_text, safe_html
from resell.domain.links import download_path
from resell.services import downloads
from resell.services.audit_log import audit
from resell.services.context import Context
from resell.services.order_contents import serials_and_files
from resell.services.outbox import enqueue

KIND = "mail.delivery"
LANGUAGES = ("en", "fr", "de")

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "subject": "Your order {order_number}: {products}",
        "greeting": "Hello {name},",
        "greeting_anonymous": "Hello,",
        "intro": "Thank you for your order. Here is everything you need to install and activate your products.",
        "order_number": "Order number",
        "order_number_note": "Keep it: support will ask for it.",
        "serials": "Serial number",
        "serials_plural": "Serial numbers",
        "downloads": "Downloads",
        "until": "Download links work until {date} (included).",
        "instructions": "Instructions",
        "locker": "Your digital locker",
        "locker_note": "Sign in with your order number and this email address to see all of this again:",
        "size_unit": "MB",
        "footer": "This email was sent on behalf of your shop. Please do not reply to it.",
    },
    "fr": {
        "subject": "Votre commande {order_number} : {products}",
        "greeting": "Bonjour {name},",
        "greeting_anonymous": "Bonjour,",
        "intro": "Merci pour votre commande. Voici tout ce qu'il faut pour installer et activer vos produits.",
        "order_number": "Numéro de commande",
        "order_number_note": "Conservez-le : le support vous le demandera.",
        "serials": "Numéro de série",
        "serials_plural": "Numéros de série",
        "downloads": "Téléchargements",
        "until": "Les liens de téléchargement fonctionnent jusqu'au {date} inclus.",
        "instructions": "Instructions",
        "locker": "Votre casier numérique",
        "locker_note": "Connectez-vous avec votre numéro de commande et cette adresse e-mail pour tout retrouver :",
        "size_unit": "Mo",
        "footer": "Cet e-mail vous est envoyé pour le compte de votre boutique. Merci de ne pas y répondre.",
    },
    "de": {
        "subject": "Ihre Bestellung {order_number}: {products}",
        "greeting": "Hallo {name},",
        "greeting_anonymous": "Hallo,",
        "intro": "Vielen Dank für Ihre Bestellung. Hier finden Sie alles, um Ihre Produkte zu installieren und "
        "zu aktivieren.",
        "order_number": "Bestellnummer",
        "order_number_note": "Bitte aufbewahren: der Support fragt danach.",
        "serials": "Seriennummer",
        "serials_plural": "Seriennummern",
        "downloads": "Downloads",
        "until": "Die Download-Links funktionieren bis einschließlich {date}.",
        "instructions": "Anleitung",
        "locker": "Ihr digitales Schließfach",
        "locker_note": "Melden Sie sich mit Ihrer Bestellnummer und dieser E-Mail-Adresse an, um alles erneut "
        "zu sehen:",
        "size_unit": "MB",
        "footer": "Diese E-Mail wurde im Auftrag Ihres Shops versandt. Bitte antworten Sie nicht darauf.",
    },
}


def language_of(customer_language: str | None) -> str:
    """`fr_FR`, `fr`, `FR-ca` -> fr; anything not translated -> en."""
    code = (customer_language or "").replace("-", "_").split("_")[0].lower()
    return code if code in LANGUAGES else "en"


# ---------------------------------------------------------------- createOrder: who gets an email


_EVERY_ORDER = Prepared(select(catalogs.c.delivery_email).where(catalogs.c.id == bindparam("catalog_id")))


def enqueue_for_order(
    conn: Connection,
    now: dt.datetime,
    catalog_id: int,
    order_id: int,
    customer_email: str,
    lines: list[tuple[int, bool, str | None]],
) -> list[str]:
    """Queue the delivery emails of a new order; `lines` are (line id, publisher delivers directly,
    line's endUserEmail). Returns the event ids (none when nobody is to be emailed)."""
    every_line = bool(_EVERY_ORDER.scalar(conn, catalog_id=catalog_id))
    by_recipient: dict[str, list[int]] = defaultdict(list)
    for line_id, direct, end_user_email in lines:
        if every_line or direct:
            by_recipient[end_user_email or customer_email].append(line_id)
    return [
        enqueue(conn, now, KIND, {"orderNumber": order_id, "to": to, "lineIds": line_ids})
        for to, line_ids in by_recipient.items()
    ]


def set_every_order(ctx: Context, realm: str, currency: str | None, enabled: bool, actor: str = "operator") -> int:
    """Turn the catalogue-wide delivery email on or off for a merchant's catalogues; returns how many changed."""
    now = ctx.now()
    with ctx.db.write() as conn:
        merchant_id = conn.execute(select(merchants.c.id).where(merchants.c.realm == realm)).scalar()
        if merchant_id is None:
            raise ValueError(f"no merchant {realm!r}")
        query = select(catalogs.c.id).where(catalogs.c.merchant_id == merchant_id)
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


@lru_cache(maxsize=1)
def _templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("resell", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def _size(size: int, language: str) -> str:
    megabytes = size / (1024 * 1024)
    shown = format_decimal(round(megabytes, 1) if megabytes >= 0.1 else 0.1, locale=language)
    return f"{shown} {TEXTS[language]['size_unit']}"


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
    if not lines:
        return None
    language = language_of(order.customer_language)
    texts = TEXTS[language]
    items = [
        MailProduct(
            name=line.name,
            serials=values[line.id],
            files=[
                {
                    "label": f.label + (f" ({f.group})" if f.group else ""),
                    "size": _size(f.size, language),
                    "url": base + download_path(key, line.download_token, f.id),
                }
                for f in files[line.product_id]
            ],
            remark=line.remark,
            remark_html=safe_html(line.remark),
            remark_text=as_text(line.remark),
        )
        for line in lines
    ]
    first_name = ((order.customer or {}).get("locationInvoice") or {}).get("firstName")
    values_for_templates = {
        "t": texts,
        "language": language,
        "greeting": texts["greeting"].format(name=first_name) if first_name else texts["greeting_anonymous"],
        "order_number": order.id,
        "products": items,
        "until": texts["until"].format(date=format_date(order.download_end_date, "long", locale=language)),
        "has_files": any(p.files for p in items),
        "locker_link": downloads.locker_link(ctx.settings, order.id),
    }
    env = _templates()
    text = env.get_template("mail/delivery.txt").render(**values_for_templates)
    html = env.get_template("mail/delivery.html").render(**values_for_templates)

    message = EmailMessage()
    sender = ctx.settings.mail_from
    domain = email.utils.parseaddr(sender)[1].rpartition("@")[2] or "resell.invalid"
    message["From"] = sender
    message["To"] = str(payload["to"])
    message["Subject"] = texts["subject"].format(order_number=order.id, products=", ".join(p.name for p in items))
    message["Date"] = email.utils.format_datetime(ctx.now())
    message["Message-ID"] = f"<{event_id}@{domain}>"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    message["Content-Language"] = language  # after the content: setting it clears Content-* headers
    return message
