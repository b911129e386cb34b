"""`GET /admin`: the dashboard, the landing page of every role.

The numbers are resell.services.dashboard.summary (kept there, read again in the background every
CACHE_SECONDS, so the page does not wait): orders per day and
revenue per day and currency as server-rendered SVG charts (resell.domain.charts), each followed by
the same numbers as a table; top products and merchants, cancellations, the pools low or out, the
deliveries that fail. Support sees no amounts (`sees_money`); a publisher its own products only. A
merchant account has no dashboard: /admin sends it to its first section (resell.domain.staff.home).
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from fastapi import APIRouter, Depends, Request
from markupsafe import Markup
from starlette.responses import Response

from resell.domain import charts
from resell.domain.staff import home, may_open, sees_money
from resell.services import dashboard as numbers
from resell.web.admin.kit import StaffMember, admin_page, ctx_of, require, see_other

router = APIRouter(include_in_schema=False)
DAYS = 30


def money(amount: Decimal | None, currency: str) -> str:
    """An amount as the back office shows it: 1234.50 EUR."""
    return "" if amount is None else f"{amount:.2f} {currency}"


@router.get("/admin", name="adminDashboard")
def dashboard(request: Request, member: StaffMember = Depends(require())) -> Response:
    if not may_open(member.role, "dashboard"):
        return see_other(home(member.role))
    with_money = sees_money(member.role)
    found = numbers.summary(ctx_of(request), days=DAYS, publisher_id=member.publisher_id, include_money=with_money)
    per_day: dict[str, int] = defaultdict(int)
    revenue: dict[str, list[Decimal]] = {c: [] for c in found.currencies}
    for total in found.per_day:
        per_day[total.day.isoformat()] += total.orders
        if with_money:
            revenue[total.currency].append(total.revenue or Decimal(0))
    orders_chart = charts.orders_per_day(found.days, [per_day[d.isoformat()] for d in found.days])
    revenue_charts = charts.revenue_per_day(found.days, revenue) if with_money else []
    cancel_chart = charts.cancellations_per_day(found.days, [n for _d, n in found.cancellations_per_day])
    return admin_page(
        request,
        "dashboard.html",
        section="dashboard",
        s=found,
        days=DAYS,
        with_money=with_money,
        money=money,
        charts=[(Markup(c.svg), c.table) for c in [orders_chart, *revenue_charts]],  # noqa: S704 - escaped by charts
        cancel_chart=(Markup(cancel_chart.svg), cancel_chart.table),  # noqa: S704
        orders_total=sum(per_day.values()),
        cancelled_total=sum(n for _d, n in found.cancellations_per_day),
        stock_link=may_open(member.role, "stock"),
        deliveries_link=may_open(member.role, "deliveries"),
    )
