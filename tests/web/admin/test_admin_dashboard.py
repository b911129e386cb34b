"""The dashboard page over real orders: its numbers are the service's, each chart is valid SVG with its
table, support sees no amounts, a publisher its own products only."""

# ruff: noqa: F811 - the dashboard tests' fixture, imported, is a parameter here

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable

import httpx
import pytest
from lxml import etree, html

from resell.services import dashboard
from resell.services.context import Context
from tests.services.test_dashboard import sales  # noqa: F401 - fixture
from tests.web.admin.conftest import make_staff

SVG = "{http://www.w3.org/2000/svg}"
AMOUNT = re.compile(r"\d+\.\d\d\b")


@pytest.fixture(autouse=True)
def _no_kept_days() -> None:
    dashboard.clear_cache()


def tables_of(page: str) -> dict[str, list[list[str]]]:
    """Every chart's table, by caption: rows of cell texts."""
    tree = html.fromstring(page)
    found = {}
    for table in tree.xpath("//figure[@class='chart-box']//table"):
        caption = table.xpath(".//caption")[0].text_content().strip()
        found[caption] = [[c.text_content().strip() for c in tr] for tr in table.xpath("./tbody/tr")]
    return found


def svgs_of(page: str) -> list[etree._Element]:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return [etree.fromstring(m.encode(), parser) for m in re.findall(r"<svg\b.*?</svg>", page, re.S)]


def test_the_page_shows_the_services_numbers(
    ctx: Context, sales: dict[str, int], staff_client: Callable[[str], httpx.Client]
) -> None:
    page = staff_client("finance").get("/admin")
    assert page.status_code == 200, page.text
    summary = dashboard.summary(ctx)
    tables = tables_of(page.text)
    orders = defaultdict(int)
    for total in summary.per_day:
        orders[total.day.isoformat()] += total.orders
    assert tables["Orders per day (UTC)"] == [[d.isoformat(), str(orders[d.isoformat()])] for d in summary.days]
    assert tables["Revenue per day in EUR (UTC, duty free)"] == [
        [t.day.isoformat(), f"{t.revenue:.2f}"] for t in summary.per_day if t.currency == "EUR"
    ]
    assert sum(int(r[1]) for r in tables["Cancellations per day (UTC)"]) == 1
    tree = html.fromstring(page.text)
    assert tree.get_element_by_id("total-orders").text_content() == "3" == str(summary.totals["EUR"].orders)
    assert "78.00 EUR" in page.text  # the window's revenue: 20 + 58
    assert "75.00 EUR" in page.text and "shop-a" in page.text  # the top merchant
    assert "DASH-D" in page.text and "changed my mind" in page.text  # the latest cancellation
    assert tree.get_element_by_id("as-of").get("datetime") == summary.as_of.isoformat()
    # every chart is valid SVG, an image with a name, one bar per day
    charts = svgs_of(page.text)
    assert [c.find(f"{SVG}title").text for c in charts] == [
        "Orders per day",
        "Revenue per day in EUR",
        "Cancellations per day",
    ]
    assert all(c.get("role") == "img" for c in charts)
    assert len(charts[0].findall(f".//{SVG}g[@class='bars']/{SVG}rect")) == 30
    # pools low or out: linked to the stock page; failed deliveries: to the deliveries page (admin only)
    assert 'href="/admin/stock"' not in page.text and 'href="/admin/deliveries' not in page.text  # finance
    admin = staff_client("admin").get("/admin").text
    assert 'href="/admin/stock"' in admin and 'href="/admin/deliveries?state=failed"' in admin


def test_support_sees_no_amounts(
    ctx: Context, sales: dict[str, int], staff_client: Callable[[str], httpx.Client]
) -> None:
    page = staff_client("support").get("/admin")
    assert page.status_code == 200
    assert not AMOUNT.findall(page.text), AMOUNT.findall(page.text)
    assert "Revenue" not in page.text and "revenue-per-day" not in page.text
    assert [c.find(f"{SVG}title").text for c in svgs_of(page.text)] == ["Orders per day", "Cancellations per day"]
    assert html.fromstring(page.text).get_element_by_id("total-orders").text_content() == "3"


def test_a_publisher_sees_its_products_only(
    ctx: Context, sales: dict[str, int], staff_client: Callable[[str], httpx.Client]
) -> None:
    make_staff(ctx, "other@pub.test", "publisher", publisher="other")
    ours = staff_client("publisher").get("/admin").text
    assert "Other&#39;s Game" not in ours and "Other's Game" not in ours
    assert "1401" not in ours
    assert html.fromstring(ours).get_element_by_id("total-orders").text_content() == "3"  # A, B (1002), C
    assert "50.00 EUR" not in ours
