"""/docs and /redoc in a real headless Chromium that may reach only the server: both render every
operation of /openapi.json from the assets the package ships (issue: an offline operator saw a blank
page, the UI was loaded from a CDN)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, Route, expect

from tests.delivery_support import png_pixels

METHODS = {"get", "put", "post", "delete", "patch"}


def operations(server: str) -> set[tuple[str, str]]:
    document = httpx.get(server + "/openapi.json").json()
    return {(method.upper(), path) for path, item in document["paths"].items() for method in item if method in METHODS}


def offline_page(browser: Browser, server: str, elsewhere: list[str]) -> Page:  # noqa: F811
    """A page whose every request to another host than the server's is recorded in `elsewhere` and refused."""

    def only_the_server(route: Route) -> None:
        if route.request.url.startswith(server + "/"):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    context = browser.new_context(viewport={"width": 1200, "height": 900})
    context.route("**/*", only_the_server)
    return context.new_page()


def test_swagger_ui_renders_every_operation_with_no_other_host(
    server: str,
    browser: Browser,  # noqa: F811
    tmp_path: Path,
) -> None:
    expected = operations(server)
    assert len(expected) > 10
    elsewhere: list[str] = []
    page = offline_page(browser, server, elsewhere)
    page.goto(server + "/docs")
    blocks = page.locator(".opblock")
    expect(blocks).to_have_count(len(expected), timeout=30_000)
    methods = [block.locator(".opblock-summary-method").inner_text() for block in blocks.all()]
    paths = [block.locator(".opblock-summary-path").get_attribute("data-path") for block in blocks.all()]
    shown = set(zip(methods, paths, strict=True))
    assert shown == expected
    assert page.title() == "resell Connect API - Swagger UI"

    shot = tmp_path / "docs.png"
    page.screenshot(path=str(shot))
    width, height, bpp, rows = png_pixels(shot.read_bytes())
    pixels = [row[i : i + 3] for row in rows for i in range(0, len(row), bpp)]
    assert len(set(pixels)) > 50  # styled text and coloured method badges, not a blank page
    assert sum(1 for p in pixels if p == b"\xff\xff\xff") < len(pixels) * 0.95
    assert elsewhere == []


def test_redoc_renders_every_operation_with_no_other_host(
    server: str,
    browser: Browser,  # noqa: F811
) -> None:
    expected = operations(server)
    elsewhere: list[str] = []
    page = offline_page(browser, server, elsewhere)
    page.goto(server + "/redoc")
    # each operation's section under its tag, once (ReDoc also marks blocks "operation/ID" and nests them)
    selector = '[data-section-id^="tag/"][data-section-id*="/operation/"]'
    unique_sections = f"new Set([...document.querySelectorAll('{selector}')].map(e => e.dataset.sectionId)).size"
    # polled from here: wait_for_function polls inside the page with eval, which the page's CSP forbids
    deadline = time.monotonic() + 60
    while page.evaluate(unique_sections) < len(expected):
        assert time.monotonic() < deadline, "ReDoc did not render every operation within a minute"
        page.wait_for_timeout(100)
    assert page.evaluate(unique_sections) == len(expected)
    assert page.title() == "resell Connect API - ReDoc"
    assert elsewhere == []


@pytest.mark.parametrize("page_path", ["/docs", "/redoc"])
def test_the_docs_pages_name_no_other_host_and_forbid_other_origins(server: str, page_path: str) -> None:
    page = httpx.get(server + page_path)
    assert "https://" not in page.text and "http://" not in page.text
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "img-src 'self' data:" in policy
