"""Signing in to the back office and out of it.

- `GET /admin/login[?next=/admin/...]`: the form (Email, Password, "Sign in"). Its CSRF token is
  bound to a random pre-session cookie.
- `POST /admin/login`: the password step, then, for an account with TOTP, the code step
  ("Authentication code"), carried by a signed token valid a few minutes in this browser only.
  Attempts are limited per client IP (RESELL_ADMIN_RATE_LIMIT_IP) and failures per (account, client
  IP) with growing delays (resell.api.rate_limits, HTTP 429 with Retry-After). One generic error
  whatever failed, so that the answer never tells whether an account exists. argon2 runs in the
  thread pool. Success: the session cookie and a 303 to `next` (local paths only).
- `POST /admin/logout`: ends every session of the account (its generation moves on).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from resell.api import rate_limits
from resell.domain import staff as rules
from resell.services import staff
from resell.services.context import Context
from resell.web.admin.kit import (
    COOKIE,
    COOKIE_PATH,
    CSRF_REFUSED,
    PRE_COOKIE,
    Refused,
    StaffMember,
    bare_page,
    clear_session_cookie,
    ctx_of,
    form_text,
    require,
    secure_cookies,
    see_other,
    set_session_cookie,
)

router = APIRouter(include_in_schema=False)

GENERIC_ERROR = "Email or password is not correct."
CODE_ERROR = "The authentication code is not correct."
PENDING_SECONDS = 300


def _nonce(request: Request) -> str:
    nonce = request.cookies.get(PRE_COOKIE, "")
    return nonce if 16 <= len(nonce) <= 64 else ""


def _form(
    ctx: Context,
    nonce: str,
    next_path: str,
    *,
    email: str = "",
    error: str | None = None,
    status: int = 200,
    pending: str = "",
    headers: dict[str, str] | None = None,
) -> Response:
    new_nonce = not nonce
    nonce = nonce or rules.new_nonce()
    response = bare_page(
        "login.html",
        status,
        headers,
        title="Sign in",
        email=email,
        error=error,
        next_path=next_path,
        pending=pending,
        csrf_token=rules.login_csrf_token(ctx.settings.effective_admin_key, nonce),
    )
    if new_nonce:
        response.set_cookie(
            PRE_COOKIE, nonce, path=COOKIE_PATH, httponly=True, samesite="lax", secure=secure_cookies(ctx)
        )
    return response


@router.get("/admin/login", name="adminSignIn")
async def sign_in_form(request: Request, next: str = "") -> Response:
    ctx = ctx_of(request)
    next_path = rules.local_path(next)
    claims = rules.read_session(
        ctx.settings.effective_admin_key, request.cookies.get(COOKIE, ""), int(ctx.now().timestamp())
    )
    if claims is not None:
        found = await run_in_threadpool(staff.session_member, ctx, claims.staff_id, claims.generation)
        if found is not None:
            return see_other(next_path)
    return _form(ctx, _nonce(request), next_path)


def _throttled(request: Request, ctx: Context, account: str, ip: str) -> int | None:
    limiter = rate_limits.limiter(request)
    wait = limiter.hit(rate_limits.rule("admin-ip", ctx.settings.admin_rate_limit_ip), ip)
    if wait is None and account:
        wait = limiter.delayed(rate_limits.sign_in_backoff("admin", ctx.settings), account, ip)
    return wait


@router.post("/admin/login", name="adminSignIn")
async def sign_in(request: Request) -> Response:
    ctx = ctx_of(request)
    form = await request.form()
    nonce = _nonce(request)
    given = form_text(form, "csrf_token", 100)
    if not nonce or not rules.check(rules.login_csrf_token(ctx.settings.effective_admin_key, nonce), given):
        raise Refused(403, CSRF_REFUSED)
    next_path = rules.local_path(form_text(form, "next", 2000))
    email = rules.normal_email(form_text(form, "email", 320))
    ip = rate_limits.client_ip(request)
    backoff = rate_limits.sign_in_backoff("admin", ctx.settings)
    limiter = rate_limits.limiter(request)
    pending = form_text(form, "pending", 200)

    if pending:  # the code step
        claims = rules.read_pending(ctx.settings.effective_admin_key, pending, int(ctx.now().timestamp()), nonce)
        if claims is None:  # too late, or not this browser's: start again
            return _form(ctx, nonce, next_path, email=email, error="Please sign in again.", status=401)
        account = f"#{claims.staff_id}"
        wait = _throttled(request, ctx, account, ip)
        if wait is not None:
            return _form(
                ctx, nonce, next_path, email=email, pending=pending, status=429,
                error=f"Too many attempts. Please wait {wait} seconds before trying again.",
                headers={"Retry-After": str(wait)},
            )  # fmt: skip
        code = form_text(form, "code", 20)
        if not await run_in_threadpool(staff.check_totp, ctx, claims.staff_id, claims.generation, code):
            limiter.failed(backoff, account, ip)
            return _form(ctx, nonce, next_path, email=email, pending=pending, error=CODE_ERROR, status=401)
        limiter.succeeded(backoff, account, ip)
        return await _signed_in(ctx, claims.staff_id, claims.generation, next_path)

    wait = _throttled(request, ctx, email, ip)
    if wait is not None:
        return _form(
            ctx, nonce, next_path, email=email, status=429,
            error=f"Too many attempts. Please wait {wait} seconds before trying again.",
            headers={"Retry-After": str(wait)},
        )  # fmt: skip
    password = form.get("password")
    password = password[:1000] if isinstance(password, str) else ""
    checked = await run_in_threadpool(staff.check_password, ctx, email, password) if email and password else None
    if checked is None:
        if email:
            limiter.failed(backoff, email, ip)
        return _form(ctx, nonce, next_path, email=email, error=GENERIC_ERROR, status=401)
    limiter.succeeded(backoff, email, ip)
    if checked.needs_totp:
        expires = int(ctx.now().timestamp()) + PENDING_SECONDS
        token = rules.pending_token(
            ctx.settings.effective_admin_key, checked.member.id, checked.generation, expires, nonce
        )
        return _form(ctx, nonce, next_path, email=email, pending=token)
    return await _signed_in(ctx, checked.member.id, checked.generation, next_path)


async def _signed_in(ctx: Context, staff_id: int, generation: int, next_path: str) -> Response:
    await run_in_threadpool(staff.signed_in, ctx, staff_id)
    response = see_other(next_path)
    set_session_cookie(response, ctx, staff_id, generation)
    return response


@router.post("/admin/logout", name="adminSignOut")
async def sign_out(request: Request, member: StaffMember = Depends(require())) -> Response:
    await run_in_threadpool(staff.sign_out, ctx_of(request), member.id)
    response = see_other("/admin/login")
    clear_session_cookie(response)
    return response
