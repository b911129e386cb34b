"""ISO 8601 periods (`P1Y5M2D`) and dates, on top of isodate.

Used for download windows, the download-extension option and subscription terms.
"""

from __future__ import annotations

import datetime as dt
import re

import isodate

# Years, months, weeks and days only: a download end date has no time of day.
_PERIOD = re.compile(r"^P(?!$)([0-9]+Y)?([0-9]+M)?([0-9]+W)?([0-9]+D)?$")  # \d would take "٣" too
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")

# The latest download end date any order may have (createOrder's extensions, updateDownloadTime):
# later than any real window, and far enough below year 9999 that date arithmetic on it stays safe.
LAST_END_DATE = dt.date(9000, 12, 31)


def parse_period(text: str) -> isodate.Duration | dt.timedelta:
    """Parse a date period like P1Y, P0Y6M, P6Y14M1D; ValueError for anything else."""
    if not isinstance(text, str) or not _PERIOD.match(text.strip().upper()):
        raise ValueError(f"not an ISO 8601 period: {text!r}")
    try:
        return isodate.parse_duration(text.strip().upper())
    except OverflowError as exc:  # the form is right but the period is longer than any date can hold
        raise ValueError(f"period out of range: {text!r}") from exc


# A duration with a time of day too (P1Y, P1M15D, PT36H, P1DT12H): how far a test clock moves.
_DURATION = re.compile(r"^P(?!$)([0-9]+Y)?([0-9]+M)?([0-9]+W)?([0-9]+D)?(T(?=[0-9])([0-9]+H)?([0-9]+M)?([0-9]+S)?)?$")


def add_duration(moment: dt.datetime, text: object) -> dt.datetime:
    """`moment` moved forward by an ISO 8601 duration (P1Y, P3M, PT12H, P1DT12H); ValueError for anything
    else, for a duration of zero and for a date past year 9999."""
    if not isinstance(text, str) or not _DURATION.match(text.strip().upper()):
        raise ValueError(f"not an ISO 8601 duration: {text!r}")
    try:
        moved = moment + isodate.parse_duration(text.strip().upper())
    except OverflowError as exc:
        raise ValueError(f"duration out of range: {text!r}") from exc
    if moved <= moment:
        raise ValueError(f"not a positive duration: {text!r}")
    return moved


def is_period(text: object) -> bool:
    try:
        parse_period(text)  # type: ignore[arg-type]
    except ValueError:
        return False
    return True


def add_period(day: dt.date, period: str) -> dt.date:
    """The date `period` after `day` (month arithmetic clamps to the month's last day)."""
    result = day + parse_period(period)
    return result if isinstance(result, dt.date) else day


def parse_date(text: object) -> dt.date:
    """A calendar date `YYYY-MM-DD`; ValueError otherwise."""
    if not isinstance(text, str) or not _DATE.match(text.strip()):
        raise ValueError(f"not a date: {text!r}")
    return dt.date.fromisoformat(text.strip())


def parse_timestamp(text: object) -> dt.datetime:
    """An ISO 8601 date-time (offset optional, UTC assumed) or a bare date; ValueError otherwise."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("empty timestamp")
    value = text.strip()
    try:
        if _DATE.match(value):
            parsed = dt.datetime.combine(dt.date.fromisoformat(value), dt.time())
        else:
            parsed = dt.datetime.fromisoformat(value)  # 3.11: T or space, Z, offsets, fractions
    except ValueError as exc:
        raise ValueError(str(exc)) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed


def parse_offset_timestamp(text: object) -> dt.datetime:
    """An ISO 8601 date-time with its UTC offset (`+01:00`, `Z`), as the contract's orderDate; ValueError
    otherwise, a bare date or a time without offset included: the moment it names would be a guess."""
    if not isinstance(text, str) or _DATE.match(text.strip()):
        raise ValueError("not a date-time")
    parsed = dt.datetime.fromisoformat(text.strip())
    if parsed.tzinfo is None:
        raise ValueError("no UTC offset")
    return parsed


def iso_offset(moment: dt.datetime) -> str:
    """`2004-02-12T15:19:21+00:00`: the contract's orderDate form."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.replace(microsecond=0).isoformat()
