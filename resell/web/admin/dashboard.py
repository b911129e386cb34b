"""`GET /admin`: the dashboard, the landing page of every role (a placeholder for now)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from resell.web.admin.kit import StaffMember, admin_page, section

router = APIRouter(include_in_schema=False)


@router.get("/admin", name="adminDashboard")
def dashboard(request: Request, member: StaffMember = Depends(section("dashboard"))) -> Response:
    return admin_page(request, "dashboard.html", section="dashboard")
