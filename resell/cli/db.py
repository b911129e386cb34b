"""`resell db ...`: the database schema."""

from __future__ import annotations

import typer

from resell.cli.support import context, out

app = typer.Typer(help="Database schema.", no_args_is_help=True)


@app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema to the latest version (SQLite by default, RESELL_DATABASE_URL)."""
    from resell.db.migrate import current_revision, upgrade

    ctx = context(migrated=False)
    upgrade(ctx.db)
    out.print(f"database at revision [bold]{current_revision(ctx.db)}[/]")
