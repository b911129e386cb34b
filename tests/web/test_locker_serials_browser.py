"""The locker's serials and cancelled orders in a real headless Chromium: a 29-character key
on one line at 360 px, the copy buttons of the page's own script (and the page without it), a
cancelled order's locker and download page."""

from __future__ import annotations

from playwright.sync_api import Browser, Page, expect
from sqlalchemy import update

from resell.db.tables import serials
from resell.services.context import Context
from tests.conftest import Merchant, World, order_body
from tests.delivery_support import attach

KEY = "ABCDE-12345-FGHIJ-67890-KLMNO"  # 29 characters, the usual 5x5 licence key



def long_key_order(ctx: Context, shop: Merchant, pon: str) -> dict:
    reply = shop.call("POST", "/order/new", order_body(pon, (1001, 1), (1003, 1)))
    assert reply.status_code == 201, reply.text
    order = reply.json()
    with ctx.db.write() as conn:
        conn.execute(update(serials).where(serials.c.value == serial_of(order, 0)).values(value=KEY))
    return order


def serial_of(order: dict, line: int) -> str:
    return order["orderLines"][line]["lineItems"][0]["serials"][0]["data"]


def open_locker(page: Page, server: str, number: int) -> None:
    page.goto(f"{server}/locker?order={number}")
    page.fill("#email", "buyer@example.com")
    page.click("form[action='/locker'] button[type=submit]")
    assert page.url == f"{server}/locker/order"


def lines_of(page: Page, selector: str) -> int:
    """How many line boxes the element's text takes."""
    return page.eval_on_selector(
        selector,
        "el => { const r = document.createRange(); r.selectNodeContents(el); return r.getClientRects().length; }",
    )


def test_a_29_character_key_stays_on_one_line_on_a_phone_and_copies(
    ctx: Context, shop_a: Merchant, server: str, browser: Browser, world: World
) -> None:
    attach(ctx, 1001, "setup.exe", 1000)
    order = long_key_order(ctx, shop_a, "WRAP-1")
    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server)
    page = context.new_page()
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    open_locker(page, server, order["orderNumber"])

    first = "#serial-1-1"
    assert page.inner_text(first) == KEY
    assert lines_of(page, first) == 1  # never broken inside the key
    box = page.eval_on_selector(first, "el => [el.scrollWidth, el.clientWidth, el.getBoundingClientRect().right]")
    assert box[0] <= box[1] and box[2] <= 360  # the whole key fits the phone's width: no scrolling needed
    assert page.evaluate("document.documentElement.scrollWidth") <= 360  # nor does the page scroll sideways

    button = page.locator("button.copy").first
    assert button.is_visible() and button.inner_text() == "Copy"
    button.click()
    expect(page.locator("button.copy").first).to_have_text("Copied")  # the clipboard write is asynchronous
    assert page.evaluate("navigator.clipboard.readText()") == KEY
    page.locator("button.copy").nth(1).click()
    assert page.evaluate("navigator.clipboard.readText()") == serial_of(order, 1)
    assert refused == []  # the script is the site's own: the CSP lets it run
    context.close()


def test_without_javascript_the_serial_is_plain_selectable_text(
    ctx: Context, shop_a: Merchant, server: str, browser: Browser, world: World
) -> None:
    order = long_key_order(ctx, shop_a, "WRAP-2")
    context = browser.new_context(java_script_enabled=False, viewport={"width": 360, "height": 740})
    page = context.new_page()
    open_locker(page, server, order["orderNumber"])
    assert page.locator("button.copy").count() == 2
    assert not page.locator("button.copy").first.is_visible()  # no button that would do nothing
    assert page.eval_on_selector("#serial-1-1", "el => getComputedStyle(el).userSelect") != "none"
    assert lines_of(page, "#serial-1-1") == 1
    page.dblclick("#serial-1-1")  # a double click selects a word of it, as in any text
    assert page.evaluate("window.getSelection().toString()") in KEY
    context.close()


def test_a_cancelled_order_in_the_browser(
    ctx: Context, shop_a: Merchant, server: str, browser: Browser, world: World
) -> None:
    attach(ctx, 1001, "setup.exe", 1000)
    order = long_key_order(ctx, shop_a, "GONE-1")
    url = order["orderLines"][0]["files"][0]["url"].removeprefix("http://resell.test")
    shop_a.call("PUT", "/order/cancel", {"partnerOrderNumber": "GONE-1", "reasonCode": 2})
    context = browser.new_context(viewport={"width": 360, "height": 740})
    page = context.new_page()
    open_locker(page, server, order["orderNumber"])
    notice = page.inner_text("p.notice")
    assert "This order was cancelled on" in notice and "licences were revoked" in notice
    assert "shop-a" in page.inner_text("#cancelled-contact")
    assert page.locator("section.product").count() == 0  # no empty product card
    assert KEY not in page.content() and page.locator("button.copy").count() == 0

    refused = page.goto(server + url)
    assert refused is not None and refused.status == 410
    text = page.inner_text("main")
    assert "This order was cancelled on" in text and "no longer work" in text
    assert "serial numbers stay" not in text  # it promises nothing that was revoked
    context.close()
