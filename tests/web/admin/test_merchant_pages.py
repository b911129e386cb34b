"""A merchant account's own pages through the app over HTTP: its navigation, its credentials (rotate,
shown once, after a confirmation with CSRF, audited; its sandboxes, their secrets and test clocks),
its webhooks with the delivery log and redelivery, its sandbox emails, its orders (read-only, live or
test) and its statements. Another merchant's data is "not found" (404), never 403."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import pytest
from sqlalchemy import select

from resell.db.tables import audit_events, catalogs, webhook_endpoints
from resell.services import iam, sandbox, test_clocks
from resell.services import orders as order_service
from resell.services import webhooks as endpoints
from resell.services.context import Context
from resell.web.admin import merchant_pages
from resell.worker import dispatcher
from tests.conftest import Merchant, World, order_body
from tests.renewal_support import (  # noqa: F401 - fixtures: fresh_stock_check (autouse), receiver
    Receiver,
    caller_of,
    fresh_stock_check,
    outbox_events,
    receiver_fixture,
)
from tests.web.admin.conftest import csrf_of, make_staff, sign_in
from tests.web.admin.pages_support import NOV, november  # noqa: F401 (november: a fixture)

StaffClient = Callable[[str], httpx.Client]


def nav_of(html: str) -> list[str]:
    nav = re.search(r"<nav aria-label=\"Sections\">(.*?)</nav>", html, re.S)
    assert nav, html
    return re.findall(r">([^<]+)</a>", nav.group(1))


def catalog_id(ctx: Context, name: str) -> int:
    with ctx.db.read() as conn:
        return int(conn.execute(select(catalogs.c.id).where(catalogs.c.name == name)).scalar_one())


def test_a_merchant_lands_on_its_own_sections_and_no_other(staff_client: StaffClient, world: World) -> None:
    http = staff_client("merchant")
    assert http.get("/admin").headers["location"] == "/admin/credentials"
    page = http.get("/admin/credentials")
    assert page.status_code == 200
    assert nav_of(page.text) == ["Credentials", "Webhooks", "Sandbox emails", "Orders", "Statements"]
    for path in ("/admin/finance", "/admin/staff", "/admin/merchants", "/admin/stock", "/admin/deliveries"):
        assert http.get(path).status_code == 403, path
    admin = staff_client("admin")
    assert "Credentials" not in nav_of(admin.get("/admin").text)
    assert admin.get("/admin/credentials").status_code == 403


def test_credentials_show_the_catalogues_and_a_rotated_secret_once(
    ctx: Context, staff_client: StaffClient, world: World, shop_a: Merchant, server: str
) -> None:
    shop_a.token()  # signed in before the client secret changes (its access token lives on)
    http = staff_client("merchant")
    page = http.get("/admin/credentials").text
    assert "shop-a" in page and "shop-a EUR" in page and "shop-a USD" in page and "shop-b" not in page
    assert page.count('class="badge live"') == 2 and page.count('class="badge sandbox"') == 2  # each its twin
    token = csrf_of(page)

    assert http.post("/admin/credentials/client-secret", data={"confirm": "yes"}).status_code == 403  # no CSRF
    confirm = http.post("/admin/credentials/client-secret", data={"csrf_token": token})
    assert confirm.status_code == 200 and "Please confirm" in confirm.text and "stops working at once" in confirm.text
    with httpx.Client(base_url=server) as api:
        old = {"realmName": "shop-a", "clientSecret": world.a.client_secret, "grantType": "client_credentials"}
        assert api.post("/iam/tokens", json=old).status_code == 200  # nothing rotated by the confirmation page
        shown = http.post("/admin/credentials/client-secret", data={"csrf_token": token, "confirm": "yes"})
        assert shown.status_code == 200 and shown.headers["cache-control"] == "no-store"
        secret = re.search(r'<code id="new-secret" class="secret">([^<]+)</code>', shown.text).group(1)  # type: ignore[union-attr]
        assert api.post("/iam/tokens", json=old).status_code == 401
        assert api.post("/iam/tokens", json={**old, "clientSecret": secret}).status_code == 200
    assert secret not in http.get("/admin/credentials").text  # shown once

    eur = catalog_id(ctx, "shop-a EUR")
    rotated = http.post(f"/admin/credentials/catalogues/{eur}/secret", data={"csrf_token": token, "confirm": "yes"})
    new_secret = re.search(r'<code id="new-secret" class="secret">([^<]+)</code>', rotated.text).group(1)  # type: ignore[union-attr]
    assert shop_a.call("GET", "/order/NONE").json()["responseCode"] == 71
    assert shop_a.call("GET", "/order/NONE", secret=new_secret).json()["responseCode"] != 71
    theirs = catalog_id(ctx, "shop-b EUR")
    refused = http.post(f"/admin/credentials/catalogues/{theirs}/secret", data={"csrf_token": token, "confirm": "yes"})
    assert refused.status_code == 404  # another merchant's catalogue: as if there were none
    with ctx.db.read() as conn:
        trail = conn.execute(
            select(audit_events.c.actor, audit_events.c.action).where(audit_events.c.entity == "merchant")
        ).all()
    actions = [(t.actor, t.action) for t in trail if t.actor.startswith("staff:")]
    assert actions == [
        ("staff:merchant0@staff.test", "client_secret_rotated"),
        ("staff:merchant0@staff.test", "catalog_secret_rotated"),
    ]
    assert secret not in str(trail) and new_secret not in str(trail)


def test_webhooks_log_and_redeliver_and_another_merchants_endpoint_is_not_found(
    ctx: Context, staff_client: StaffClient, world: World, receiver: Receiver
) -> None:
    mine = endpoints.add_endpoint(ctx, receiver.url, ["order.created"], realm="shop-a").endpoint.id
    theirs = endpoints.add_endpoint(ctx, receiver.url + "?b", ["order.created"], realm="shop-b").endpoint.id
    order_service.submit_order(ctx, caller_of(ctx, world.a), order_body("W-1", (1003, 1)))
    dispatcher.run_pass(ctx)
    (event,) = outbox_events(ctx, "order.created")
    http = staff_client("merchant")

    listing = http.get("/admin/webhooks").text
    assert (
        receiver.url in listing and f"/admin/webhooks/{mine}" in listing and f"/admin/webhooks/{theirs}" not in listing
    )
    log = http.get(f"/admin/webhooks/{mine}")
    assert log.status_code == 200 and event.event_id in log.text and "order.created" in log.text and ">204<" in log.text
    assert http.get(f"/admin/webhooks/{theirs}").status_code == 404
    assert http.get("/admin/webhooks/999999").status_code == 404

    token = csrf_of(log.text)
    done = http.post(f"/admin/webhooks/{mine}/redeliver", data={"csrf_token": token, "event_id": event.event_id})
    assert done.status_code == 303 and done.headers["location"].startswith(f"/admin/webhooks/{mine}?redelivered=")
    assert dispatcher.run_pass(ctx).delivered == 1
    assert [r.headers["webhook-id"] for r in receiver.all()] == [event.event_id, event.event_id]
    after = http.get(done.headers["location"]).text
    assert "is queued to this endpoint again" in after and after.count(event.event_id) >= 2
    other = http.post(f"/admin/webhooks/{theirs}/redeliver", data={"csrf_token": token, "event_id": event.event_id})
    assert other.status_code == 404
    assert http.post(f"/admin/webhooks/{mine}/redeliver", data={"event_id": event.event_id}).status_code == 403
    with ctx.db.read() as conn:
        row = conn.execute(select(webhook_endpoints.c.active).where(webhook_endpoints.c.id == theirs)).scalar_one()
    assert row is True


def test_orders_are_its_own_read_only_with_amounts(ctx: Context, staff_client: StaffClient, world: World) -> None:
    mine = order_service.submit_order(ctx, caller_of(ctx, world.a), order_body("MINE-1", (1001, 2)))
    theirs = order_service.submit_order(ctx, caller_of(ctx, world.b), order_body("THEIRS-1", (1001, 1)))
    http = staff_client("merchant")
    listing = http.get("/admin/orders")
    assert listing.status_code == 200 and "MINE-1" in listing.text and "THEIRS-1" not in listing.text
    assert 'id="merchant"' not in listing.text  # no merchant filter to choose another from
    assert http.get("/admin/orders", params={"q": "THEIRS-1"}).text.count("THEIRS-1") <= 1  # only echoed in the box
    assert http.get("/admin/orders", params={"merchant": "shop-b"}).status_code == 400
    page = http.get(f"/admin/orders/{mine.order_number}")
    assert page.status_code == 200 and "MINE-1" in page.text and "20.00" in page.text
    assert "/cancel" not in page.text and "Resend" not in page.text  # read-only
    assert http.get(f"/admin/orders/{theirs.order_number}").status_code == 404
    assert http.get(f"/admin/orders/{mine.order_number}/cancel").status_code == 403
    token = csrf_of(page.text)
    assert http.post(f"/admin/orders/{mine.order_number}/cancel", data={"csrf_token": token}).status_code == 403


@pytest.mark.usefixtures("november")
def test_statements_are_its_own(ctx: Context, staff_client: StaffClient) -> None:
    http = staff_client("merchant")
    page = http.get("/admin/statements")  # last month: November
    assert page.status_code == 200 and "Statement" in page.text and "NOV-1" in page.text and NOV in page.text
    assert f'href="/admin/statements/{NOV}.csv"' in page.text
    csv_file = http.get(f"/admin/statements/{NOV}.csv")
    assert csv_file.status_code == 200 and csv_file.headers["content-type"].startswith("text/csv")
    assert "NOV-1" in csv_file.text and "shop-a" in csv_file.headers["content-disposition"]
    assert http.get(f"/admin/statements/{NOV}.pdf").content.startswith(b"%PDF")
    assert http.get("/admin/statements/shop-b/2026-11.csv").status_code == 404  # no realm to choose
    assert http.get(f"/admin/finance/statements/shop-b/{NOV}.csv").status_code == 403  # the staff's pages
    assert http.get("/admin/statements", params={"month": "nope"}).status_code == 400


SHOWN = re.compile(r'<code id="new-secret" class="secret">([^<]+)</code>')


def row_of(page: str, catalog: int) -> str:
    """The table row of a catalogue (its id in the first cell)."""
    found = re.search(rf"<tr>\s*<td>{catalog}</td>.*?</tr>", page, re.S)
    assert found, page
    return found.group(0)


def audit_trail(ctx: Context, action: str) -> list[tuple[str, object]]:
    with ctx.db.read() as conn:
        rows = conn.execute(
            select(audit_events.c.actor, audit_events.c.after).where(audit_events.c.action == action)
        ).all()
    return [(r.actor, r.after) for r in rows]


def test_credentials_show_each_sandbox_with_its_clock_and_rotate_or_create_its_secret(
    ctx: Context, staff_client: StaffClient, world: World, shop_a: Merchant
) -> None:
    eur, usd = catalog_id(ctx, "shop-a EUR"), catalog_id(ctx, "shop-a USD")
    twin_eur = catalog_id(ctx, "shop-a EUR (sandbox)")
    order_service.submit_order(ctx, iam.caller_for_secret(ctx, world.a.sandbox_secret), order_body("T-1", (1001, 1)))
    test_clocks.advance_clock(
        ctx, iam.caller_for_secret(ctx, world.a.sandbox_secret), "2031-01-02T03:04:05+00:00", None
    )
    with ctx.db.write() as conn:  # the USD catalogue as one made before the sandbox existed
        conn.execute(catalogs.delete().where(catalogs.c.name == "shop-a USD (sandbox)"))
    http = staff_client("merchant")
    page = http.get("/admin/credentials").text
    eur_row, usd_row = row_of(page, eur), row_of(page, usd)
    assert f"id {twin_eur}, 1 test order" in eur_row and "2031-01-02 03:04:05" in eur_row and "frozen" in eur_row
    assert "Rotate sandbox secret" in eur_row
    assert "no sandbox yet" in usd_row and "Create sandbox" in usd_row and "frozen" not in usd_row
    token = csrf_of(page)

    action = f"/admin/credentials/catalogues/{eur}/sandbox-secret"
    assert http.post(action, data={"confirm": "yes"}).status_code == 403  # no CSRF
    confirm = http.post(action, data={"csrf_token": token})
    assert confirm.status_code == 200 and "Please confirm" in confirm.text and "Rotate sandbox secret" in confirm.text
    assert shop_a.call("GET", "/order/T-1", secret=world.a.sandbox_secret).json()["responseCode"] != 71  # not yet
    shown = http.post(action, data={"csrf_token": token, "confirm": "yes"})
    assert shown.status_code == 200 and shown.headers["cache-control"] == "no-store"
    secret = SHOWN.search(shown.text).group(1)  # type: ignore[union-attr]
    assert secret.startswith("test_")
    assert shop_a.call("GET", "/order/T-1", secret=world.a.sandbox_secret).json()["responseCode"] == 71
    assert shop_a.call("GET", "/order/T-1", secret=secret).json()["responseCode"] != 71
    assert secret not in http.get("/admin/credentials").text  # shown once

    made = http.post(f"/admin/credentials/catalogues/{usd}/sandbox-secret", data={"csrf_token": token})
    assert "Create a sandbox" in made.text and "Create sandbox" in made.text
    made = http.post(
        f"/admin/credentials/catalogues/{usd}/sandbox-secret", data={"csrf_token": token, "confirm": "yes"}
    )
    usd_secret = SHOWN.search(made.text).group(1)  # type: ignore[union-attr]
    assert iam.caller_for_secret(ctx, usd_secret).test
    assert "no sandbox yet" not in http.get("/admin/credentials").text

    theirs = catalog_id(ctx, "shop-b EUR")
    for other in (theirs, twin_eur, 999999):  # another merchant's, a sandbox's own id, none: not found
        refused = http.post(
            f"/admin/credentials/catalogues/{other}/sandbox-secret", data={"csrf_token": token, "confirm": "yes"}
        )
        assert refused.status_code == 404, other
    assert [a for a, _ in audit_trail(ctx, "sandbox_secret_rotated")] == ["staff:merchant0@staff.test"]
    assert [a for a, _ in audit_trail(ctx, "sandbox_created")] == ["staff:merchant0@staff.test"]
    assert secret not in str(audit_trail(ctx, "sandbox_secret_rotated"))


def _kept_emails(ctx: Context, world: World, *pons: str) -> list[str]:
    """Test orders placed with shop-a's sandbox secret, their emails kept by the worker; their serials."""
    who = iam.caller_for_secret(ctx, world.a.sandbox_secret)
    serials = []
    for pon in pons:  # one at a time: kept in this order
        view = order_service.submit_order(ctx, who, order_body(pon, (1001, 1)))
        assert dispatcher.run_pass(ctx).kinds.get("mail.sandbox") == 1
        serials.append(view.lines[0].line_items[0].serials[0])
    return serials


