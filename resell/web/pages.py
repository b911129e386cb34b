"""Server-rendered pages (Jinja2, autoescaped, no JavaScript): the locker and the download refusals."""

from __future__ import annotations

from functools import lru_cache
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
