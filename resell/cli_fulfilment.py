"""Operator commands for fulfilment: product files, backup-DVD shipments, publisher keys, delivery email.

Each command group here is a Typer app that resell.cli registers.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from resell.cli_support import context, err, fail, out

APPS: dict[str, typer.Typer] = {}

files_app = typer.Typer(
    help="Product files: stored by the storage backend, served by signed download links.", no_args_is_help=True
)
shipments_app = typer.Typer(help="Backup DVDs to ship.", no_args_is_help=True)
publishers_app = typer.Typer(help="Publishers' key generators and callbacks.", no_args_is_help=True)
mail_app = typer.Typer(help="Delivery emails.", no_args_is_help=True)
APPS["files"] = files_app
APPS["shipments"] = shipments_app
APPS["publishers"] = publishers_app
APPS["mail"] = mail_app


# ---------------------------------------------------------------- files


@files_app.command("add")
def files_add(
    ref: int,
    path: Path,
    label: Annotated[str | None, typer.Option(help="what end users see (default: the file name)")] = None,
    group: Annotated[str | None, typer.Option(help="e.g. Windows, macOS")] = None,
    file_type: Annotated[str | None, typer.Option("--type", help="install (default), manual, patch...")] = None,
    content_type: Annotated[str | None, typer.Option(help="default: guessed from the file name")] = None,
    name: Annotated[str | None, typer.Option(help="file name shown to end users (default: PATH's name)")] = None,
) -> None:
    """Store PATH, record its size and SHA-256, and attach it to product REF (same name: replaced in place)."""
    from resell.services import files

    try:
        with err.status(f"storing {path.name}..."):
            attached = files.add_file(context(), ref, path, label, group, file_type, content_type, name)
    except files.FileError as exc:
        fail(str(exc))
        return
    verb = "replaced" if attached.replaced else "attached"
    out.print(
        f"file {attached.file_id} {verb} on product {attached.product_ref}: {attached.file_name} "
        f"({attached.size} bytes, {attached.content_type})\nsha256 {attached.sha256}",
        highlight=False,
    )


@files_app.command("list")
def files_list(ref: Annotated[int | None, typer.Argument(help="only this product")] = None) -> None:
    """Files per product: size, SHA-256, whether the bytes are stored."""
    from resell.services import files

    table = Table("id", "ref", "file name", "label", "group", "size", "sha256", "stored")
    for f in files.list_files(context(), ref):
        table.add_row(
            str(f.file_id),
            str(f.product_ref),
            f.file_name,
            f.label,
            f.group,
            str(f.size),
            (f.sha256 or "")[:16],
            "yes" if f.stored else "no",
        )
    out.print(table)


# ---------------------------------------------------------------- shipments


@shipments_app.command("list")
def shipments_list(
    status: Annotated[str | None, typer.Option(help="pending, shipped or cancelled (default: all)")] = None,
) -> None:
    """Backup-DVD shipments."""
    from resell.services import shipments

    table = Table("id", "order", "partner order", "status", "created", "ship to", "items", "tracking")
    for s in shipments.list_shipments(context(), status):
        a = s.address
        ship_to = ", ".join(
            str(v)
            for v in (f"{a.get('firstName') or ''} {a.get('lastName') or ''}".strip(), a.get("city"), a.get("country"))
            if v
        )
        items = "; ".join(f"{i['quantity']} x {i['productRef']}" for i in s.items)
        table.add_row(
            str(s.id),
            str(s.order_number),
            s.partner_order_number,
            s.status,
            s.created_at.strftime("%Y-%m-%d %H:%M"),
            ship_to,
            items,
            s.tracking or "",
        )
    out.print(table)


@shipments_app.command("export")
def shipments_export(
    csv_format: Annotated[bool, typer.Option("--csv", help="CSV for the warehouse (the only format)")] = True,
    status: Annotated[
        str, typer.Option(help="which shipments: pending (default), shipped, cancelled, all")
    ] = "pending",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write to this file instead of stdout")] = None,
) -> None:
    """Shipments as CSV (one row per shipment, address columns, items), for the warehouse."""
    from resell.services import shipments

    found = shipments.list_shipments(context(), None if status == "all" else status)
    if output is None:
        shipments.write_csv(found, sys.stdout)
        return
    with output.open("w", newline="", encoding="utf-8") as handle:
        shipments.write_csv(found, handle)
    err.print(f"{len(found)} shipments written to {output}")


@shipments_app.command("mark-shipped")
def shipments_mark_shipped(
    shipment_id: Annotated[int, typer.Argument(metavar="ID")],
    tracking: Annotated[str | None, typer.Option(help="carrier tracking number")] = None,
) -> None:
    """Record that a pending shipment left the warehouse (it can no longer be cancelled with its order)."""
    from resell.services import shipments

    try:
        done = shipments.mark_shipped(context(), shipment_id, tracking)
    except shipments.ShipmentError as exc:
        fail(str(exc))
        return
    out.print(f"shipment {done.id} (order {done.order_number}) marked shipped")


# ---------------------------------------------------------------- publishers


@publishers_app.command("signing-key")
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


# ---------------------------------------------------------------- mail


@mail_app.command("every-order")
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
