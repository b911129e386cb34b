"""`resell feed ...`: product feeds, each merchant catalogue as XML or CSV."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from resell.cli.support import context, fail, out
from resell.config import get_settings

app = typer.Typer(help="Product feeds: each merchant catalogue as XML or CSV.", no_args_is_help=True)


def _url(provider: str, config: str) -> str:
    from urllib.parse import urlencode

    query = urlencode({"secret": "SECRET", "provider": provider, "config": config})
    return f"{get_settings().base_url}/flow/getcatalog/v2.4/?{query}"


@app.command("configure")
def configure(
    realm: str,
    currency: Annotated[str, typer.Option(help="the merchant catalogue, named by its currency")],
    provider: Annotated[str, typer.Option(help="the `provider` query parameter")],
    config: Annotated[str, typer.Option(help="the `config` query parameter")],
    format: Annotated[str, typer.Option("--format", help="xml or csv")] = "xml",  # noqa: A002
    language: Annotated[
        str, typer.Option(help="language of category labels and, where products have texts in it, names (ISO 639-1)")
    ] = "en",
) -> None:
    """Create or change a feed of a merchant catalogue; prints its URL (SECRET: the catalogue's secret)."""
    from resell.services import feeds
    from resell.services.merchants import MerchantError

    try:
        made = feeds.configure(context(), realm, currency, provider, config, format, language)
    except MerchantError as exc:
        fail(str(exc))
        return
    out.print(
        f"feed {made.provider}/{made.name} of {made.catalog_name} ({made.currency}): {made.format}, "
        f"labels in {made.language}"
    )
    out.print(_url(made.provider, made.name), soft_wrap=True)


@app.command("list")
def list_feeds(realm: str) -> None:
    """A merchant's feeds and when each was last fetched."""
    from resell.services import feeds

    table = Table("catalogue", "currency", "provider", "config", "format", "language", "last fetch")
    for f in feeds.list_configs(context(), realm):
        last = f.last_fetch_at.isoformat(timespec="seconds") if f.last_fetch_at else "never"
        table.add_row(f.catalog_name, f.currency, f.provider, f.name, f.format, f.language, last)
    out.print(table)
