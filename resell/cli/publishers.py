"""`resell publishers ...`: publishers' key generators and callbacks."""

from __future__ import annotations

from typing import Annotated

import typer

from resell.cli.support import context, fail, out

app = typer.Typer(help="Publishers' key generators and callbacks.", no_args_is_help=True)


@app.command("signing-key")
def publishers_signing_key(publisher: Annotated[str, typer.Argument(help="the publisher's key")]) -> None:
    """The key this publisher checks our calls with (Standard Webhooks `whsec_...`); derived, never stored."""
    from sqlalchemy import select

    from resell.db.tables import publishers
    from resell.domain.signing import publisher_secret

    ctx = context()
    with ctx.db.read() as conn:
        if conn.execute(select(publishers.c.id).where(publishers.c.key == publisher)).first() is None:
            fail(f"no publisher {publisher!r}")
    out.print(publisher_secret(ctx.settings.effective_publisher_key, publisher), highlight=False)
