"""The support desk: `resell order show/find/cancel/resend-email` and `resell audit N|PON`."""

from __future__ import annotations

import json

from sqlalchemy import select

from resell.db.tables import order_lines
from resell.services import downloads
from resell.services import orders as order_service
from resell.services.context import Context
from tests.conftest import CliRun, Clock, World, order_body
from tests.renewal_support import caller_of, outbox_events


def flat(text: str) -> str:
    return "".join(text.split())


def test_audit_by_the_platform_order_number(cli: CliRun, ctx: Context, world: World) -> None:
    view = order_service.submit_order(ctx, caller_of(ctx, world.a), order_body("A-1", (1003, 1)))
    by_number = cli("audit", str(view.order_number), "--json")
    assert by_number.exit_code == 0, by_number.output
    assert [(r["entity"], r["action"]) for r in json.loads(by_number.stdout)][0] == ("order", "created")
    shown = cli("audit", str(view.order_number))
    assert f"A-1(order{view.order_number},merchantshop-a)" in flat(shown.stdout)
    unknown = cli("audit", "987654")
    assert unknown.exit_code == 1 and "no order '987654'" in unknown.stderr
    # a number of another merchant's realm is not that order
    other = cli("audit", str(view.order_number), "--realm", "shop-b")
    assert other.exit_code == 1 and "of merchant 'shop-b'" in other.stderr


def test_order_show_by_number_or_pon(cli: CliRun, ctx: Context, world: World) -> None:
    body = order_body("A-2", (1001, 2), (1005, 1))
    body["orderLines"][0]["amountTotal"] = 47.98
    view = order_service.submit_order(ctx, caller_of(ctx, world.a), body)
    serial = view.lines[0].line_items[0].serials[0]
    for ref in (str(view.order_number), "A-2"):
        shown = cli("order", "show", ref)
        assert shown.exit_code == 0, shown.output
        text = flat(shown.stdout)
        for fragment in (
            f"order{view.order_number}·A-2·merchantshop-a·active",
            "buyer@example.com·AdaLovelace",
            f"{serial}(assigned)",
            "total47.98EUR",
            "ACTIVE",
            "P1Y",
        ):
            assert fragment in text, fragment
    assert "Installer0/0" in flat(shown.stdout)
    with ctx.db.read() as conn:
        line_id = conn.execute(
            select(order_lines.c.id).where(order_lines.c.order_id == view.order_number, order_lines.c.position == 0)
        ).scalar_one()
    downloads.record(ctx, line_id, view.lines[0].files[0].file_id, started=True)  # as the download endpoint does
    assert "Installer1/0" in flat(cli("order", "show", "A-2").stdout)
    data = json.loads(cli("order", "show", "A-2", "--json").stdout)
    assert data["lines"][0]["files"][0]["countStartDownload"] == 1 and data["total"] == "47.98"
    assert data["orderNumber"] == view.order_number and data["realm"] == "shop-a" and data["status"] == "active"
    assert data["lines"][0]["serials"][0] == {"value": serial, "state": "assigned"}
    assert data["dateEndDownload"] == view.download_end_date.isoformat()
    assert [s["productRef"] for s in data["subscriptions"]] == [1005]


def test_order_show_refusals(cli: CliRun, ctx: Context, world: World) -> None:
    for creds in (world.a, world.b):
        order_service.submit_order(ctx, caller_of(ctx, creds), order_body("SAME", (1003, 1)))
    ambiguous = cli("order", "show", "SAME")
    assert ambiguous.exit_code == 1 and "shop-a, shop-b" in ambiguous.stderr and "--realm" in ambiguous.stderr
    chosen = cli("order", "show", "SAME", "--realm", "shop-b", "--json")
    assert chosen.exit_code == 0 and json.loads(chosen.stdout)["realm"] == "shop-b"
    unknown = cli("order", "show", "NOPE")
    assert unknown.exit_code == 1 and "no order 'NOPE'" in unknown.stderr and not unknown.stdout


def test_order_find_by_email(cli: CliRun, ctx: Context, world: World) -> None:
    made = []
    for creds, pon, day in (
        (world.a, "A-OLD", "2026-11-01"),
        (world.b, "B-NEW", "2026-11-20"),
        (world.a, "A-MID", "2026-11-10"),
    ):
        body = order_body(pon, (1003, 1), orderDate=f"{day}T10:00:00+00:00")
        body["orderLines"][0]["amountTotal"] = 9.99
        made.append(order_service.submit_order(ctx, caller_of(ctx, creds), body))
    other = order_body("A-OTHER", (1003, 1))
    other["customer"] = dict(other["customer"], email="someone@example.com")
    order_service.submit_order(ctx, caller_of(ctx, world.a), other)

    found = json.loads(cli("order", "find", "Buyer@Example.com", "--json").stdout)
    assert [(o["partnerOrderNumber"], o["realm"]) for o in found] == [
        ("B-NEW", "shop-b"),
        ("A-MID", "shop-a"),
        ("A-OLD", "shop-a"),
    ]
    assert found[0]["orderNumber"] == made[1].order_number and found[0]["total"] == "9.99"
    table = cli("order", "find", "buyer@example.com")
    assert table.exit_code == 0, table.output
    text = flat(table.stdout)
    assert f"│{made[1].order_number}│shop-b│B-NEW│2026-11-20T10:00:00+00:00│active│9.99EUR│" in text
    assert text.index("B-NEW") < text.index("A-MID") < text.index("A-OLD") and "A-OTHER" not in text
    nobody = cli("order", "find", "nobody@example.com")
    assert nobody.exit_code == 0 and "no order for nobody@example.com" in nobody.stdout
    assert json.loads(cli("order", "find", "nobody@example.com", "--json").stdout) == []


