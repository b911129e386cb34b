"""HTTP Range headers (RFC 9110 section 14), parsed strictly; the byte spans a download link has served.

Starlette's FileResponse serves the ranges; this parser runs first so that every header it would
answer with 400 (malformed) or 416 (out of bounds) is answered 416 with `Content-Range: bytes */size`,
and so that the download counters know which bytes a response carries.
"""

from __future__ import annotations

import re

MAX_RANGES = 100
_SPEC = re.compile(r"^\s*(?:([0-9]{1,19})\s*-\s*([0-9]{0,19})|-\s*([0-9]{1,19}))\s*$")  # ASCII digits only


class RangeNotSatisfiable(ValueError):
    """Malformed, unsatisfiable or abusive: answered 416."""


def parse_range(header: str, size: int) -> list[tuple[int, int]]:
    """The byte ranges asked for, as half-open (start, end) pairs within the file, in request order."""
    unit, sep, specs = header.partition("=")
    if not sep or unit.strip().lower() != "bytes":
        raise RangeNotSatisfiable("only byte ranges are served")
    parts = specs.split(",")
    if len(parts) > MAX_RANGES:
        raise RangeNotSatisfiable("too many ranges")
    ranges = []
    for part in parts:
        match = _SPEC.match(part)
        if match is None:
            raise RangeNotSatisfiable(f"malformed range {part.strip()!r}")
        first, last, suffix = match.groups()
        if suffix is not None:
            length = int(suffix)
            if length == 0:
                raise RangeNotSatisfiable("empty suffix range")
            start, end = max(size - length, 0), size
        else:
            start = int(first)
            end = size if last == "" else min(int(last) + 1, size)
            if last != "" and int(last) < start:
                raise RangeNotSatisfiable("range ends before it starts")
        if start >= size:
            raise RangeNotSatisfiable("range starts past the end of the file")
        ranges.append((start, end))
    return ranges


# ---------------------------------------------------------------- byte spans served to a link

MAX_SPANS = 256  # a link's record of served bytes stays small whatever a client asks for
_SPANS = re.compile(r"[0-9]{1,19}-[0-9]{1,19}(?:,[0-9]{1,19}-[0-9]{1,19})*")


def union(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Half-open (start, end) spans as the fewest sorted, disjoint ones (touching spans join).

    Past MAX_SPANS the smallest are dropped: bytes forgotten can only delay a complete, never fake one.
    """
    merged: list[tuple[int, int]] = []
    for start, end in sorted(s for s in spans if s[0] < s[1]):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    if len(merged) > MAX_SPANS:
        merged = sorted(sorted(merged, key=lambda s: s[1] - s[0], reverse=True)[:MAX_SPANS])
    return merged


def covers(spans: list[tuple[int, int]], size: int) -> bool:
    """Whether the spans (as union() gives them) hold every byte of a file of `size` bytes."""
    return size <= 0 or (bool(spans) and spans[0][0] <= 0 and spans[0][1] >= size)


def format_spans(spans: list[tuple[int, int]]) -> str:
    """The compact text form stored per link: `0-1048576,2097152-3145728` (half-open)."""
    return ",".join(f"{start}-{end}" for start, end in spans)


def parse_spans(text: str) -> list[tuple[int, int]]:
    """format_spans' text back as spans; anything unreadable counts as nothing served."""
    if not _SPANS.fullmatch(text):
        return []
    return union([(int(first), int(last)) for first, _, last in (part.partition("-") for part in text.split(","))])
