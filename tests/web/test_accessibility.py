"""The end user's pages pass axe-core with no serious or critical violation, in a real Chromium: the locker's
sign-in (blank and with its error), the order page with serials and downloads, the cancelled order, the
download error pages (410, 403) and the delivery email's HTML. How to run it: docs/fulfilment.md."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, BrowserContext
from sqlalchemy import select

from resell.db.tables import order_lines
from resell.services import delivery_mail
from resell.services.context import Context
from tests.conftest import Merchant, World, order_body
from tests.delivery_support import attach
from tests.web.accessibility import assert_accessible, violations


def new_context(browser: Browser, width: int = 1280) -> BrowserContext:
    return browser.new_context(bypass_csp=True, viewport={"width": width, "height": 900})


def new_order(shop: Merchant, pon: str, language: str = "fr_FR") -> dict:
    body = order_body(pon, (1001, 2), (1002, 1), (1003, 1))
    body["customer"]["language"] = language
    reply = shop.call("POST", "/order/new", body)
    assert reply.status_code == 201, reply.text
    return reply.json()  # type: ignore[no-any-return]


@pytest.mark.parametrize("width", [1280, 390])
def test_the_locker_pages_pass_the_accessibility_check(
    ctx: Context, shop_a: Merchant, server: str, browser: Browser, world: World, clock, width: int
) -> None:  # type: ignore[no-untyped-def]
    attach(ctx, 1001, "setup.exe", 1000)
    attach(ctx, 1002, "app.zip", 99)
    order = new_order(shop_a, f"A11Y-{width}")
    number = order["orderNumber"]
    context = new_context(browser, width)
    page = context.new_page()

    page.goto(f"{server}/locker?order={number}")
    assert_accessible(page, "the locker's sign-in")
    page.fill("#email", "someone@example.com")
    page.click("button[type=submit]")
    assert page.locator(".error, [role=alert]").count() >= 1
    assert_accessible(page, "the locker's sign-in with its error")

    page.fill("#email", "buyer@example.com")
    page.click("button[type=submit]")
    assert page.url == f"{server}/locker/order"
    assert page.locator(".serial").count() == 3 and page.locator("ul.files a").count() == 2
    assert_accessible(page, "the order page")

    page.goto(f"{server}/locker/nothing-here")
    assert_accessible(page, "the 404 page")

    url = order["orderLines"][0]["files"][0]["url"].replace("http://resell.test", server)
    page.goto(url[:-3] + "AAA")
    assert_accessible(page, "the 403 page of a tampered link")

    shop_a.call("PUT", "/order/cancel", {"partnerOrderNumber": f"A11Y-{width}", "reasonCode": 2})
    page.goto(f"{server}/locker/order")
    assert page.locator(".serial").count() == 0
    assert_accessible(page, "the cancelled order page")
    gone = page.goto(url)
    assert gone is not None and gone.status == 410
    assert_accessible(page, "the 410 page of a cancelled order's link")
    context.close()


def test_the_expired_links_410_page_passes_the_accessibility_check(
    ctx: Context, shop_a: Merchant, server: str, browser: Browser, world: World, clock
) -> None:  # type: ignore[no-untyped-def]
    attach(ctx, 1001, "setup.exe", 1000)
    order = new_order(shop_a, "A11Y-410", "de_DE")
    clock.advance(days=400)
    context = new_context(browser)
    page = context.new_page()
    gone = page.goto(order["orderLines"][0]["files"][0]["url"].replace("http://resell.test", server))
    assert gone is not None and gone.status == 410
    assert_accessible(page, "the 410 page of an expired link")
    context.close()


@pytest.mark.parametrize("language", ["en_US", "fr_FR", "ja_JP"])
def test_the_delivery_email_passes_the_accessibility_check(
    ctx: Context, shop_a: Merchant, browser: Browser, world: World, language: str
) -> None:
    attach(ctx, 1001, "setup.exe", 1000)
    number = new_order(shop_a, f"A11Y-MAIL-{language}", language)["orderNumber"]
    with ctx.db.read() as conn:
        line_ids = list(conn.execute(select(order_lines.c.id).where(order_lines.c.order_id == number)).scalars())
    message = delivery_mail.build(ctx, {"orderNumber": number, "to": "buyer@example.com", "lineIds": line_ids}, "e1")
    assert message is not None
    html = message.get_body(preferencelist=("html",)).get_content()
    context = new_context(browser, 600)
    page = context.new_page()
    page.set_content(html)
    assert page.locator("code").count() == 3
    assert_accessible(page, f"the delivery email ({language})")
    context.close()


def test_the_check_fails_on_a_page_with_serious_violations(browser: Browser) -> None:
    """The check itself: an unlabelled field and pale text are caught, and named in the failure."""
    context = new_context(browser)
    page = context.new_page()
    page.set_content(
        '<!doctype html><html lang="en"><head><title>t</title></head><body><main>'
        '<input type="text"><p style="color:#c8c8c8;background:#fff">pale text</p></main></body></html>'
    )
    found = {v["id"]: v["impact"] for v in violations(page)}
    assert found.get("label") == "critical" and found.get("color-contrast") == "serious"
    with pytest.raises(AssertionError) as failed:
        assert_accessible(page, "a bad page")
    assert "[critical] label" in str(failed.value) and "[serious] color-contrast" in str(failed.value)
    context.close()


def test_the_locker_works_with_the_keyboard_and_shows_where_the_focus_is(
    ctx: Context, shop_a: Merchant, server: str, browser: Browser, world: World
) -> None:
    attach(ctx, 1001, "setup.exe", 1000)
    number = new_order(shop_a, "A11Y-KEYS")["orderNumber"]
    context = new_context(browser)
    page = context.new_page()
    page.goto(f"{server}/locker")

    def focused() -> dict:
        return page.evaluate(
            "() => { const e = document.activeElement, s = getComputedStyle(e);"
            " return {id: e.id, tag: e.tagName, outline: s.outlineStyle, width: parseFloat(s.outlineWidth)}; }"
        )

    for _ in range(30):  # the header's links, then the form's fields, in order
        page.keyboard.press("Tab")
        now = focused()
        assert now["outline"] != "none" and now["width"] >= 2, now  # the focus is visible everywhere
        if now["id"] == "orderNumber":
            break
    else:
        raise AssertionError("the order number field is not reachable with Tab")
    page.keyboard.type(str(number))
    page.keyboard.press("Tab")
    assert focused()["id"] == "email"
    page.keyboard.type("buyer@example.com")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{server}/locker/order")
    page.keyboard.press("Tab")
    while focused()["tag"] != "BUTTON":  # sign out, reachable and visible too
        assert focused()["outline"] != "none"
        page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{server}/locker")
    context.close()
