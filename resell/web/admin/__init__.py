"""The back office at /admin: server-rendered pages for staff (docs/back-office.md).

Modules: `surface` (the FastAPI app, its routers, static files, HTML errors), `kit` (what every page
uses: guard, renderer, redirects), `sign_in`, `dashboard`, `account`, `staff_pages`, `orders`,
`merchant_pages` (a merchant account's own pages); templates in `templates/` (each extends
"layout.html"), the one CSS and JS file in `static/`.

How to add a page
-----------------

1. A module `resell/web/admin/<thing>.py` with `router = APIRouter(include_in_schema=False)`, added to
   `ROUTERS` in `resell/web/admin/surface.py`. Routes use full paths (`/admin/<thing>...`).
2. A GET page, guarded by its navigation section (roles from resell.domain.staff.SECTIONS) or by roles:

       from fastapi import APIRouter, Depends, Request
       from starlette.concurrency import run_in_threadpool
       from starlette.responses import Response
       from resell.web.admin.kit import StaffMember, actor, admin_page, ctx_of, form_text, section, see_other

       @router.get("/admin/orders")
       def orders(request: Request, member: StaffMember = Depends(section("orders"))) -> Response:
           rows = order_service.recent(ctx_of(request))         # a sync route runs in the thread pool
           return admin_page(request, "orders.html", section="orders", rows=rows)

   `require("admin", "support")` instead of `section(...)` names the roles directly. Signed out: 303
   to /admin/login?next=...; wrong role: 403 page; password still to change: 303 to /admin/account.
   A publisher member sees its own publisher only: filter by `member.publisher_id`. A merchant member
   sees its own merchant only: pass `kit.own_merchant(member)` to the service (None for the staff).
3. A POST action: the same dependency also checks the form's `csrf_token` (403 page when missing or
   wrong), so every form only needs `{{ csrf_field }}`; audit with `actor(member)` ("staff:<email>"):

       @router.post("/admin/orders/{order_id}/resend")
       async def resend(order_id: int, request: Request, member: StaffMember = Depends(require("admin", "support"))):
           form = await request.form()
           note = form_text(form, "note")
           await run_in_threadpool(lambda: support.resend(ctx_of(request), order_id, note, actor=actor(member)))
           return see_other(f"/admin/orders/{order_id}")

   `may_change` in the template (and `resell.domain.staff.may_change(role, section)` in code) says
   whether the role may act on the section (finance reads orders only).
4. A template `resell/web/admin/templates/orders.html`:

       {% extends "layout.html" %}
       {% block content %}
       <h1>Orders</h1>
       <form method="post" action="/admin/orders/1/resend">{{ csrf_field }}<button>Resend</button></form>
       {% endblock %}

   The layout gives `member`, `nav`, `current`, `title`, `csrf_field`, `may_change`. No inline
   style or script (the CSP forbids them): classes from static/admin.css, `data-confirm="..."` on a
   button for a confirmation, `data-copy="#id"` (with `hidden`) for a copy button.
5. Tests: tests/web/admin/ has `signed_in(...)` helpers (a staff account and an HTTP client with its
   session) to reuse.
"""
