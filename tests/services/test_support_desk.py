"""The support back office's services: the order search (each kind of q, filters, keyset pages while
orders arrive, the publisher restriction), replacing a serial (with its email through a real SMTP
server, getOrderData over HTTP, and the race of two replacements on real connections), extending
downloads, and the merchants' secrets rotated (checked over the real API)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event, func, select, update

from resell.config import Settings
from resell.db.engine import Database
from resell.db.tables import audit_events, outbox, products, serial_assignments, serials
from resell.domain.codes import Refusal
from resell.services import merchants, order_search, stock, support_orders
from resell.services import orders as order_service
from resell.services.catalog_import import import_catalog
from resell.services.context import Context
from resell.worker import dispatcher
from tests.conftest import Clock, Merchant, World, order_body, settings_for
from tests.delivery_support import SmtpSink, free_port, sell
from tests.renewal_support import caller_of
from tests.statements_support import driver_statements, selects, transactions

OTHER_PUBLISHER = {
    "publishers": [{"key": "other", "name": "Other Publisher"}],
    "products": [
        {
            "ref": 1401,
            "name": "Other Game",
            "publisher": "other",
            "serialSource": "pool",
            "deliveryMode": "serial",
            "prices": [{"currency": "EUR", "amountDutyFree": 10}],
        }
    ],
}


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def settings(tmp_path: Path, db_url: str, smtp_port: int) -> Settings:
    return settings_for(
        tmp_path,
        db_url,
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
        mail_from="Shop <orders@shop.test>",
        smtp_timeout_seconds=30,
    )


@pytest.fixture
def sink(smtp_port: int) -> Iterator[SmtpSink]:
    server = SmtpSink(smtp_port)
    yield server
    server.stop()


def place(
    ctx: Context, world: World, pon: str, *lines: tuple[int, int], email: str = "buyer@example.com", shop: str = "a"
):  # type: ignore[no-untyped-def]
    body = order_body(pon, *lines)
    body["customer"]["email"] = email
    return order_service.submit_order(ctx, caller_of(ctx, getattr(world, shop)), body)


# ---------------------------------------------------------------- search


def test_search_by_each_kind_of_q(ctx: Context, world: World) -> None:
    first = place(ctx, world, "PON-1", (1001, 1), email="Ada@Example.com")
    second = place(ctx, world, "PON-2", (1003, 2), email="bob@example.com")
    third = place(ctx, world, "PON-1", (1001, 1), email="carl@example.com", shop="b")
    serial = second.lines[0].line_items[1].serials[0]

    def numbers(**kw) -> list[int]:  # type: ignore[no-untyped-def]
        return [o.order_number for o in order_search.search(ctx, **kw).orders]

    assert numbers(q=str(second.order_number)) == [second.order_number]
    assert numbers(q="PON-1") == [third.order_number, first.order_number]  # both merchants, newest first
    assert numbers(q="  aDA@example.COM ") == [first.order_number]
    assert numbers(q=serial) == [second.order_number]
    assert numbers(q="nothing-like-it") == []
    page = order_search.search(ctx, q=serial)
    row = page.orders[0]
    assert (row.partner_order_number, row.realm, row.status, row.customer_email, row.currency) == (
        "PON-2",
        "shop-a",
        "active",
        "bob@example.com",
        "EUR",
    )
    assert row.line_count == 1 and [(p.product_ref, p.quantity) for p in row.products] == [(1003, 2)]
    assert page.next_cursor is None
    assert row.as_json()["products"][0]["productRef"] == 1003


def test_search_filters_and_publisher(ctx: Context, world: World) -> None:
    import_catalog(ctx, OTHER_PUBLISHER)
    stock.import_serials(ctx, 1401, [f"OTHER-{i}" for i in range(5)])
    sell(ctx, "shop-a", 1401)
    a1 = place(ctx, world, "F-1", (1001, 1))
    a2 = place(ctx, world, "F-2", (1401, 1), (1001, 1))
    b1 = place(ctx, world, "F-3", (1001, 1), shop="b")
    support_orders.cancel(ctx, "F-1", "shop-a", 2, None)
    numbers = lambda **kw: [o.order_number for o in order_search.search(ctx, **kw).orders]  # noqa: E731
    assert numbers(merchant="shop-a") == [a2.order_number, a1.order_number]
    assert numbers(merchant="shop-b") == [b1.order_number]
    assert numbers(status="cancelled") == [a1.order_number]
    assert numbers(status="active", merchant="shop-a") == [a2.order_number]
    with ctx.db.read() as conn:
        other = conn.execute(select(products.c.publisher_id).where(products.c.ref == 1401)).scalar_one()
        pub = conn.execute(select(products.c.publisher_id).where(products.c.ref == 1001)).scalar_one()
    assert numbers(publisher_id=other) == [a2.order_number]
    assert numbers(publisher_id=pub) == [b1.order_number, a2.order_number, a1.order_number]
    day = dt.date(2026, 11, 28)  # order_body's orderDate
    assert len(numbers(date_from=day, date_to=day)) == 3
    assert numbers(date_from=day + dt.timedelta(days=1)) == []
    assert numbers(date_to=day - dt.timedelta(days=1)) == []
    for bad in ({"merchant": "nobody"}, {"status": "open"}, {"after": "garbage!"}):
        with pytest.raises(order_search.SearchError):
            order_search.search(ctx, **bad)  # type: ignore[arg-type]


def test_keyset_pages_have_no_duplicates_or_gaps_while_orders_arrive(ctx: Context, world: World) -> None:
    made = [place(ctx, world, f"K-{i}", (1002, 1)).order_number for i in range(11)]
    seen: list[int] = []
    cursor = None
    arrivals = 0
    while True:
        page = order_search.search(ctx, merchant="shop-a", after=cursor, limit=3)
        seen += [o.order_number for o in page.orders]
        if arrivals < 3:  # new orders between pages: newer than every page still to come
            place(ctx, world, f"NEW-{arrivals}", (1002, 1))
            arrivals += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == sorted(made, reverse=True)


def test_orders_of_email_ignores_case(ctx: Context, world: World) -> None:
    made = place(ctx, world, "E-1", (1002, 1), email="Mixed.Case@Example.com")
    assert [o.order_number for o in support_orders.orders_of_email(ctx, "mixed.case@EXAMPLE.com")] == [
        made.order_number
    ]


# ---------------------------------------------------------------- replacing a serial


def test_replace_serial_revokes_assigns_emails_and_getorderdata_shows_it(
    ctx: Context, world: World, sink: SmtpSink, shop_a: Merchant, clock: Clock
) -> None:
    created = shop_a.call("POST", "/order/new", order_body("R-1", (1001, 2)))
    assert created.status_code == 201, created.text
    view = order_service.get_order(ctx, caller_of(ctx, world.a), "R-1")
    number = view.order_number
    old = view.lines[0].line_items[1].serials[0]
    dispatcher.run_pass(ctx)
    sink.messages.clear()

    done = support_orders.replace_serial(ctx, "R-1", old, actor="staff:ann@ops.test")
    assert done.old_serial == old and done.new_serial != old and done.order_number == number
    with ctx.db.read() as conn:
        states = dict(
            conn.execute(
                select(serials.c.value, serials.c.status).where(serials.c.value.in_([old, done.new_serial]))
            ).all()
        )
        trail = conn.execute(
            select(audit_events.c.actor, audit_events.c.entity, audit_events.c.action).where(
                audit_events.c.actor == "staff:ann@ops.test"
            )
        ).all()
        callback = (
            conn.execute(select(outbox.c.payload).where(outbox.c.kind == "publisher.serials_revoked")).scalars().all()
        )
    assert states == {old: "revoked", done.new_serial: "assigned"}
    assert {(t.entity, t.action) for t in trail} == {
        ("order", "serial_replaced"),
        ("serial", "revoked"),
        ("serial", "assigned"),
    }
    assert callback[-1]["reason"] == "serial_replaced" and callback[-1]["serials"] == [
        {"productRef": 1001, "serial": old}
    ]

    dispatcher.run_pass(ctx)
    (message,) = sink.messages
    text = message.get_body(("plain",)).get_content()
    assert message["To"] == "buyer@example.com" and done.new_serial in text and old not in text

    reply = shop_a.call("GET", "/order/R-1")
    assert reply.status_code == 200, reply.text
    shown = [s["data"] for line in reply.json()["orderLines"] for item in line["lineItems"] for s in item["serials"]]
    assert done.new_serial in shown and old not in shown and len(shown) == 2

    detail = support_orders.order_detail(ctx, "R-1")
    assert detail.serial_states[old] == "revoked" and detail.serial_states[done.new_serial] == "assigned"
    listed = detail.as_json()["lines"][0]["serials"]
    assert {"value": old, "state": "revoked"} in listed and {"value": done.new_serial, "state": "assigned"} in listed
    assert len(listed) == 3

    with pytest.raises(support_orders.ReplaceRefused, match="already revoked"):
        support_orders.replace_serial(ctx, "R-1", old)
    with pytest.raises(support_orders.ReplaceRefused, match="not one of"):
        support_orders.replace_serial(ctx, "R-1", "S1003-0000")
    clock.advance(minutes=5)
    support_orders.cancel(ctx, "R-1", None, 2, None)
    with pytest.raises(support_orders.ReplaceRefused, match="cancelled"):
        support_orders.replace_serial(ctx, "R-1", done.new_serial)
    # a cancelled order still lists what it held when cancelled, not the replaced key
    shown = [
        s["data"]
        for line in shop_a.call("GET", "/order/R-1").json()["orderLines"]
        for item in line["lineItems"]
        for s in item["serials"]
    ]
    assert done.new_serial in shown and old not in shown


def test_replace_serial_refusals_out_of_stock_and_no_pool(ctx: Context, world: World) -> None:
    view = place(ctx, world, "R-2", (1003, 5))  # the whole pool of 1003
    serial = view.lines[0].line_items[0].serials[0]
    with pytest.raises(support_orders.ReplaceRefused, match="out of stock"):
        support_orders.replace_serial(ctx, "R-2", serial)
    with ctx.db.read() as conn:
        assert conn.execute(select(serials.c.status).where(serials.c.value == serial)).scalar_one() == "assigned"
    with ctx.db.write() as conn:
        conn.execute(update(products).where(products.c.ref == 1003).values(serial_source="generator"))
    with pytest.raises(support_orders.ReplaceRefused, match="no serial pool"):
        support_orders.replace_serial(ctx, "R-2", serial)


def _replace(c: Context, serial: str, barrier: threading.Barrier, outcomes: list[object]) -> None:
    barrier.wait()
    try:
        outcomes.append(support_orders.replace_serial(c, "RACE", serial))
    except support_orders.ReplaceRefused as exc:
        outcomes.append(exc)


def test_two_replacements_of_the_same_serial_race(ctx: Context, world: World, settings: Settings) -> None:
    """Two replacements at once, each on its own connection pool: one wins, the other is refused;
    one key handed out, one revocation."""
    view = place(ctx, world, "RACE", (1001, 1))
    serial = view.lines[0].line_items[0].serials[0]
    for _round in range(3):
        contexts = [
            Context(db=Database(settings.effective_database_url), settings=settings, clock=ctx.clock) for _ in range(2)
        ]
        barrier = threading.Barrier(2)
        outcomes: list[object] = []

        threads = [threading.Thread(target=_replace, args=(c, serial, barrier, outcomes)) for c in contexts]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        for c in contexts:
            c.db.dispose()
        won = [o for o in outcomes if isinstance(o, support_orders.SerialReplacement)]
        assert len(outcomes) == 2 and len(won) == 1, outcomes
        assert "already revoked" in str(next(o for o in outcomes if isinstance(o, support_orders.ReplaceRefused)))
        serial = won[0].new_serial
    with ctx.db.read() as conn:
        rows = conn.execute(
            select(serials.c.status, func.count())
            .join(serial_assignments, serial_assignments.c.serial_id == serials.c.id)
            .group_by(serials.c.status)
        ).all()
    assert dict(rows) == {"assigned": 1, "revoked": 3}


# ---------------------------------------------------------------- the order's detail


def test_order_detail_reads_in_one_transaction_and_the_order_row_once(ctx: Context, world: World) -> None:
    """The order, its serials' states and getDownloadInfo's view of it in one transaction, the
    order row read once (the view is read from that row, not looked up again by the merchant)."""
    number = place(ctx, world, "D-1", (1001, 2), (1003, 1)).order_number
    with transactions(ctx.db) as begun, driver_statements(ctx.db) as sent:
        detail = support_orders.order_detail(ctx, str(number))
    reads = selects(sent)
    assert detail.status == detail.view.status == "active" and len(detail.view.lines) == 2
    assert len(begun) == 1, begun
    assert len([s for s in reads if " FROM orders " in s and "orders.status" in s]) == 1, reads
    # the order, its serials, its lines, subscriptions, amounts; the view's contents, files, counters
    assert len(reads) == 8, reads


def test_order_detail_is_one_snapshot_while_a_cancellation_commits(ctx: Context, world: World, clock: Clock) -> None:
    """A cancellation that commits while the page is read shows whole or not at all: never the order
    active with its serials revoked and its view cancelled."""
    number = place(ctx, world, "D-2", (1001, 2)).order_number
    clock.advance(minutes=5)
    cancelled: list[threading.Thread] = []

    def cancel_once(conn: object) -> None:  # at the first read transaction's end, from another thread
        if not cancelled:
            cancelled.append(threading.Thread(target=support_orders.cancel, args=(ctx, str(number), None, 2, None)))
            cancelled[0].start()
            cancelled[0].join()

    event.listen(ctx.db.engine, "commit", cancel_once)
    try:
        detail = support_orders.order_detail(ctx, str(number))
    finally:
        event.remove(ctx.db.engine, "commit", cancel_once)
    assert cancelled, "the cancellation ran"
    assert detail.status == detail.view.status == "active"
    assert set(detail.serial_states.values()) == {"assigned"}
    assert [s for line in detail.view.lines for i in line.line_items for s in i.serials] == list(detail.serial_states)
    after = support_orders.order_detail(ctx, str(number))
    assert after.status == after.view.status == "cancelled" and set(after.serial_states.values()) == {"revoked"}


# ---------------------------------------------------------------- extending downloads


def test_extend_downloads_uses_the_update_download_time_rules(ctx: Context, world: World) -> None:
    view = place(ctx, world, "X-1", (1001, 1))
    order, result = support_orders.extend_downloads(ctx, str(view.order_number), None, "2030-01-31")
    assert result.new_download_end_date == dt.date(2030, 1, 31) and order.partner_order_number == "X-1"
    _, later = support_orders.extend_downloads(ctx, "X-1", None, "P10D")
    assert later.new_download_end_date == dt.date(2030, 2, 10)
    with pytest.raises(Refusal):
        support_orders.extend_downloads(ctx, "X-1", None, "not a date")
    with ctx.db.read() as conn:
        actors = (
            conn.execute(select(audit_events.c.actor).where(audit_events.c.action == "download_time_updated"))
            .scalars()
            .all()
        )
    assert actors == ["operator", "operator"]


# ---------------------------------------------------------------- merchants


def test_merchant_list_and_detail(ctx: Context, world: World) -> None:
    place(ctx, world, "M-1", (1001, 1))
    place(ctx, world, "M-2", (1001, 1))
    support_orders.cancel(ctx, "M-2", "shop-a", 2, None)
    listed = {m.realm: m for m in merchants.list_merchants(ctx)}
    assert listed["shop-a"].orders == 2 and listed["shop-a"].catalogs == 2 and listed["shop-b"].orders == 0
    detail = merchants.merchant_detail(ctx, "shop-a")
    assert (detail.orders, detail.active_orders, detail.cancelled_orders) == (2, 1, 1)
    assert [(c.currency, c.orders) for c in detail.catalogs] == [("EUR", 2), ("USD", 0)]
    assert detail.catalogs[0].products > 0 and detail.last_order_date is not None
    with pytest.raises(merchants.MerchantError):
        merchants.merchant_detail(ctx, "nobody")


def test_rotated_secrets_over_the_real_api(ctx: Context, world: World, shop_a: Merchant) -> None:
    token = {"realmName": "shop-a", "clientSecret": world.a.client_secret, "grantType": "client_credentials"}
    signed_in = shop_a.http.post("/iam/tokens", json=token)
    assert signed_in.status_code == 200
    refresh = signed_in.json()["refresh_token"]

    rotated = merchants.rotate_client_secret(ctx, "shop-a")
    assert rotated.refresh_tokens_revoked >= 1
    assert shop_a.http.post("/iam/tokens", json=token).status_code == 401  # the old secret
    refreshed = shop_a.http.post(
        "/iam/tokens",
        json={**token, "clientSecret": rotated.secret, "grantType": "refresh_token", "refreshToken": refresh},
    )
    assert refreshed.status_code == 401  # the refresh token issued before is revoked
    shop_a.creds = dataclasses.replace(world.a, client_secret=rotated.secret)  # the world is shared: a copy
    shop_a._token = None
    assert shop_a.call("GET", "/status").status_code == 200  # signs in with the new secret

    new = merchants.rotate_catalog_secret(ctx, "shop-a", "shop-a EUR")
    old_secret = shop_a.call("GET", "/status")
    assert old_secret.json()["responseCode"] == 71
    assert shop_a.call("GET", "/status", secret=new.secret).json()["responseCode"] != 71
    with pytest.raises(merchants.MerchantError, match="no catalogue"):
        merchants.rotate_catalog_secret(ctx, "shop-a", "nope")
    with ctx.db.read() as conn:
        actions = conn.execute(select(audit_events.c.action).where(audit_events.c.entity == "merchant")).scalars().all()
    assert "client_secret_rotated" in actions and "catalog_secret_rotated" in actions
