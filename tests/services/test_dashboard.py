"""The back office's dashboard: its numbers are the sums over the orders the real services made."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections import defaultdict
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from resell.db.tables import order_lines, orders, product_prices, products, publishers
from resell.services import dashboard
from resell.services import orders as order_service
from resell.services.catalog_import import import_catalog
from resell.services.context import Context
from tests.conftest import Clock, World, order_body
from tests.delivery_support import sell
from tests.lifespan_support import start_and_stop
from tests.renewal_support import caller_of

OTHER_CATALOG = {
    "publishers": [{"key": "other", "name": "Other Publisher"}],
    "products": [
        {
            "ref": 1401,
            "name": "Other's Game",
            "publisher": "other",
            "serialSource": "none",
            "deliveryMode": "download",
            "prices": [{"currency": "EUR", "amountDutyFree": 50}],
        }
    ],
}

D1 = dt.datetime(2026, 12, 9, 23, 59, 59, tzinfo=dt.UTC)  # the last second of a UTC day
D2 = dt.datetime(2026, 12, 10, 0, 0, 0, tzinfo=dt.UTC)  # the first of the next


@pytest.fixture(autouse=True)
def _no_kept_days() -> None:
    dashboard.clear_cache()


def expected(ctx: Context, publisher_id: int | None = None) -> dict[str, Any]:
    """Orders and revenue per (UTC day, currency), per product and merchant, computed apart: every line
    read back in Python, valued at the product's price in the order's currency, cancelled orders left out."""
    with ctx.db.read() as conn:
        rows = conn.execute(
            select(
                orders.c.id,
                orders.c.created_at,
                orders.c.currency,
                orders.c.status,
                orders.c.merchant_id,
                order_lines.c.product_id,
                order_lines.c.quantity,
                products.c.ref,
                products.c.publisher_id,
            )
            .join(order_lines, order_lines.c.order_id == orders.c.id)
            .join(products, products.c.id == order_lines.c.product_id)
        ).all()
        prices = {(r.product_id, r.currency): r.amount_duty_free for r in conn.execute(select(product_prices))}
    per_day: dict[tuple[dt.date, str], set[int]] = defaultdict(set)
    revenue: dict[tuple[dt.date, str], Decimal] = defaultdict(Decimal)
    units: dict[tuple[int, str], int] = defaultdict(int)
    for r in rows:
        if r.status == "cancelled" or (publisher_id is not None and r.publisher_id != publisher_id):
            continue
        day = r.created_at.astimezone(dt.UTC).date()
        per_day[(day, r.currency)].add(r.id)
        revenue[(day, r.currency)] += prices.get((r.product_id, r.currency), Decimal(0)) * r.quantity
        units[(r.ref, r.currency)] += r.quantity
    return {"orders": {k: len(v) for k, v in per_day.items()}, "revenue": dict(revenue), "units": dict(units)}


def shown(summary: dashboard.Summary) -> dict[str, Any]:
    return {
        "orders": {(t.day, t.currency): t.orders for t in summary.per_day if t.orders},
        "revenue": {(t.day, t.currency): t.revenue for t in summary.per_day if t.orders},
        "units": {(p.ref, p.currency): p.units for p in summary.top_products},
    }


@pytest.fixture
def sales(ctx: Context, world: World, clock: Clock) -> dict[str, int]:
    """Orders either side of a UTC midnight, one of them cancelled, one with another publisher's product."""
    import_catalog(ctx, OTHER_CATALOG)
    sell(ctx, "shop-a", 1401)
    a, b = caller_of(ctx, world.a), caller_of(ctx, world.b)
    clock.now = D1
    made = {"A": order_service.submit_order(ctx, a, order_body("DASH-A", (1001, 2))).order_number}
    clock.now = D2
    made["B"] = order_service.submit_order(ctx, a, order_body("DASH-B", (1002, 1), (1401, 1))).order_number
    made["C"] = order_service.submit_order(ctx, b, order_body("DASH-C", (1003, 1))).order_number
    made["D"] = order_service.submit_order(ctx, b, order_body("DASH-D", (1001, 1))).order_number
    clock.now = D2 + dt.timedelta(hours=1)
    order_service.cancel_order(ctx, b, "DASH-D", 3, "changed my mind")
    clock.now = D2 + dt.timedelta(hours=12)
    return made


