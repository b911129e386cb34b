"""The finance reports: a month of orders placed through createOrder's service, in two currencies, with a
catalogue price change in the middle and cancellations before, during and after; every total checked to
the cent against sums the test makes on its own."""

from __future__ import annotations

import copy
import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from sqlalchemy import select

from resell.db.tables import order_lines, orders
from resell.services import iam, merchants, reports, stock
from resell.services import orders as order_service
from resell.services import subscriptions as subs
from resell.services.catalog_import import import_catalog
from resell.services.context import Context
from tests.conftest import TEST_CATALOG, Clock, World, order_body
from tests.renewal_support import caller_of

UTC = dt.UTC
D = Decimal


def at(month: int, day: int, hour: int = 10, minute: int = 0, second: int = 0, year: int = 2026) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def prices(**by_ref: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """TEST_CATALOG with these prices: ref_1001={"EUR": ("10", "20"), ...} (amount, VAT rate)."""
    catalog = copy.deepcopy(TEST_CATALOG)
    for product in catalog["products"]:
        wanted = by_ref.get(f"ref_{product['ref']}")
        if wanted is not None:
            product["prices"] = [
                {"currency": cur, "amountDutyFree": amount, "vatRate": vat} for cur, (amount, vat) in wanted.items()
            ]
    return catalog


def cents(value: Decimal) -> Decimal:
    """The test's own rounding: to the cent, half up, as docs/finance.md states."""
    return value.quantize(D("0.01"), rounding=ROUND_HALF_UP)


def usd(pon: str, *lines: tuple[int, int]) -> dict[str, Any]:
    return order_body(pon, *lines, currency="USD")


@pytest.fixture
def month_of_orders(ctx: Context, world: World, clock: Clock) -> dict[str, Any]:
    """October: two orders (one cancelled in November); November: orders in EUR and USD, a price change
    of 1001 (EUR) and 1003 (USD) on the 10th, a cancellation the same month; an order of the 28th
    cancelled in December. shop-b orders too (never in shop-a's statement)."""
    eur_catalog = {
        "ref_1001": {"EUR": ("10", "20"), "USD": ("7", "10")},
        "ref_1003": {"EUR": ("3", "0"), "USD": ("7", "0")},
    }
    clock.now = at(10, 1)
    import_catalog(ctx, prices(**eur_catalog))
    merchants.change_catalog_products(ctx, "shop-a", "USD", add=[1001, 1003], remove=[])
    stock.import_serials(ctx, 1003, [f"MORE-1003-{i}" for i in range(5)])
    a_eur, b_eur = caller_of(ctx, world.a), caller_of(ctx, world.b)
    a_usd = iam.caller_for_secret(ctx, world.a.other_secret)

    def order(who: Any, when: dt.datetime, body: dict[str, Any]) -> None:
        clock.now = when
        order_service.submit_order(ctx, who, body)

    def cancel(who: Any, when: dt.datetime, pon: str) -> None:
        clock.now = when
        order_service.cancel_order(ctx, who, pon, 2, "test")

    order(a_eur, at(10, 20), order_body("OCT-1", (1001, 2)))  # 20.00, cancelled in November
    order(a_eur, at(10, 31, 23, 59, 59), order_body("OCT-LAST", (1002, 1)))  # the last second of October
    order(a_eur, at(11, 1, 0, 0, 0), order_body("NOV-FIRST", (1002, 1)))  # the first second of November
    cancel(a_eur, at(11, 3), "OCT-1")
    order(a_eur, at(11, 5), order_body("NOV-1", (1001, 3), (1002, 2)))  # 30.00 + 10.00
    order(a_usd, at(11, 5, 11), usd("NOV-USD-1", (1001, 2), (1003, 1)))  # 14.00 + 7.00, cancelled on the 15th
    order(a_usd, at(11, 6), usd("NOV-USD-UNPRICED", (1002, 1)))  # the USD catalogue sells 1002 without a price
    order(a_eur, at(11, 7), order_body("NOV-SUB", (1005, 1)))  # a subscription: 30.00
    order(b_eur, at(11, 8), order_body("B-NOV-1", (1001, 4)))  # another merchant

    clock.now = at(11, 10)
    import_catalog(
        ctx,
        prices(
            ref_1001={"EUR": ("12.345", "20"), "USD": ("7", "10")}, ref_1003={"EUR": ("3", "0"), "USD": ("7.125", "0")}
        ),
    )
    order(a_eur, at(11, 12), order_body("NOV-2", (1001, 3)))  # 3 x 12.345 = 37.035 -> 37.04
    order(a_eur, at(11, 12, 12), order_body("NOV-3", (1001, 1)))  # 12.345 -> 12.35 (half up, not half even)
    order(a_usd, at(11, 13), usd("NOV-USD-2", (1003, 3)))  # 3 x 7.125 = 21.375 -> 21.38
    cancel(a_usd, at(11, 15), "NOV-USD-1")
    order(a_eur, at(11, 28), order_body("NOV-LATE", (1003, 2)))  # 6.00, cancelled in December
    order(a_eur, at(11, 30, 23, 59, 59), order_body("NOV-LAST", (1002, 1)))
    cancel(a_eur, at(12, 2), "NOV-LATE")
    order(a_eur, at(12, 1, 0, 0, 0), order_body("DEC-FIRST", (1002, 1)))
    return {"a_eur": a_eur, "a_usd": a_usd}


def recorded(ctx: Context, pon: str) -> list[tuple[int, Decimal | None, Decimal | None]]:
    with ctx.db.read() as conn:
        return [
            (r.quantity, r.retailer_unit_price, r.retailer_vat_rate)
            for r in conn.execute(
                select(order_lines.c.quantity, order_lines.c.retailer_unit_price, order_lines.c.retailer_vat_rate)
                .join(orders, orders.c.id == order_lines.c.order_id)
                .where(orders.c.partner_order_number == pon)
                .order_by(order_lines.c.position)
            )
        ]


def test_lines_record_the_price_of_their_order_time_and_a_price_change_does_not_touch_them(
    ctx: Context, month_of_orders: dict[str, Any]
) -> None:
    assert recorded(ctx, "NOV-1") == [(3, D("10"), D("20")), (2, D("5"), D("0"))]
    assert recorded(ctx, "NOV-2") == [(3, D("12.345"), D("20"))]
    assert recorded(ctx, "NOV-USD-1") == [(2, D("7"), D("10")), (1, D("7"), D("0"))]
    assert recorded(ctx, "NOV-USD-2") == [(3, D("7.125"), D("0"))]
    assert recorded(ctx, "NOV-USD-UNPRICED") == [(1, None, None)]


def test_the_statement_of_november_to_the_cent(ctx: Context, month_of_orders: dict[str, Any]) -> None:
    s = reports.statement(ctx, "shop-a", "2026-11")
    assert (s.realm, str(s.month)) == ("shop-a", "2026-11")
    assert [c.currency for c in s.currencies] == ["EUR", "USD"]
    eur, usd_ = s.currencies

    # EUR orders placed in November, at the prices of their day (the test's own sums)
    eur_lines = {
        "NOV-FIRST": [(1, D("5"))],
        "NOV-1": [(3, D("10")), (2, D("5"))],
        "NOV-SUB": [(1, D("30"))],
        "NOV-2": [(3, D("12.345"))],
        "NOV-3": [(1, D("12.345"))],
        "NOV-LATE": [(2, D("3"))],
        "NOV-LAST": [(1, D("5"))],
    }
    assert [e.partner_order_number for e in eur.orders] == list(eur_lines)
    for entry in eur.orders:
        expected = [cents(q * p) for q, p in eur_lines[entry.partner_order_number]]
        assert [line.amount for line in entry.lines] == expected
        assert entry.total == sum(expected)
    eur_orders = sum(cents(q * p) for lines in eur_lines.values() for q, p in lines)
    assert eur_orders == D("5") + D("40") + D("30") + D("37.04") + D("12.35") + D("6") + D("5") == D("135.39")
    assert eur.orders_total == D("135.39")
    # cancelled in November: OCT-1, an October order (2 x 10.00); NOV-LATE is cancelled in December
    assert [(e.partner_order_number, e.kind, e.total) for e in eur.cancellations] == [
        ("OCT-1", "cancellation", D("-20.00"))
    ]
    assert eur.cancellations[0].placed_at == at(10, 20) and eur.cancellations[0].date == at(11, 3)
    assert eur.cancellations_total == D("-20.00")
    assert eur.net == D("115.39")
    assert eur.unpriced_lines == 0

    assert [e.partner_order_number for e in usd_.orders] == ["NOV-USD-1", "NOV-USD-UNPRICED", "NOV-USD-2"]
    assert usd_.orders[1].lines[0].amount is None and usd_.orders[1].total == D("0")
    assert usd_.orders_total == D("14") + D("7") + D("21.38") == D("42.38")
    assert [(e.partner_order_number, e.total) for e in usd_.cancellations] == [("NOV-USD-1", D("-21.00"))]
    assert usd_.net == D("21.38")
    assert usd_.unpriced_lines == 1
    # shop-b's order is not here, whatever the currency
    assert all(e.partner_order_number != "B-NOV-1" for c in s.currencies for e in c.orders)


def test_a_cancellation_counts_in_its_own_month(ctx: Context, month_of_orders: dict[str, Any]) -> None:
    october = reports.statement(ctx, "shop-a", reports.Month(2026, 10))
    (eur,) = october.currencies
    assert [e.partner_order_number for e in eur.orders] == ["OCT-1", "OCT-LAST"]
    assert (eur.orders_total, eur.cancellations_total, eur.net) == (D("25.00"), D("0.00"), D("25.00"))

    december = reports.statement(ctx, "shop-a", "2026-12")
    (eur,) = december.currencies
    assert [e.partner_order_number for e in eur.orders] == ["DEC-FIRST"]
    assert [(e.partner_order_number, e.total) for e in eur.cancellations] == [("NOV-LATE", D("-6.00"))]
    assert eur.net == D("5.00") - D("6.00") == D("-1.00")

    assert reports.statement(ctx, "shop-a", "2027-01").currencies == []


def test_the_publisher_report_counts_units_and_amounts_at_the_recorded_prices(
    ctx: Context, month_of_orders: dict[str, Any]
) -> None:
    r = reports.publisher_report(ctx, "pub", "2026-11")
    rows = {(p.product_ref, p.currency): p for p in r.products}
    p = rows[(1001, "EUR")]  # shop-a NOV-1, NOV-2, NOV-3 and shop-b's 4 units at 10; OCT-1 cancelled
    assert (p.units_sold, p.units_cancelled) == (3 + 3 + 1 + 4, 2)
    assert p.amount_sold == D("30") + D("37.04") + D("12.35") + D("40") == D("119.39")
    assert (p.amount_cancelled, p.net) == (D("-20.00"), D("99.39"))
    p = rows[(1001, "USD")]
    assert (p.units_sold, p.units_cancelled, p.amount_sold, p.amount_cancelled, p.net) == (
        2,
        2,
        D("14.00"),
        D("-14.00"),
        D("0.00"),
    )
    p = rows[(1002, "USD")]
    assert (p.units_sold, p.amount_sold, p.unpriced_units) == (1, D("0.00"), 1)
    p = rows[(1003, "USD")]
    assert (p.units_sold, p.units_cancelled, p.amount_sold, p.amount_cancelled) == (1 + 3, 1, D("28.38"), D("-7.00"))
    assert rows[(1002, "EUR")].units_sold == 1 + 2 + 1
    assert rows[(1003, "EUR")].units_sold == 2 and rows[(1003, "EUR")].units_cancelled == 0
    assert rows[(1005, "EUR")].amount_sold == D("30.00")
    # by id as well as by key
    with ctx.db.read() as conn:
        from resell.db.tables import publishers

        pub_id = conn.execute(select(publishers.c.id).where(publishers.c.key == "pub")).scalar_one()
    assert reports.publisher_report(ctx, str(pub_id), "2026-11").products == r.products


def test_unknown_merchant_publisher_and_bad_months_are_refused(ctx: Context, world: World) -> None:
    with pytest.raises(reports.ReportError, match="no merchant"):
        reports.statement(ctx, "nobody", "2026-11")
    with pytest.raises(reports.ReportError, match="no publisher"):
        reports.publisher_report(ctx, "nobody", "2026-11")
    for bad in ("2026-13", "2026-1", "11-2026", "2026-00", "", "2026/11"):
        with pytest.raises(reports.ReportError, match="month not valid"):
            reports.Month.parse(bad)
    assert reports.Month.parse("2026-12").end == at(1, 1, 0, year=2027)


def test_a_renewal_order_records_the_price_of_its_renewal(ctx: Context, world: World, clock: Clock) -> None:
    clock.now = at(1, 10)
    who = caller_of(ctx, world.a)
    order_service.submit_order(ctx, who, order_body("SUB", (1005, 2)))
    assert recorded(ctx, "SUB") == [(2, D("30"), D("0"))]
    clock.now = at(6, 1)
    import_catalog(ctx, prices(ref_1005={"EUR": ("33.333", "5.5")}))
    clock.now = at(1, 10, year=2027)
    assert subs.renew_due(ctx).renewal_orders == ["SUB-1"]
    assert recorded(ctx, "SUB-1") == [(2, D("33.333"), D("5.5"))]
    assert recorded(ctx, "SUB") == [(2, D("30"), D("0"))]
    january = reports.statement(ctx, "shop-a", "2027-01")
    assert january.currencies[0].orders_total == D("66.67")  # 2 x 33.333 = 66.666


def test_the_one_rounding_is_half_up_to_the_cent() -> None:
    assert reports.line_amount(D("12.345"), 1) == D("12.35")  # half even would give 12.34
    assert reports.line_amount(D("0.0049"), 1) == D("0.00")
    assert reports.line_amount(D("7.125"), 3) == D("21.38")
    assert reports.line_amount(None, 3) is None
