"""The strict HTTP Range parser in front of FileResponse (issue 3)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from resell.domain.ranges import RangeNotSatisfiable, parse_range


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-99", [(0, 100)]),
        ("bytes=100-", [(100, 1000)]),
        ("bytes=-10", [(990, 1000)]),
        ("bytes=-5000", [(0, 1000)]),
        ("bytes=990-5000", [(990, 1000)]),
        ("BYTES = 1-2 , 5-5", [(1, 3), (5, 6)]),
        ("bytes=999-999", [(999, 1000)]),
    ],
)
def test_valid_ranges(header: str, expected: list[tuple[int, int]]) -> None:
    assert parse_range(header, 1000) == expected


@pytest.mark.parametrize(
    "header",
    [
        "bytes=1000-",
        "bytes=5-4",
        "bytes=-0",
        "bytes=",
        "bytes=a-b",
        "pages=1-2",
        "bytes 1-2",
        "bytes=1-2,",
        "bytes=--1",
    ],
)
def test_refused_ranges(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, 1000)


def test_an_empty_file_has_no_satisfiable_range() -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range("bytes=0-", 0)


@given(st.text(max_size=60), st.integers(min_value=0, max_value=10**6))
def test_any_header_gives_ranges_inside_the_file_or_a_refusal(header: str, size: int) -> None:
    try:
        ranges = parse_range(header, size)
    except RangeNotSatisfiable:
        return
    assert ranges and all(0 <= start < end <= size for start, end in ranges)


@given(st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 2000)), min_size=1, max_size=5))
def test_generated_range_lists(pairs: list[tuple[int, int]]) -> None:
    header = "bytes=" + ",".join(f"{a}-{b}" for a, b in pairs)
    if all(a <= b for a, b in pairs) and all(a < 1000 for a, _ in pairs):
        assert parse_range(header, 1000) == [(a, min(b + 1, 1000)) for a, b in pairs]
    else:
        with pytest.raises(RangeNotSatisfiable):
            parse_range(header, 1000)
