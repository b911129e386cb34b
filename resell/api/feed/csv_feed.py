"""The product feed as CSV: exactly the columns of the legacy feed (samples/feed/catalog.csv, copied to
tests/api/feed/catalog.csv), in its order and dialect, and no others.

Comma-separated, `'` as the quote (doubled inside a value), a value quoted when it holds a blank, a
comma, a quote or a line break, `\\n` line ends, UTF-8. With no column for an action, a differential
CSV lists the products inserted or updated in the window and leaves out those that left the
catalogue (a full download shows they are gone; the XML feed says `delete`). With no column per
language either, `Product Name` and `Short description` are in the feed configuration's language when
the product has texts in it, else the product's own: one feed configuration per language gives a
merchant each language's texts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from resell.api.legacy_values import decimal_text, megabytes
from resell.domain.feed import license_lifetime, type_code
from resell.services.feeds import Feed, FeedProduct

MEDIA_TYPE = "text/csv; charset=utf-8"

COLUMNS = (
    "Nexway Product ID",
    "Nexway Product SG ID",
    "System requirements – Memory",
    "System requirements – Disk space",
    "System requirements – Operating system",
    "Misc",
    "Number of users",
    "Version",
    "EAN code",
    "Type",
    "Short description",
    "Long description",
    "Big image",
    "Publisher Name",
    "Product Name",
    "Product ID",
    "Small image",
    "Medium image",
    "Screenshots",
    "Categories",
    "Total size",
    "Price (w/o tax)",
    "Recommended Retail price (w/o tax)",
    "Currency symbol",
    "Publisher ID/SKU",
    "Language",
    "Trymedia_Ref",
    "Trymedia_Offering_Ref",
    "Trymedia_Trial",
    "Creation date",
    "System requirements – CPU",
    "System requirements – GPU",
    "Direct_X_Version",
    "License lifetime",
    "Keywords",
    "Product_Sheet_Url",
    "New",
    "Promo",
    "Top",
)
_NEEDS_QUOTES = re.compile("[ ,'\"\t\r\n]")


def field(value: str) -> str:
    if value and _NEEDS_QUOTES.search(value):
        return "'" + value.replace("'", "''") + "'"
    return value


def line(values: list[str]) -> str:
    return ",".join(field(v) for v in values) + "\n"


def _amount(p: FeedProduct) -> str:
    return f"{p.price.amount_duty_free:.4f}" if p.price else ""


def row(p: FeedProduct, feed: Feed) -> list[str]:
    by_column = {
        "Nexway Product ID": str(p.ref),
        "System requirements – Operating system": ":".join(str(os_id) for os_id in p.operating_systems),
        "Type": str(type_code(p.type, p.option_kind)),
        "Short description": p.short_description,
        "Publisher Name": p.publisher_name,
        "Product Name": p.name,
        "Product ID": str(p.ref),
        "Small image": p.image_small or "",
        "Categories": ":".join(str(c.id) for c in p.categories),
        "Total size": decimal_text(megabytes(p.total_size)) if p.total_size is not None else "",
        "Price (w/o tax)": _amount(p),
        "Recommended Retail price (w/o tax)": _amount(p),
        "Currency symbol": feed.caller.currency,
        "Publisher ID/SKU": p.publisher_key,
        "Language": feed.config.language.upper(),
        "Creation date": p.created_at.date().isoformat() if p.created_at else "",
        "License lifetime": license_lifetime(p.subscription_period) or "",
        "New": "1" if p.is_new else "0",
        "Promo": "0",
        "Top": "0",
    }
    return [by_column.get(column, "") for column in COLUMNS]


def render(feed: Feed) -> Iterator[bytes]:
    yield line(list(COLUMNS)).encode()
    for chunk in feed.chunks():
        yield "".join(line(row(p, feed)) for p in chunk if p.action != "delete").encode()
