"""What every `resell` command module shares: the consoles, the context, how a command fails, its tables."""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.exc import OperationalError

from resell.config import get_settings
from resell.db.migrate import NotMigrated, require_latest, where
from resell.services.context import Context

out = Console()
err = Console(stderr=True)


def context(migrated: bool = True) -> Context:
    """The command's context. A command that needs the schema stops here, in one line and before doing
    anything, on a database it cannot reach or that `resell db upgrade` has not brought to this release."""
    ctx = Context.from_settings(get_settings())
    if not migrated:
        return ctx
    try:
        require_latest(ctx.db)
    except NotMigrated as exc:
        ctx.db.dispose()
        fail(str(exc))
    except OperationalError as exc:
        ctx.db.dispose()
        fail(f"cannot open the database at {where(ctx.db)}: {' '.join(str(exc.orig).split())}")  # one line
    return ctx


def fail(message: str) -> None:
    """Print the operator's mistake in one line and exit 1 (no traceback)."""
    err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(1)


def folding_table(*columns: str, title: str | None = None) -> Table:
    """A Rich table whose cells wrap rather than lose their end (URLs and event ids must stay whole)."""
    table = Table(title=title)
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def when(moment: Any) -> str:
    """A timestamp to the second, ISO 8601; nothing for none."""
    return "" if moment is None else moment.replace(microsecond=0).isoformat()
