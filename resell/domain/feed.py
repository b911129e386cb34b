"""What the product feed says of a product: its status, type and nature, licence lifetime, delivery flags."""

from __future__ import annotations

import datetime as dt
import re

from resell.domain.stock import OUT, stock_status

STATUSES = ("coming_soon", "pre_order", "available", "out_of_stock", "not_available")

# deliveryMode flags per product delivery mode (docs/catalog-format.md); resell has no download manager.
DELIVERY_FLAGS: dict[str, frozenset[str]] = {
    "download_serial": frozenset({"downloadLink", "serialNumber"}),
    "serial": frozenset({"serialNumber"}),
    "download": frozenset({"downloadLink"}),
    "locker": frozenset({"digitalLocker"}),
}
FLAG_NAMES = ("digitalLocker", "downloadManager", "downloadLink", "serialNumber")

# The feed's numeric product type: 1 software for sale, 2 hardware, 3 freeware, 4 shareware, 5 try-and-buy.
# resell sells everything it lists; only a backup DVD (an option shipped on a disc) is a physical good.
FOR_SALE, HARDWARE = 1, 2
# The feed's `nature` (games, software, ebook, casual) per resell product type; an option has none of its own.
NATURES = {"software": "software", "game": "games"}

_PERIOD_PARTS = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?$")


def type_code(product_type: str, option_kind: str | None) -> int:
    """The feed's numeric `type` (XML attribute and CSV column)."""
    return HARDWARE if product_type == "option" and option_kind == "backup_dvd" else FOR_SALE


def license_lifetime(period: str | None) -> str | None:
    """An ISO 8601 subscription period as the feed writes it, in one unit: P1Y -> 1y, P6M or P1Y6M -> 6m / 18m,
    P2W or P30D -> 14d / 30d. None when there is no period, when it is zero, or when it mixes months or
    years with weeks or days (a month has no fixed number of days, so no single unit is exact)."""
    found = _PERIOD_PARTS.match((period or "").strip().upper())
    if not found:
        return None
    years, months, weeks, days = (int(part or 0) for part in found.groups())
    months += 12 * years
    days += 7 * weeks
    if months and days:
        return None
    if months:
        return f"{months // 12}y" if months % 12 == 0 else f"{months}m"
    return f"{days}d" if days else None


def feed_status(
    *,
    on_sale: bool,
    release_date: dt.date | None,
    today: dt.date,
    pooled: bool,
    has_serial: bool,
    has_price: bool,
) -> str:
    """not_available (withdrawn), coming_soon / pre_order (released later: pre_order once it has a price
    in the catalogue's currency, so the shop can take pre-orders), out_of_stock (no pooled serial left,
    the getStockStatus 300 rule), else available."""
    if not on_sale:
        return "not_available"
    if release_date is not None and release_date > today:
        return "pre_order" if has_price else "coming_soon"
    if stock_status(int(has_serial) if pooled else None, 0) == OUT:
        return "out_of_stock"
    return "available"
