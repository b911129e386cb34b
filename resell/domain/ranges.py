"""HTTP Range headers (RFC 9110 section 14), parsed strictly.

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
