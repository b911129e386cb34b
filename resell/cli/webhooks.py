"""`resell webhooks ...`: webhook endpoints and their deliveries."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from resell.cli.support import context, fail, folding_table, out, when

app = typer.Typer(help="Webhook endpoints and their deliveries.", no_args_is_help=True)


@app.command("add")
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


@app.command("list")
def webhooks_list(
    merchant: Annotated[str | None, typer.Option(help="only this merchant's endpoints")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """The registered endpoints (removed ones are not shown)."""
    from resell.services import webhooks

    found = webhooks.list_endpoints(context(), merchant)
    if as_json:
        rows = [
            e.__dict__ | {"created_at": when(e.created_at), "disabled_at": when(e.disabled_at) or None} for e in found
        ]
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    table = folding_table("id", "owner", "url", "events", "state", "created")
    for e in found:
        state = "active" if e.active else f"disabled: {e.disabled_reason}"
        table.add_row(str(e.id), e.owner, e.url, "\n".join(e.events), state, when(e.created_at))
    out.print(table)


@app.command("remove")
def webhooks_remove(endpoint_id: int) -> None:
    """Remove an endpoint: nothing more is delivered to it (its delivery log stays)."""
    from resell.services import webhooks

    try:
        webhooks.remove_endpoint(context(), endpoint_id)
    except webhooks.WebhookError as exc:
        fail(str(exc))
        return
    out.print(f"endpoint {endpoint_id} removed")


@app.command("redeliver")
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


@app.command("log")
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
    table = folding_table("at", "event id", "attempt", "status", "error", "ms")
    for a in attempts:
        table.add_row(
            when(a.at),
            a.event_id,
            str(a.attempt),
            "" if a.status_code is None else str(a.status_code),
            a.error or "",
            "" if a.duration_ms is None else str(a.duration_ms),
        )
    out.print(table)
