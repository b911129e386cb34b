"""Server-side SVG charts for the back office: bars and lines, no JavaScript, no I/O.

Each chart is a `Chart`: the SVG text and the same numbers as a table (`ChartTable`) that the page
renders next to it for screen readers and for anyone who wants the exact values. The SVG itself is
an image with a name and a description (role="img", <title>, <desc>, aria-labelledby); every bar
and point carries a <title> with its exact value (a tooltip on hover).

Scales: the value axis starts at zero and ends at a "nice" number (1, 2, 2.5 or 5 times a power of
ten) at or above the largest value, so a chart of zeros is a flat line on a 0..1 axis and one huge
day does not hide the others entirely (a bar above zero is at least one pixel high). Day labels
are thinned to at most MAX_X_LABELS. All text is XML-escaped.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from decimal import Decimal
from xml.sax.saxutils import escape, quoteattr

Number = int | float | Decimal

WIDTH = 720
HEIGHT = 260
MARGIN_LEFT = 64
MARGIN_RIGHT = 16
MARGIN_TOP = 28  # room for the unit above the top tick
MARGIN_BOTTOM = 44
MAX_X_LABELS = 8
TICKS = 5
# distinguishable colours (Okabe-Ito), and they differ in lightness too
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")


@dataclass(frozen=True)
class ChartTable:
    """The chart's numbers: a caption, column headings, rows of text cells (first cell: the row's label)."""

    caption: str
    columns: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class Chart:
    svg: str
    table: ChartTable


@dataclass(frozen=True)
class Series:
    name: str
    values: list[Number]


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 (times a power of ten) at or above `value`; 1 for zero or less."""
    if not value or value <= 0 or not math.isfinite(value):
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value * (1 - 1e-12):
            return step * power
    return 10 * power  # pragma: no cover - the loop always returns


def compact(value: float) -> str:
    """A short label for an axis tick: 950, 1.5k, 2M (the table holds the exact numbers)."""
    sign = "-" if value < 0 else ""
    value = abs(value)
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= limit:
            return f"{sign}{value / limit:.3g}{suffix}"
    return f"{sign}{value:.3g}" if value != int(value) else f"{sign}{int(value)}"


def exact(value: Number) -> str:
    """The exact value for tables and tooltips: integers as they are, amounts with two decimals."""
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, float) and value != int(value):
        return f"{value:.2f}"
    return str(int(value))


def day_label(day: dt.date) -> str:
    return f"{day:%b} {day.day}"


def _thin(count: int) -> int:
    """Show every n-th x label so that at most MAX_X_LABELS appear."""
    return max(1, math.ceil(count / MAX_X_LABELS))


def _frame(chart_id: str, title: str, description: str) -> list[str]:
    ids = f"{chart_id}-title {chart_id}-desc"
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby={quoteattr(ids)} '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'font-family="system-ui, sans-serif" font-size="12" class="chart" id={quoteattr(chart_id)}>',
        f"<title id={quoteattr(chart_id + '-title')}>{escape(title)}</title>",
        f"<desc id={quoteattr(chart_id + '-desc')}>{escape(description)}</desc>",
    ]


def _axes(top: float, labels: list[str], unit: str) -> list[str]:
    """The value axis with its ticks and grid lines, the label axis with thinned labels."""
    plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    base = MARGIN_TOP + plot_h
    parts = ['<g class="axis" aria-hidden="true" fill="#333">']
    for i in range(TICKS + 1):
        value = top * i / TICKS
        y = base - plot_h * i / TICKS
        parts.append(
            f'<line x1="{MARGIN_LEFT}" x2="{WIDTH - MARGIN_RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{"#333" if i == 0 else "#ddd"}" stroke-width="1"/>'
        )
        parts.append(f'<text x="{MARGIN_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(compact(value))}</text>')
    if unit:
        parts.append(f'<text x="{MARGIN_LEFT - 6}" y="{MARGIN_TOP - 12}" text-anchor="end">{escape(unit)}</text>')
    step = _thin(len(labels))
    slot = plot_w / max(len(labels), 1)
    for i, label in enumerate(labels):
        if i % step:
            continue
        x = MARGIN_LEFT + slot * (i + 0.5)
        parts.append(f'<text x="{x:.1f}" y="{base + 18}" text-anchor="middle">{escape(label)}</text>')
    parts.append("</g>")
    return parts


def _unit(unit: str) -> str:
    return f" {unit}" if unit else ""


def _top(values: list[Number]) -> float:
    """The top of the value axis. Counts (all ints) reach at least TICKS, so every tick is a whole
    number: one order is not drawn against ticks of 0.2, 0.4 ..."""
    top = nice_ceiling(max((float(v) for v in values), default=0.0))
    counts = all(isinstance(v, int) for v in values)
    return max(top, float(TICKS)) if counts else top


