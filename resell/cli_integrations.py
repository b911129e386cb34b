"""Operator commands for merchant integrations: webhook endpoints and the audit trail.

Each command group here is a Typer app that resell.cli registers.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.table import Table

from resell.cli_support import context, fail, out

APPS: dict[str, typer.Typer] = {}


webhooks_app = typer.Typer(help="Webhook endpoints and their deliveries.", no_args_is_help=True)
audit_app = typer.Typer(
    help="An order's history: resell audit PARTNER_ORDER_NUMBER [--merchant REALM] [--json].",
    context_settings={"allow_interspersed_args": True},
)
APPS["webhooks"] = webhooks_app
APPS["audit"] = audit_app


def _table(*columns: str, title: str | None = None) -> Table:
    """A Rich table whose cells wrap rather than lose their end (URLs and event ids must stay whole)."""
    table = Table(title=title)
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def _when(moment: Any) -> str:
    return "" if moment is None else moment.replace(microsecond=0).isoformat()


# ---------------------------------------------------------------- resell webhooks ...


@webhooks_app.command("add")
def webhooks_add(
    url: str,
    events: Annotated[str, typer.Option(help="comma-separated event types, e.g. order.created,subscription.renewed")],
    merchant: Annotated[str | None, typer.Option(help="the merchant's realm (merchant events)")] = None,
    publisher: Annotated[str | None, typer.Option(help="a publisher key (stock events of its products)")] = None,
) -> None:
    """Register an endpoint: a merchant's, a publisher's, or (with neither) the operator's stock alerts.

    Prints the signing secret once: it is derived when needed, never stored.
    """
    from resell.services import webhooks

    try:
        made = webhooks.add_endpoint(context(), url, events.split(","), realm=merchant, publisher=publisher)
    except webhooks.WebhookError as exc:
        fail(str(exc))
        return
    e = made.endpoint
    out.print(f"endpoint {e.id} ({e.owner}) {e.url}\n  events         {', '.join(e.events)}", highlight=False)
    out.print(f"  signing secret {made.signing_secret}  (shown once: keep it now)", highlight=False)


@webhooks_app.command("list")
def webhooks_list(
    merchant: Annotated[str | None, typer.Option(help="only this merchant's endpoints")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """The registered endpoints (removed ones are not shown)."""
    from resell.services import webhooks

    found = webhooks.list_endpoints(context(), merchant)
    if as_json:
        rows = [
            e.__dict__ | {"created_at": _when(e.created_at), "disabled_at": _when(e.disabled_at) or None} for e in found
        ]
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    table = _table("id", "owner", "url", "events", "state", "created")
    for e in found:
        state = "active" if e.active else f"disabled: {e.disabled_reason}"
        table.add_row(str(e.id), e.owner, e.url, "\n".join(e.events), state, _when(e.created_at))
    out.print(table)


@webhooks_app.command("remove")
def webhooks_remove(endpoint_id: int) -> None:
    """Remove an endpoint: nothing more is delivered to it (its delivery log stays)."""
    from resell.services import webhooks

    try:
        webhooks.remove_endpoint(context(), endpoint_id)
    except webhooks.WebhookError as exc:
        fail(str(exc))
        return
    out.print(f"endpoint {endpoint_id} removed")


@webhooks_app.command("redeliver")
def webhooks_redeliver(
    event_id: str,
    endpoint: Annotated[int | None, typer.Option(help="only to this endpoint")] = None,
) -> None:
    """Queue event EVENT_ID (the webhook-id receivers saw) again for its endpoints, with the same id."""
    from resell.services import webhooks

    try:
        count = webhooks.redeliver(context(), event_id, endpoint)
    except webhooks.WebhookError as exc:
        fail(str(exc))
        return
    out.print(f"{count} deliver{'y' if count == 1 else 'ies'} of {event_id} queued; `resell worker` sends them")


@webhooks_app.command("log")
def webhooks_log(
    endpoint_id: int,
    limit: Annotated[int, typer.Option(help="how many attempts, newest first")] = 50,
) -> None:
    """An endpoint's delivery log: every attempt, its HTTP status or error, and its duration."""
    from resell.services import webhooks

    try:
        attempts = webhooks.delivery_log(context(), endpoint_id, limit)
    except webhooks.WebhookError as exc:
        fail(str(exc))
        return
    table = _table("at", "event id", "attempt", "status", "error", "ms")
    for a in attempts:
        table.add_row(
            _when(a.at),
            a.event_id,
            str(a.attempt),
            "" if a.status_code is None else str(a.status_code),
            a.error or "",
            "" if a.duration_ms is None else str(a.duration_ms),
        )
    out.print(table)


# ---------------------------------------------------------------- resell audit PARTNER_ORDER_NUMBER


def _compact(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


@audit_app.callback(invoke_without_command=True)
def audit(
    partner_order_number: Annotated[str, typer.Argument(help="the merchant's order number")],
    merchant: Annotated[str | None, typer.Option(help="the merchant's realm, when several use that number")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """An order's history: every change of the order, its renewals, serials and subscriptions."""
    from resell.services.audit_trail import AuditError, order_trail

    try:
        trail = order_trail(context(), partner_order_number, merchant)
    except AuditError as exc:
        fail(str(exc))
        return
    if as_json:
        rows = [e.__dict__ | {"at": e.at.isoformat()} for e in trail.entries]
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    table = _table(
        "when",
        "actor",
        "what",
        "action",
        "before",
        "after",
        title=f"{trail.partner_order_number} (order {trail.order_number}, merchant {trail.realm})",
    )
    for e in trail.entries:
        table.add_row(
            _when(e.at), e.actor, f"{e.entity} {e.entity_id}", e.action, _compact(e.before), _compact(e.after)
        )
    out.print(table)
