"""What every back-office page module uses: the guard, the page renderer, redirects and form reading.

- `require(*roles)` / `section(key)`: the FastAPI dependency of every page and action. It reads the
  session cookie, loads the account (its generation must match, it must be active), sends a member
  who must change their password to /admin/account, refuses a role that may not (403 page) and, on
  every POST, checks the form's `csrf_token` (403 page). It returns a StaffMember.
- `admin_page(request, template, section=..., **values)`: renders a template that extends
  "layout.html" with the member, the navigation, `csrf_field` and the security headers.
- `see_other(path)`, `form_text(form, name)`, `actor(member)`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import lru_cache
from typing import Any
from urllib.parse import quote

import jinja2
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from resell.domain import staff as rules
from resell.services import staff
from resell.services.context import Context
from resell.services.staff import StaffMember

COOKIE = "resell_admin"  # the session: staff id, generation, expiry, signed
PRE_COOKIE = "resell_admin_pre"  # a random nonce the sign-in form's CSRF token is bound to
COOKIE_PATH = "/admin"
# where a member whose password must change may still go
PASSWORD_CHANGE_PATHS = ("/admin/account", "/admin/account/password", "/admin/logout")

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}

__all__ = [
    "StaffMember",
    "actor",
    "admin_page",
    "ctx_of",
    "form_text",
    "own_merchant",
    "require",
    "section",
    "see_other",
]


# ---------------------------------------------------------------- refusals the admin app renders


class SignInFirst(Exception):
    """No valid session: 303 to the sign-in form, coming back to `next_path` afterwards."""

    def __init__(self, next_path: str):
        self.next_path = next_path


class Refused(Exception):
    """A 403 (or other) HTML page with one sentence."""

    def __init__(self, status: int, message: str):
        self.status = status
        self.message = message


class Redirect(Exception):
    def __init__(self, location: str):
        self.location = location


FORBIDDEN = "Your role does not give access to this page."
CSRF_REFUSED = "This form has expired or did not come from this site. Please go back, reload the page and try again."


# ---------------------------------------------------------------- helpers


def ctx_of(request: Request) -> Context:
    return request.app.state.ctx  # type: ignore[no-any-return]


def actor(member: StaffMember) -> str:
    """The audit trail's actor for what a member does on the web."""
    return f"staff:{member.email}"


def own_merchant(member: StaffMember) -> int | None:
    """The one merchant whose data a member sees: a merchant account's own (None: a member of the
    platform, not scoped to a merchant). Every page reading merchant data passes this to its service,
    which answers "not found" for another merchant's, so the scoping is decided here only."""
    if member.role != "merchant":
        return None
    if member.merchant_id is None:  # the account rules forbid it; never read that as "every merchant"
        raise Refused(403, "This account is not bound to a merchant.")
    return member.merchant_id


def see_other(path: str, headers: dict[str, str] | None = None) -> RedirectResponse:
    """303 after a POST (or to send the browser elsewhere), with the security headers."""
    return RedirectResponse(path, status_code=303, headers={**SECURITY_HEADERS, **(headers or {})})


def form_text(form: FormData, name: str, max_chars: int = 500) -> str:
    """A form field as stripped text ('' when missing), cut to `max_chars`."""
    value = form.get(name)
    return value.strip()[:max_chars] if isinstance(value, str) else ""


def secure_cookies(ctx: Context) -> bool:
    return ctx.settings.base_url.startswith("https://")


def set_session_cookie(response: Response, ctx: Context, staff_id: int, generation: int) -> None:
    seconds = ctx.settings.admin_session_seconds
    expires = int(ctx.now().timestamp()) + seconds
    response.set_cookie(
        COOKIE,
        rules.session_token(ctx.settings.effective_admin_key, staff_id, generation, expires),
        max_age=seconds,
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(ctx),
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE, path=COOKIE_PATH)


# ---------------------------------------------------------------- the guard


async def _member(request: Request, roles: tuple[str, ...]) -> StaffMember:
    ctx = ctx_of(request)
    cookie = request.cookies.get(COOKIE, "")
    claims = rules.read_session(ctx.settings.effective_admin_key, cookie, int(ctx.now().timestamp()))
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    found = await run_in_threadpool(staff.session_member, ctx, claims.staff_id, claims.generation) if claims else None
    if found is None:
        raise SignInFirst(here if request.method == "GET" else "/admin")
    member, must_change_password = found
    request.state.staff = member
    request.state.admin_session = cookie
    if request.method == "POST":
        form = await request.form()
        given = form.get("csrf_token")
        if not isinstance(given, str) or not rules.check(
            rules.csrf_token(ctx.settings.effective_admin_key, cookie), given
        ):
            raise Refused(403, CSRF_REFUSED)
    if must_change_password and request.url.path not in PASSWORD_CHANGE_PATHS:
        raise Redirect("/admin/account")
    if member.role not in roles:
        raise Refused(403, FORBIDDEN)
    return member


def require(*roles: str) -> Callable[[Request], Awaitable[StaffMember]]:
    """The dependency of a page or action open to `roles` (none named: every role).

    @router.get("/admin/things")
    def things(request: Request, member: StaffMember = Depends(require("admin", "support"))) -> Response:
    """
    unknown = set(roles) - set(rules.ROLES)
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}")
    allowed = roles or rules.ROLES

    async def guard(request: Request) -> StaffMember:
        return await _member(request, allowed)

    return guard


def section(key: str) -> Callable[[Request], Awaitable[StaffMember]]:
    """The dependency of a page of a navigation section: the roles of resell.domain.staff.SECTIONS."""
    return require(*rules.roles_for(key))


# ---------------------------------------------------------------- rendering


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("resell.web.admin", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )


def csrf_field(request: Request) -> Markup:
    token = rules.csrf_token(ctx_of(request).settings.effective_admin_key, request.state.admin_session)
    return Markup('<input type="hidden" name="csrf_token" value="{}">').format(token)


def admin_page(
    request: Request,
    template: str,
    *,
    section: str | None = "dashboard",
    title: str | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **values: Any,
) -> HTMLResponse:
    """A page of a signed-in member (after `require`): `template` extends "layout.html"; the layout
    gets the member, the navigation of its role with `section` marked current (None: a page of no
    section, like the member's account), `title` (default: the section's label), `csrf_field` (put
    `{{ csrf_field }}` in every POST form) and `may_change` (the role may act on the section)."""
    member: StaffMember = request.state.staff
    html = (
        environment()
        .get_template(template)
        .render(
            member=member,
            nav=rules.sections_for(member.role),
            current=section,
            title=title or (rules.SECTION_BY_KEY[section].label if section else "resell"),
            csrf_field=csrf_field(request),
            may_change=rules.may_change(member.role, section) if section else True,
            **values,
        )
    )
    return HTMLResponse(html, status_code=status_code, headers={**SECURITY_HEADERS, **(headers or {})})


def bare_page(
    template: str, status_code: int = 200, headers: dict[str, str] | None = None, **values: Any
) -> HTMLResponse:
    """A page without a signed-in member (sign-in form, error pages): no navigation."""
    html = environment().get_template(template).render(member=None, nav=[], current="", **values)
    return HTMLResponse(html, status_code=status_code, headers={**SECURITY_HEADERS, **(headers or {})})


def sign_in_location(next_path: str) -> str:
    target = rules.local_path(next_path)
    return "/admin/login" if target == "/admin" else f"/admin/login?next={quote(target, safe='/')}"
