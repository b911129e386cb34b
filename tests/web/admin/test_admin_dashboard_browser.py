"""The dashboard, stock and deliveries pages in a real headless Chromium: the charts render, the
upload goes through the page's own script with its progress bar and shows the result, no CSP
violation or script error. With RESELL_SCREENSHOTS=DIR the pages are also saved as DIR/<page>.png
(1280 wide) and DIR/<page>-phone.png (390 wide): `make screenshots` writes docs/images/back-office."""

# ruff: noqa: F811 - fixtures, imported, are parameters here

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from resell.services import dashboard
from resell.services.context import Context
from resell.worker import dispatcher
from tests.conftest import World
from tests.delivery_support import png_pixels
from tests.services.test_dashboard import sales  # noqa: F401 - fixture
from tests.services.test_deliveries import buy
from tests.web.admin.conftest import PASSWORD, make_staff
from tests.web.admin.test_admin_browser import sign_in
from tests.web.admin.test_admin_stock import count
from tests.worker.test_mail import direct, settings, smtp_port  # noqa: F401 - fixtures

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(autouse=True)
def _no_kept_days() -> None:
    dashboard.clear_cache()


@pytest.fixture
def admin_page(ctx: Context, server: str, browser: Browser) -> Iterator[tuple[Page, list[str]]]:
    make_staff(ctx, "ada@staff.test", "admin")
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    sign_in(page, server, "ada@staff.test", PASSWORD)
    assert page.url == server + "/admin"
    yield page, errors
    context.close()


def shoot(page: Page, name: str, tmp_path: Path) -> None:
    """Both widths, full page; each a real picture (not blank). Saved to RESELL_SCREENSHOTS too."""
    target = Path(os.environ.get("RESELL_SCREENSHOTS") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    for suffix, size in (("", DESKTOP), ("-phone", PHONE)):
        page.set_viewport_size(size)
        shot = target / f"{name}{suffix}.png"
        page.screenshot(path=str(shot), full_page=True)
        width, height, bpp, rows = png_pixels(shot.read_bytes())
        assert width == size["width"] and height >= 600
        # no horizontal scroll bar on the page itself (wide tables scroll in their own box)
        assert page.evaluate("document.documentElement.scrollWidth") <= size["width"], name + suffix
    page.set_viewport_size(DESKTOP)


def test_the_pages_render_in_a_browser(
    ctx: Context,
    world: World,
    sales: dict[str, int],
    direct: bytes,
    server: str,
    admin_page: tuple[Page, list[str]],
    tmp_path: Path,
) -> None:
    page, errors = admin_page
    # a failed email: nothing listens on the SMTP port
    buy(ctx, world, "PAGE-DOWN")
    assert dispatcher.run_pass(ctx).retried >= 1
    dashboard.clear_cache()
    page.goto(server + "/admin")
    charts = page.locator("svg.chart")
    assert charts.count() == 3 and charts.first.is_visible()
    box = charts.first.bounding_box()
    assert box and box["width"] > 600 and box["height"] > 150
    assert page.get_by_role("img", name="Orders per day").is_visible()
    # the numbers behind a chart: in the page, shown on demand
    page.get_by_text("Orders per day (UTC): the numbers").click()
    assert page.get_by_role("table", name="Orders per day (UTC)").is_visible()
    assert page.locator("#total-orders").inner_text() == "4"
    assert "connection refused" in page.get_by_role("region", name="Failed deliveries").inner_text().lower() or (
        "refused" in page.inner_text("main").lower()
    )
    page.get_by_text("Orders per day (UTC): the numbers").click()  # closed again for the picture
    shoot(page, "dashboard", tmp_path)

    page.get_by_role("link", name="All stock pools").click()
    assert page.url == server + "/admin/stock"
    shoot(page, "stock", tmp_path)

    page.get_by_role("navigation").get_by_role("link", name="Deliveries").click()
    page.get_by_label("State").select_option("retrying")
    page.get_by_role("button", name="Show").click()
    assert "state=retrying" in page.url and page.locator("tbody tr").count() == 1
    page.goto(server + "/admin/deliveries")
    shoot(page, "deliveries", tmp_path)
    assert not [e for e in errors if "Failed to load resource" not in e]


def test_upload_with_progress(
    ctx: Context, world: World, server: str, admin_page: tuple[Page, list[str]], tmp_path: Path
) -> None:
    page, errors = admin_page
    before = count(ctx, 1005)
    keys = tmp_path / "keys.txt"
    keys.write_text("".join(f"BROWSER-{i:06d}-ABCDEFGHIJKLMNOP\n" for i in range(60_000)))
    page.goto(server + "/admin/stock")
    progress = page.locator("#import-progress")
    assert progress.is_hidden()
    page.get_by_label("Product").select_option("1005")
    page.get_by_label("File of serials").set_input_files(str(keys))
    # what the progress bar shows while the file goes up (its value is reflected in its attribute)
    page.evaluate(
        """() => { window.shown = []; const bar = document.querySelector('#import-progress');
        new MutationObserver(() => window.shown.push([bar.hidden, bar.getAttribute('value')]))
          .observe(bar, {attributes: true}); }"""
    )
    page.get_by_role("button", name="Import").click()
    page.get_by_role("heading", name="Serials imported").wait_for(timeout=60_000)
    shown = page.evaluate("window.shown")
    assert [False, "100"] in shown, shown  # visible, and full once the file was sent
    assert page.url == server + "/admin/stock"  # the script swapped the page's content in place
    assert page.locator("#imported-count").inner_text() == "60000"
    assert count(ctx, 1005) == before + 60_000
    # a refused file: the lines named, nothing stored; the form works again after the swap
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"serial\nKEY-1\nKEY-2,x\n")
    page.get_by_label("Product").select_option("1005")
    page.get_by_label("File of serials").set_input_files(str(bad))
    page.get_by_role("button", name="Import").click()
    page.get_by_role("heading", name="File refused").wait_for(timeout=30_000)
    text = page.get_by_role("alert").inner_text()
    assert "line 1: header" in text and "line 3: separator" in text
    assert count(ctx, 1005) == before + 60_000
    assert not [e for e in errors if "Failed to load resource" not in e]


def test_upload_without_javascript(ctx: Context, world: World, server: str, browser: Browser, tmp_path: Path) -> None:
    make_staff(ctx, "pub@staff.test", "publisher", publisher="pub")
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    sign_in(page, server, "pub@staff.test", PASSWORD)
    page.goto(server + "/admin/stock")
    keys = tmp_path / "few.txt"
    keys.write_text("NOJS-1\nNOJS-2\n")
    page.get_by_label("Product").select_option("1003")
    page.get_by_label("File of serials").set_input_files(str(keys))
    page.get_by_role("button", name="Import").click()
    assert page.url == server + "/admin/stock/import"
    assert page.locator("#imported-count").inner_text() == "2"
    context.close()
