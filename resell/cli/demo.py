"""`resell demo`: seed the demo catalogue, merchants and back-office admin, and print their credentials."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from resell.cli.support import context, err, out
from resell.config import get_settings


def _print_credentials(document: dict) -> None:
    first = document["merchants"][0]
    catalog = first["catalogs"][0]
    base = document["baseUrl"]
    out.print(f"[bold]Demo credentials[/] (also in {get_settings().var_dir / 'demo-credentials.json'}):")
    for merchant in document["merchants"]:
        out.print(f"  realmName [cyan]{merchant['realmName']}[/]  clientSecret [cyan]{merchant['clientSecret']}[/]")
        for cat in merchant["catalogs"]:
            out.print(
                f"    catalogue {cat['currency']}: secret [cyan]{cat['secret']}[/]  "
                f"products {', '.join(map(str, cat['productRefs']))}"
            )
            if cat.get("sandboxSecret"):  # credentials files written before sandboxes existed have none
                out.print(
                    f"    catalogue {cat['currency']}: sandbox secret [cyan]{cat['sandboxSecret']}[/]", soft_wrap=True
                )
    back_office = document.get("backOffice")
    if back_office:
        out.print(
            f"  back office [cyan]{back_office['url']}[/]  email [cyan]{back_office['email']}[/]  "
            f"password [cyan]{back_office['password']}[/]",
            highlight=False,
        )
    credentials = json.dumps(
        {"realmName": first["realmName"], "clientSecret": first["clientSecret"], "grantType": "client_credentials"}
    )
    stock = json.dumps({"productRefs": catalog["productRefs"][:1]})
    read_token = "python3 -c 'import sys, json; print(json.load(sys.stdin)[\"access_token\"])'"
    out.print("\n[bold]Try it[/] (token, then stock):")
    out.print(
        f"TOKEN=$(curl -s -X POST {base}/iam/tokens -H 'Content-Type: application/json' "
        f"-d '{credentials}' | {read_token})\n"
        f"curl -s -X POST {base}/connect/stock -H \"Authorization: Bearer $TOKEN\" -H 'secret: {catalog['secret']}' "
        f"-H 'Content-Type: application/json' -d '{stock}'",
        soft_wrap=True,
        highlight=False,
        markup=False,
    )


def demo(
    serials: Annotated[int, typer.Option(help="serials per pooled demo product")] = 1000,
) -> None:
    """Seed the demo catalogue and two demo merchants into an empty database, and print the credentials."""
    from resell.services import demo as demo_service

    ctx = context()
    if demo_service.is_seeded(ctx):
        document = demo_service.load_credentials(ctx)
        if document is None:
            out.print("The database already holds merchants; no demo credentials file to show.")
            return
    else:
        with err.status("seeding the demo catalogue and stock..."):
            document = demo_service.seed(ctx, serials)
    _print_credentials(document)
