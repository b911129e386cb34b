"""A merchant account's pages in a real headless Chromium: it signs in, rotates its catalogue's secret
through the confirmation and sees it once, opens an endpoint's delivery log and redelivers an event;
it reads the email a sandbox order kept, framed as the end user would see it."""

from __future__ import annotations

from playwright.sync_api import Browser, Page

from resell.services import orders as order_service
from resell.services import webhooks as endpoints
from resell.services.context import Context
from resell.worker import dispatcher
from tests.conftest import Merchant, World, order_body
from tests.renewal_support import (  # noqa: F401 - fixtures: fresh_stock_check (autouse), receiver
    Receiver,
    caller_of,
    fresh_stock_check,
    outbox_events,
    receiver_fixture,
)
from tests.web.admin.conftest import PASSWORD, make_staff
from tests.web.admin.test_admin_browser import sign_in


def merchant_signed_in(browser: Browser, server: str) -> tuple[Page, list[str]]:
    """A new browser context signed in as shop-a's merchant account, on its first page; the console
    errors it will log."""
    page = browser.new_context().new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    sign_in(page, server, "owner@shop-a.test", PASSWORD)
    page.wait_for_url(server + "/admin/credentials")
    return page, errors

def test_a_merchant_rotates_a_secret_sees_it_once_and_redelivers_an_event(
    ctx: Context, server: str, browser: Browser, world: World, shop_a: Merchant, receiver: Receiver
) -> None:
    endpoint_id = endpoints.add_endpoint(ctx, receiver.url, ["order.created"], realm="shop-a").endpoint.id
    order_service.submit_order(ctx, caller_of(ctx, world.a), order_body("B-1", (1003, 1)))
    dispatcher.run_pass(ctx)
    (event,) = outbox_events(ctx, "order.created")
    make_staff(ctx, "owner@shop-a.test", "merchant", merchant="shop-a")

    page, errors = merchant_signed_in(browser, server)
    nav = page.get_by_role("navigation")
    assert [link.strip() for link in nav.get_by_role("link").all_inner_texts()] == [
        "Credentials",
        "Webhooks",
        "Sandbox emails",
        "Orders",
        "Statements",
    ]

    row = page.get_by_role("row").filter(has_text="shop-a EUR")
    assert "EUR" in row.inner_text() and "live" in row.inner_text()
    row.get_by_role("button", name="Rotate secret").click()
    assert page.get_by_role("heading", name="Please confirm").is_visible()
    assert shop_a.call("GET", "/order/NONE").json()["responseCode"] != 71  # not yet
    page.get_by_role("button", name="Rotate catalogue secret").click()
    assert page.get_by_role("heading", name="New secret").is_visible()
    secret = page.inner_text("#new-secret").strip()
    assert shop_a.call("GET", "/order/NONE").json()["responseCode"] == 71
    assert shop_a.call("GET", "/order/NONE", secret=secret).json()["responseCode"] != 71
    page.get_by_role("link", name="Back to your credentials").click()
    assert secret not in page.content()  # shown once

    nav.get_by_role("link", name="Webhooks").click()
    page.get_by_role("link", name="Delivery log").click()
    page.wait_for_url(f"{server}/admin/webhooks/{endpoint_id}")
    entry = page.get_by_role("row").filter(has_text=event.event_id)
    assert "order.created" in entry.inner_text() and "204" in entry.inner_text()
    page.once("dialog", lambda dialog: dialog.accept())  # data-confirm
    entry.get_by_role("button", name="Redeliver").click()
    page.get_by_role("status").wait_for()
    assert "queued to this endpoint again" in page.get_by_role("status").inner_text()
    assert dispatcher.run_pass(ctx).delivered == 1
    assert [r.headers["webhook-id"] for r in receiver.all()] == [event.event_id, event.event_id]
    page.reload()
    assert page.get_by_role("row").filter(has_text=event.event_id).count() == 2  # attempts 1 and 2
    assert [e for e in errors if "Failed to load resource" not in e] == []
    page.context.close()


def test_a_merchant_reads_the_email_its_sandbox_order_kept(
    ctx: Context, server: str, browser: Browser, world: World, shop_a: Merchant
) -> None:
    created = shop_a.call("POST", "/order/new", order_body("SB-WEB-1", (1001, 1)), secret=world.a.sandbox_secret)
    assert created.status_code == 201, created.text
    (serial,) = [s["data"] for line in created.json()["orderLines"] for i in line["lineItems"] for s in i["serials"]]
    assert serial.startswith("TEST-")
    assert dispatcher.run_pass(ctx).kinds.get("mail.sandbox") == 1  # kept by the worker, not sent
    make_staff(ctx, "owner@shop-a.test", "merchant", merchant="shop-a")

    page, errors = merchant_signed_in(browser, server)
    row = page.get_by_role("row").filter(has_text="shop-a EUR")
    assert "1 test order" in row.inner_text()  # its sandbox, beside the live catalogue

    page.get_by_role("navigation").get_by_role("link", name="Sandbox emails").click()
    page.wait_for_url(server + "/admin/sandbox-emails")
    entry = page.get_by_role("row").filter(has_text="SB-WEB-1")
    assert "buyer@example.com" in entry.inner_text()
    entry.get_by_role("link").first.click()
    assert page.get_by_role("heading", name="As the end user sees it").is_visible()
    framed = page.frame_locator("iframe.email")
    framed.get_by_text(serial).first.wait_for()  # the HTML part, in its sandboxed frame
    assert serial in page.inner_text("#email-text")  # the plain-text part
    assert page.locator("iframe.email").get_attribute("sandbox") == ""  # no script, an opaque origin
    assert [e for e in errors if "Failed to load resource" not in e] == []
    page.context.close()
