"""The digital locker: the end user signs in with order number and email and sees serials, instructions, links.

- `GET /locker[?order=N]`: the sign-in form (what `digitalLockerLink` in order replies points to).
- `POST /locker`: checks the pair; on success a signed, HttpOnly session cookie (one hour, this order
  only) and a redirect to `/locker/order`; otherwise one generic error. Attempts are rate limited per
  client IP, and failures per (order number, client IP) with growing delays (resell.api.rate_limits;
  HTTP 429 with Retry-After), so that someone else's failures never lock the order's owner out.
- `GET /locker/order`: the order, rendered on the server; a small script of our own
  (`/locker/static/locker.js`, CSP `script-src 'self'`) adds copy buttons to the serials, nothing more.
- `POST /locker/sign-out`: forgets the session.
- `POST /locker/resend` ("Send me my order email again": an order number) and `POST /locker/forgot`
  ("Forgot my order number": an email address): the email goes to the order's own addresses, or to
  the address typed, never elsewhere. The answer is the same page whether or not anything exists, and
  the work (reading the order, queueing the email) is done after the answer is sent, so that its time
  tells nothing either. Limits: requests per client IP (429); beyond the others, the same answer and
  nothing sent (no signal, and no way to flood an inbox): emails again per (order, client IP), so that
  a stranger guessing order numbers uses up only their own allowance, never the customer's, and per
  order from all addresses together, which bounds what one customer's mailbox receives in a day;
  order lists the same way, per (email address typed, client IP) and per email address.
Before sign-in the page speaks the language of the address (`lang`, which the emails' links carry),
the visitor's cookie or browser, never the order's: that would tell whether an order number exists.
After sign-in the order's language decides (resell.web.language has the rules).
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from fastapi import APIRouter, Request
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from resell.api import rate_limits
from resell.domain.links import locker_session, read_locker_session
from resell.domain.request_fields import decimal_id
from resell.services import locker
from resell.services.context import Context
from resell.web import language
from resell.web.pages import SECURITY_HEADERS, error_page, page

router = APIRouter(include_in_schema=False)

COOKIE = "resell_locker"
SESSION_SECONDS = 3600


def _limited(request: Request, ip: str, order_number: str) -> int | None:
    """None when the attempt may go ahead, else the seconds to wait."""
    settings = _ctx(request).settings
    limiter = rate_limits.limiter(request)
    wait = limiter.hit(rate_limits.rule("locker-ip", settings.locker_rate_limit_ip), ip)
    if wait is None and order_number:
        wait = limiter.delayed(rate_limits.sign_in_backoff("locker", settings), order_number, ip)
    return wait


def _ctx(request: Request) -> Context:
    return request.app.state.ctx  # type: ignore[no-any-return]


def _sign_in_page(
    request: Request,
    order_number: str,
    email: str = "",
    error: str | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **kw: Any,
) -> Response:
    """`error`: "not_found" (one answer for every wrong pair) or "too_many" (with `wait` seconds);
    `sent`: "resend" or "order_list" once one of the getting-back-in forms was posted."""
    values = {"order_number": order_number, "email": email, "error": error, "wait": 0, "sent": None, **kw}
    return page(request, "locker_sign_in.html", status, headers, **values)


@router.get("/locker", name="lockerSignIn")
def sign_in_form(request: Request, order: str = "") -> Response:
    """The same bytes for an order number that exists and one that does not (nothing is read here)."""
    order_id = decimal_id(order.strip())
    return _sign_in_page(request, str(order_id) if order_id is not None else "")


def _order_key(order_number: str) -> str:
    """The rate limits' key of an order number: one counter per order, however it is spelt ("0042" is
    order 42); a number that is not one counts as typed."""
    order_id = decimal_id(order_number)
    return str(order_id) if order_id is not None else order_number


def _recovery_limited(request: Request) -> int | None:
    """The per-address limit of the two "getting back in" forms: None, or the seconds to wait."""
    per_ip = rate_limits.rule("locker-recovery-ip", _ctx(request).settings.locker_recovery_rate_limit_ip)
    return rate_limits.limiter(request).hit(per_ip, rate_limits.client_ip(request))


def _recovery_page(
    request: Request, sent: str, wait: int | None, shown_in: str, task: BackgroundTask | None
) -> Response:
    """The answer of the two forms: "sent" (whatever happened), or "too many" with the wait."""
    if wait is not None:
        return _sign_in_page(
            request, "", "", "too_many", 429, {"Retry-After": str(wait)}, wait=wait, form_language=shown_in
        )
    response = _sign_in_page(request, "", "", None, 200, sent=sent, form_language=shown_in)
    response.background = task
    return response


def _within_allowances(request: Request, kind: str, key: str, per_address: str, overall: str) -> bool:
    """Whether one more email of `kind` may go for `key` (an order, an email address): within both this
    client address's allowance on that key and the key's cap from all addresses together. Counted by
    both or by neither, so that the cap's refusals never use up the owner's own allowance: a stranger
    typing someone's order number or email address spends only their own."""
    if not key:
        return False
    per_key_ip = rate_limits.rule(f"locker-{kind}-ip", per_address)
    per_key = rate_limits.rule(f"locker-{kind}", overall)
    # the address first: it holds no space, so the key (any text) cannot pass for another pair
    ip_and_key = f"{rate_limits.client_ip(request)} {key}"
    return rate_limits.limiter(request).hit_all((per_key_ip, ip_and_key), (per_key, key)) is None


