"""ISO 8601 periods and dates (resell.domain.periods): what is accepted, what is refused, the arithmetic."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from resell.domain.periods import add_period, is_period, iso_offset, parse_date, parse_period, parse_timestamp

UTC = dt.UTC

# ---------------------------------------------------------------- parse_period


@pytest.mark.parametrize(
    ("text", "years", "months", "days"),
    [
        ("P7D", 0, 0, 7),
        ("P1Y5M2D", 1, 5, 2),
        ("P0Y6M", 0, 6, 0),
        ("P6Y14M1D", 6, 14, 1),
        ("P1W", 0, 0, 7),
        ("P2W", 0, 0, 14),
        ("P1Y", 1, 0, 0),
        ("P30D", 0, 0, 30),
        ("P0D", 0, 0, 0),
    ],
)
def test_parse_period_accepts_date_periods(text: str, years: int, months: int, days: int) -> None:
    period = parse_period(text)
    assert getattr(period, "years", 0) == years
    assert getattr(period, "months", 0) == months
    delta = period.tdelta if hasattr(period, "tdelta") else period
    assert delta == dt.timedelta(days=days)
    assert is_period(text) is True


@pytest.mark.parametrize(
    "text",
    ["", " ", "P", "1Y", "PT5H", "P1DT5H", "P1.5Y", "P1,5Y", "P-1D", "P1Y1Y", "P1D1Y", "PW", "P1YT", "Y1P",
     "P1H", "P1S", "P 1Y", "1 year", "2024-01-01", "P\u0663Y", "P\uff11D"],  # Arabic-Indic 3, fullwidth 1
)
def test_parse_period_refuses_anything_else(text: str) -> None:
    with pytest.raises(ValueError, match="not an ISO 8601 period"):
        parse_period(text)
    assert is_period(text) is False


@pytest.mark.parametrize("value", [None, 1, 1.5, b"P1Y", ["P1Y"]])
def test_parse_period_refuses_non_strings(value: object) -> None:
    with pytest.raises(ValueError):
        parse_period(value)  # type: ignore[arg-type]
    assert is_period(value) is False


def test_parse_period_is_case_and_space_tolerant() -> None:
    # The code upper-cases and strips before matching: "p1y" and " P1M " are accepted as P1Y and P1M.
    assert parse_period("p1y") == parse_period("P1Y")
    assert parse_period(" P1M ") == parse_period("P1M")
    assert add_period(dt.date(2024, 1, 31), "p1m") == dt.date(2024, 2, 29)
    assert is_period("p7d") is True


@pytest.mark.parametrize("text", ["P1000000000D", "P9999999999D", "P200000000W", "P99999999999999999999D"])
def test_periods_too_long_for_a_date_are_refused_as_value_errors(text: str) -> None:
    # The docstring promises ValueError "for anything else"; callers (is_period, the catalogue
    # import's pydantic validator) only handle ValueError.
    with pytest.raises(ValueError):
        parse_period(text)
    assert is_period(text) is False


# ---------------------------------------------------------------- add_period


@pytest.mark.parametrize(
    ("day", "period", "expected"),
    [
        (dt.date(2023, 1, 31), "P1M", dt.date(2023, 2, 28)),
        (dt.date(2024, 1, 31), "P1M", dt.date(2024, 2, 29)),  # leap year
        (dt.date(2024, 3, 31), "P1M", dt.date(2024, 4, 30)),
        (dt.date(2024, 8, 31), "P6M", dt.date(2025, 2, 28)),
        (dt.date(2024, 2, 29), "P1Y", dt.date(2025, 2, 28)),
        (dt.date(2024, 2, 29), "P4Y", dt.date(2028, 2, 29)),
        (dt.date(2024, 1, 31), "P1Y5M2D", dt.date(2025, 7, 2)),  # 2025-06-31 clamps to 06-30, then 2 days
        (dt.date(2020, 1, 1), "P6Y14M1D", dt.date(2027, 3, 2)),  # 14 months carry into the year
        (dt.date(2024, 12, 15), "P0Y6M", dt.date(2025, 6, 15)),
        (dt.date(2024, 12, 31), "P1D", dt.date(2025, 1, 1)),
        (dt.date(2024, 1, 1), "P1W", dt.date(2024, 1, 8)),
        (dt.date(2024, 1, 1), "P0D", dt.date(2024, 1, 1)),
    ],
)
def test_add_period(day: dt.date, period: str, expected: dt.date) -> None:
    result = add_period(day, period)
    assert result == expected
    assert type(result) is dt.date


def test_add_period_refuses_a_bad_period() -> None:
    with pytest.raises(ValueError):
        add_period(dt.date(2024, 1, 1), "PT1H")


@given(day=st.dates(max_value=dt.date(9000, 12, 31)), n=st.integers(min_value=0, max_value=300_000))
def test_adding_days_is_plain_day_arithmetic(day: dt.date, n: int) -> None:
    assert add_period(day, f"P{n}D") == day + dt.timedelta(days=n)


@given(day=st.dates(max_value=dt.date(9000, 12, 31)), n=st.integers(min_value=0, max_value=40_000))
def test_adding_weeks_is_seven_days_each(day: dt.date, n: int) -> None:
    assert add_period(day, f"P{n}W") == day + dt.timedelta(weeks=n)


@given(day=st.dates(max_value=dt.date(8000, 12, 31)), months=st.integers(min_value=0, max_value=600))
def test_adding_months_lands_in_the_right_month_never_past_its_end(day: dt.date, months: int) -> None:
    result = add_period(day, f"P{months}M")
    index = day.year * 12 + day.month - 1 + months
    assert (result.year, result.month) == (index // 12, index % 12 + 1)
    assert result.day == day.day or (result.day < day.day and (result + dt.timedelta(days=1)).month != result.month)


# ---------------------------------------------------------------- parse_date


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2024-02-29", dt.date(2024, 2, 29)), (" 2031-06-01 ", dt.date(2031, 6, 1)), ("0001-01-01", dt.date(1, 1, 1))],
)
def test_parse_date(text: str, expected: dt.date) -> None:
    assert parse_date(text) == expected


@pytest.mark.parametrize(
    "value",
    ["", "2023-02-29", "2024-13-01", "2024-2-3", "20240203", "2024-02-03T00:00:00", "2024/02/03", "P1Y",
     "03-02-2024", None, 20240203, dt.date(2024, 2, 3), "\u0662\u0660\u0662\u0664-01-01"],
)
def test_parse_date_refuses_anything_else(value: object) -> None:
    with pytest.raises(ValueError):
        parse_date(value)


# ---------------------------------------------------------------- parse_timestamp


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2004-02-12T15:19:21+00:00", dt.datetime(2004, 2, 12, 15, 19, 21, tzinfo=UTC)),
        ("2004-02-12T15:19:21Z", dt.datetime(2004, 2, 12, 15, 19, 21, tzinfo=UTC)),
        ("2004-02-12T17:19:21+02:00", dt.datetime(2004, 2, 12, 15, 19, 21, tzinfo=UTC)),
        ("2004-02-12T10:19:21-05:00", dt.datetime(2004, 2, 12, 15, 19, 21, tzinfo=UTC)),
        ("2004-02-12 15:19:21", dt.datetime(2004, 2, 12, 15, 19, 21, tzinfo=UTC)),  # no offset: UTC
        ("2004-02-12T15:19:21", dt.datetime(2004, 2, 12, 15, 19, 21, tzinfo=UTC)),
        ("2004-02-12T15:19:21.250+00:00", dt.datetime(2004, 2, 12, 15, 19, 21, 250000, tzinfo=UTC)),
        ("2004-02-12", dt.datetime(2004, 2, 12, tzinfo=UTC)),  # bare date: midnight UTC
        ("  2004-02-12T15:19:21Z  ", dt.datetime(2004, 2, 12, 15, 19, 21, tzinfo=UTC)),
    ],
)
def test_parse_timestamp(text: str, expected: dt.datetime) -> None:
    parsed = parse_timestamp(text)
    assert parsed == expected
    assert parsed.tzinfo is not None


def test_parse_timestamp_keeps_the_given_offset() -> None:
    parsed = parse_timestamp("2004-02-12T17:19:21+02:00")
    assert parsed.utcoffset() == dt.timedelta(hours=2)
    assert parse_timestamp("2004-02-12 15:19:21").utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize(
    "value",
    ["", "   ", "yesterday", "2004-13-12T15:19:21Z", "2004-02-30", "2004-02-12T25:00:00", "12/02/2004",
     "2004-02-12T15:19:21+25:00", None, 1076599161, dt.datetime(2004, 2, 12)],
)
def test_parse_timestamp_refuses_anything_else(value: object) -> None:
    with pytest.raises(ValueError):
        parse_timestamp(value)


def test_iso_offset_renders_the_contract_form() -> None:
    assert iso_offset(dt.datetime(2004, 2, 12, 15, 19, 21, 999, tzinfo=UTC)) == "2004-02-12T15:19:21+00:00"
    assert iso_offset(dt.datetime(2004, 2, 12, 15, 19, 21)) == "2004-02-12T15:19:21+00:00"
    assert iso_offset(parse_timestamp("2004-02-12T17:19:21+02:00")) == "2004-02-12T17:19:21+02:00"
