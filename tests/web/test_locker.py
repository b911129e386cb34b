"""The digital locker in a real headless Chromium (JavaScript off), plus its sign-in rules over HTTP."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx
import pytest
from babel.dates import format_date
from playwright.sync_api import Browser
from sqlalchemy import update

from resell.config import Settings
from resell.db.tables import products
from resell.services.context import Context
from tests.conftest import Merchant, World, order_body, settings_for
from tests.delivery_support import attach, png_pixels, sha256

GENERIC = "We could not find an order with this order number and email address."


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    """The suite's settings, with sign-in limits small enough to reach in a test."""
    return settings_for(
        tmp_path,
        db_url,
        locker_rate_limit_ip="6/minute",
        sign_in_backoff_after=3,
        sign_in_backoff_seconds=2,
        sign_in_backoff_max_seconds=8,
    )



def new_order(shop: Merchant, pon: str, *lines: tuple[int, int], **extra) -> dict:
    reply = shop.call("POST", "/order/new", order_body(pon, *lines, **extra))
    assert reply.status_code == 201, reply.text
    return reply.json()


def sign_in(http: httpx.Client, order_number: object, email: str) -> httpx.Response:
    return http.post("/locker", data={"orderNumber": str(order_number), "email": email})


def test_the_locker_in_a_real_browser_without_javascript(
    ctx: Context, shop_a: Merchant, server: str, browser: Browser, tmp_path: Path
) -> None:
    installer = attach(ctx, 1001, "setup.exe", 150_000)
    order = new_order(shop_a, "LOCK-1", (1001, 2), (1003, 1))
    number = order["orderNumber"]
    link = order["orderLines"][0]["digitalLockerLink"]
    assert link == f"http://resell.test/locker?order={number}"
    serials = [item["serials"][0]["data"] for line in order["orderLines"] for item in line["lineItems"]]

    context = browser.new_context(
        java_script_enabled=False, viewport={"width": 900, "height": 700}, accept_downloads=True
    )
    page = context.new_page()
    page.goto(server + link.removeprefix("http://resell.test"))
    assert page.input_value("#orderNumber") == str(number)  # the link fills in the order number
    page.fill("#email", "someone.else@example.com")
    page.click("button[type=submit]")
    assert GENERIC in page.inner_text(".error")

    page.fill("#email", "Buyer@Example.com")  # the order's email, in another case
    page.click("button[type=submit]")
    assert page.url == server + "/locker/order"
    assert page.inner_text("h1") == f"Order {number}"
    products = page.locator("section.product")
    assert products.count() == 2
    first = products.nth(0)
    assert first.locator("h2").inner_text() == "Serial and files"
    assert [s.strip() for s in first.locator(".serial").all_inner_texts()] == serials[:2]
    assert first.locator(".remark").inner_text() == f"Hi Ada Lovelace: Serial and files, order {number}"
    assert products.nth(1).locator("h2").inner_text() == "Serial only"
    assert products.nth(1).locator(".serial").inner_text().strip() == serials[2]
    end = page.locator("#end-date")  # the long date of the page's language, the ISO date in datetime=
    assert end.get_attribute("datetime") == order["orderLines"][0]["dateEndDownload"]
    day = dt.date.fromisoformat(end.get_attribute("datetime") or "")
    assert end.inner_text() == format_date(day, "long", locale="en")

    shot = tmp_path / "locker.png"
    page.screenshot(path=str(shot), full_page=True)
    data = shot.read_bytes()
    width, height, bpp, rows = png_pixels(data)
    assert width == 900 and height >= 700
    pixels = [row[i : i + 3] for row in rows for i in range(0, len(row), bpp)]
    white = sum(1 for p in pixels if p == b"\xff\xff\xff")
    header_blue = sum(1 for p in pixels if abs(p[0] - 0x1F) < 6 and abs(p[1] - 0x3A) < 6 and abs(p[2] - 0x5F) < 6)
    assert white < len(pixels) * 0.9  # not a blank page
    assert header_blue > 900 * 30  # the header bar rendered with its colour
    assert len(set(pixels)) > 50  # text and styles, not a flat fill

    with page.expect_download() as caught:
        first.locator("ul.files a").first.click()
    saved = tmp_path / "downloaded.exe"
    caught.value.save_as(saved)
    assert caught.value.suggested_filename == "setup.exe"
    assert sha256(saved.read_bytes()) == sha256(installer)

    page.click("text=Sign out")
    assert page.url == server + "/locker"
    page.goto(server + "/locker/order")
    assert page.url == server + "/locker"  # the session is gone
    context.close()


