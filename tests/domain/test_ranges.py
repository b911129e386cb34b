"""The strict HTTP Range parser in front of FileResponse, and the byte spans served to a link."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from resell.domain.ranges import (
    MAX_SPANS,
    RangeNotSatisfiable,
    covers,
    format_spans,
    parse_range,
    parse_spans,
    union,
)


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


# ---------------------------------------------------------------- the spans served to a link


def test_union_joins_overlapping_and_touching_spans() -> None:
    assert union([(500, 600), (0, 10), (10, 20), (15, 30), (40, 40)]) == [(0, 30), (500, 600)]
    assert union([]) == []


def test_covers_needs_every_byte() -> None:
    assert covers(union([(0, 50), (50, 100)]), 100)
    assert not covers(union([(99, 100)]), 100)  # Range: bytes=-1
    assert not covers(union([(0, 50), (51, 100)]), 100)
    assert not covers([], 100)
    assert covers([], 0)  # an empty file, answered


def test_spans_round_trip_through_their_stored_text() -> None:
    spans = union([(0, 1_048_576), (2_097_152, 3_145_728)])
    assert format_spans(spans) == "0-1048576,2097152-3145728"
    assert parse_spans(format_spans(spans)) == spans
    for broken in ("x", "1-", "-1", "1-2,", "²-3", "1-2;3-4"):
        assert parse_spans(broken) == [], broken


def test_the_record_stays_small_and_never_fakes_a_complete() -> None:
    many = union([(i * 10, i * 10 + 1 + (i == 7) * 5) for i in range(1000)])
    assert len(many) == MAX_SPANS and (70, 76) in many  # the largest kept
    assert not covers(many, 10_000)
