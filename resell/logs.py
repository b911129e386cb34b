"""Structured logs: one JSON object per line (or key=value pairs on a terminal), never a secret."""

from __future__ import annotations

import logging
import sys

import orjson
import structlog

_configured = False


class _StderrLogger:
    """Writes each line to whatever sys.stderr is at that moment (tests and daemons may swap it)."""

    def msg(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    log = debug = info = warning = warn = error = critical = exception = fatal = msg


def _orjson_text(event: object, **_options: object) -> str:
    """One request, one log line: rendered by orjson (anything it cannot encode becomes its str)."""
    return orjson.dumps(event, default=str).decode()


def configure(level: str = "INFO", json: bool = True) -> None:
    global _configured
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


def get_logger(name: str) -> structlog.typing.FilteringBoundLogger:
    return structlog.get_logger(name)


def is_configured() -> bool:
    return _configured