def test_wrong_pairs_all_get_one_generic_error(shop_a: Merchant, http: httpx.Client) -> None:
    number = new_order(shop_a, "LOCK-2", (1003, 1))["orderNumber"]
    for order_number, email in (
        (number, "wrong@example.com"),
        (number + 1000, "buyer@example.com"),
        ("not-a-number", "buyer@example.com"),
        (number, ""),
    ):
        reply = sign_in(http, order_number, email)
        assert reply.status_code == 401, (order_number, email)
        assert GENERIC in reply.text
        assert "resell_locker" not in reply.headers.get("set-cookie", "")
    ok = sign_in(http, number, "buyer@example.com")
    assert ok.status_code == 303 and ok.headers["location"] == "/locker/order"
    cookie = ok.headers["set-cookie"]
    assert "HttpOnly" in cookie and "Path=/locker" in cookie and "samesite=lax" in cookie.lower()


def test_sign_in_attempts_are_limited_per_ip(shop_a: Merchant, http: httpx.Client) -> None:
    number = new_order(shop_a, "LOCK-3", (1003, 1))["orderNumber"]
    for i in range(6):  # six attempts a minute from one address, spread over orders
        assert sign_in(http, number + 1 + i, "x@example.com").status_code == 401
    limited = sign_in(http, number, "buyer@example.com")  # even the right pair now waits
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert "Too many attempts" in limited.text


def test_failures_on_an_order_delay_the_failing_address_only(shop_a: Merchant, from_ip) -> None:  # type: ignore[no-untyped-def]
    """Failures on an order count per (order number, client address): the address that fails waits
    longer with each attempt (2, 4, 8 seconds, capped at 8), the right email included; the owner
    from their own address signs in, however many addresses failed before (the old per-order limit,
    10 an hour, locked the owner out for an hour)."""
    first = new_order(shop_a, "LOCK-4", (1003, 1))["orderNumber"]
    second = new_order(shop_a, "LOCK-5", (1003, 1))["orderNumber"]
    attacker = from_ip("127.0.0.60")
    for spelling in (str(first), f"0{first}", f" {first} "):  # zeros do not make a new counter
        assert sign_in(attacker, spelling, "guess@example.com").status_code == 401
    waits = []
    for email in ("buyer@example.com", "guess@example.com", "buyer@example.com"):
        limited = sign_in(attacker, first, email)
        assert limited.status_code == 429 and "Too many attempts" in limited.text
        waits.append(int(limited.headers["retry-after"]))
    assert waits == [4, 8, 8]
    for i in range(4):  # more failing addresses: 12 failures on the order in all
        for _ in range(3):
            assert sign_in(from_ip(f"127.0.0.{61 + i}"), first, "guess@example.com").status_code == 401
    assert sign_in(from_ip("127.0.0.70"), first, "buyer@example.com").status_code == 303  # the owner
    # the failing address's per-IP allowance (6 a minute) is spent: other orders wait too
    limited = sign_in(attacker, second, "buyer@example.com")
    assert limited.status_code == 429 and 1 <= int(limited.headers["retry-after"]) <= 60


def test_the_session_cannot_be_forged_and_expires(shop_a: Merchant, http: httpx.Client, clock) -> None:
    mine = new_order(shop_a, "LOCK-6", (1003, 1))["orderNumber"]
    theirs = new_order(shop_a, "LOCK-7", (1003, 1))["orderNumber"]
    assert http.get("/locker/order").status_code == 303
    sign_in(http, mine, "buyer@example.com")
    cookie = http.cookies.get("resell_locker", path="/locker")
    assert cookie and cookie.startswith(f"{mine}.")
    assert f"Order {mine}" in http.get("/locker/order").text
    forged = f"{theirs}." + cookie.split(".", 1)[1]
    with httpx.Client(base_url=str(http.base_url), cookies={"resell_locker": forged}) as forger:
        reply = forger.get("/locker/order")
    assert reply.status_code == 303 and reply.headers["location"] == "/locker"
    clock.advance(hours=1, seconds=1)
    assert http.get("/locker/order").status_code == 303


