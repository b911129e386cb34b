"""The catalogue, merchants and finance pages in a real headless Chromium: an admin rotates a
catalogue secret through the confirmation and copies it, a finance member downloads a statement,
support is refused the finance page, a publisher sees its own products only.

With RESELL_SCREENSHOTS=DIR, `test_screenshots` also writes each page at 1280 and 390 pixels wide
to DIR/<page>.png and DIR/<page>-phone.png (docs/images/back-office/ holds the published ones).
"""

from __future__ import annotations

import copy
import csv
import os
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page
from sqlalchemy import select

from resell.db.tables import catalogs
from resell.services import reports
from resell.services.catalog_import import import_catalog
from resell.services.context import Context
from tests.conftest import TEST_CATALOG, Merchant, World
from tests.web.admin.conftest import PASSWORD, make_staff
from tests.web.admin.pages_support import NOV, november, other_publisher  # noqa: F401 (november: a fixture)


def signed_in(browser: Browser, server: str, email: str, **options: object) -> tuple[BrowserContext, Page, list[str]]:
    context = browser.new_context(**options)  # type: ignore[arg-type]
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto(server + "/admin/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    assert page.url == server + "/admin"
    return context, page, errors


def script_errors(errors: list[str]) -> list[str]:
    return [e for e in errors if "Failed to load resource" not in e]  # a 403/404 page is not a script error


def test_admin_rotates_a_catalogue_secret_and_copies_it(
    ctx: Context, server: str, browser: Browser, world: World, shop_a: Merchant
) -> None:
    make_staff(ctx, "ada@staff.test", "admin")
    context, page, errors = signed_in(
        browser, server, "ada@staff.test", permissions=["clipboard-read", "clipboard-write"]
    )
    page.get_by_role("navigation").get_by_role("link", name="Catalogue & Merchants").click()
    page.get_by_role("link", name="Merchants", exact=True).click()
    page.get_by_role("link", name="shop-a").click()
    with ctx.db.read() as conn:
        eur = conn.execute(select(catalogs.c.id).where(catalogs.c.name == "shop-a EUR")).scalar_one()
    page.locator(f"form[action$='/catalogues/{eur}/secret'] button").click()
    assert page.get_by_role("heading", name="Please confirm").is_visible()
    assert "stops working at once" in page.inner_text("main")
    assert shop_a.call("GET", "/order/NONE").json()["responseCode"] != 71  # nothing rotated yet
    page.get_by_role("button", name="Rotate catalogue secret").click()
    assert page.get_by_role("heading", name="New secret").is_visible()
    secret = page.inner_text("#new-secret").strip()
    page.get_by_role("button", name="Copy").click()
    page.get_by_role("button", name="Copied").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == secret
    assert shop_a.call("GET", "/order/NONE").json()["responseCode"] == 71  # the old secret is refused
    assert shop_a.call("GET", "/order/NONE", secret=secret).json()["responseCode"] != 71
    page.get_by_role("link", name="Back to merchant shop-a").click()
    assert secret not in page.content()  # shown once
    assert not script_errors(errors)
    context.close()


@pytest.mark.usefixtures("november")
def test_finance_downloads_a_statement_csv(ctx: Context, server: str, browser: Browser, world: World) -> None:
    make_staff(ctx, "fin@staff.test", "finance")
    context, page, errors = signed_in(browser, server, "fin@staff.test", accept_downloads=True)
    page.get_by_role("navigation").get_by_role("link", name="Finance").click()
    assert page.get_by_label("Month (UTC)").input_value() == NOV
    page.get_by_label("Merchant statement").select_option("shop-a")
    page.get_by_role("button", name="Show").click()
    net = reports.statement(ctx, "shop-a", NOV).currencies[0].net
    assert f"EUR {net:.2f}" in page.inner_text("#statement")
    with page.expect_download() as download:
        page.locator("#statement").get_by_role("link", name="Download CSV").click()
    assert download.value.suggested_filename == f"statement-shop-a-{NOV}.csv"
    with open(download.value.path(), newline="") as file:
        rows = list(csv.reader(file))
    assert sum(Decimal(r[-1]) for r in rows[1:] if len(r) > 1 and r[1] in ("order", "cancellation")) == net
    assert [Decimal(r[-1]) for r in rows if len(r) > 1 and r[1] == "net"] == [net]
    assert not script_errors(errors)
    context.close()


def test_support_is_refused_the_finance_page(ctx: Context, server: str, browser: Browser, world: World) -> None:
    make_staff(ctx, "sup@staff.test", "support")
    context, page, _ = signed_in(browser, server, "sup@staff.test")
    assert "Finance" not in page.get_by_role("navigation").inner_text()
    reply = page.goto(server + "/admin/finance")
    assert reply is not None and reply.status == 403
    assert page.get_by_role("heading", name="Forbidden").is_visible()
    context.close()


def test_publisher_sees_only_its_products(ctx: Context, server: str, browser: Browser, world: World) -> None:
    other_publisher(ctx)
    make_staff(ctx, "pub@staff.test", "publisher", publisher="pub")
    context, page, errors = signed_in(browser, server, "pub@staff.test", viewport={"width": 390, "height": 800})
    page.get_by_role("navigation").get_by_role("link", name="My products").click()
    table = page.locator("table").inner_text()
    assert "Serial and files" in table and "Someone else" not in table
    page.get_by_role("link", name="1001").click()
    assert page.get_by_role("heading", name="1001 · Serial and files").is_visible()
    reply = page.goto(server + "/admin/products/2001")
    assert reply is not None and reply.status == 404
    reply = page.goto(server + "/admin/catalogue")
    assert reply is not None and reply.status == 403
    assert not script_errors(errors)
    context.close()


@pytest.mark.usefixtures("november")
def test_screenshots(ctx: Context, server: str, browser: Browser, world: World, tmp_path: Path) -> None:
    """Every page at both widths; saved to RESELL_SCREENSHOTS=DIR too (the pictures of docs/back-office.md)."""
    out = Path(os.environ.get("RESELL_SCREENSHOTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    make_staff(ctx, "ada@staff.test", "admin")
    make_staff(ctx, "pub@staff.test", "publisher", publisher="pub")
    catalog = copy.deepcopy(TEST_CATALOG)  # the product page with texts per language
    catalog["products"][0]["texts"] = {
        "de": {"shortDescription": "Seriennummer und Dateien"},
        "fr": {"name": "Série et fichiers", "remark": "Bonjour %FIRSTNAME%, installez %GAMENAME%."},
    }
    import_catalog(ctx, catalog)
    with ctx.db.read() as conn:
        eur = conn.execute(select(catalogs.c.id).where(catalogs.c.name == "shop-a EUR")).scalar_one()
    admin_pages = {
        "catalogue": "/admin/catalogue",
        "product": "/admin/catalogue/1001",
        "merchants": "/admin/merchants",
        "merchant": "/admin/merchants/shop-a",
        "finance": f"/admin/finance?month={NOV}&realm=shop-a&publisher=pub",
    }
    for suffix, width in (("", 1280), ("-phone", 390)):
        context, page, _ = signed_in(browser, server, "ada@staff.test", viewport={"width": width, "height": 900})
        for name, path in admin_pages.items():
            page.goto(server + path)
            page.screenshot(path=str(out / f"{name}{suffix}.png"), full_page=True)
        page.goto(server + "/admin/merchants/shop-a")
        page.locator(f"form[action$='/catalogues/{eur}/secret'] button").click()
        page.screenshot(path=str(out / f"confirm{suffix}.png"), full_page=True)
        page.get_by_role("button", name="Rotate catalogue secret").click()
        page.screenshot(path=str(out / f"secret{suffix}.png"), full_page=True)
        context.close()
        context, page, _ = signed_in(browser, server, "pub@staff.test", viewport={"width": width, "height": 900})
        page.goto(server + "/admin/products")
        page.screenshot(path=str(out / f"my-products{suffix}.png"), full_page=True)
        page.goto(server + f"/admin/finance?month={NOV}")
        page.screenshot(path=str(out / f"publisher-finance{suffix}.png"), full_page=True)
        context.close()
    names = [*admin_pages, "confirm", "secret", "my-products", "publisher-finance"]
    for name in names:
        for suffix in ("", "-phone"):
            assert (out / f"{name}{suffix}.png").stat().st_size > 5_000, f"{name}{suffix}.png looks blank"
