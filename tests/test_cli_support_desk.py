"""The back office's commands: `resell order search/replace-serial/extend` and `resell merchant
list/show/rotate-secret/rotate-catalog-secret`."""

from __future__ import annotations

import json

from sqlalchemy import select

from resell.db.tables import audit_events, serials
from resell.services import orders as order_service
from resell.services.context import Context
from tests.conftest import CliRun, World, order_body
from tests.renewal_support import caller_of, outbox_events


def flat(text: str) -> str:
    return "".join(text.split())


def test_order_search_pages_and_filters(cli: CliRun, ctx: Context, world: World) -> None:
    made = [
        order_service.submit_order(ctx, caller_of(ctx, world.a), order_body(f"S-{i}", (1002, 1))).order_number
        for i in range(5)
    ]
    first = cli("order", "search", "--merchant", "shop-a", "--limit", "2", "--json")
    assert first.exit_code == 0, first.output
    page = json.loads(first.stdout)
    assert [o["orderNumber"] for o in page["orders"]] == made[::-1][:2] and page["nextCursor"]
    second = json.loads(
        cli("order", "search", "--merchant", "shop-a", "--limit", "2", "--after", page["nextCursor"], "--json").stdout
    )
    assert [o["orderNumber"] for o in second["orders"]] == made[::-1][2:4]
    shown = cli("order", "search", "S-3")
    assert shown.exit_code == 0 and f"│{made[3]}│S-3│shop-a│" in flat(shown.stdout)
    assert "noorderfound" in flat(cli("order", "search", "--status", "cancelled").stdout)
    assert "next page: --after" in cli("order", "search", "--limit", "1").stdout
    bad = cli("order", "search", "--merchant", "nobody")
    assert bad.exit_code == 1 and "no merchant 'nobody'" in bad.stderr
    assert cli("order", "search", "--from", "yesterday").exit_code == 1
    assert cli("order", "search", "--publisher", "pub", "--json").exit_code == 0
    assert cli("order", "search", "--publisher", "nope").exit_code == 1


def test_order_replace_serial(cli: CliRun, ctx: Context, world: World) -> None:
    view = order_service.submit_order(ctx, caller_of(ctx, world.a), order_body("RS-1", (1001, 1)))
    old = view.lines[0].line_items[0].serials[0]
    before = len(outbox_events(ctx, "mail.delivery"))
    done = cli("order", "replace-serial", "RS-1", old)
    assert done.exit_code == 0, done.output
    with ctx.db.read() as conn:
        assert conn.execute(select(serials.c.status).where(serials.c.value == old)).scalar_one() == "revoked"
        actors = set(
            conn.execute(select(audit_events.c.actor).where(audit_events.c.action == "serial_replaced")).scalars()
        )
    assert actors == {"operator"}
    (mail,) = outbox_events(ctx, "mail.delivery")[before:]
    assert mail.payload["to"] == "buyer@example.com" and f"serial{old}revoked" in flat(done.stdout)
    shown = flat(cli("order", "show", "RS-1").stdout)
    assert f"{old}(revoked)" in shown and "(assigned)" in shown
    again = cli("order", "replace-serial", str(view.order_number), old)
    assert again.exit_code == 1 and "already revoked" in again.stderr
    unknown = cli("order", "replace-serial", "RS-1", "NOT-A-SERIAL")
    assert unknown.exit_code == 1 and "not one of order" in unknown.stderr


def test_order_extend(cli: CliRun, ctx: Context, world: World) -> None:
    view = order_service.submit_order(ctx, caller_of(ctx, world.a), order_body("EX-1", (1001, 1)))
    until = cli("order", "extend", "EX-1", "--until", "2031-05-01")
    assert until.exit_code == 0, until.output
    assert "downloads until 2031-05-01" in until.stdout
    more = cli("order", "extend", str(view.order_number), "--days", "30")
    assert more.exit_code == 0 and "downloads until 2031-05-31" in more.stdout
    assert [e.payload["downloadEndDate"] for e in outbox_events(ctx, "download.extended")] == [
        "2031-05-01",
        "2031-05-31",
    ]
    assert cli("order", "extend", "EX-1").exit_code == 1
    bad = cli("order", "extend", "EX-1", "--until", "someday")
    assert bad.exit_code == 1 and "code" in bad.stderr


def test_merchant_list_show_and_rotations(cli: CliRun, ctx: Context, world: World) -> None:
    order_service.submit_order(ctx, caller_of(ctx, world.a), order_body("MS-1", (1001, 1)))
    listed = cli("merchant", "list")
    assert listed.exit_code == 0, listed.output
    assert "│shop-a│shop-a│yes│2│1│" in flat(listed.stdout) and "│shop-b│shop-b│yes│2│0│" in flat(listed.stdout)
    shown = cli("merchant", "show", "shop-a")
    assert shown.exit_code == 0, shown.output
    assert "orders1(1active,0cancelled)" in flat(shown.stdout) and "shop-aEUR│EUR" in flat(shown.stdout)
    assert cli("merchant", "show", "nobody").exit_code == 1

    rotated = cli("merchant", "rotate-secret", "shop-a")
    assert rotated.exit_code == 0, rotated.output
    secret = rotated.stdout.split("clientSecret")[1].split()[0]
    assert len(secret) >= 40 and secret != world.a.client_secret
    catalog = cli("merchant", "rotate-catalog-secret", "shop-a", "shop-a USD")
    assert catalog.exit_code == 0, catalog.output
    assert "secret" in catalog.stdout
    assert cli("merchant", "rotate-catalog-secret", "shop-a", "nope").exit_code == 1
    assert cli("merchant", "rotate-secret", "nobody").exit_code == 1
