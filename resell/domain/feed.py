"""What the product feed says of a product: its status, its price with VAT, its delivery flags."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

from resell.domain.stock import OUT, stock_status

STATUSES = ("coming_soon", "pre_order", "available", "out_of_stock", "not_available")
CENT = Decimal("0.01")

# deliveryMode flags per product delivery mode (docs/catalog-format.md); resell has no download manager.
DELIVERY_FLAGS: dict[str, frozenset[str]] = {
    "download_serial": frozenset({"downloadLink", "serialNumber"}),
    "serial": frozenset({"serialNumber"}),
    "download": frozenset({"downloadLink"}),
    "locker": frozenset({"digitalLocker"}),
}
FLAG_NAMES = ("digitalLocker", "downloadManager", "downloadLink", "serialNumber")


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


def with_vat(amount_duty_free: Decimal, vat_rate: Decimal) -> Decimal:
    return (amount_duty_free * (1 + vat_rate / 100)).quantize(CENT, rounding=ROUND_HALF_UP)
