"""`resell webhooks add/list/remove/redeliver/log` and `resell audit PARTNER_ORDER_NUMBER`."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import select

from resell.config import Settings
from resell.db.tables import webhook_endpoints
from resell.services import orders as order_service
from resell.services import subscriptions as subs
from resell.services.context import Context
from resell.worker import dispatcher
from tests.conftest import Clock, World, order_body, run_cli
from tests.renewal_support import buy, caller_of, outbox_events

Run = Callable[..., Result]


@pytest.fixture
def cli(settings: Settings, tmp_path: Path) -> Iterator[Run]:
    env: dict[str, str | None] = {
        "RESELL_DATABASE_URL": settings.effective_database_url,
        "RESELL_VAR_DIR": str(tmp_path / "cli-var"),
        "RESELL_JWT_SECRET": settings.jwt_secret,
        "RESELL_WEBHOOK_ALLOW_PRIVATE": str(settings.webhook_allow_private).lower(),
        "COLUMNS": "300",  # a wide terminal: table cells on one line each
    }

    yield lambda *args: run_cli(env, *args)


def flat(text: str) -> str:
    return "".join(text.split())


def test_webhooks_add_list_remove(cli: Run, ctx: Context, world: World) -> None:
    added = cli(
        "webhooks",
        "add",
        "https://a.example/h",
        "--events",
        "order.created,subscription.renewed",
        "--merchant",
        "shop-a",
    )
    assert added.exit_code == 0, added.output
    secret = next(word for word in added.stdout.split() if word.startswith("whsec_"))
    assert "merchant:shop-a" in added.stdout and "order.created, subscription.renewed" in added.stdout
    with ctx.db.read() as conn:
        (row,) = conn.execute(select(webhook_endpoints)).all()
    assert secret not in str(tuple(row))

    listed = cli("webhooks", "list")
    assert listed.exit_code == 0 and "https://a.example/h" in flat(listed.stdout) and "whsec_" not in listed.stdout
    as_json = json.loads(cli("webhooks", "list", "--json").stdout)
    assert [(e["id"], e["owner"], e["events"], e["active"]) for e in as_json] == [
        (row.id, "merchant:shop-a", ["order.created", "subscription.renewed"], True)
    ]
    assert json.loads(cli("webhooks", "list", "--merchant", "shop-b", "--json").stdout) == []

    removed = cli("webhooks", "remove", str(row.id))
    assert removed.exit_code == 0 and f"endpoint {row.id} removed" in removed.stdout
    assert json.loads(cli("webhooks", "list", "--json").stdout) == []
    again = cli("webhooks", "remove", str(row.id))
    assert again.exit_code == 1 and f"no webhook endpoint {row.id}" in again.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["https://a.example/h", "--events", "order.created", "--merchant", "ghost"], "no merchant 'ghost'"),
        (["https://a.example/h", "--events", "order.shiped", "--merchant", "shop-a"], "events not valid (allowed:"),
        (["https://a.example/h", "--events", "order.created"], "events not valid (allowed: stock.low, stock.out)"),
        (["ftp://a.example/h", "--events", "stock.low"], "url not valid"),
        (["https://a.example/h", "--events", "stock.out", "--publisher", "nobody"], "no publisher 'nobody'"),
        (["https://a/h", "--events", "stock.out", "--publisher", "pub", "--merchant", "shop-a"], "not both"),
    ],
)
def test_webhooks_add_refuses_mistakes(cli: Run, world: World, args: list[str], message: str) -> None:
    result = cli("webhooks", "add", *args)
    assert result.exit_code == 1 and flat(message) in flat(result.stderr), result.output
    assert json.loads(cli("webhooks", "list", "--json").stdout) == []


def test_operator_and_publisher_endpoints(cli: Run, world: World) -> None:
    assert cli("webhooks", "add", "https://ops.example/h", "--events", "stock.low,stock.out").exit_code == 0
    assert cli("webhooks", "add", "https://pub.example/h", "--events", "stock.out", "--publisher", "pub").exit_code == 0
    owners = [e["owner"] for e in json.loads(cli("webhooks", "list", "--json").stdout)]
    assert owners == ["operator", "publisher:pub"]


def test_redeliver_queues_the_event_again_and_log_shows_each_attempt(
    cli: Run, ctx: Context, world: World, clock: Clock
) -> None:
    added = cli("webhooks", "add", "http://127.0.0.1:9/closed", "--events", "order.created", "--merchant", "shop-a")
    endpoint_id = json.loads(cli("webhooks", "list", "--json").stdout)[0]["id"]
    assert added.exit_code == 0
    order_service.submit_order(ctx, caller_of(ctx, world.a), order_body("PON", (1003, 1)))
    dispatcher.run_pass(ctx)  # nobody listens on port 9: a failed attempt, logged
    (event,) = outbox_events(ctx, "order.created")

    redelivered = cli("webhooks", "redeliver", event.event_id)
    assert redelivered.exit_code == 0 and f"1 delivery of {event.event_id} queued" in redelivered.stdout
    copies = outbox_events(ctx, "webhook.deliver")
    assert len(copies) == 2 and {c.payload["webhookId"] for c in copies} == {event.event_id}
    clock.advance(seconds=30)  # the CLI queued it by the real clock, a moment after the test's
    dispatcher.run_pass(ctx)

    log = cli("webhooks", "log", str(endpoint_id))
    assert log.exit_code == 0
    text = flat(log.stdout)
    assert text.count(event.event_id) == 2 and "ConnectError" in text
    unknown = cli("webhooks", "redeliver", "not-an-event")
    assert unknown.exit_code == 1 and "no webhook event 'not-an-event'" in unknown.stderr
    assert cli("webhooks", "log", "4242").exit_code == 1


def test_audit_prints_an_orders_history(cli: Run, ctx: Context, world: World, clock: Clock) -> None:
    who = caller_of(ctx, world.a)
    (sub_id,) = buy(ctx, who, "PON")
    clock.advance(days=366)
    subs.renew_due(ctx)
    subs.cancel_subscription(ctx, who, "PON", sub_id)

    shown = cli("audit", "PON")
    assert shown.exit_code == 0, shown.output
    text = flat(shown.stdout)
    assert flat("PON (order") in text and "merchantshop-a" in text
    for fragment in ("order1│created", "│assigned│", f"subscription{sub_id}│renewed", "merchant:shop-a│subscription"):
        assert fragment in text, fragment

    as_json = cli("audit", "PON", "--json")
    assert as_json.exit_code == 0, (as_json.output, as_json.exception)
    rows = json.loads(as_json.stdout)
    actions = [(r["entity"], r["action"]) for r in rows]
    assert actions == [
        ("order", "created"),
        ("serial", "assigned"),
        ("subscription", "created"),
        ("order", "created"),  # PON-1, by the worker
        ("serial", "assigned"),
        ("subscription", "renewed"),
        ("subscription", "cancelled"),
    ]
    assert rows[3]["actor"].startswith("worker:renewals@") and rows[3]["after"]["partnerOrderNumber"] == "PON-1"
    assert rows[-1]["actor"] == "merchant:shop-a"
    renewal = json.loads(cli("audit", "PON-1", "--json").stdout)  # its own rows, and its subscription's
    assert [(r["entity"], r["action"]) for r in renewal] == [
        ("subscription", "created"),
        ("order", "created"),
        ("serial", "assigned"),
        ("subscription", "renewed"),
        ("subscription", "cancelled"),
    ]
    assert renewal[1]["after"]["partnerOrderNumber"] == "PON-1"


def test_audit_of_an_unknown_or_ambiguous_number(cli: Run, ctx: Context, world: World) -> None:
    assert cli("audit", "NOPE").exit_code == 1
    for creds in (world.a, world.b):
        order_service.submit_order(ctx, caller_of(ctx, creds), order_body("SAME", (1003, 1)))
    ambiguous = cli("audit", "SAME")
    assert ambiguous.exit_code == 1 and "--realm" in ambiguous.stderr and "shop-a, shop-b" in ambiguous.stderr
    chosen = cli("audit", "SAME", "--merchant", "shop-b", "--json")
    assert chosen.exit_code == 0 and [r["actor"] for r in json.loads(chosen.stdout)][0] == "merchant:shop-b"
