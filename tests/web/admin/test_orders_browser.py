"""The order pages in a real headless Chromium: search by email, open the order, resend the delivery
email (it reaches the tests' real SMTP server after a worker pass), replace a serial (the end user's
email shows the new one, getOrderData over the real API no longer lists the old one), cancel (the
serials show as revoked, the API answers that the order is cancelled, its download link is off).

Screenshots go to the test's temporary folder, or to RESELL_SCREENSHOTS=DIR (docs/images/back-office)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page

from resell.config import Settings
from resell.services.context import Context
from resell.worker import dispatcher
from tests.conftest import Merchant, World, order_body, settings_for
from tests.delivery_support import SmtpSink, attach, free_port
from tests.web.admin.conftest import PASSWORD, make_staff
from tests.web.admin.test_orders_http import place


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def settings(tmp_path: Path, db_url: str, smtp_port: int) -> Settings:
    return settings_for(
        tmp_path, db_url, smtp_host="127.0.0.1", smtp_port=smtp_port, mail_from="Shop <orders@shop.test>"
    )


@pytest.fixture
def sink(smtp_port: int) -> Iterator[SmtpSink]:
    server = SmtpSink(smtp_port)
    yield server
    server.stop()



def shots_dir(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("RESELL_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def shoot(browser: Browser, cookies: list, url: str, path: Path, width: int) -> None:  # type: ignore[type-arg]
    context = browser.new_context(viewport={"width": width, "height": 900}, device_scale_factor=1)
    context.add_cookies(cookies)
    page = context.new_page()
    page.goto(url)
    page.screenshot(path=str(path), full_page=True)
    context.close()


def serials_on_page(page: Page) -> dict[str, str]:
    rows = page.locator("table.serials tbody tr")
    return {
        rows.nth(i).locator("code.serial").inner_text(): rows.nth(i).locator(".badge").inner_text()
        for i in range(rows.count())
    }


def api_serials(shop: Merchant, pon: str) -> list[str]:
    reply = shop.call("GET", f"/order/{pon}")
    assert reply.status_code == 200, reply.text
    return [s["data"] for line in reply.json()["orderLines"] for item in line["lineItems"] for s in item["serials"]]


def test_support_resends_replaces_and_cancels_in_a_browser(
    ctx: Context,
    world: World,
    server: str,
    browser: Browser,
    sink: SmtpSink,
    shop_a: Merchant,
    tmp_path: Path,
) -> None:
    attach(ctx, 1001, "setup.exe", 1234)
    for i, email in enumerate(("ada@example.org", "ben@example.net", "carla@example.com", "david@example.org")):
        place(ctx, world, f"WEB-{1000 + i}", (1002, 1), (1003, 1), email=email, shop="ab"[i % 2])
    body = order_body("SHOP-2041", (1001, 2), (1005, 1))
    body["customer"]["email"] = "emma.martin@example.com"
    body["customer"]["locationInvoice"].update(firstName="Emma", lastName="Martin")
    created = shop_a.call("POST", "/order/new", body)
    assert created.status_code == 201, created.text
    number = created.json()["orderNumber"]
    file_url = created.json()["orderLines"][0]["files"][0]["url"].replace("http://resell.test", server)
    dispatcher.run_pass(ctx)
    sink.messages.clear()

    make_staff(ctx, "sam@staff.test", "support")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto(server + "/admin/orders")
    page.get_by_label("Email").fill("sam@staff.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("heading", name="Orders", exact=True).is_visible()
    folder = shots_dir(tmp_path)
    page.screenshot(path=str(folder / "orders.png"), full_page=True)

    # search by the customer's email, open the order
    page.get_by_label("Search").fill("Emma.Martin@example.com")
    page.get_by_role("button", name="Search").click()
    assert page.locator("table.orders tbody tr").count() == 1
    page.get_by_role("link", name=str(number), exact=True).click()
    assert page.get_by_role("heading", name=f"Order {number}").is_visible()
    before = serials_on_page(page)
    assert len(before) == 3 and set(before.values()) == {"assigned"}

    # resend the delivery email through its confirmation page
    page.get_by_role("link", name="Resend delivery email").click()
    assert page.get_by_label("Send to").is_visible()
    page.get_by_role("button", name="Resend delivery email").click()
    assert "queued to emma.martin@example.com" in page.inner_text("[role=status]")
    dispatcher.run_pass(ctx)
    (message,) = sink.messages
    assert message["To"] == "emma.martin@example.com"
    text = message.get_body(("plain",)).get_content()
    assert all(s in text for s in before)

    # replace the first serial: the email shows the new one, the API forgets the old one
    old = next(iter(before))
    page.get_by_role("link", name="Replace serial").first.click()
    assert old in page.inner_text("main")
    page.get_by_role("button", name="Replace serial").click()
    assert "Serial replaced: the new serial is" in page.inner_text("[role=status]")
    after = serials_on_page(page)
    assert after[old] == "revoked"
    (new,) = [s for s, state in after.items() if state == "assigned" and s not in before]
    dispatcher.run_pass(ctx)
    assert new in sink.messages[-1].get_body(("plain",)).get_content()
    listed = api_serials(shop_a, "SHOP-2041")
    assert new in listed and old not in listed
    assert "staff:sam@staff.test" in page.inner_text("#timeline + .table-wrap")

    # the screenshots of the order page: desktop and phone
    cookies = context.cookies()
    shoot(browser, cookies, f"{server}/admin/orders/{number}", folder / "order.png", 1280)
    shoot(browser, cookies, f"{server}/admin/orders/{number}", folder / "order-phone.png", 390)
    shoot(browser, cookies, f"{server}/admin/orders?q=emma.martin%40example.com", folder / "orders-phone.png", 390)
    shoot(browser, cookies, f"{server}/admin/orders/{number}/cancel", folder / "order-cancel.png", 1280)
    assert httpx.get(file_url).status_code == 200

    # cancel through its confirmation: every serial revoked, the API and the download link agree
    page.get_by_role("link", name="Cancel order").click()
    page.get_by_label("Reason").select_option("3")
    page.get_by_label("Comment").fill("customer asked by phone")
    page.get_by_role("button", name="Cancel order").click()
    assert "The order is cancelled" in page.inner_text("[role=status]")
    assert set(serials_on_page(page).values()) == {"revoked"}
    assert page.get_by_role("link", name="Replace serial").count() == 0
    again = shop_a.call("PUT", "/order/cancel", {"partnerOrderNumber": "SHOP-2041", "reasonCode": 2})
    assert again.json()["responseCode"] == 1011, again.text  # already cancelled
    assert httpx.get(file_url).status_code >= 400
    dispatcher.run_pass(ctx)
    assert not [e for e in errors if "Failed to load resource" not in e]  # no CSP violation, no script error
    context.close()


def test_the_confirmation_steps_work_without_javascript(
    ctx: Context, world: World, server: str, browser: Browser
) -> None:
    made = place(ctx, world, "NOJS-1", (1002, 1))
    make_staff(ctx, "sam@staff.test", "support")
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(server + "/admin/login")
    page.get_by_label("Email").fill("sam@staff.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{server}/admin/orders?q={made.order_number}")  # one exact hit: its page
    assert page.get_by_role("heading", name=f"Order {made.order_number}").is_visible()
    page.get_by_role("link", name="Extend downloads").click()
    page.get_by_label("Or days to add").fill("30")
    page.get_by_role("button", name="Extend downloads").click()
    assert "Downloads now end on" in page.inner_text("[role=status]")
    context.close()