@router.post("/locker/resend", name="lockerResend")
async def resend(request: Request) -> Response:
    ctx = _ctx(request)
    form = await request.form()
    order_number = str(form.get("orderNumber") or "").strip()[:40]
    shown_in = str(form.get("lang") or "")[:16]
    wait = _recovery_limited(request)
    task = None
    settings = ctx.settings
    limits = settings.locker_resend_rate_limit_order_ip, settings.locker_resend_rate_limit_order
    if wait is None and _within_allowances(request, "resend-order", _order_key(order_number), *limits):
        task = BackgroundTask(locker.send_again, ctx, order_number)
    return _recovery_page(request, "resend", wait, shown_in, task)


@router.post("/locker/forgot", name="lockerForgot")
async def forgot(request: Request) -> Response:
    ctx = _ctx(request)
    form = await request.form()
    email = str(form.get("email") or "").strip()[:320]
    shown_in = str(form.get("lang") or "")[:16]
    wait = _recovery_limited(request)
    task = None
    settings = ctx.settings
    limits = settings.locker_order_list_rate_limit_email_ip, settings.locker_order_list_rate_limit_email
    if wait is None and _within_allowances(request, "list-email", email.casefold(), *limits):
        lang, _ = language.choose(request, None, shown_in)
        task = BackgroundTask(locker.send_order_list, ctx, email, lang)
    return _recovery_page(request, "order_list", wait, shown_in, task)


STATIC = {"locker.js": "text/javascript; charset=utf-8"}


@router.get("/locker/static/{name}", name="lockerStatic")
def static_file(request: Request, name: str) -> Response:
    """The locker's one script (copy buttons); no CDN, no build."""
    if name not in STATIC:
        return error_page(request, 404)
    body = resources.files("resell.web").joinpath("static", name).read_bytes()
    return Response(body, media_type=STATIC[name], headers={**SECURITY_HEADERS, "Cache-Control": "public, max-age=300"})


@router.post("/locker", name="lockerSignIn")
async def sign_in(request: Request) -> Response:
    ctx = _ctx(request)
    form = await request.form()
    order_number = str(form.get("orderNumber") or "").strip()[:40]
    email = str(form.get("email") or "").strip()[:320]
    shown_in = str(form.get("lang") or "")[:16]  # the language the form was shown in
    ip = rate_limits.client_ip(request)
    limit_key = _order_key(order_number)
    wait = _limited(request, ip, limit_key)
    if wait is not None:
        return _sign_in_page(
            request,
            order_number,
            email,
            "too_many",
            429,
            {"Retry-After": str(wait)},
            wait=wait,
            form_language=shown_in,
        )
    order_id = await run_in_threadpool(locker.sign_in, ctx, order_number, email)
    backoff = rate_limits.sign_in_backoff("locker", ctx.settings)
    if order_id is None:
        if limit_key:
            rate_limits.limiter(request).failed(backoff, limit_key, ip)
        return _sign_in_page(request, order_number, email, "not_found", 401, form_language=shown_in)
    rate_limits.limiter(request).succeeded(backoff, limit_key, ip)
    expires = int(ctx.now().timestamp()) + SESSION_SECONDS
    response = RedirectResponse("/locker/order", status_code=303, headers=SECURITY_HEADERS)
    response.set_cookie(
        COOKIE,
        locker_session(ctx.settings.effective_download_key, order_id, expires),
        max_age=SESSION_SECONDS,
        path="/locker",
        httponly=True,
        samesite="lax",
        secure=ctx.settings.base_url.startswith("https://"),
    )
    return response


@router.get("/locker/order", name="lockerOrder")
def show_order(request: Request) -> Response:
    ctx = _ctx(request)
    cookie = request.cookies.get(COOKIE, "")
    order_id = read_locker_session(ctx.settings.effective_download_key, cookie, int(ctx.now().timestamp()))
    view = locker.view(ctx, order_id) if order_id is not None else None
    if view is None:
        return RedirectResponse("/locker", status_code=303, headers=SECURITY_HEADERS)
    return page(request, "locker_order.html", order_language=view.language, view=view, shop=view.shop)


@router.post("/locker/sign-out", name="lockerSignOut")
def sign_out(request: Request) -> Response:
    response = RedirectResponse("/locker", status_code=303, headers=SECURITY_HEADERS)
    response.delete_cookie(COOKIE, path="/locker")
    return response