def test_a_cancelled_order_shows_no_serial_and_no_link(
    ctx: Context, shop_a: Merchant, http: httpx.Client, world: World
) -> None:
    attach(ctx, 1001, "setup.exe", 1000)
    order = new_order(shop_a, "LOCK-8", (1001, 1))
    serial = order["orderLines"][0]["lineItems"][0]["serials"][0]["data"]
    sign_in(http, order["orderNumber"], "buyer@example.com")
    page = http.get("/locker/order").text
    assert serial in page and "/download/" in page and ".meta4" in page
    shop_a.call("PUT", "/order/cancel", {"partnerOrderNumber": "LOCK-8", "reasonCode": 2})
    page = http.get("/locker/order").text
    assert "was cancelled" in page
    assert serial not in page and "/download/" not in page and ".meta4" not in page


def test_after_the_end_date_the_locker_shows_the_date_and_no_link(
    ctx: Context, shop_a: Merchant, http: httpx.Client, world: World, clock
) -> None:
    attach(ctx, 1001, "setup.exe", 1000)
    order = new_order(shop_a, "LOCK-9", (1001, 1))
    clock.advance(days=22)
    sign_in(http, order["orderNumber"], "buyer@example.com")
    page = http.get("/locker/order").text
    day = order["orderLines"][0]["dateEndDownload"]
    long = format_date(dt.date.fromisoformat(day), "long", locale="en")
    assert f'ended on <time id="end-date" datetime="{day}">{long}</time>' in page
    assert "/download/" not in page
    assert order["orderLines"][0]["lineItems"][0]["serials"][0]["data"] in page  # the serial stays


def test_what_the_buyer_typed_cannot_inject_markup(shop_a: Merchant, http: httpx.Client) -> None:
    body = order_body("LOCK-10", (1001, 1))
    body["customer"]["locationInvoice"]["firstName"] = '<img src=x onerror="alert(1)">Ada<script>alert(2)</script>'
    reply = shop_a.call("POST", "/order/new", body)
    assert reply.status_code == 201, reply.text
    sign_in(http, reply.json()["orderNumber"], "buyer@example.com")
    page = http.get("/locker/order")
    assert (
        "Hi &lt;img src=x onerror=&#34;alert(1)&#34;&gt;Ada&lt;script&gt;alert(2)&lt;/script&gt; Lovelace" in page.text
    )
    assert "<script>alert(2)" not in page.text and "<img" not in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]


def test_a_name_holding_a_link_is_text_in_a_real_browser(
    ctx: Context, shop_a: Merchant, server: str, browser: Browser
) -> None:
    with ctx.db.write() as conn:  # the product's own remark holds a link: it stays one
        conn.execute(
            update(products)
            .where(products.c.ref == 1001)
            .values(remark_template='Hi %FIRSTNAME% %LASTNAME%: <a href="https://pub.example/activate">activate</a>')
        )
    body = order_body("LOCK-11", (1001, 1))
    name = '<a href="https://evil.example/">Lovelace</a>'
    body["customer"]["locationInvoice"]["lastName"] = name
    number = new_order(shop_a, "LOCK-11", (1001, 1), customer=body["customer"])["orderNumber"]
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{server}/locker?order={number}")
    page.fill("#email", "buyer@example.com")
    page.click("button[type=submit]")
    remark = page.locator(".remark")
    assert remark.inner_text() == f"Hi Ada {name}: activate"
    links = remark.locator("a")
    assert links.count() == 1 and links.first.get_attribute("href") == "https://pub.example/activate"
    assert page.locator('a[href*="evil.example"]').count() == 0
    context.close()