def bar_chart(
    chart_id: str, title: str, description: str, labels: list[str], values: list[Number], unit: str = ""
) -> str:
    """One bar per label (empty data: the axes alone)."""
    if len(labels) != len(values):
        raise ValueError("one value per label")
    top = _top(values)
    parts = _frame(chart_id, title, description) + _axes(top, labels, unit)
    plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    base = MARGIN_TOP + plot_h
    slot = plot_w / max(len(labels), 1)
    width = max(slot * 0.7, 1.0)
    parts.append(f'<g class="bars" fill="{PALETTE[0]}">')
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        v = max(float(value), 0.0)
        h = plot_h * v / top
        if v > 0:
            h = max(h, 1.0)
        x = MARGIN_LEFT + slot * i + (slot - width) / 2
        tip = f"{label}: {exact(value)}{_unit(unit)}"
        parts.append(
            f'<rect x="{x:.1f}" y="{base - h:.1f}" width="{width:.1f}" height="{h:.1f}">'
            f"<title>{escape(tip)}</title></rect>"
        )
    parts.append("</g></svg>")
    return "".join(parts)


def line_chart(
    chart_id: str, title: str, description: str, labels: list[str], series: list[Series], unit: str = ""
) -> str:
    """One line per series over the labels, with a dot and a tooltip per point and a legend."""
    for s in series:
        if len(s.values) != len(labels):
            raise ValueError(f"series {s.name!r}: one value per label")
    top = _top([v for s in series for v in s.values])
    parts = _frame(chart_id, title, description) + _axes(top, labels, unit)
    plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    base = MARGIN_TOP + plot_h
    slot = plot_w / max(len(labels), 1)
    for n, s in enumerate(series):
        colour = PALETTE[n % len(PALETTE)]
        points = [
            (MARGIN_LEFT + slot * (i + 0.5), base - plot_h * max(float(v), 0.0) / top) for i, v in enumerate(s.values)
        ]
        parts.append(f'<g class="series" stroke="{colour}" fill="{colour}">')
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            parts.append(f'<polyline points="{path}" fill="none" stroke-width="2"/>')
        for (x, y), label, value in zip(points, labels, s.values, strict=True):
            tip = f"{s.name}, {label}: {exact(value)}{_unit(unit)}"
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3"><title>{escape(tip)}</title></circle>')
        parts.append("</g>")
    if len(series) > 1:  # a legend under the axis labels (one series is named by the title)
        parts.append('<g class="legend" aria-hidden="true">')
        x = MARGIN_LEFT
        for n, s in enumerate(series):
            colour = PALETTE[n % len(PALETTE)]
            parts.append(f'<rect x="{x}" y="{HEIGHT - 14}" width="10" height="10" fill="{colour}"/>')
            parts.append(f'<text x="{x + 14}" y="{HEIGHT - 5}">{escape(s.name)}</text>')
            x += 24 + 7 * len(s.name)
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


# ---------------------------------------------------------------- the dashboard's charts


def orders_per_day(days: list[dt.date], counts: list[int], chart_id: str = "orders-per-day") -> Chart:
    """Bars: orders received per UTC day (all currencies)."""
    labels = [day_label(d) for d in days]
    total = sum(counts)
    if days:
        busiest = max(range(len(days)), key=lambda i: counts[i])
        description = (
            f"{total} orders from {days[0].isoformat()} to {days[-1].isoformat()}; "
            f"the busiest day was {days[busiest].isoformat()} with {counts[busiest]}."
        )
    else:
        description = "No days to show."
    svg = bar_chart(chart_id, "Orders per day", description, labels, list(counts))
    table = ChartTable(
        "Orders per day (UTC)", ["Day", "Orders"], [[d.isoformat(), str(c)] for d, c in zip(days, counts, strict=True)]
    )
    return Chart(svg, table)


def cancellations_per_day(days: list[dt.date], counts: list[int], chart_id: str = "cancellations-per-day") -> Chart:
    """Bars: orders cancelled per UTC day (on the day of the cancellation)."""
    labels = [day_label(d) for d in days]
    span = f" from {days[0].isoformat()} to {days[-1].isoformat()}" if days else ""
    description = f"{sum(counts)} orders cancelled{span}."
    svg = bar_chart(chart_id, "Cancellations per day", description, labels, list(counts))
    table = ChartTable(
        "Cancellations per day (UTC)",
        ["Day", "Cancelled"],
        [[d.isoformat(), str(c)] for d, c in zip(days, counts, strict=True)],
    )
    return Chart(svg, table)


def revenue_per_day(
    days: list[dt.date], per_currency: dict[str, list[Decimal]], chart_id: str = "revenue-per-day"
) -> list[Chart]:
    """One line chart per currency (amounts in two currencies share no scale), currencies sorted."""
    labels = [day_label(d) for d in days]
    charts = []
    for currency in sorted(per_currency):
        values = per_currency[currency]
        total = sum(values, Decimal(0))
        cid = f"{chart_id}-{''.join(ch for ch in currency.lower() if ch.isalnum())}"
        span = f" from {days[0].isoformat()} to {days[-1].isoformat()}" if days else ""
        description = (
            f"Revenue in {currency}{span}: {exact(total)} {currency} in all, at the retailer price, duty free."
        )
        svg = line_chart(
            cid, f"Revenue per day in {currency}", description, labels, [Series(currency, list(values))], unit=currency
        )
        table = ChartTable(
            f"Revenue per day in {currency} (UTC, duty free)",
            ["Day", currency],
            [[d.isoformat(), exact(v)] for d, v in zip(days, values, strict=True)],
        )
        charts.append(Chart(svg, table))
    return charts
