"""The statement as a page lists a big month's first entries only; the files list every one."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from resell.services.reports import CurrencyStatement, Month, Statement, StatementEntry, StatementLine
from resell.web.admin.kit import environment


def entry(number: int) -> StatementEntry:
    at = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)
    line = StatementLine(1, 1001, "Game", 1, Decimal("10.0000"), Decimal("20"), Decimal("10.00"))
    return StatementEntry("order", number, f"PON-{number}", at, at, [line], Decimal("10.00"))


def render(count: int) -> str:
    entries = [entry(n) for n in range(1, count + 1)]
    total = Decimal("10.00") * count
    statement = Statement(
        "shop-a",
        "Shop A",
        Month(2026, 11),
        [CurrencyStatement("EUR", entries, [], total, Decimal("0.00"), total, 0)],
        dt.datetime(2026, 12, 1, tzinfo=dt.UTC),
    )
    return environment().get_template("_statement.html").render(statement=statement)


def test_a_month_of_150_orders_shows_the_first_100_and_says_the_files_hold_all() -> None:
    html = render(150)
    assert "PON-100<" in html and "PON-101<" not in html
    assert "The first 100 of 150 are shown; the CSV and PDF list every one." in html
    assert "EUR 1500.00" in html  # the totals are of every order, not of those shown


def test_a_small_month_shows_every_order_and_no_note() -> None:
    html = render(3)
    assert "PON-3<" in html and "are shown" not in html
