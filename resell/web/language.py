"""Which language a page is shown in, first match wins:

1. `?lang=xx` on the address (the switcher's links, the emails' locker links), then remembered in a
   cookie for a year;
2. the `lang` field of a posted form (the sign-in form carries the language it was shown in);
3. that cookie;
4. the order's own language (`orders.customer_language`) once the visitor has shown they hold the
   order: the order page after sign-in, a refused download (its link is signed). Never the sign-in
   form: `/locker?order=N` in the order's language would tell anyone whether order N exists;
5. the browser's `Accept-Language`;
6. English.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from resell import i18n

COOKIE = "resell_lang"
COOKIE_SECONDS = 365 * 24 * 3600


def choose(request: Request, order_language: str | None = None, form_language: str | None = None) -> tuple[str, bool]:
    """The language, and whether the visitor asked for it just now (then `remember` it)."""
    asked = i18n.supported(request.query_params.get("lang"))
    if asked:
        return asked, True
    for candidate in (form_language, request.cookies.get(COOKIE), order_language):
        chosen = i18n.supported(candidate)
        if chosen:
            return chosen, False
    return i18n.negotiate(request.headers.get("accept-language")) or i18n.DEFAULT, False


def remember(response: Response, lang: str) -> None:
    response.set_cookie(COOKIE, lang, max_age=COOKIE_SECONDS, path="/", httponly=True, samesite="lax")
