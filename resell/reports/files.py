"""CSV and JSON renderings of a statement or a publisher report, and `render`, which picks one.

CSV is what an accountant opens in a spreadsheet: one file, one row per order line (a cancellation's
rows carry negative amounts), then an empty row and the totals, one row per currency and kind. Amounts
are plain numbers with a dot and two decimals (unit prices keep their four), dates are
`YYYY-MM-DD HH:MM:SS` in UTC. JSON writes amounts as strings ("12.50"), so that no reader turns them
into binary floats.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

import orjson

from resell.services.reports import PublisherReport, Statement

FORMATS = ("csv", "json", "pdf")


def render(report: Statement | PublisherReport, fmt: str) -> bytes:
    """The report as a file's bytes in `fmt` (one of FORMATS)."""
    if fmt == "csv":
        text = statement_csv(report) if isinstance(report, Statement) else publisher_csv(report)
        return text.encode()
    if fmt == "json":
        data = statement_json(report) if isinstance(report, Statement) else publisher_json(report)
        return orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n"
    if fmt == "pdf":
        from resell.reports.pdf import publisher_pdf, statement_pdf

        return statement_pdf(report) if isinstance(report, Statement) else publisher_pdf(report)
    raise ValueError(f"format not valid: {fmt!r} (one of {', '.join(FORMATS)})")


def money(value: Decimal | None) -> str:
    return "" if value is None else f"{value:.2f}"


def price(value: Decimal | None) -> str:
    return "" if value is None else f"{value:.4f}"


def rate(value: Decimal | None) -> str:
    return "" if value is None else f"{value.normalize():f}"


def stamp(moment: Any) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


STATEMENT_HEADER = [
    "currency",
    "kind",
    "date (UTC)",
    "order number",
    "partner order number",
    "order placed (UTC)",
    "product ref",
    "product name",
    "quantity",
    "unit price duty-free",
    "VAT rate %",
    "amount duty-free",
]


def statement_csv(s: Statement) -> str:
    buffer = io.StringIO()
    out = csv.writer(buffer, lineterminator="\r\n")
    out.writerow(STATEMENT_HEADER)
    for section in s.currencies:
        for entry in section.orders + section.cancellations:
            for line in entry.lines:
                out.writerow(
                    [
                        section.currency,
                        entry.kind,
                        stamp(entry.date),
                        entry.order_number,
                        entry.partner_order_number,
                        stamp(entry.placed_at),
                        line.product_ref,
                        line.product_name,
                        line.quantity,
                        price(line.unit_price),
                        rate(line.vat_rate),
                        money(line.amount),
                    ]
                )
    out.writerow([])
    out.writerow(["currency", "total", "", "", "", "", "", "", "", "", "", "amount duty-free"])
    for section in s.currencies:
        for label, value in (
            ("orders", section.orders_total),
            ("cancellations", section.cancellations_total),
            ("net", section.net),
        ):
            out.writerow([section.currency, label, "", "", "", "", "", "", "", "", "", money(value)])
    out.writerow([])
    out.writerow([f"statement of {s.realm} ({s.merchant_name}) for {s.month}, UTC; {s.rounding}"])
    return buffer.getvalue()


def statement_json(s: Statement) -> dict[str, Any]:
    def entry(e: Any) -> dict[str, Any]:
        return {
            "kind": e.kind,
            "orderNumber": e.order_number,
            "partnerOrderNumber": e.partner_order_number,
            "date": e.date.isoformat(),
            "placedAt": e.placed_at.isoformat(),
            "lines": [
                {
                    "position": line.position,
                    "productRef": line.product_ref,
                    "productName": line.product_name,
                    "quantity": line.quantity,
                    "unitPriceDutyFree": price(line.unit_price) or None,
                    "vatRate": rate(line.vat_rate) or None,
                    "amountDutyFree": money(line.amount) or None,
                }
                for line in e.lines
            ],
            "total": money(e.total),
        }

    return {
        "merchant": {"realm": s.realm, "name": s.merchant_name},
        "month": str(s.month),
        "timeZone": "UTC",
        "rounding": s.rounding,
        "generatedAt": s.generated_at.isoformat(),
        "currencies": [
            {
                "currency": c.currency,
                "orders": [entry(e) for e in c.orders],
                "cancellations": [entry(e) for e in c.cancellations],
                "totals": {
                    "orders": money(c.orders_total),
                    "cancellations": money(c.cancellations_total),
                    "net": money(c.net),
                },
                "unpricedLines": c.unpriced_lines,
            }
            for c in s.currencies
        ],
    }


PUBLISHER_HEADER = [
    "product ref",
    "product name",
    "currency",
    "units sold",
    "units cancelled",
    "amount sold duty-free",
    "amount cancelled duty-free",
    "net duty-free",
    "units without a recorded price",
]


def publisher_csv(r: PublisherReport) -> str:
    buffer = io.StringIO()
    out = csv.writer(buffer, lineterminator="\r\n")
    out.writerow(PUBLISHER_HEADER)
    for p in r.products:
        out.writerow(
            [
                p.product_ref,
                p.product_name,
                p.currency,
                p.units_sold,
                p.units_cancelled,
                money(p.amount_sold),
                money(p.amount_cancelled),
                money(p.net),
                p.unpriced_units,
            ]
        )
    out.writerow([])
    out.writerow([f"report of publisher {r.publisher_key} ({r.publisher_name}) for {r.month}, UTC; {r.rounding}"])
    return buffer.getvalue()


def publisher_json(r: PublisherReport) -> dict[str, Any]:
    return {
        "publisher": {"key": r.publisher_key, "name": r.publisher_name},
        "month": str(r.month),
        "timeZone": "UTC",
        "rounding": r.rounding,
        "generatedAt": r.generated_at.isoformat(),
        "products": [
            {
                "productRef": p.product_ref,
                "productName": p.product_name,
                "currency": p.currency,
                "unitsSold": p.units_sold,
                "unitsCancelled": p.units_cancelled,
                "amountSold": money(p.amount_sold),
                "amountCancelled": money(p.amount_cancelled),
                "net": money(p.net),
                "unpricedUnits": p.unpriced_units,
            }
            for p in r.products
        ],
    }
