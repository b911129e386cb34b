"""`resell mail ...`: delivery emails."""

from __future__ import annotations

from typing import Annotated

import typer

from resell.cli.support import context, fail, out

app = typer.Typer(help="Delivery emails.", no_args_is_help=True)


@app.command("every-order")
def mail_every_order(
    realm: str,
    currency: Annotated[str | None, typer.Option(help="only the catalogue in this currency")] = None,
    off: Annotated[bool, typer.Option("--off", help="back to direct-delivery products only")] = False,
) -> None:
    """Email the end user of every order of this merchant's catalogues (not only direct-delivery products)."""
    from resell.services import delivery_mail

    try:
        changed = delivery_mail.set_every_order(context(), realm, currency, not off)
    except ValueError as exc:
        fail(str(exc))
        return
    scope = "direct-delivery products only" if off else "every order"
    out.print(f"{changed} catalogue(s) of {realm}: delivery email for {scope}")
