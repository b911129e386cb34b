"""Back-office pages pass axe-core with no serious or critical violation, in a real Chromium: the sign-in,
the dashboard, the orders list, an order's page and a product's page with its texts per language; a
merchant's credentials, sandbox emails and test orders (tests/web/accessibility.py)."""

from __future__ import annotations

import copy

from playwright.sync_api import Browser

from resell.services.catalog_import import import_catalog
from resell.services.context import Context
from tests.conftest import TEST_CATALOG, Merchant, World, order_body
from tests.web.accessibility import assert_accessible
from tests.web.admin.conftest import PASSWORD, make_staff


def test_back_office_pages_pass_the_accessibility_check(
    ctx: Context, server: str, browser: Browser, world: World, shop_a: Merchant
) -> None:
    reply = shop_a.call("POST", "/order/new", order_body("A11Y-ADMIN", (1001, 1), (1003, 1)))
    assert reply.status_code == 201, reply.text
    number = reply.json()["orderNumber"]
    make_staff(ctx, "ada@staff.test", "admin")
    context = browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(server + "/admin/login")
    assert_accessible(page, "the back office's sign-in")
    page.get_by_label("Email").fill("ada@staff.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    assert page.url == server + "/admin"
    assert_accessible(page, "the dashboard")
    page.goto(server + "/admin/orders")
    assert_accessible(page, "the orders list")
    page.goto(f"{server}/admin/orders/{number}")
    assert page.locator("h1").count() == 1
    assert_accessible(page, "an order's page")
    catalog = copy.deepcopy(TEST_CATALOG)
    catalog["products"][0]["texts"] = {"fr": {"name": "Série et fichiers"}, "de": {"shortDescription": "Sicher"}}
    import_catalog(ctx, catalog)
    page.goto(server + "/admin/catalogue/1001")
    assert page.get_by_role("heading", name="Texts per language").count() == 1
    assert_accessible(page, "a product's page with texts per language")
    context.close()


def test_a_merchants_sandbox_pages_pass_the_accessibility_check(
    ctx: Context, server: str, browser: Browser, world: World, shop_a: Merchant
) -> None:
    from resell.worker import dispatcher

    reply = shop_a.call("POST", "/order/new", order_body("A11Y-SB", (1001, 1)), secret=world.a.sandbox_secret)
    assert reply.status_code == 201, reply.text
    dispatcher.run_pass(ctx)  # its email kept
    make_staff(ctx, "owner@shop-a.test", "merchant", merchant="shop-a")
    context = browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(server + "/admin/login")
    page.get_by_label("Email").fill("owner@shop-a.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(server + "/admin/credentials")
    assert_accessible(page, "the merchant's credentials with its sandboxes")
    page.goto(server + "/admin/sandbox-emails")
    assert_accessible(page, "the sandbox emails")
    page.get_by_role("row").filter(has_text="A11Y-SB").get_by_role("link").first.click()
    page.locator("iframe.email").wait_for()
    assert_accessible(page, "a sandbox email")
    page.goto(server + "/admin/orders?kind=test")
    assert_accessible(page, "the merchant's test orders")
    context.close()
