"""What every `resell` command module shares: the consoles, the context, and how a command fails."""

from __future__ import annotations

import typer
from rich.console import Console

from resell.config import get_settings
from resell.services.context import Context

out = Console()
err = Console(stderr=True)


def context() -> Context:
    return Context.from_settings(get_settings())


def fail(message: str) -> None:
    """Print the operator's mistake in one line and exit 1 (no traceback)."""
    err.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(1)