def test_the_numbers_are_the_sums_over_the_orders_per_utc_day(ctx: Context, sales: dict[str, int]) -> None:
    summary = dashboard.summary(ctx, days=30)
    assert summary.days[-1] == D2.date() and len(summary.days) == 30
    assert summary.as_of == ctx.now()
    assert shown(summary) == expected(ctx)
    day1, day2 = D1.date(), D2.date()
    # written out too: the second before midnight counts on the day before
    assert {(t.day, t.orders, t.revenue) for t in summary.per_day if t.orders} == {
        (day1, 1, Decimal("20")),  # 1001 x2 at 10
        (day2, 2, Decimal("58")),  # 1002 at 5 + 1401 at 50, and 1003 at 3; D is cancelled
    }
    assert summary.currencies == ["EUR"]
    assert summary.totals["EUR"].orders == 3 and summary.totals["EUR"].revenue == Decimal("78")
    assert [(m.realm, m.orders, m.revenue) for m in summary.top_merchants] == [
        ("shop-a", 2, Decimal("75")),
        ("shop-b", 1, Decimal("3")),
    ]
    assert summary.top_products[0].ref == 1401 and summary.top_products[0].revenue == Decimal("50")
    assert dict(summary.cancellations_per_day)[day2] == 1 and sum(n for _d, n in summary.cancellations_per_day) == 1
    (cancelled,) = summary.latest_cancellations
    assert (cancelled.order_number, cancelled.partner_order_number, cancelled.realm) == (sales["D"], "DASH-D", "shop-b")
    assert cancelled.reason == 3 and cancelled.comment == "changed my mind"


def test_a_day_that_is_over_is_kept_but_a_later_cancellation_still_counts(
    ctx: Context, world: World, sales: dict[str, int]
) -> None:
    first = dashboard.summary(ctx)
    assert [t.orders for t in first.per_day if t.day == D1.date()] == [1]
    order_service.cancel_order(ctx, caller_of(ctx, world.a), "DASH-A", 3, None)  # an order of the closed day
    assert dashboard.summary(ctx) is first  # within CACHE_SECONDS: the same numbers, as of then
    again = dashboard.summary(ctx, fresh=True)
    assert [t.orders for t in again.per_day if t.day == D1.date()] == [0]
    assert shown(again) == expected(ctx)


def test_a_publisher_sees_its_products_only(ctx: Context, sales: dict[str, int]) -> None:
    with ctx.db.read() as conn:
        other = conn.execute(select(publishers.c.id).where(publishers.c.key == "other")).scalar_one()
        pub = conn.execute(select(publishers.c.id).where(publishers.c.key == "pub")).scalar_one()
    theirs = dashboard.summary(ctx, publisher_id=other)
    assert shown(theirs) == expected(ctx, other)
    assert [(t.day, t.orders, t.revenue) for t in theirs.per_day if t.orders] == [(D2.date(), 1, Decimal("50"))]
    assert [(m.realm, m.orders, m.revenue) for m in theirs.top_merchants] == [("shop-a", 1, Decimal("50"))]
    assert theirs.latest_cancellations == [] and theirs.low_stock == []  # D held none of theirs; no pool
    ours = dashboard.summary(ctx, publisher_id=pub)
    assert shown(ours) == expected(ctx, pub)
    assert {p.ref for p in ours.low_stock} <= {1001, 1003, 1005}


def test_without_money_no_amount_is_there(ctx: Context, sales: dict[str, int]) -> None:
    summary = dashboard.summary(ctx, include_money=False)
    assert summary.include_money is False

    def amounts(value: Any) -> list[Any]:
        if isinstance(value, dict):
            return [v for k, v in value.items() if k == "revenue" and v is not None] + [
                a for v in value.values() for a in amounts(v)
            ]
        if isinstance(value, list | tuple):
            return [a for v in value for a in amounts(v)]
        return []

    assert amounts(dataclasses.asdict(summary)) == []
    assert any(t.orders for t in summary.per_day) and summary.top_products and summary.top_merchants
    assert not any(isinstance(v, Decimal) for t in summary.per_day for v in (t.revenue,))
    # ranked by units and orders instead
    assert [p.units for p in summary.top_products] == sorted((p.units for p in summary.top_products), reverse=True)


def test_low_and_out_pools_are_listed_emptiest_first(ctx: Context, world: World, clock: Clock) -> None:
    # the world: 1001 has 20 serials (threshold 3), 1003 has 5 (threshold 10), 1005 has 10 (threshold 10)
    order_service.submit_order(ctx, caller_of(ctx, world.a), order_body("DASH-OUT", (1003, 5)))
    summary = dashboard.summary(ctx)
    assert [(p.ref, p.available, p.level, p.status) for p in summary.low_stock] == [
        (1003, 0, "out", 300),
        (1005, 10, "low", 200),
    ]