def test_sandbox_emails_are_listed_newest_first_and_shown_as_the_end_user_sees_them(
    ctx: Context, staff_client: StaffClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    serials = _kept_emails(ctx, world, "SB-1", "SB-2", "SB-3")
    order_service.submit_order(ctx, caller_of(ctx, world.a), order_body("LIVE-1", (1001, 1)))  # sent, not kept
    dispatcher.run_pass(ctx)
    monkeypatch.setattr(merchant_pages, "EMAIL_PAGE", 2)
    http = staff_client("merchant")
    first = http.get("/admin/sandbox-emails")
    assert first.status_code == 200
    assert re.findall(r"<td class=\"break\" data-label=\"PON\">([^<]+)</td>", first.text) == ["SB-3", "SB-2"]
    assert "buyer@example.com" in first.text and "LIVE-1" not in first.text
    older = re.search(r'href="(/admin/sandbox-emails\?before=\d+)">Older', first.text).group(1)  # type: ignore[union-attr]
    second = http.get(older).text
    assert re.findall(r"data-label=\"PON\">([^<]+)</td>", second) == ["SB-1"] and ">Older<" not in second

    (kept,) = [
        e
        for e in sandbox.list_emails(ctx, iam.caller_for_secret(ctx, world.a.secret).merchant_id)
        if e.partner_order_number == "SB-1"
    ]
    assert f'href="/admin/sandbox-emails/{kept.email_id}"' in second and kept.subject in second
    assert f'<a href="/admin/orders/{kept.order_id}">{kept.order_id}</a>' in second
    page = http.get(f"/admin/sandbox-emails/{kept.email_id}")
    assert page.status_code == 200 and kept.subject in page.text and serials[0] in page.text  # the plain text
    assert f'<iframe class="email" sandbox src="/admin/sandbox-emails/{kept.email_id}/html"' in page.text
    assert "frame-src 'self'" in page.headers["content-security-policy"]
    html = http.get(f"/admin/sandbox-emails/{kept.email_id}/html")
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert serials[0] in html.text and html.text == kept.html
    policy = html.headers["content-security-policy"]
    assert policy.startswith("default-src 'none'; img-src https: data:; style-src 'unsafe-inline'; sandbox;")
    assert "script-src" not in policy and "frame-ancestors 'self'" in policy
    assert html.headers["x-content-type-options"] == "nosniff"

    for missing in ("999999", "abc", f"{kept.email_id}x"):
        assert http.get(f"/admin/sandbox-emails/{missing}").status_code == 404
        assert http.get(f"/admin/sandbox-emails/{missing}/html").status_code == 404
    assert staff_client("admin").get(f"/admin/sandbox-emails/{kept.email_id}").status_code == 403


def test_another_merchants_sandbox_email_is_not_found(ctx: Context, server: str, world: World) -> None:
    _kept_emails(ctx, world, "SB-A")
    (kept,) = sandbox.list_emails(ctx, iam.caller_for_secret(ctx, world.a.secret).merchant_id)
    make_staff(ctx, "owner@shop-b.test", "merchant", merchant="shop-b")
    with httpx.Client(base_url=server, timeout=30) as http:
        assert sign_in(http, "owner@shop-b.test").status_code == 303
        listing = http.get("/admin/sandbox-emails")
        assert listing.status_code == 200 and "SB-A" not in listing.text and "No sandbox email yet" in listing.text
        for path in (f"/admin/sandbox-emails/{kept.email_id}", f"/admin/sandbox-emails/{kept.email_id}/html"):
            other = http.get(path)
            assert other.status_code == 404 and kept.subject not in other.text, path


def test_orders_show_live_ones_unless_the_merchant_asks_for_test_ones(
    ctx: Context, staff_client: StaffClient, world: World
) -> None:
    order_service.submit_order(ctx, caller_of(ctx, world.a), order_body("LIVE-1", (1001, 1)))
    order_service.submit_order(ctx, iam.caller_for_secret(ctx, world.a.sandbox_secret), order_body("SBX-1", (1001, 1)))
    http = staff_client("merchant")
    badge = 'class="badge test"'
    default = http.get("/admin/orders").text
    assert "LIVE-1" in default and "SBX-1" not in default and badge not in default
    assert '<option value="live" selected>' in default
    tested = http.get("/admin/orders", params={"kind": "test"}).text
    assert "SBX-1" in tested and "LIVE-1" not in tested and tested.count(badge) == 1
    both = http.get("/admin/orders", params={"kind": "all"}).text
    assert "SBX-1" in both and "LIVE-1" in both
    assert http.get("/admin/orders", params={"kind": "nope"}).status_code == 400
    admin = staff_client("admin").get("/admin/orders").text  # the platform's staff: every order, marked
    assert "SBX-1" in admin and "LIVE-1" in admin and '<option value="all" selected>' in admin


def test_the_admins_merchant_page_lists_each_sandbox_with_its_test_orders(
    ctx: Context, staff_client: StaffClient, world: World
) -> None:
    who = iam.caller_for_secret(ctx, world.a.sandbox_secret)
    for pon in ("T-1", "T-2"):
        order_service.submit_order(ctx, who, order_body(pon, (1001, 1)))
    page = staff_client("admin").get("/admin/merchants/shop-a").text
    eur, twin = catalog_id(ctx, "shop-a EUR"), catalog_id(ctx, "shop-a EUR (sandbox)")
    row = row_of(page, eur)
    assert f"id {twin}</td>" in row and re.search(r'<td class="num">0</td>.*<td class="num">2</td>', row, re.S)
