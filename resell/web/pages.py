"""Server-rendered pages (Jinja2, autoescaped): the locker, the download refusals, error pages. They work
without JavaScript; the locker's order page adds copy buttons with its own script (CSP `script-src 'self'`).

Every page speaks the visitor's language (resell.web.language decides which) through the gettext
catalogues of resell.i18n: one Jinja2 environment per language, its `_()` and `{% trans %}` bound to
that language's catalogue, its `long_date` and `file_size` filters to its locale. A page that knows
the order passes its `shop`: the header then shows the shop's name, logo and accent colour, and the
page its support contact. Logos are the one thing loaded from elsewhere (`img-src https:`).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

from resell import i18n
from resell.domain.html import safe_html
from resell.web import language

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; "
    "img-src 'self' https:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@lru_cache(maxsize=len(i18n.LANGUAGES))
def environment(lang: str) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("resell.web", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_translations(i18n.translations(lang), newstyle=True)  # type: ignore[attr-defined]
    env.filters["file_size"] = lambda size: i18n.file_size(size, lang)
    env.filters["long_date"] = lambda day: i18n.long_date(day, lang)
    env.filters["safe_remark"] = safe_html
    env.globals["lang"] = lang
    env.globals["shop"] = None  # the order's shop (resell.domain.branding.Shop) on pages that know the order
    env.globals["languages"] = [(code, i18n.display_name(code)) for code in i18n.LANGUAGES]
    return env


def render(lang: str, template: str, **values: Any) -> str:
    return environment(lang).get_template(template).render(**values)


def _switch_link(request: Request) -> str:
    """This page's address without its `lang`, ready for `lang=xx` (kept: `order`, so the form stays filled)."""
    kept = [(k, v) for k, v in request.query_params.multi_items() if k == "order"]
    return request.url.path + "?" + (urlencode(kept) + "&" if kept else "")


def page(
    request: Request,
    template: str,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    order_language: str | None = None,
    form_language: str | None = None,
    **values: Any,
) -> HTMLResponse:
    """The page in the visitor's language (`order_language`: the order's own, when the page is about one)."""
    lang, asked = language.choose(request, order_language, form_language)
    response = HTMLResponse(
        render(lang, template, switch_link=_switch_link(request), **values),
        status_code=status_code,
        headers={**SECURITY_HEADERS, **(headers or {}), "Content-Language": lang},
    )
    if asked:
        language.remember(response, lang)
    return response


def error_page(request: Request, status_code: int, headers: dict[str, str] | None = None) -> HTMLResponse:
    """A plain error page for a browser: the status and a sentence, never a trace or an exception's text
    (the sentences, per status, are in error.html)."""
    return page(request, "error.html", status_code, headers, status=status_code)
