"""`/admin/account`: the member's own password (required at first sign-in) and TOTP codes.

Changing the password ends every other session of the account and gives this browser a new cookie.
Turning TOTP on is two steps: the page shows a new secret (text, otpauth:// URI, QR code), and only
a correct code from the authenticator app stores it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from resell.services import staff
from resell.web.admin.kit import (
    StaffMember,
    actor,
    admin_page,
    ctx_of,
    form_text,
    require,
    see_other,
    set_session_cookie,
)

router = APIRouter(include_in_schema=False)


def _qr_data_uri(uri: str) -> str:
    import segno

    return str(segno.make(uri, error="m").svg_data_uri(scale=4, border=2))


async def _page(request: Request, member: StaffMember, status_code: int = 200, **values: Any) -> Response:
    found = await run_in_threadpool(lambda: next(a for a in staff.list_accounts(ctx_of(request)) if a.id == member.id))
    values = {"error": None, "notice": None, "totp_setup": None, "qr": None, **values}
    return admin_page(
        request, "account.html", section=None, title="Your account", status_code=status_code,
        account=found, **values,
    )  # fmt: skip


@router.get("/admin/account", name="adminAccount")
async def account(request: Request, member: StaffMember = Depends(require())) -> Response:
    return await _page(request, member)


@router.post("/admin/account/password", name="adminAccountPassword")
async def change_password(request: Request, member: StaffMember = Depends(require())) -> Response:
    form = await request.form()
    current, new, again = (str(form.get(n) or "")[:1000] for n in ("current", "new", "again"))
    if new != again:
        return await _page(request, member, 400, error="The two new passwords differ.")
    ctx = ctx_of(request)
    try:
        generation = await run_in_threadpool(
            lambda: staff.change_password(ctx, member.id, current, new, actor=actor(member))
        )
    except staff.StaffError as exc:
        return await _page(request, member, 400, error=str(exc).capitalize() + ".")
    response = see_other("/admin")
    set_session_cookie(response, ctx, member.id, generation)
    return response


@router.post("/admin/account/totp", name="adminAccountTotp")
async def totp(request: Request, member: StaffMember = Depends(require())) -> Response:
    form = await request.form()
    step = form_text(form, "step", 20)
    ctx = ctx_of(request)
    if step == "start":
        secret = staff.new_totp_secret()
        uri = staff.totp_uri(secret, member.email)
        return await _page(request, member, totp_setup=staff.TotpSetup(secret, uri), qr=_qr_data_uri(uri))
    if step == "confirm":
        secret = form_text(form, "secret", 64)
        if not secret or not staff.totp_ok(secret, form_text(form, "code", 20), ctx.now()):
            uri = staff.totp_uri(secret, member.email)
            return await _page(
                request, member, 400, error="The authentication code is not correct. Please try again.",
                totp_setup=staff.TotpSetup(secret, uri), qr=_qr_data_uri(uri),
            )  # fmt: skip
        await run_in_threadpool(lambda: staff.set_totp(ctx, member.email, secret, actor=actor(member)))
        return await _page(request, member, notice="Two-step sign-in is on.")
    if step == "off":
        await run_in_threadpool(lambda: staff.set_totp(ctx, member.email, None, actor=actor(member)))
        return await _page(request, member, notice="Two-step sign-in is off.")
    return await _page(request, member, 400, error="Unknown action.")
