"""`resell audit N|PON`: an order's history."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from resell.cli.support import context, fail, folding_table, out, when

app = typer.Typer(
    help="An order's history: resell audit N|PON [--realm REALM] [--json].",
    context_settings={"allow_interspersed_args": True},
)


def _compact(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


@app.callback(invoke_without_command=True)
def audit(
    order: Annotated[str, typer.Argument(help="the platform order number or the merchant's partnerOrderNumber")],
    merchant: Annotated[
        str | None, typer.Option("--realm", "--merchant", help="the merchant's realm, when several use that number")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """An order's history: every change of the order, its renewals, serials and subscriptions."""
    from resell.services.audit_log import AuditError, order_trail

    try:
        trail = order_trail(context(), order, merchant)
    except AuditError as exc:
        fail(str(exc))
        return
    if as_json:
        rows = [e.__dict__ | {"at": e.at.isoformat()} for e in trail.entries]
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    table = folding_table(
        "when",
        "actor",
        "what",
        "action",
        "before",
        "after",
        title=f"{trail.partner_order_number} (order {trail.order_number}, merchant {trail.realm})",
    )
    for e in trail.entries:
        table.add_row(when(e.at), e.actor, f"{e.entity} {e.entity_id}", e.action, _compact(e.before), _compact(e.after))
    out.print(table)
