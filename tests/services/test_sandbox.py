"""The merchant sandbox through the services: sandbox catalogues and their secrets, test orders that
touch no stock and send no email (it is kept), every magic value of resell.domain.sandbox, webhooks
flagged as tests, statements, reports and the dashboard untouched, and the purge."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from resell.db.tables import (
    catalogs,
    line_items,
    order_lines,
    orders,
    outbox,
    sandbox_emails,
    serial_assignments,
    serials,
    subscriptions,
)
from resell.domain import codes
from resell.domain.codes import Refusal
from resell.domain.sandbox import MAGIC_VALUES, docs_table
from resell.services import dashboard, iam, merchants, reports, sandbox, stock_pools
from resell.services import orders as order_service
from resell.services.context import Caller, Context
from resell.worker import dispatcher
from tests.conftest import Clock, World, order_body
from tests.renewal_support import (  # noqa: F401 - fixtures: receiver
    Receiver,
    outbox_events,
    receiver_fixture,
)

TEST_SERIAL = re.compile(r"^TEST-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}$")
DOCS = Path(__file__).parents[2] / "docs" / "merchants.md"


def sandbox_caller(ctx: Context, world: World) -> Caller:
    return iam.caller_for_secret(ctx, world.a.sandbox_secret)


def live_caller(ctx: Context, world: World) -> Caller:
    return iam.caller_for_secret(ctx, world.a.secret)


def serial_counts(ctx: Context) -> list[tuple[int, str, int]]:
    with ctx.db.read() as conn:
        return [
            tuple(r)  # type: ignore[misc]
            for r in conn.execute(
                select(serials.c.product_id, serials.c.status, func.count())
                .where(serials.c.status != sandbox.TEST_STATUS)
                .group_by(serials.c.product_id, serials.c.status)
                .order_by(serials.c.product_id, serials.c.status)
            )
        ]


def test_a_catalogue_comes_with_a_sandbox_twin_whose_secret_starts_with_test(ctx: Context, world: World) -> None:
    assert world.a.sandbox_secret.startswith("test_") and not world.a.secret.startswith("test_")
    who = sandbox_caller(ctx, world)
    live = live_caller(ctx, world)
    assert who.test and not live.test
    # the sandbox acts on the live catalogue: its products, prices, currency and cancel period
    assert (who.catalog_id, who.currency, who.cancel_period_days) == (
        live.catalog_id,
        live.currency,
        live.cancel_period_days,
    )
    with ctx.db.read() as conn:
        twin = conn.execute(select(catalogs).where(catalogs.c.id == who.sandbox_catalog_id)).one()
    assert twin.sandbox and twin.live_catalog_id == live.catalog_id and twin.name == "shop-a EUR (sandbox)"
    # only the live catalogue is listed and chosen by currency
    detail = merchants.merchant_detail(ctx, "shop-a")
    assert [c.name for c in detail.catalogs] == ["shop-a EUR", "shop-a USD"]
    assert detail.catalogs[0].sandbox_catalog_id == twin.id


def test_the_sandbox_command_creates_a_missing_sandbox_and_rotates_an_existing_ones_secret(
    ctx: Context, world: World
) -> None:
    live = live_caller(ctx, world)
    rotated = sandbox.provide_sandbox(ctx, live.catalog_id)
    assert not rotated.created and rotated.secret.startswith("test_")
    with pytest.raises(Refusal) as refused:
        iam.caller_for_secret(ctx, world.a.sandbox_secret)  # the old secret is refused at once
    assert refused.value.code == codes.SECRET_NOT_VALID
    assert iam.caller_for_secret(ctx, rotated.secret).sandbox_catalog_id == rotated.sandbox_catalog_id
    # a catalogue made before the sandbox existed (as migration 0010 leaves them) gets one
    with ctx.db.write() as conn:
        conn.execute(catalogs.delete().where(catalogs.c.id == rotated.sandbox_catalog_id))
    made = sandbox.provide_sandbox(ctx, live.catalog_id)
    assert made.created and iam.caller_for_secret(ctx, made.secret).test
    with pytest.raises(sandbox.SandboxError, match="is a sandbox catalogue"):
        sandbox.provide_sandbox(ctx, made.sandbox_catalog_id)


def test_a_test_order_gets_test_serials_and_leaves_stock_untouched(ctx: Context, world: World) -> None:
    who = sandbox_caller(ctx, world)
    before = serial_counts(ctx)
    view = order_service.submit_order(ctx, who, order_body("SB-1", (1001, 2), (1003, 5), (1002, 1)))
    got = [s for line in view.lines for item in line.line_items for s in item.serials]
    assert len(got) == 7 and len(set(got)) == 7 and all(TEST_SERIAL.match(s) for s in got)
    assert serial_counts(ctx) == before
    assert not set(got) & {s for made in world.serials.values() for s in made}
    with ctx.db.read() as conn:
        order = conn.execute(select(orders).where(orders.c.id == view.order_number)).one()
    assert order.test and order.catalog_id == who.sandbox_catalog_id
    # more than the live pool holds (1003 has 5): the sandbox never runs out by itself
    order_service.submit_order(ctx, who, order_body("SB-2", (1003, 6)))
    assert serial_counts(ctx) == before
    pools = {p.ref: (p.available, p.assigned, p.revoked) for p in stock_pools.pools(ctx)}
    assert pools[1001] == (20, 0, 0) and pools[1003] == (5, 0, 0)
    # read back, cancelled: the same serials, no real one revoked
    read = order_service.get_order(ctx, who, "SB-1")
    assert [s for line in read.lines for i in line.line_items for s in i.serials] == got
    order_service.cancel_order(ctx, who, "SB-1", 3, None)
    assert serial_counts(ctx) == before
    assert outbox_events(ctx, "publisher.serials_revoked") == []


def test_live_and_sandbox_orders_are_apart_even_with_the_same_number(ctx: Context, world: World) -> None:
    test_view = order_service.submit_order(ctx, sandbox_caller(ctx, world), order_body("SAME", (1001, 1)))
    live_view = order_service.submit_order(ctx, live_caller(ctx, world), order_body("SAME", (1001, 1)))
    assert test_view.order_number != live_view.order_number
    live_serial = live_view.lines[0].line_items[0].serials[0]
    assert live_serial in world.serials[1001]
    assert order_service.get_order(ctx, live_caller(ctx, world), "SAME").order_number == live_view.order_number
    assert order_service.get_order(ctx, sandbox_caller(ctx, world), "SAME").order_number == test_view.order_number
    with pytest.raises(Refusal) as refused:
        order_service.get_order(ctx, sandbox_caller(ctx, world), "ONLY-LIVE")
    assert refused.value.code == codes.ORDER_NOT_FOUND
    order_service.submit_order(ctx, live_caller(ctx, world), order_body("ONLY-LIVE", (1002, 1)))
    with pytest.raises(Refusal) as refused:
        order_service.get_order(ctx, sandbox_caller(ctx, world), "ONLY-LIVE")
    assert refused.value.code == codes.ORDER_NOT_FOUND


def test_get_stock_status_in_the_sandbox_answers_the_live_levels(ctx: Context, world: World) -> None:
    from resell.services import catalog

    live = catalog.stock_statuses(ctx, live_caller(ctx, world), [1001, 1003, 1004])
    order_service.submit_order(ctx, sandbox_caller(ctx, world), order_body("SB-S", (1003, 4)))
    assert catalog.stock_statuses(ctx, sandbox_caller(ctx, world), [1001, 1003, 1004]) == live
    assert catalog.stock_statuses(ctx, live_caller(ctx, world), [1001, 1003, 1004]) == live


@pytest.mark.parametrize("magic", MAGIC_VALUES, ids=[m.prefix for m in MAGIC_VALUES])
def test_every_magic_value_refuses_as_documented(ctx: Context, world: World, magic) -> None:  # type: ignore[no-untyped-def]
    who = sandbox_caller(ctx, world)
    pon = f"{magic.prefix}-42"
    before = serial_counts(ctx)

    def refused(call) -> Refusal:  # type: ignore[no-untyped-def]
        with pytest.raises(Refusal) as caught:
            call()
        return caught.value

    if magic.operation == "createOrder":
        got = refused(lambda: order_service.submit_order(ctx, who, order_body(pon, (1001, 1))))
        with ctx.db.read() as conn:
            assert conn.execute(select(func.count()).select_from(orders)).scalar_one() == 0
    else:
        order_service.submit_order(ctx, who, order_body(pon, (1001, 1)))
        if magic.operation == "cancelOrder":
            got = refused(lambda: order_service.cancel_order(ctx, who, pon, 3, None))
        else:
            got = refused(lambda: order_service.update_download_time(ctx, who, pon, "P1M"))
    assert (got.code, got.message) == (magic.code, magic.message)
    assert serial_counts(ctx) == before
    # a live order of that number is not refused: magic values are the sandbox's only
    live = live_caller(ctx, world)
    order_service.submit_order(ctx, live, order_body(pon, (1002, 1)))
    if magic.operation == "cancelOrder":
        order_service.cancel_order(ctx, live, pon, 3, None)
    if magic.operation == "updateDownloadTime":
        order_service.update_download_time(ctx, live, pon, "P1M")


def test_the_docs_show_the_magic_values_table_of_the_code() -> None:
    assert docs_table() in DOCS.read_text()


def test_a_test_order_keeps_its_email_and_sends_none(ctx: Context, world: World) -> None:
    who = sandbox_caller(ctx, world)
    body = order_body("SB-MAIL", (1001, 1))
    view = order_service.submit_order(ctx, who, body)
    assert outbox_events(ctx, "mail.delivery") == []  # nothing for the SMTP server
    (queued,) = outbox_events(ctx, "mail.sandbox")
    stats = dispatcher.run_pass(ctx)
    assert stats.kinds.get("mail.sandbox") == 1 and stats.failed == 0
    merchant_id = who.merchant_id
    (kept,) = sandbox.list_emails(ctx, merchant_id)
    serial = view.lines[0].line_items[0].serials[0]
    assert kept.order_id == view.order_number and kept.partner_order_number == "SB-MAIL"
    assert kept.to == "buyer@example.com" and kept.kind == "delivery"
    assert str(view.order_number) in kept.subject
    assert serial in kept.text and serial in kept.html and "Serial and files" in kept.text
    assert sandbox.get_email(ctx, merchant_id, kept.email_id) == kept
    other = iam.caller_for_secret(ctx, world.b.secret).merchant_id
    assert sandbox.get_email(ctx, other, kept.email_id) is None and sandbox.list_emails(ctx, other) == []
    # the event run again (a retry) keeps nothing more
    assert not sandbox.keep_email(ctx, queued.event_id, view.order_number, "delivery", _message(kept))
    assert len(sandbox.list_emails(ctx, merchant_id)) == 1


def _message(kept: sandbox.KeptEmail):  # type: ignore[no-untyped-def]
    from email.message import EmailMessage

    message = EmailMessage()
    message["To"], message["Subject"] = kept.to, kept.subject
    message.set_content(kept.text)
    return message


def test_webhooks_of_test_orders_say_so(ctx: Context, world: World, receiver: Receiver) -> None:
    from resell.services import webhooks as endpoints

    made = endpoints.add_endpoint(ctx, receiver.url, ["order.created", "order.cancelled"], realm="shop-a")
    receiver.secret = made.signing_secret
    test_view = order_service.submit_order(ctx, sandbox_caller(ctx, world), order_body("SB-W", (1002, 1)))
    order_service.cancel_order(ctx, sandbox_caller(ctx, world), "SB-W", 3, None)
    live_view = order_service.submit_order(ctx, live_caller(ctx, world), order_body("LIVE-W", (1002, 1)))
    dispatcher.run_pass(ctx)
    got = sorted((r.verified for r in receiver.all()), key=lambda m: (m["data"]["orderNumber"], m["type"]))
    assert [(m["type"], m["data"]) for m in got] == [
        ("order.cancelled", {"orderNumber": test_view.order_number, "partnerOrderNumber": "SB-W", "reasonCode": 3,
                             "test": True}),
        ("order.created", {"orderNumber": test_view.order_number, "partnerOrderNumber": "SB-W", "test": True}),
        ("order.created", {"orderNumber": live_view.order_number, "partnerOrderNumber": "LIVE-W"}),
    ]


def test_statements_reports_and_the_dashboard_leave_test_orders_out(ctx: Context, world: World, clock: Clock) -> None:
    month = reports.Month(clock.now.year, clock.now.month)
    live = live_caller(ctx, world)
    order_service.submit_order(ctx, live, order_body("LIVE-1", (1001, 1)))
    statement = reports.statement(ctx, "shop-a", month)
    publisher = reports.publisher_report(ctx, "pub", month)
    board = dashboard.compute(ctx, 7, None, True)
    detail = merchants.merchant_detail(ctx, "shop-a")
    who = sandbox_caller(ctx, world)
    order_service.submit_order(ctx, who, order_body("SB-R1", (1001, 3), (1005, 1)))
    order_service.submit_order(ctx, who, order_body("SB-R2", (1003, 1)))
    order_service.cancel_order(ctx, who, "SB-R2", 3, None)
    assert reports.statement(ctx, "shop-a", month).currencies == statement.currencies
    assert reports.publisher_report(ctx, "pub", month).products == publisher.products
    again = dashboard.compute(ctx, 7, None, True)
    assert (again.per_day, again.top_products, again.top_merchants, again.cancellations_per_day) == (
        board.per_day,
        board.top_products,
        board.top_merchants,
        board.cancellations_per_day,
    )
    after = merchants.merchant_detail(ctx, "shop-a")
    assert (after.orders, after.active_orders, after.cancelled_orders) == (
        detail.orders,
        detail.active_orders,
        detail.cancelled_orders,
    )
    assert after.catalogs[0].test_orders == 2


def test_purge_deletes_test_orders_and_all_that_hangs_off_them(ctx: Context, world: World, clock: Clock) -> None:
    who = sandbox_caller(ctx, world)
    live = live_caller(ctx, world)
    order_service.submit_order(ctx, who, order_body("SB-OLD", (1001, 1), (1005, 2)))
    clock.advance(days=2)
    cut = clock.now
    order_service.submit_order(ctx, who, order_body("SB-NEW", (1003, 1)))
    live_view = order_service.submit_order(ctx, live, order_body("LIVE-P", (1001, 1), (1005, 1)))
    dispatcher.run_pass(ctx)
    assert len(sandbox.list_emails(ctx, who.merchant_id)) == 2
    with pytest.raises(sandbox.SandboxError):
        sandbox.purge(ctx, "no-such-shop")
    done: list[int] = []
    first = sandbox.purge(ctx, "shop-a", before=cut, progress=done.append)
    assert (first.orders, first.serials, first.subscriptions, first.emails) == (1, 3, 2, 1) and first.outbox >= 2
    assert done == [1]
    assert [e.partner_order_number for e in sandbox.list_emails(ctx, who.merchant_id)] == ["SB-NEW"]
    rest = sandbox.purge(ctx)
    assert rest.orders == 1 and rest.serials == 1
    with ctx.db.read() as conn:
        left = conn.execute(select(orders.c.partner_order_number, orders.c.test)).all()
        assert [tuple(r) for r in left] == [("LIVE-P", False)]
        assert conn.execute(select(func.count()).select_from(sandbox_emails)).scalar_one() == 0
        assert conn.execute(select(func.count()).where(serials.c.status == sandbox.TEST_STATUS)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(subscriptions)).scalar_one() == 1
        lines = conn.execute(select(func.count()).select_from(order_lines)).scalar_one()
        items = conn.execute(select(func.count()).select_from(line_items)).scalar_one()
        assignments = conn.execute(select(func.count()).select_from(serial_assignments)).scalar_one()
        assert (lines, items, assignments) == (2, 2, 2)
        named = [
            r.payload
            for r in conn.execute(select(outbox))
            if (r.payload.get("orderNumber") or r.payload.get("message", {}).get("data", {}).get("orderNumber"))
            not in (None, live_view.order_number)
        ]
        assert named == []
    assert order_service.get_order(ctx, live, "LIVE-P").order_number == live_view.order_number
    # purged numbers are free again in the sandbox
    order_service.submit_order(ctx, who, order_body("SB-OLD", (1001, 1)))


def test_the_cli_prints_sandbox_secrets_makes_sandboxes_and_purges(cli, ctx: Context, world: World) -> None:  # type: ignore[no-untyped-def]
    made = cli("merchant", "create", "cli-shop", "--currency", "EUR")
    assert made.exit_code == 0, made.output
    (secret,) = re.findall(r"catalogue EUR sandbox secret (test_\S+)", made.stdout)
    who = iam.caller_for_secret(ctx, secret)
    assert who.test and who.realm == "cli-shop"
    live_id = who.catalog_id
    again = cli("merchant", "sandbox", str(live_id))
    assert again.exit_code == 0, again.output
    (rotated,) = re.findall(r"sandbox secret (test_\S+)", again.stdout)
    assert "has a new secret" in again.stdout and iam.caller_for_secret(ctx, rotated).catalog_id == live_id
    refused = cli("merchant", "sandbox", str(who.sandbox_catalog_id))
    assert refused.exit_code == 1 and "is a sandbox catalogue" in refused.output
    shown = cli("merchant", "show", "cli-shop")
    assert f"{who.sandbox_catalog_id} (0 test orders)" in shown.stdout

    order_service.submit_order(ctx, sandbox_caller(ctx, world), order_body("SB-CLI", (1001, 1)))
    order_service.submit_order(ctx, live_caller(ctx, world), order_body("LIVE-CLI", (1001, 1)))
    purged = cli("sandbox", "purge", "--merchant", "shop-a", "--before", "2999-01-01")
    assert purged.exit_code == 0, purged.output
    assert "1 test orders purged (1 TEST- serials" in purged.stdout
    assert "purging" in purged.stderr
    with ctx.db.read() as conn:
        assert [r.partner_order_number for r in conn.execute(select(orders))] == ["LIVE-CLI"]
    assert cli("sandbox", "purge", "--merchant", "nobody").exit_code == 1
    table = cli("sandbox", "magic-values")
    assert table.exit_code == 0 and "TEST-OUT-OF-STOCK" in table.stdout


def test_a_test_subscription_renews_with_a_test_serial_and_says_so(ctx: Context, world: World) -> None:
    from resell.services import subscriptions as subscription_service

    who = sandbox_caller(ctx, world)
    before = serial_counts(ctx)
    view = order_service.submit_order(ctx, who, order_body("SB-SUB", (1005, 1)))
    (item,) = view.lines[0].line_items
    subscription_service.renew_subscription(ctx, who, "SB-SUB", item.subscription_id)
    renewal = order_service.get_order(ctx, who, "SB-SUB-1")
    (serial,) = renewal.lines[0].line_items[0].serials
    assert TEST_SERIAL.match(serial) and serial_counts(ctx) == before
    with ctx.db.read() as conn:
        assert conn.execute(select(orders.c.test).where(orders.c.id == renewal.order_number)).scalar_one()
    (renewed,) = outbox_events(ctx, "subscription.renewed")
    assert renewed.payload["test"] is True and renewed.payload["renewalPartnerOrderNumber"] == "SB-SUB-1"


def test_purging_an_order_takes_its_renewal_orders_with_it(ctx: Context, world: World, clock: Clock) -> None:
    from resell.services import subscriptions as subscription_service

    who = sandbox_caller(ctx, world)
    view = order_service.submit_order(ctx, who, order_body("SB-ROOT", (1005, 1)))
    clock.advance(days=3)
    cut = clock.now
    subscription_service.renew_subscription(ctx, who, "SB-ROOT", view.lines[0].line_items[0].subscription_id)
    done = sandbox.purge(ctx, before=cut)  # the renewal order is newer than the cut: it goes too
    assert (done.orders, done.serials, done.subscriptions) == (2, 2, 1)
    with ctx.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(orders)).scalar_one() == 0
