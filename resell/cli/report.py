"""`resell report ...`: the finance reports, a merchant's monthly statement and a publisher's month."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from resell.cli.support import context, err, fail

if TYPE_CHECKING:
    from resell.services.reports import PublisherReport, Statement

app = typer.Typer(help="Finance reports: a merchant's monthly statement, a publisher's month.", no_args_is_help=True)


class Format(StrEnum):
    csv = "csv"
    json = "json"
    pdf = "pdf"


MONTH = typer.Option("--month", help="the UTC calendar month, YYYY-MM")
FORMAT = typer.Option("--format", help="csv (one row per order line, then the totals), json or pdf")
OUTPUT = typer.Option("--output", "-o", help="the file to write (csv and json: standard output without it)")


def _emit(report: Statement | PublisherReport, fmt: Format, output: Path | None, default_name: str) -> None:
    from resell.reports import render

    data = render(report, fmt.value)
    if output is None and fmt is Format.pdf:
        output = Path(default_name)
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    if fmt is Format.csv:
        data = b"\xef\xbb\xbf" + data  # a byte-order mark: spreadsheets then read the file as UTF-8
    try:
        output.write_bytes(data)
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}")
    err.print(f"wrote {output} ({len(data)} bytes)", highlight=False)


@app.command("statement")
def report_statement(
    realm: Annotated[str, typer.Argument(help="the merchant's realm")],
    month: Annotated[str, MONTH],
    fmt: Annotated[Format, FORMAT] = Format.csv,
    output: Annotated[Path | None, OUTPUT] = None,
) -> None:
    """What a merchant owes for a month: its orders and cancellations, at the prices recorded on them.
    A PDF without --output goes to REALM-YYYY-MM.pdf."""
    from resell.services.reports import ReportError, statement

    try:
        found = statement(context(), realm, month)
    except ReportError as exc:
        fail(str(exc))
    _emit(found, fmt, output, f"{realm}-{found.month}.pdf")


@app.command("publisher")
def report_publisher(
    publisher: Annotated[str, typer.Argument(help="the publisher's key or id")],
    month: Annotated[str, MONTH],
    fmt: Annotated[Format, FORMAT] = Format.csv,
    output: Annotated[Path | None, OUTPUT] = None,
) -> None:
    """A publisher's month: units sold and cancelled per product, with their amounts.
    A PDF without --output goes to publisher-KEY-YYYY-MM.pdf."""
    from resell.services.reports import ReportError, publisher_report

    try:
        found = publisher_report(context(), publisher, month)
    except ReportError as exc:
        fail(str(exc))
    _emit(found, fmt, output, f"publisher-{found.publisher_key}-{found.month}.pdf")