def test_zero_orders_make_zero_days(ctx: Context, world: World) -> None:
    summary = dashboard.summary(ctx, days=7)
    assert len(summary.days) == 7 and summary.per_day == [] and summary.currencies == []
    assert summary.cancellations_per_day == [(d, 0) for d in summary.days]


# ---------------------------------------------------------------- stale-while-revalidate


def test_a_stale_summary_is_answered_at_once_and_read_again_in_the_background(
    ctx: Context, world: World, clock: Clock, sales: dict[str, int]
) -> None:
    first = dashboard.summary(ctx)
    order_service.cancel_order(ctx, caller_of(ctx, world.a), "DASH-B", 3, None)
    clock.advance(seconds=dashboard.CACHE_SECONDS)
    assert dashboard.summary(ctx) is first  # stale: answered as of then, without waiting
    assert dashboard.wait_for_refreshes(10)
    again = dashboard.summary(ctx)
    assert again is not first and again.as_of == clock.now
    assert shown(again) == expected(ctx) != shown(first)


def test_concurrent_stale_reads_start_one_refresh(
    ctx: Context, clock: Clock, sales: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = dashboard.summary(ctx)
    clock.advance(seconds=dashboard.CACHE_SECONDS + 1)
    release, calls, real = threading.Event(), [], dashboard.compute

    def slow(*args: Any) -> dashboard.Summary:
        calls.append(args)
        assert release.wait(10)
        return real(*args)

    monkeypatch.setattr(dashboard, "compute", slow)
    together = threading.Barrier(4)
    answers: list[dashboard.Summary] = []

    def read() -> None:
        together.wait(5)
        answers.append(dashboard.summary(ctx))

    readers = [threading.Thread(target=read) for _ in range(4)]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join(10)
    assert len(answers) == 4 and all(a is first for a in answers)  # none waited for the refresh
    assert dashboard.summary(ctx) is first  # still refreshing: no second refresh either
    release.set()
    assert dashboard.wait_for_refreshes(10)
    assert len(calls) == 1
    assert dashboard.summary(ctx).as_of == clock.now


def test_a_failed_refresh_is_logged_and_the_numbers_kept_are_still_answered(
    ctx: Context, clock: Clock, sales: dict[str, int], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    first = dashboard.summary(ctx)
    clock.advance(seconds=dashboard.CACHE_SECONDS)

    def broken(*_args: Any) -> dashboard.Summary:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(dashboard, "compute", broken)
    assert dashboard.summary(ctx) is first
    assert dashboard.wait_for_refreshes(10)
    captured = capsys.readouterr()
    assert "dashboard_refresh_failed" in captured.out + captured.err
    assert "RuntimeError" in captured.out + captured.err
    assert dashboard.summary(ctx) is first  # still answered (and tried again)
    assert dashboard.wait_for_refreshes(10)
    monkeypatch.undo()
    assert dashboard.summary(ctx) is first
    assert dashboard.wait_for_refreshes(10)
    assert dashboard.summary(ctx).as_of == clock.now


def test_the_server_reads_the_common_summaries_when_it_starts(
    ctx: Context, sales: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    from resell.app import create_app

    sent = start_and_stop(create_app(ctx.settings, ctx))
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert dashboard.wait_for_refreshes(10)

    def never(*_args: Any) -> dashboard.Summary:
        raise AssertionError("read again")

    monkeypatch.setattr(dashboard, "compute", never)  # both are kept: no page waits for them
    assert shown(dashboard.summary(ctx)) == expected(ctx)
    assert dashboard.summary(ctx, include_money=False).include_money is False


def test_a_first_read_while_warming_waits_for_those_numbers_instead_of_reading_them_twice(
    ctx: Context, sales: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    release, calls, real = threading.Event(), [], dashboard.compute

    def slow(*args: Any) -> dashboard.Summary:
        calls.append(args)
        assert release.wait(10)
        return real(*args)

    monkeypatch.setattr(dashboard, "compute", slow)
    dashboard.warm(ctx)
    answers: list[dashboard.Summary] = []
    page = threading.Thread(target=lambda: answers.append(dashboard.summary(ctx)))
    page.start()
    release.set()
    page.join(10)
    assert dashboard.wait_for_refreshes(10)
    assert [args[1:] for args in calls] == [(30, None, True), (30, None, False)]  # the page read nothing
    assert len(answers) == 1 and shown(answers[0]) == expected(ctx)
