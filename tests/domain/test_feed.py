"""The product feed's status rule and VAT arithmetic (resell.domain.feed)."""

from __future__ import annotations

import datetime as dt

import pytest

from resell.domain.feed import STATUSES, feed_status, license_lifetime, type_code

TODAY = dt.date(2026, 11, 28)
LATER = dt.date(2027, 1, 1)


@pytest.mark.parametrize(
    ("on_sale", "release", "pooled", "has_serial", "has_price", "status"),
    [
        (False, None, False, False, True, "not_available"),
        (False, LATER, True, True, True, "not_available"),
        (True, LATER, True, False, False, "coming_soon"),
        (True, LATER, True, False, True, "pre_order"),
        (True, TODAY, True, False, True, "out_of_stock"),  # released today: no more pre-order
        (True, None, True, True, True, "available"),
        (True, None, False, False, False, "available"),  # no pooled serial needed
    ],
)
def test_feed_status(on_sale, release, pooled, has_serial, has_price, status) -> None:  # type: ignore[no-untyped-def]
    assert status in STATUSES
    assert (
        feed_status(
            on_sale=on_sale,
            release_date=release,
            today=TODAY,
            pooled=pooled,
            has_serial=has_serial,
            has_price=has_price,
        )
        == status
    )


@pytest.mark.parametrize(
    ("period", "lifetime"),
    [
        ("P1Y", "1y"),
        ("P6M", "6m"),
        ("P30D", "30d"),
        ("P1Y6M", "18m"),
        ("P24M", "2y"),
        ("P2W", "14d"),
        ("P1W3D", "10d"),
        ("p3y", "3y"),
        ("P1M15D", None),  # a month has no fixed number of days: no single unit is exact
        ("P0D", None),
        (None, None),
        ("", None),
    ],
)
def test_license_lifetime_is_written_in_one_unit(period, lifetime) -> None:  # type: ignore[no-untyped-def]
    assert license_lifetime(period) == lifetime


def test_type_code_is_numeric_and_a_backup_dvd_is_hardware() -> None:
    assert type_code("software", None) == 1
    assert type_code("game", None) == 1
    assert type_code("option", "download_extension") == 1
    assert type_code("option", "backup_dvd") == 2
