"""`resell stock ...`: licence-key stock."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, BinaryIO

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from resell.cli.support import context, err, fail, out

app = typer.Typer(help="Licence-key stock.", no_args_is_help=True)


class _SerialFile:
    """The lines of FILE, reopened on each iteration: the import reads it twice (check, then import).

    Streamed and decoded in C; lines end at "\n" only (the "\r" of a "\r\n" goes with strip()).
    Bytes that are not UTF-8 survive as surrogates so that the check can name their line.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.handle: BinaryIO | None = None

    def __iter__(self) -> Iterator[str]:
        with self.path.open("rb") as self.handle:
            yield from io.TextIOWrapper(self.handle, encoding="utf-8", errors="surrogateescape", newline="\n")

    def position(self) -> int:
        return self.handle.tell() if self.handle and not self.handle.closed else 0


@app.command("import")
def stock_import(ref: int, file: Path) -> None:
    """Add serials to a product's pool from FILE, one per line (duplicates are skipped and counted).

    FILE is checked whole first: a header line, bytes that are not UTF-8 or a line with a separator
    (, ; tab |) refuse all of it, with the line numbers, and nothing is imported.
    """
    from resell.services import stock

    if not file.exists():
        fail(f"{file}: no such file")
    size = file.stat().st_size
    lines = _SerialFile(file)
    with Progress(
        TextColumn("[bold]importing[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("bytes"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    ) as progress:
        task = progress.add_task("serials", total=size)
        try:
            result = stock.import_serials(
                context(), ref, lines, on_progress=lambda _n: progress.update(task, completed=lines.position())
            )
        except stock.StockError as exc:
            fail(str(exc))
            return
        progress.update(task, completed=size)
    out.print(
        f"{result.added} serials added, {result.duplicates} duplicates skipped"
        + (f", {result.rejected} rejected (over 500 characters)" if result.rejected else "")
    )


@app.command("report")
def stock_report(as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False) -> None:
    """Available / assigned / revoked serials per product."""
    from resell.services import stock

    lines = stock.report(context())
    if as_json:
        json.dump([line.__dict__ for line in lines], sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    table = Table("ref", "product", "source", "available", "assigned", "revoked")
    for line in lines:
        table.add_row(
            str(line.ref), line.name, line.serial_source, str(line.available), str(line.assigned), str(line.revoked)
        )
    out.print(table)


@app.command("threshold")
def stock_threshold(ref: int, n: int) -> None:
    """Set product REF's low-stock threshold to N: its pool is "low" (getStockStatus 200, stock.low)
    at N available serials or fewer."""
    from resell.services import stock_pools

    try:
        before, after = stock_pools.set_threshold(context(), ref, n)
    except stock_pools.PoolError as exc:
        fail(str(exc))
        return
    out.print(f"product {ref}: low-stock threshold {before} -> {after}")


@app.command("pools")
def stock_pools_command(
    publisher: Annotated[str | None, typer.Option(help="only this publisher's products (its key)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Every serial pool: available / assigned / revoked serials, threshold and level (enough, low, out)."""
    from resell.services import stock_pools

    ctx = context()
    publisher_id = None
    if publisher is not None:
        publisher_id = stock_pools.publisher_id_of(ctx, publisher)
        if publisher_id is None:
            fail(f"no publisher {publisher!r}")
            return
    found = stock_pools.pools(ctx, publisher_id=publisher_id)
    if as_json:
        json.dump([pool.__dict__ for pool in found], sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    table = Table("ref", "product", "publisher", "available", "assigned", "revoked", "threshold", "level")
    for p in found:
        table.add_row(
            str(p.ref),
            p.name,
            p.publisher,
            str(p.available),
            str(p.assigned),
            str(p.revoked),
            str(p.threshold),
            p.level if p.on_sale else f"{p.level} (not on sale)",
        )
    out.print(table)
