"""Server-rendered pages (Jinja2, autoescaped, no JavaScript): the locker, the download refusals, error pages."""

from __future__ import annotations

from functools import lru_cache
from http import HTTPStatus
from typing import Any

import jinja2
from starlette.responses import HTMLResponse

from resell.domain.html import safe_html

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} bytes"


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("resell.web", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )
    env.filters["human_size"] = human_size
    env.filters["safe_remark"] = safe_html
    return env


def render(template: str, **values: Any) -> str:
    return environment().get_template(template).render(**values)


def page(template: str, status_code: int = 200, headers: dict[str, str] | None = None, **values: Any) -> HTMLResponse:
    return HTMLResponse(
        render(template, **values), status_code=status_code, headers={**SECURITY_HEADERS, **(headers or {})}
    )


_ERRORS = {
    400: "The request could not be understood. Please use the link from your email or your locker.",
    404: "There is no page at this address. Please use the link from your email or your locker.",
    405: "This page cannot be used this way. Please use the link from your email or your locker.",
    413: "The request is too large. Please use the link from your email or your locker.",
}
_CLIENT_ERROR = "This page is not available. Please use the link from your email or your locker."
_SERVER_ERROR = "Something went wrong on our side. Please try again in a few minutes."


def error_page(status_code: int, headers: dict[str, str] | None = None) -> HTMLResponse:
    """A plain error page for a browser: the status and a sentence, never a trace or an exception's text."""
    try:
        heading = HTTPStatus(status_code).phrase
    except ValueError:
        heading = "Error"
    message = _ERRORS.get(status_code, _CLIENT_ERROR if status_code < 500 else _SERVER_ERROR)
    return page("error.html", status_code, headers, heading=heading, message=message, status=status_code)
