"""The back office's order pages over real HTTP: the search (each kind of q, the filters, keyset pages,
bad filters), the order page (publishers see their own orders and lines only, unknown orders 404,
a bounded number of queries), and the actions (finance and publishers refused, CSRF refused,
refusals shown with 409/400, every action audited as the staff member)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from resell.db.tables import audit_events, orders, outbox, serials
from resell.services import order_page, stock
from resell.services import orders as order_service
from resell.services.catalog_import import import_catalog
from resell.services.context import Context
from resell.web.admin import orders as orders_pages
from tests.conftest import World, order_body
from tests.delivery_support import sell
from tests.renewal_support import caller_of
from tests.services.test_support_desk import OTHER_PUBLISHER
from tests.statements_support import driver_statements, selects, transactions, without_files
from tests.web.admin.conftest import csrf_of

Client = Callable[[str], httpx.Client]


def place(
    ctx: Context,
    world: World,
    pon: str,
    *lines: tuple[int, int],
    email: str = "buyer@example.com",
    shop: str = "a",
    date: str | None = None,
) -> order_service.OrderView:
    body = order_body(pon, *lines)
    body["customer"]["email"] = email
    if date:
        body["orderDate"] = date
    return order_service.submit_order(ctx, caller_of(ctx, getattr(world, shop)), body)


def listed(html: str) -> list[int]:
    """The order numbers of a result table, in order."""
    return [int(n) for n in re.findall(r"<td[^>]*><a href=\"/admin/orders/(\d+)\">", html)]


def actions_of(ctx: Context, actor: str) -> list[tuple[str, str]]:
    with ctx.db.read() as conn:
        rows = conn.execute(
            select(audit_events.c.entity, audit_events.c.action)
            .where(audit_events.c.actor == actor)
            .order_by(audit_events.c.id)
        ).all()
    return [(r.entity, r.action) for r in rows]


# ---------------------------------------------------------------- search


def test_search_by_each_kind_of_q_and_filters(ctx: Context, world: World, staff_client: Client) -> None:
    support = staff_client("support")
    first = place(ctx, world, "PON-1", (1001, 1), email="Ada@Example.com", date="2026-11-20T10:00:00+00:00")
    second = place(ctx, world, "PON-2", (1003, 2), email="bob@example.com")
    third = place(ctx, world, "PON-1", (1002, 1), email="carl@example.com", shop="b")
    serial = second.lines[0].line_items[1].serials[0]

    page = support.get("/admin/orders")
    assert page.status_code == 200 and 'for="q">Search<' in page.text
    assert listed(page.text) == [third.order_number, second.order_number, first.order_number]
    assert "shop-a" in page.text and "Serial only" in page.text

    # one exact hit by number, partnerOrderNumber or serial: straight to the order's page
    for q in (str(second.order_number), "PON-2", serial):
        reply = support.get("/admin/orders", params={"q": q})
        assert reply.status_code == 303 and reply.headers["location"] == f"/admin/orders/{second.order_number}", q
    # several hits (a partnerOrderNumber two merchants use), or an email: the list
    assert listed(support.get("/admin/orders", params={"q": "PON-1"}).text) == [
        third.order_number,
        first.order_number,
    ]
    by_email = support.get("/admin/orders", params={"q": " ada@EXAMPLE.com "})
    assert by_email.status_code == 200 and listed(by_email.text) == [first.order_number]
    assert "No order matches" in support.get("/admin/orders", params={"q": "nothing-like-it"}).text

    assert listed(support.get("/admin/orders", params={"merchant": "shop-b"}).text) == [third.order_number]
    assert listed(support.get("/admin/orders", params={"from": "2026-11-21"}).text) == [
        third.order_number,
        second.order_number,
    ]
    assert listed(support.get("/admin/orders", params={"to": "2026-11-20"}).text) == [first.order_number]
    assert listed(support.get("/admin/orders", params={"status": "cancelled"}).text) == []
    assert listed(support.get("/admin/orders", params={"status": "active", "merchant": "shop-a"}).text) == [
        second.order_number,
        first.order_number,
    ]

    for params, message in (
        ({"status": "open"}, "Status is one of active, cancelled"),
        ({"merchant": "nobody"}, "No merchant"),
        ({"from": "28/11/2026"}, "From is not a date"),
        ({"after": "garbage!"}, "Not a cursor of this search"),
    ):
        bad = support.get("/admin/orders", params=params)
        assert bad.status_code == 400 and message in bad.text and 'class="error"' in bad.text, params


def test_keyset_pages_next_and_first(
    ctx: Context, world: World, staff_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(orders_pages, "PAGE_SIZE", 3)
    made = [place(ctx, world, f"K-{i}", (1002, 1)).order_number for i in range(8)]
    finance = staff_client("finance")
    seen: list[int] = []
    path = "/admin/orders?merchant=shop-a"
    pages = 0
    while path:
        reply = finance.get(path)
        assert reply.status_code == 200
        shown = listed(reply.text)
        assert len(shown) == (3 if pages < 2 else 2)
        assert not set(shown) & set(seen)
        seen += shown
        if pages:
            assert 'href="/admin/orders?merchant=shop-a">First page<' in reply.text
        found = re.search(r'<a href="([^"]+)" rel="next">Next page</a>', reply.text)
        path = found.group(1).replace("&amp;", "&") if found else ""
        assert not found or "merchant=shop-a" in path
        pages += 1
    assert pages == 3 and seen == sorted(made, reverse=True)


# ---------------------------------------------------------------- the order page


def test_order_page_shows_the_order_whole(ctx: Context, world: World, staff_client: Client) -> None:
    made = place(ctx, world, "P-1", (1001, 2), (1005, 1))
    number = made.order_number
    admin = staff_client("admin")
    page = admin.get(f"/admin/orders/{number}")
    assert page.status_code == 200, page.text
    text = page.text
    held = [s for line in made.lines for item in line.line_items for s in item.serials]
    assert len(held) == 3 and all(s in text for s in held)
    for expected in (
        "Ada Lovelace",
        "buyer@example.com",
        "en_US",
        "FR",
        "shop-a EUR",  # the catalogue
        "Serial and files",
        "Yearly",
        "Installer",  # a file
        "P1Y",  # the subscription's period
        "merchant:shop-a",  # the timeline's actor
        "order created",
        "Resend delivery email",
        "Cancel order",
        "Replace serial",
        'data-copy="#serial-1-1"',
    ):
        assert expected in text, expected
    assert 'id="download-end">' + made.download_end_date.isoformat() in text

    assert admin.get("/admin/orders/999999").status_code == 404
    missing = admin.get("/admin/orders/not-a-number")
    assert missing.status_code == 404 and "There is no order with this number" in missing.text


def test_order_page_reads_a_bounded_number_of_statements(ctx: Context, world: World, staff_client: Client) -> None:
    """As many statements for an order of four lines as for one, counted at the driver (the prepared
    ones too), the order row read once; the page itself is one read transaction."""
    small = place(ctx, world, "Q-1", (1002, 1)).order_number
    big = place(ctx, world, "Q-2", (1001, 5), (1003, 3), (1005, 2), (1002, 1)).order_number
    support = staff_client("support")
    for number in (small, big):
        with driver_statements(ctx.db) as sent:
            assert support.get(f"/admin/orders/{number}").status_code == 200
        reads = selects(sent)
        assert len([s for s in reads if " FROM orders " in s and "orders.status" in s]) == 1, reads
        # the staff member's session, then the page's; the products' files when not kept (db/kept.py)
        assert without_files(reads) == 14, reads
        with transactions(ctx.db) as begun, driver_statements(ctx.db) as sent:
            order_page.order_page(ctx, number)
        assert len(begun) == 1 and without_files(selects(sent)) == 13, (begun, sent)


def test_publisher_sees_only_orders_of_its_products_and_its_lines(
    ctx: Context, world: World, staff_client: Client
) -> None:
    import_catalog(ctx, OTHER_PUBLISHER)
    stock.import_serials(ctx, 1401, [f"OTHER-{i}" for i in range(5)])
    sell(ctx, "shop-a", 1401)
    theirs = place(ctx, world, "PUB-1", (1401, 1)).order_number
    mixed = place(ctx, world, "PUB-2", (1401, 1), (1003, 1))
    ours = place(ctx, world, "PUB-3", (1003, 1)).order_number
    publisher = staff_client("publisher")  # the world's "pub"
    listing = publisher.get("/admin/orders")
    assert listing.status_code == 200 and listed(listing.text) == [ours, mixed.order_number]
    assert publisher.get(f"/admin/orders/{theirs}").status_code == 404
    assert publisher.get("/admin/orders", params={"q": "PUB-1"}).status_code == 200  # found nothing
    assert listed(publisher.get("/admin/orders", params={"q": "PUB-1"}).text) == []
    page = publisher.get(f"/admin/orders/{mixed.order_number}")
    assert page.status_code == 200
    assert "Serial only" in page.text and "Other Game" not in page.text and "OTHER-" not in page.text
    assert "Only the lines of your products are shown" in page.text
    assert "Resend delivery email" not in page.text and "Replace serial" not in page.text
    assert publisher.get(f"/admin/orders/{ours}/resend").status_code == 403


# ---------------------------------------------------------------- actions


@pytest.fixture
def order_of_a(ctx: Context, world: World) -> Iterator[order_service.OrderView]:
    yield place(ctx, world, "ACT-1", (1001, 2))


def test_finance_reads_but_may_not_act(ctx: Context, staff_client: Client, order_of_a: Any) -> None:
    number = order_of_a.order_number
    finance = staff_client("finance")
    page = finance.get(f"/admin/orders/{number}")
    assert page.status_code == 200 and "Resend delivery email" not in page.text and "Replace serial" not in page.text
    token = csrf_of(page.text)
    assert finance.get(f"/admin/orders/{number}/cancel").status_code == 403
    for action, data in (
        ("resend", {}),
        ("cancel", {"reason": "2"}),
        ("extend", {"days": "5"}),
        ("replace", {"serial": order_of_a.lines[0].line_items[0].serials[0]}),
    ):
        reply = finance.post(f"/admin/orders/{number}/{action}", data={"csrf_token": token, **data})
        assert reply.status_code == 403, action
    with ctx.db.read() as conn:
        assert conn.execute(select(orders.c.status).where(orders.c.id == number)).scalar_one() == "active"


def test_every_action_refuses_a_missing_or_foreign_csrf_token(
    ctx: Context, staff_client: Client, order_of_a: Any
) -> None:
    number = order_of_a.order_number
    support, other = staff_client("support"), staff_client("support")
    foreign = csrf_of(other.get("/admin").text)
    serial = order_of_a.lines[0].line_items[0].serials[0]
    for action, data in (
        ("resend", {}),
        ("cancel", {"reason": "2"}),
        ("extend", {"days": "5"}),
        ("replace", {"serial": serial}),
    ):
        assert support.post(f"/admin/orders/{number}/{action}", data=data).status_code == 403, action
        refused = support.post(f"/admin/orders/{number}/{action}", data={"csrf_token": foreign, **data})
        assert refused.status_code == 403 and "did not come from this site" in refused.text, action
    assert [a for a in actions_of(ctx, "staff:support0@staff.test") if a[0] != "staff"] == []
    with ctx.db.read() as conn:
        assert conn.execute(select(orders.c.status).where(orders.c.id == number)).scalar_one() == "active"


def test_actions_audited_as_the_member_with_notices_and_refusals(
    ctx: Context, world: World, staff_client: Client, order_of_a: Any
) -> None:
    number = order_of_a.order_number
    support = staff_client("support")
    me = "staff:support0@staff.test"
    page = f"/admin/orders/{number}"

    # resend: the confirmation page, then its form; a corrected address; a bad one
    confirm = support.get(f"{page}/resend")
    assert confirm.status_code == 200 and 'for="to">Send to<' in confirm.text
    token = csrf_of(confirm.text)
    bad = support.post(f"{page}/resend", data={"csrf_token": token, "to": "not an address"})
    assert bad.status_code == 400 and "is not a valid email address" in bad.text
    done = support.post(f"{page}/resend", data={"csrf_token": token, "to": "fixed@example.org"})
    assert done.status_code == 303 and done.headers["location"].startswith(f"{page}?done=resent")
    assert "The delivery email is queued to fixed@example.org." in support.get(done.headers["location"]).text
    with ctx.db.read() as conn:
        mails = conn.execute(select(outbox.c.payload).where(outbox.c.kind == "mail.delivery")).scalars().all()
    assert mails[-1]["to"] == "fixed@example.org"
    spoofed = support.get(page, params={"done": "resent", "to": "call us at 555"}).text
    assert "The delivery email is queued." in spoofed and "555" not in spoofed  # no text from the URL

    # extend: by days, by date, bad input
    before = order_of_a.download_end_date
    assert support.post(f"{page}/extend", data={"csrf_token": token, "days": "10"}).status_code == 303
    shown = support.get(f"{page}?done=extended").text
    import datetime as dt

    assert f"Downloads now end on {(before + dt.timedelta(days=10)).isoformat()}" in shown
    assert support.post(f"{page}/extend", data={"csrf_token": token, "date": "2031-01-31"}).status_code == 303
    assert 'id="download-end">2031-01-31' in support.get(page).text
    for data in ({}, {"date": "2031-01-31", "days": "3"}, {"days": "-4"}, {"date": "2001-01-01"}):
        assert support.post(f"{page}/extend", data={"csrf_token": token, **data}).status_code == 400, data

    # replace: a fresh serial; a serial of no order of it (400)
    old = order_of_a.lines[0].line_items[0].serials[0]
    confirm = support.get(f"{page}/replace", params={"serial": old})
    assert confirm.status_code == 200 and old in confirm.text
    replaced = support.post(f"{page}/replace", data={"csrf_token": token, "serial": old})
    assert replaced.status_code == 303
    with ctx.db.read() as conn:
        states = dict(conn.execute(select(serials.c.value, serials.c.status)).all())
    assert states[old] == "revoked"
    shown = support.get(replaced.headers["location"]).text
    new = re.search(r"the new serial is ([^;]+);", shown).group(1)  # type: ignore[union-attr]
    assert states[new] == "assigned"
    again = support.post(f"{page}/replace", data={"csrf_token": token, "serial": old})
    assert again.status_code == 409 and "already revoked" in again.text
    assert support.post(f"{page}/replace", data={"csrf_token": token, "serial": "nope"}).status_code == 400

    # cancel: a reason from the list; then every action refused as the order's state (409)
    confirm = support.get(f"{page}/cancel")
    assert '<option value="16"' in confirm.text
    assert support.post(f"{page}/cancel", data={"csrf_token": token, "reason": "99"}).status_code == 400
    cancelled = support.post(f"{page}/cancel", data={"csrf_token": token, "reason": "3", "comment": "asked"})
    assert cancelled.status_code == 303
    shown = support.get(cancelled.headers["location"]).text
    assert "The order is cancelled" in shown and "Replace serial" not in shown and "revoked" in shown
    twice = support.post(f"{page}/cancel", data={"csrf_token": token, "reason": "3"})
    assert twice.status_code == 409 and "Order already cancelled." in twice.text
    assert support.post(f"{page}/resend", data={"csrf_token": token}).status_code == 409
    assert support.post(f"{page}/extend", data={"csrf_token": token, "days": "1"}).status_code == 409
    assert support.post(f"{page}/replace", data={"csrf_token": token, "serial": new}).status_code == 409
    assert support.post("/admin/orders/999999/cancel", data={"csrf_token": token, "reason": "3"}).status_code == 404

    done_actions = actions_of(ctx, me)
    for expected in (
        ("order", "delivery_email_resent"),
        ("order", "download_time_updated"),
        ("order", "serial_replaced"),
        ("order", "cancelled"),
        ("serial", "revoked"),
    ):
        assert expected in done_actions, expected
    assert me in support.get(page).text  # the timeline names who did it


def test_test_orders_are_marked_test_in_the_search_and_on_their_page(
    ctx: Context, world: World, staff_client: Client
) -> None:
    from resell.services import iam

    live = place(ctx, world, "LIVE-1", (1002, 1))
    sandbox = iam.caller_for_secret(ctx, world.a.sandbox_secret)
    test = order_service.submit_order(ctx, sandbox, order_body("SB-1", (1002, 1)))
    support = staff_client("support")
    page = support.get("/admin/orders")
    assert listed(page.text) == [test.order_number, live.order_number]
    rows = page.text.split("<tr")
    (test_row,) = [r for r in rows if f"/admin/orders/{test.order_number}\"" in r]
    (live_row,) = [r for r in rows if f"/admin/orders/{live.order_number}\"" in r]
    assert '<span class="badge test"' in test_row and '<span class="badge test"' not in live_row
    assert '<span class="badge test"' in support.get(f"/admin/orders/{test.order_number}").text
    assert '<span class="badge test"' not in support.get(f"/admin/orders/{live.order_number}").text
