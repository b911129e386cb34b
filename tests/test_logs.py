"""The request line: rendered directly, the same bytes as structlog's chain; silenced above INFO."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import orjson
import pytest

from resell import logs

FIELDS = {
    "request_id": "0769b324554e4f87a34182b9d24b5782",
    "method": "POST",
    "path": "/connect/stock",
    "operation": "getStockStatus",
    "merchant": None,
    "status": 200,
    "response_code": 0,
    "duration_ms": 0.31,
}
TIMESTAMP = re.compile(r'"timestamp":"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z)"')


@pytest.fixture(autouse=True)
def restore() -> Iterator[None]:
    yield
    logs.configure("INFO", json=True)  # what the suite's applications configure


def _lines(capsys: pytest.CaptureFixture) -> list[str]:
    return capsys.readouterr().err.splitlines()


def test_request_line_is_what_structlog_writes(capsys: pytest.CaptureFixture) -> None:
    logs.configure("INFO", json=True)
    capsys.readouterr()
    logs.RequestLogger("resell.request").info("request", **FIELDS)
    logs.get_logger("resell.request").info("request", **FIELDS)
    direct, chained = _lines(capsys)
    assert TIMESTAMP.search(direct) and TIMESTAMP.search(chained)
    assert TIMESTAMP.sub("", direct) == TIMESTAMP.sub("", chained)
    assert direct.startswith('{"request_id":"0769b324554e4f87a34182b9d24b5782","method":"POST",')
    assert direct.endswith('"duration_ms":0.31,"event":"request","level":"info",' + TIMESTAMP.search(direct)[0] + "}")


@pytest.mark.parametrize("level", ["WARNING", "ERROR"])
def test_request_line_silenced_above_info(capsys: pytest.CaptureFixture, level: str) -> None:
    logs.configure(level, json=True)
    capsys.readouterr()
    logs.RequestLogger("resell.request").info("request", **FIELDS)
    assert _lines(capsys) == []


def test_request_line_on_a_terminal_goes_through_structlog(capsys: pytest.CaptureFixture) -> None:
    logs.configure("INFO", json=False)
    capsys.readouterr()
    logs.RequestLogger("resell.request").info("request", **FIELDS)
    (line,) = _lines(capsys)
    assert "request" in line and "request_id=0769b324554e4f87a34182b9d24b5782" in line and "{" not in line


@pytest.mark.parametrize("microsecond", [0, 1, 500_000, 999_999])
def test_timestamp_text_is_the_iso_stampers(microsecond: int) -> None:
    """The request line's timestamp is orjson's rendering (OPT_UTC_Z) of what TimeStamper renders with
    isoformat(), which leaves out a microsecond part of 0: the two agree on that too."""
    moment = dt.datetime(2026, 12, 2, 7, 26, 34, microsecond, tzinfo=dt.UTC)
    iso = moment.isoformat().replace("+00:00", "Z")
    assert orjson.dumps(moment, option=orjson.OPT_UTC_Z).decode() == f'"{iso}"'
