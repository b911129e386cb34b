"""`resell sandbox ...`: the merchants' sandboxes: purging test orders, their magic values."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from resell.cli.support import context, err, fail, out

app = typer.Typer(help="The merchants' sandboxes: test orders and their magic values.", no_args_is_help=True)


def _instant(text: str) -> dt.datetime:
    """A date (midnight UTC) or an ISO 8601 instant (UTC when it names no offset)."""
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        fail(f"--before takes a date (YYYY-MM-DD) or an ISO 8601 instant, not {text!r}")
        raise
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


@app.command("purge")
def sandbox_purge(
    merchant: Annotated[str | None, typer.Option(help="only this merchant's (its realm)")] = None,
    before: Annotated[str | None, typer.Option(help="only those placed before this date or instant")] = None,
) -> None:
    """Delete test orders and everything hanging off them (lines, TEST- serials, subscriptions,
    kept emails, queued events and webhooks). Live orders are never touched. Audited."""
    from resell.services import sandbox

    ctx = context()
    moment = _instant(before) if before else None
    try:
        todo = len(sandbox.test_orders_to_purge(ctx, merchant, moment))
    except sandbox.SandboxError as exc:
        fail(str(exc))
        return
    with Progress(
        TextColumn("[bold]purging[/]"), BarColumn(), MofNCompleteColumn(), TextColumn("test orders"),
        TimeElapsedColumn(), console=err, transient=False,
    ) as progress:
        task = progress.add_task("orders", total=todo)
        result = sandbox.purge(ctx, merchant, moment, progress=lambda n: progress.advance(task, n))
    out.print(
        f"{result.orders} test orders purged ({result.serials} TEST- serials, {result.subscriptions} "
        f"subscriptions, {result.emails} kept emails, {result.outbox} queued events)"
    )


@app.command("magic-values")
def sandbox_magic_values() -> None:
    """The partnerOrderNumber prefixes that make a sandbox call refuse on purpose (docs/merchants.md)."""
    from resell.domain.sandbox import docs_table

    out.print(docs_table(), soft_wrap=True, markup=False)
