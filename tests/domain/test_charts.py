"""The dashboard's SVG charts: valid XML, accessible, one bar per day, escaped text, sane scales."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from lxml import etree

from resell.domain import charts

SVG = "{http://www.w3.org/2000/svg}"
DAYS = [dt.date(2026, 11, 1) + dt.timedelta(days=n) for n in range(30)]


def parse(svg: str) -> etree._Element:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.fromstring(svg.encode(), parser)


def test_orders_per_day_is_an_accessible_image_with_one_bar_a_day() -> None:
    counts = [n % 7 for n in range(30)]
    chart = charts.orders_per_day(DAYS, counts)
    root = parse(chart.svg)
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
    assert root.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
    assert title.text == "Orders per day" and str(sum(counts)) in desc.text
    bars = root.findall(f".//{SVG}g[@class='bars']/{SVG}rect")
    assert len(bars) == 30
    assert [float(b.get("height")) > 0 for b in bars] == [c > 0 for c in counts]
    assert bars[3].find(f"{SVG}title").text == "Nov 4: 3"
    assert not root.findall(f".//{SVG}script") and "javascript" not in chart.svg.lower()
    # axis labels: thinned, but there
    labels = [t.text for t in root.findall(f".//{SVG}g[@class='axis']/{SVG}text")]
    assert "Nov 1" in labels and len([x for x in labels if x.startswith("Nov")]) <= charts.MAX_X_LABELS
    # the same numbers as a table
    assert chart.table.columns == ["Day", "Orders"]
    assert chart.table.rows[3] == ["2026-11-04", "3"] and len(chart.table.rows) == 30


def test_empty_data_and_zero_days_draw_axes_only() -> None:
    for days, counts in (([], []), (DAYS, [0] * 30)):
        root = parse(charts.orders_per_day(days, counts).svg)
        bars = root.findall(f".//{SVG}g[@class='bars']/{SVG}rect")
        assert len(bars) == len(days) and all(float(b.get("height")) == 0 for b in bars)
        ticks = [t.text for t in root.findall(f".//{SVG}g[@class='axis']/{SVG}text")]
        assert "0" in ticks and "1" in ticks  # a 0..1 axis, not a division by zero
    assert charts.revenue_per_day(DAYS, {}) == []


def test_one_huge_day_keeps_the_small_ones_visible_and_the_axis_round() -> None:
    counts = [1] * 29 + [1_000_000]
    root = parse(charts.orders_per_day(DAYS, counts).svg)
    heights = [float(b.get("height")) for b in root.findall(f".//{SVG}g[@class='bars']/{SVG}rect")]
    assert all(h >= 1 for h in heights) and heights[-1] == max(heights)
    ticks = [t.text for t in root.findall(f".//{SVG}g[@class='axis']/{SVG}text")]
    assert "1M" in ticks
    assert charts.nice_ceiling(1_000_001) == 2_000_000 and charts.nice_ceiling(7) == 10 and charts.nice_ceiling(0) == 1
    assert charts.nice_ceiling(0.3) == 0.5 and charts.nice_ceiling(240) == 250


def test_revenue_is_one_chart_per_currency_with_its_table() -> None:
    per_currency = {
        "USD": [Decimal("10.5")] * 30,
        "EUR": [Decimal(n) for n in range(30)],
        "JPY": [Decimal(100_000)] * 30,
    }
    made = charts.revenue_per_day(DAYS, per_currency)
    assert [c.table.columns[1] for c in made] == ["EUR", "JPY", "USD"]
    for chart in made:
        root = parse(chart.svg)
        assert root.get("role") == "img" and len(root.findall(f".//{SVG}circle")) == 30
        assert root.find(f"{SVG}polyline") is None and root.find(f".//{SVG}polyline") is not None
    assert made[2].table.rows[0] == ["2026-11-01", "10.50"]
    ids = [parse(c.svg).get("id") for c in made]
    assert len(set(ids)) == 3  # three charts on one page: ids must not collide


def test_text_is_escaped() -> None:
    nasty = '<script>alert("x")</script> & "quotes"'
    svg = charts.bar_chart("c&<1", nasty, nasty, [nasty, "b"], [1, 2], unit="<u>")
    root = parse(svg)  # still well-formed
    assert root.find(f"{SVG}title").text == nasty
    assert root.get("id") == "c&<1"
    assert not root.findall(f".//{SVG}script")
    assert root.findall(f".//{SVG}rect")[0].find(f"{SVG}title").text == f"{nasty}: 1 <u>"
    line = parse(charts.line_chart("l", "t", "d", ["a"], [charts.Series(nasty, [1]), charts.Series("b", [2])]))
    legend = [t.text for t in line.findall(f".//{SVG}g[@class='legend']/{SVG}text")]
    assert legend == [nasty, "b"]


def test_a_count_chart_has_whole_ticks_even_for_one_order() -> None:
    days = [dt.date(2026, 11, 1) + dt.timedelta(days=n) for n in range(3)]
    svg = charts.orders_per_day(days, [0, 1, 0]).svg
    ticks = re.findall(r"text-anchor=\"end\">([^<]+)</text>", svg)
    assert ticks == ["0", "1", "2", "3", "4", "5"]
