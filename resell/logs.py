"""Structured logs: one JSON object per line (or key=value pairs on a terminal), never a secret."""

from __future__ import annotations

import datetime as dt
import logging
import sys
from typing import Any

import orjson
import structlog

_configured = False
_direct = False  # JSON lines with INFO enabled: RequestLogger renders its lines itself


def _write(line: str) -> None:
    """One line, in one write, to whatever sys.stderr is at that moment (tests and daemons may swap it)."""
    stderr = sys.stderr
    stderr.write(line + "\n")
    stderr.flush()


class _StderrLogger:
    def msg(self, message: str) -> None:
        _write(message)

    log = debug = info = warning = warn = error = critical = exception = fatal = msg


def _orjson_text(event: object, **_options: object) -> str:
    """One request, one log line: rendered by orjson (anything it cannot encode becomes its str)."""
    return orjson.dumps(event, default=str).decode()


def configure(level: str = "INFO", json: bool = True) -> None:
    global _configured, _direct
    logging.basicConfig(format="%(message)s", stream=sys.stderr, level=level.upper())
    renderer = (
        structlog.processors.JSONRenderer(serializer=_orjson_text)
        if json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=lambda *_args: _StderrLogger(),
        cache_logger_on_first_use=True,
    )
    _configured = True
    _direct = json and logging.getLevelName(level.upper()) <= logging.INFO


def get_logger(name: str) -> structlog.typing.FilteringBoundLogger:
    return structlog.get_logger(name)


class RequestLogger:
    """The logger of the line every request writes (api/rest/observability.py), at INFO.

    With JSON lines, the line is rendered here, straight from its fields: the same bytes as the
    processor chain of `configure` writes (the fields in their order, then event, level and the UTC
    timestamp; tests/test_logs.py compares them), for a quarter of its cost, which every request
    pays. (The chain would also merge in structlog's contextvars: resell binds none.) Console lines,
    and any line before `configure`, go through structlog; above INFO, none."""

    def __init__(self, name: str) -> None:
        self._log = get_logger(name)

    def info(self, event: str, **fields: Any) -> None:
        if not _direct:
            self._log.info(event, **fields)
            return
        fields["event"] = event
        fields["level"] = "info"
        # rendered by orjson with OPT_UTC_Z: the text TimeStamper(fmt="iso", utc=True) makes, for a
        # fifth of the cost (the request's fields hold no datetime that the option could change)
        fields["timestamp"] = dt.datetime.now(tz=dt.UTC)
        _write(orjson.dumps(fields, default=str, option=orjson.OPT_UTC_Z).decode())


def is_configured() -> bool:
    return _configured
