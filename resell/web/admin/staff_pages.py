"""`/admin/staff` (admins only): the accounts, adding one (its one-time password shown once),
disabling one, a new one-time password. Each action audited as "staff:<email>"."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from resell.domain.staff import ROLES
from resell.services import staff
from resell.web.admin.kit import StaffMember, actor, admin_page, ctx_of, form_text, section

router = APIRouter(include_in_schema=False)


async def _page(request: Request, status_code: int = 200, **values: Any) -> Response:
    accounts = await run_in_threadpool(staff.list_accounts, ctx_of(request))
    values = {"error": None, "notice": None, "password": None, "email": "", **values}
    return admin_page(
        request, "staff.html", section="staff", status_code=status_code, accounts=accounts, roles=ROLES, **values
    )


@router.get("/admin/staff", name="adminStaff")
async def staff_list(request: Request, member: StaffMember = Depends(section("staff"))) -> Response:
    return await _page(request)


@router.post("/admin/staff/add", name="adminStaffAdd")
async def staff_add(request: Request, member: StaffMember = Depends(section("staff"))) -> Response:
    form = await request.form()
    email, role = form_text(form, "email", 320), form_text(form, "role", 20)
    publisher = form_text(form, "publisher", 64) or None
    merchant = form_text(form, "merchant", 100) or None
    try:
        account, password = await run_in_threadpool(
            lambda: staff.create_account(
                ctx_of(request), email, role, actor=actor(member), publisher=publisher, merchant=merchant
            )
        )
    except staff.StaffError as exc:
        return await _page(request, 400, error=str(exc).capitalize() + ".", email=email)
    return await _page(request, notice=f"Account {account.email} created.", password=password, email=account.email)


@router.post("/admin/staff/disable", name="adminStaffDisable")
async def staff_disable(request: Request, member: StaffMember = Depends(section("staff"))) -> Response:
    email = form_text(await request.form(), "email", 320).lower()
    if email == member.email:
        return await _page(request, 400, error="You cannot disable your own account.")
    try:
        await run_in_threadpool(lambda: staff.disable(ctx_of(request), email, actor=actor(member)))
    except staff.StaffError as exc:
        return await _page(request, 400, error=str(exc).capitalize() + ".")
    return await _page(request, notice=f"Account {email} disabled; its sessions are ended.")


@router.post("/admin/staff/reset-password", name="adminStaffResetPassword")
async def staff_reset_password(request: Request, member: StaffMember = Depends(section("staff"))) -> Response:
    email = form_text(await request.form(), "email", 320).lower()
    try:
        password = await run_in_threadpool(lambda: staff.reset_password(ctx_of(request), email, actor=actor(member)))
    except staff.StaffError as exc:
        return await _page(request, 400, error=str(exc).capitalize() + ".")
    return await _page(request, notice=f"New one-time password for {email}.", password=password, email=email)
