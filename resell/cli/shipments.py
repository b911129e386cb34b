"""`resell shipments ...`: backup DVDs to ship, and the warehouse's CSV."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from resell.cli.support import context, err, fail, out

app = typer.Typer(help="Backup DVDs to ship.", no_args_is_help=True)


@app.command("list")
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


@app.command("export")
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


@app.command("mark-shipped")
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
