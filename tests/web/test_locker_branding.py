"""The locker in the shop's name, in a real Chromium: a branded shop's name, logo (loaded under the
page's `img-src https:`), accent colour, support contact and its own order number, in French; the
merchant's own name without branding; the refused-download page of a known order shows the shop too."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import httpx
from playwright.sync_api import Browser, Route

from resell.services import branding
from resell.services.context import Context
from tests.conftest import Merchant, World, order_body
from tests.delivery_support import attach

ROOT = Path(__file__).resolve().parents[2]
LOGO_URL = "https://cdn.acme.test/logo.png"
BRAND = {
    "display_name": "Acmé Shop",
    "logo_url": LOGO_URL,
    "support_email": "help@acme.example.com",
    "support_url": "https://acme.example.com/help",
    "accent": "#7a1f5f",
}


def logo_png(size: int = 64) -> bytes:
    """A small round logo: a white disc with a ring in the accent colour, on transparent."""
    rows = []
    c = (size - 1) / 2
    for y in range(size):
        row = bytearray([0])
        for x in range(size):
            d = ((x - c) ** 2 + (y - c) ** 2) ** 0.5
            if d < size * 0.30:
                row += bytes((255, 255, 255, 255))
            elif d < size * 0.48:
                row += bytes((0x7A, 0x1F, 0x5F, 255))
            else:
                row += bytes((0, 0, 0, 0))
        rows.append(bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows)))
        + chunk(b"IEND", b"")
    )



def new_order(shop: Merchant, pon: str, language: str) -> dict:
    body = order_body(pon, (1001, 1))
    body["customer"]["language"] = language
    reply = shop.call("POST", "/order/new", body)
    assert reply.status_code == 201, reply.text
    return reply.json()  # type: ignore[no-any-return]


def test_the_locker_of_a_branded_shop_in_french(
    ctx: Context, shop_a: Merchant, server: str, browser: Browser, world: World, clock
) -> None:  # type: ignore[no-untyped-def]
    attach(ctx, 1001, "setup.exe", 1000)
    branding.set_branding(ctx, "shop-a", BRAND)
    order = new_order(shop_a, "ACME-2026-0042", "fr_FR")
    number = order["orderNumber"]

    context = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 800})
    logo_requests: list[str] = []

    def serve_logo(route: Route) -> None:
        logo_requests.append(route.request.url)
        route.fulfill(status=200, content_type="image/png", body=logo_png())

    context.route(LOGO_URL, serve_logo)
    page = context.new_page()
    page.goto(f"{server}/locker?order={number}")
    assert "Acmé" not in page.inner_text("header")  # before sign-in, nothing says whose order a number is
    page.fill("#email", "buyer@example.com")
    page.click("button[type=submit]")
    assert page.url == f"{server}/locker/order"
    assert page.get_attribute("html", "lang") == "fr"

    header = page.locator("header")
    assert header.inner_text().startswith("Acmé Shop · espace de téléchargement")
    assert header.evaluate("h => getComputedStyle(h).backgroundColor") == "rgb(122, 31, 95)"
    logo = page.locator("header img.logo")
    assert logo.get_attribute("alt") == "Acmé Shop" and logo.get_attribute("src") == LOGO_URL
    assert logo_requests == [LOGO_URL]
    assert logo.evaluate("img => img.complete && img.naturalWidth") == 64  # the CSP let it load

    assert page.inner_text("h1") == f"Commande {number}"
    assert page.inner_text("#shop-order") == "Numéro de commande chez Acmé Shop\u00a0: ACME-2026-0042"
    support = page.locator("#support")
    assert "Une question sur votre commande\u00a0? Contactez Acmé Shop\u00a0:" in support.inner_text()
    assert support.locator("a").nth(0).get_attribute("href") == "mailto:help@acme.example.com"
    assert support.locator("a").nth(1).get_attribute("href") == "https://acme.example.com/help"
    assert support.locator("a").nth(0).evaluate("a => getComputedStyle(a).color") == "rgb(122, 31, 95)"

    if os.environ.get("RESELL_LOCKER_SCREENSHOTS") == "1":  # docs/fulfilment.md, "The shop's name and look"
        page.screenshot(path=str(ROOT / "docs" / "images" / "locker" / "fr-branded-desktop.png"), full_page=True)

    url = order["orderLines"][0]["files"][0]["url"].removeprefix("http://resell.test")
    clock.advance(days=22)
    expired = page.goto(server + url)
    assert expired is not None and expired.status == 410
    assert page.inner_text("header").startswith("Acmé Shop")
    assert "help@acme.example.com" in page.inner_text("#support")
    context.close()


def test_without_branding_the_locker_names_the_merchant(shop_a: Merchant, http: httpx.Client, world: World) -> None:
    number = new_order(shop_a, "PLAIN-42", "en_US")["orderNumber"]
    assert http.post("/locker", data={"orderNumber": str(number), "email": "buyer@example.com"}).status_code == 303
    page = http.get("/locker/order")
    assert '<header><a href="/locker"><span class="shop">shop-a</span> · digital locker</a>' in page.text
    assert 'id="shop-order">Order number at shop-a: PLAIN-42</p>' in page.text
    assert 'id="support"' not in page.text  # no support contact set
    csp = page.headers["content-security-policy"]
    assert "img-src 'self' https:;" in csp and "default-src 'none'" in csp and "script-src 'self';" in csp
