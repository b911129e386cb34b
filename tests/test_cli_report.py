"""`resell report statement|publisher`: each format, read back as an accountant's tool would (csv, json,
the PDF's text through pypdf), and the operator's mistakes in one line."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from tests.conftest import CliRun
from tests.services.test_reports import month_of_orders  # noqa: F401  (the fixture: a month of orders)

pytestmark = pytest.mark.usefixtures("month_of_orders")


def totals_of(text: str) -> dict[tuple[str, str], str]:
    rows = list(csv.reader(io.StringIO(text)))
    start = rows.index(["currency", "total", "", "", "", "", "", "", "", "", "", "amount duty-free"])
    return {(r[0], r[1]): r[-1] for r in rows[start + 1 :] if len(r) == 12}


def test_statement_csv_on_stdout_has_a_row_per_line_then_the_totals(cli: CliRun) -> None:
    result = cli("report", "statement", "shop-a", "--month", "2026-11", "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    lines = [r for r in rows if r["kind"] in ("order", "cancellation")]
    # EUR: 8 order lines + 1 cancellation line; USD: 4 order lines + 2 cancellation lines
    assert len(lines) == 8 + 1 + 4 + 2
    nov2 = next(r for r in lines if r["partner order number"] == "NOV-2")
    assert (nov2["quantity"], nov2["unit price duty-free"], nov2["amount duty-free"]) == ("3", "12.3450", "37.04")
    assert totals_of(result.stdout) == {
        ("EUR", "orders"): "135.39",
        ("EUR", "cancellations"): "-20.00",
        ("EUR", "net"): "115.39",
        ("USD", "orders"): "42.38",
        ("USD", "cancellations"): "-21.00",
        ("USD", "net"): "21.38",
    }


def test_statement_csv_to_a_file_starts_with_a_byte_order_mark(cli: CliRun, tmp_path: Path) -> None:
    target = tmp_path / "nov.csv"
    result = cli("report", "statement", "shop-a", "--month", "2026-11", "--format", "csv", "--output", str(target))
    assert result.exit_code == 0, result.output
    assert target.read_bytes().startswith(b"\xef\xbb\xbf")
    assert totals_of(target.read_text("utf-8-sig"))[("EUR", "net")] == "115.39"


def test_statement_json(cli: CliRun) -> None:
    result = cli("report", "statement", "shop-a", "--month", "2026-11", "--format", "json")
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    assert (data["merchant"]["realm"], data["month"], data["timeZone"]) == ("shop-a", "2026-11", "UTC")
    totals = {c["currency"]: c["totals"] for c in data["currencies"]}
    assert totals == {
        "EUR": {"orders": "135.39", "cancellations": "-20.00", "net": "115.39"},
        "USD": {"orders": "42.38", "cancellations": "-21.00", "net": "21.38"},
    }
    eur = data["currencies"][0]
    assert [c["partnerOrderNumber"] for c in eur["cancellations"]] == ["OCT-1"]
    assert eur["cancellations"][0]["lines"][0]["amountDutyFree"] == "-20.00"


def pdf_text(path: Path) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(path).pages)


def test_statement_pdf_holds_the_totals(cli: CliRun, tmp_path: Path) -> None:
    target = tmp_path / "nov.pdf"
    result = cli("report", "statement", "shop-a", "--month", "2026-11", "--format", "pdf", "--output", str(target))
    assert result.exit_code == 0, result.output
    text = pdf_text(target)
    for expected in ("shop-a", "2026-11", "NOV-2", "37.04", "135.39", "-20.00", "115.39", "42.38", "-21.00", "21.38"):
        assert expected in text, expected
    assert "Net owed (EUR)" in text and "Net owed (USD)" in text


def test_statement_pdf_without_output_is_named_after_realm_and_month(
    cli: CliRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli("report", "statement", "shop-a", "--month", "2026-11", "--format", "pdf")
    assert result.exit_code == 0, result.output
    assert "115.39" in pdf_text(tmp_path / "shop-a-2026-11.pdf")


def test_publisher_report_in_each_format(cli: CliRun, tmp_path: Path) -> None:
    result = cli("report", "publisher", "pub", "--month", "2026-11", "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = {(r["product ref"], r["currency"]): r for r in csv.DictReader(io.StringIO(result.stdout)) if r["currency"]}
    assert rows[("1001", "EUR")]["units sold"] == "11" and rows[("1001", "EUR")]["net duty-free"] == "99.39"
    data = json.loads(cli("report", "publisher", "pub", "--month", "2026-11", "--format", "json").stdout)
    assert {(p["productRef"], p["currency"]): p["unitsCancelled"] for p in data["products"]}[(1001, "USD")] == 2
    target = tmp_path / "pub.pdf"
    result = cli("report", "publisher", "pub", "--month", "2026-11", "--format", "pdf", "-o", str(target))
    assert result.exit_code == 0, result.output
    assert "99.39" in pdf_text(target) and "119.39" in pdf_text(target)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("statement", "nobody", "--month", "2026-11"), "no merchant with realm 'nobody'"),
        (("statement", "shop-a", "--month", "2026-13"), "month not valid"),
        (("publisher", "nobody", "--month", "2026-11"), "no publisher with key or id 'nobody'"),
        (("publisher", "pub", "--month", "Nov"), "month not valid"),
    ],
)
def test_mistakes_fail_in_one_line(cli: CliRun, args: tuple[str, ...], message: str) -> None:
    result = cli("report", *args)
    assert result.exit_code == 1
    assert message in result.stderr and "Traceback" not in result.output


def test_an_empty_month_is_a_statement_with_nothing_owed(cli: CliRun, tmp_path: Path) -> None:
    target = tmp_path / "empty.pdf"
    result = cli("report", "statement", "shop-b", "--month", "2027-01", "--format", "pdf", "-o", str(target))
    assert result.exit_code == 0, result.output
    assert "No orders and no cancellations in this month." in pdf_text(target)
    assert (
        json.loads(cli("report", "statement", "shop-b", "--month", "2027-01", "--format", "json").stdout)["currencies"]
        == []
    )
