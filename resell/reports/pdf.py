"""PDF renderings (A4, fpdf2): a header with who and which month, a table per currency, the totals.

The text font is DejaVu Sans when the system has it (any script a product name uses), else the PDF
core font Helvetica, which holds Latin-1 only: other characters are then printed as "?".
"""

from __future__ import annotations

from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from resell.reports.files import money, price, stamp
from resell.services.reports import PublisherReport, Statement

_DEJAVU = Path("/usr/share/fonts/truetype/dejavu")


class _Document(FPDF):
    def __init__(self, title: str, subtitle: str, note: str):
        super().__init__(orientation="P", unit="mm", format="A4")
        self.title_text, self.subtitle, self.note = title, subtitle, note
        regular, bold = _DEJAVU / "DejaVuSans.ttf", _DEJAVU / "DejaVuSans-Bold.ttf"
        if regular.exists() and bold.exists():
            self.add_font("text", "", str(regular))
            self.add_font("text", "B", str(bold))
            self.text_family, self.unicode = "text", True
        else:
            self.text_family, self.unicode = "Helvetica", False
        self.set_title(title)
        self.set_creator("resell")
        self.set_auto_page_break(auto=True, margin=15)
        self.set_margins(15, 15, 15)
        self.add_page()

    def text_of(self, value: object) -> str:
        text = str(value)
        return text if self.unicode else text.encode("latin-1", "replace").decode("latin-1")

    def header(self) -> None:
        self.set_font(self.text_family, "B", 14)
        self.cell(0, 8, self.text_of(self.title_text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font(self.text_family, "", 10)
        self.cell(0, 6, self.text_of(self.subtitle), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(3)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(self.text_family, "", 7)
        self.cell(0, 5, self.text_of(f"{self.note}   page {self.page_no()}/{{nb}}"), align="C")

    def heading(self, text: str) -> None:
        self.ln(2)
        self.set_font(self.text_family, "B", 11)
        self.cell(0, 7, self.text_of(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font(self.text_family, "", 8)

    def grid(self, header: list[str], rows: list[list[str]], widths: tuple[int, ...], numeric_from: int) -> None:
        align = tuple("LEFT" if i < numeric_from else "RIGHT" for i in range(len(header)))
        self.set_font(self.text_family, "", 8)
        with self.table(col_widths=widths, text_align=align, line_height=5, first_row_as_headings=True) as table:
            for values in [header, *rows]:
                row = table.row()
                for value in values:
                    row.cell(self.text_of(value))
        self.ln(2)

    def totals(self, rows: list[tuple[str, str]]) -> None:
        for label, value in rows:
            self.set_font(self.text_family, "B" if label.startswith("Net") else "", 10)
            self.cell(130, 6, self.text_of(label))
            self.cell(0, 6, self.text_of(value), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def statement_pdf(s: Statement) -> bytes:
    doc = _Document(
        f"Statement {s.month} - {s.merchant_name}",
        f"Merchant {s.realm}. Month {s.month} (UTC): orders placed and cancellations made in it, "
        "at the retailer prices recorded on the orders, duty-free.",
        f"Generated {stamp(s.generated_at)} UTC. Rounding: {s.rounding}.",
    )
    if not s.currencies:
        doc.heading("No orders and no cancellations in this month.")
    header = ["Date (UTC)", "Order", "Partner order", "Ref", "Product", "Qty", "Unit price", "Amount"]
    widths = (26, 16, 30, 14, 46, 10, 19, 19)
    for section in s.currencies:
        for title, entries in (("Orders", section.orders), ("Cancellations", section.cancellations)):
            if not entries:
                continue
            doc.heading(f"{section.currency} - {title}")
            rows = [
                [
                    stamp(entry.date),
                    str(entry.order_number),
                    entry.partner_order_number,
                    str(line.product_ref),
                    line.product_name,
                    str(line.quantity),
                    price(line.unit_price) or "no price",
                    money(line.amount),
                ]
                for entry in entries
                for line in entry.lines
            ]
            doc.grid(header, rows, widths, numeric_from=5)
        doc.heading(f"{section.currency} - Totals")
        totals = [
            (f"Orders ({section.currency})", money(section.orders_total)),
            (f"Cancellations ({section.currency})", money(section.cancellations_total)),
            (f"Net owed ({section.currency})", money(section.net)),
        ]
        if section.unpriced_lines:
            totals.append(("Lines without a recorded price (not billed)", str(section.unpriced_lines)))
        doc.totals(totals)
    return bytes(doc.output())


def publisher_pdf(r: PublisherReport) -> bytes:
    doc = _Document(
        f"Publisher report {r.month} - {r.publisher_name}",
        f"Publisher {r.publisher_key}. Month {r.month} (UTC): units sold (orders placed) and cancelled "
        "(orders cancelled) in it, all merchants, at the recorded retailer prices, duty-free.",
        f"Generated {stamp(r.generated_at)} UTC. Rounding: {r.rounding}.",
    )
    if not r.products:
        doc.heading("Nothing sold or cancelled in this month.")
        return bytes(doc.output())
    doc.heading("Products")
    header = ["Ref", "Product", "Cur.", "Sold", "Cancelled", "Amount sold", "Amount cancelled", "Net"]
    rows = [
        [
            str(p.product_ref),
            p.product_name,
            p.currency,
            str(p.units_sold),
            str(p.units_cancelled),
            money(p.amount_sold),
            money(p.amount_cancelled),
            money(p.net),
        ]
        for p in r.products
    ]
    doc.grid(header, rows, (14, 50, 12, 14, 18, 24, 24, 24), numeric_from=3)
    return bytes(doc.output())
