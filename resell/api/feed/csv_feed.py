"""The product feed as CSV: the columns of the legacy feed (samples/feed/catalog.csv), in its dialect.

Comma-separated, `'` as the quote (doubled inside a value), a value quoted when it holds a blank, a
comma, a quote or a line break, `\\n` line ends, UTF-8. Two columns follow the legacy ones: `Status`
(the v2.4 status), and in differential feeds `Action` (insert / update / delete).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from resell.api.legacy import decimal_text, megabytes
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
TYPE_CODES = {"software": "1", "game": "1", "option": "2"}  # the legacy Type column: 1 a product, 2 an option
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
    if p.action == "delete":
        values = [""] * len(COLUMNS)
        values[0] = values[15] = str(p.ref)
        return [*values, "", "delete"]
    by_column = {
        "Nexway Product ID": str(p.ref),
        "System requirements – Operating system": ":".join(str(os_id) for os_id, _ in p.operating_systems),
        "Type": TYPE_CODES.get(p.type, "1"),
        "Short description": p.short_description,
        "Publisher Name": p.publisher_name,
        "Product Name": p.name,
        "Product ID": str(p.ref),
        "Small image": p.image_small or "",
        "Categories": ":".join(str(c.id) for c in p.categories),
        "Total size": decimal_text(megabytes(p.total_size)),
        "Price (w/o tax)": _amount(p),
        "Recommended Retail price (w/o tax)": _amount(p),
        "Currency symbol": feed.caller.currency,
        "Publisher ID/SKU": p.publisher_key,
        "Language": feed.config.language.upper(),
        "Creation date": p.created_at.date().isoformat() if p.created_at else "",
        "License lifetime": p.subscription_period or "",
        "New": "1" if p.is_new else "0",
        "Promo": "0",
        "Top": "0",
    }
    values = [by_column.get(column, "") for column in COLUMNS]
    values.append(p.status)
    if feed.differential:
        values.append(p.action or "")
    return values


def render(feed: Feed) -> Iterator[bytes]:
    header = [*COLUMNS, "Status", *(["Action"] if feed.differential else [])]
    yield line(header).encode()
    for chunk in feed.chunks():
        yield "".join(line(row(p, feed)) for p in chunk).encode()