def test_order_cancel_as_the_operator(cli: CliRun, ctx: Context, world: World) -> None:
    view = order_service.submit_order(ctx, caller_of(ctx, world.a), order_body("A-3", (1001, 1), (1005, 1)))
    serial = view.lines[0].line_items[0].serials[0]
    done = cli("order", "cancel", str(view.order_number), "--reason", "3", "--comment", "asked by phone")
    assert done.exit_code == 0, done.output
    assert f"order {view.order_number} (A-3, merchant shop-a) cancelled" in done.stdout
    data = json.loads(cli("order", "show", "A-3", "--json").stdout)
    assert data["status"] == "cancelled" and data["cancelReason"] == 3
    assert data["lines"][0]["serials"] == [{"value": serial, "state": "revoked"}]
    assert data["subscriptions"][0]["status"] != "ACTIVE"
    kinds = [e.kind for e in outbox_events(ctx, "order.cancelled") + outbox_events(ctx, "publisher.serials_revoked")]
    assert kinds == ["order.cancelled", "publisher.serials_revoked"]
    trail = json.loads(cli("audit", "A-3", "--json").stdout)
    cancelled = [r for r in trail if (r["entity"], r["action"]) == ("order", "cancelled")]
    assert [r["actor"] for r in cancelled] == ["operator"]
    assert {r["actor"] for r in trail if r["action"] in ("revoked", "cancelled")} == {"operator"}

    again = cli("order", "cancel", "A-3", "--reason", "3")
    assert (
        again.exit_code == 1
        and "order already cancelled (code 1011)" in again.stderr
        and len(again.stderr.strip().splitlines()) == 1
    )


def test_order_cancel_refusals(cli: CliRun, ctx: Context, world: World, clock: Clock) -> None:
    clock.advance(days=-31)  # the order was made 31 days ago: shop-a's cancel period (30 days) is over
    order_service.submit_order(ctx, caller_of(ctx, world.a), order_body("A-OLD", (1003, 1)))
    late = cli("order", "cancel", "A-OLD", "--reason", "2")
    assert late.exit_code == 1 and "cancel period expired (code 1020)" in late.stderr and not late.stdout
    bad_reason = cli("order", "cancel", "A-OLD", "--reason", "7")
    assert bad_reason.exit_code == 1 and "(code 101)" in bad_reason.stderr
    assert cli("order", "cancel", "NOPE", "--reason", "2").exit_code == 1
    assert json.loads(cli("order", "show", "A-OLD", "--json").stdout)["status"] == "active"


def test_order_resend_email_queues_it_again(cli: CliRun, ctx: Context, world: World) -> None:
    body = order_body("A-4", (1001, 1), (1003, 1))
    body["orderLines"][1]["endUserEmail"] = "gift@example.com"
    view = order_service.submit_order(ctx, caller_of(ctx, world.a), body)
    before = len(outbox_events(ctx, "mail.delivery"))  # shop-a's catalogue does not email every order

    again = cli("order", "resend-email", "A-4")
    assert again.exit_code == 0, again.output
    queued = outbox_events(ctx, "mail.delivery")[before:]
    assert [(e.payload["orderNumber"], e.payload["to"], len(e.payload["lineIds"])) for e in queued] == [
        (view.order_number, "buyer@example.com", 1),
        (view.order_number, "gift@example.com", 1),
    ]
    assert all(e.delivered_at is None for e in queued)
    assert f"delivery email to buyer@example.com queued ({queued[0].event_id})" in again.stdout

    corrected = cli("order", "resend-email", str(view.order_number), "--to", "Right@Example.COM")
    assert corrected.exit_code == 0, corrected.output
    (last,) = outbox_events(ctx, "mail.delivery")[before + 2 :]
    assert last.payload["to"] == "Right@example.com" and len(last.payload["lineIds"]) == 2
    trail = json.loads(cli("audit", "A-4", "--json").stdout)
    resent = [(r["actor"], r["after"]["to"]) for r in trail if r["action"] == "delivery_email_resent"]
    assert resent == [("operator", ["buyer@example.com", "gift@example.com"]), ("operator", ["Right@example.com"])]


def test_order_resend_email_refusals(cli: CliRun, ctx: Context, world: World) -> None:
    order_service.submit_order(ctx, caller_of(ctx, world.a), order_body("A-5", (1003, 1)))
    before = len(outbox_events(ctx, "mail.delivery"))
    bad = cli("order", "resend-email", "A-5", "--to", "not-an-address")
    assert bad.exit_code == 1 and "'not-an-address' is not a valid email address" in bad.stderr
    assert cli("order", "cancel", "A-5", "--reason", "2").exit_code == 0
    cancelled = cli("order", "resend-email", "A-5")
    assert cancelled.exit_code == 1 and "is cancelled" in cancelled.stderr
    assert cli("order", "resend-email", "NOPE").exit_code == 1
    assert len(outbox_events(ctx, "mail.delivery")) == before


def test_a_number_is_the_platform_order_number_first(cli: CliRun, ctx: Context, world: World) -> None:
    first = order_service.submit_order(ctx, caller_of(ctx, world.a), order_body("A-6", (1003, 1)))
    # shop-b's partnerOrderNumber happens to be shop-a's platform order number
    order_service.submit_order(ctx, caller_of(ctx, world.b), order_body(str(first.order_number), (1003, 1)))
    assert json.loads(cli("order", "show", str(first.order_number), "--json").stdout)["partnerOrderNumber"] == "A-6"
    theirs = json.loads(cli("order", "show", str(first.order_number), "--realm", "shop-b", "--json").stdout)
    assert theirs["realm"] == "shop-b" and theirs["partnerOrderNumber"] == str(first.order_number)
