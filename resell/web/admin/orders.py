"""`/admin/orders`: the order search and each order's page, with support's actions on it.

- `GET /admin/orders`: the search (`q`: platform order number, partnerOrderNumber, customer email or
  serial; merchant, status, order dates; `kind` live, test or all: a merchant sees its live orders
  unless it asks, the platform's staff every order), newest first, keyset pages ("Next page" carries the
  cursor). A number, partnerOrderNumber or serial naming one order goes straight to its page.
- `GET /admin/orders/{number}`: the order whole (resell.services.order_page).
- Actions (admin and support; finance and publishers read only): resend the delivery email, cancel,
  extend the downloads, replace a serial. Each is a GET confirmation page (works without
  JavaScript) whose form POSTs with the CSRF token; the service does the work and audits it as
  "staff:<email>"; success is a 303 to the order page with a notice, a refusal is the
  confirmation page again with its message (409 for the order's state, 400 for bad input).

A publisher member sees only the orders holding its products, and of them only its own lines; a
merchant member its own merchant's orders only (kit.own_merchant), read-only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from resell.domain import codes
from resell.domain.codes import Refusal
from resell.domain.request_fields import CANCEL_REASONS
from resell.services import order_page, order_search, support_orders
from resell.web.admin.kit import (
    Refused,
    StaffMember,
    actor,
    admin_page,
    ctx_of,
    form_text,
    own_merchant,
    require,
    section,
    see_other,
)

router = APIRouter(include_in_schema=False)

ACT = require("admin", "support")  # who may act on an order (rules.may_change(role, "orders"))
PAGE_SIZE = 50
STATE_REFUSALS = {codes.ORDER_ALREADY_CANCELLED, codes.CANCEL_PERIOD_EXPIRED}  # 409, not the input's fault
NO_ORDER = "There is no order with this number."


def _publisher(member: StaffMember) -> int | None:
    return member.publisher_id if member.role == "publisher" else None


def _number(raw: str) -> int:
    if not raw.isdigit() or len(raw) > 18:
        raise Refused(404, NO_ORDER)
    return int(raw)


def _day(raw: str, label: str) -> dt.date | None:
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise order_search.SearchError(f"{label} is not a date (YYYY-MM-DD): {raw!r}") from None


# ---------------------------------------------------------------- the search

# `kind`: live orders, the sandbox's test orders, or both (resell.services.sandbox)
KINDS: dict[str, bool | None] = {"live": False, "test": True, "all": None}


def _default_kind(member: StaffMember) -> str:
    """A merchant looks at its sales first (its test orders one choice away); the platform's staff at
    every order, a test one marked as such."""
    return "live" if own_merchant(member) is not None else "all"


@router.get("/admin/orders", name="adminOrders")
def orders_list(request: Request, member: StaffMember = Depends(section("orders"))) -> Response:
    ctx = ctx_of(request)
    params = request.query_params
    form = {name: (params.get(name) or "").strip()[:320] for name in ("q", "merchant", "status", "from", "to", "kind")}
    after = (params.get("after") or "").strip()[:100] or None
    default_kind = _default_kind(member)
    error, results = None, None
    try:
        if form["kind"] and form["kind"] not in KINDS:
            raise order_search.SearchError(f"orders are {', '.join(KINDS)}, not {form['kind'][:20]!r}")
        results = order_search.search(
            ctx,
            q=form["q"] or None,
            merchant=form["merchant"] or None,
            status=form["status"] or None,
            date_from=_day(form["from"], "From"),
            date_to=_day(form["to"], "To"),
            after=after,
            limit=PAGE_SIZE,
            publisher_id=_publisher(member),
            merchant_id=own_merchant(member),
            test=KINDS[form["kind"] or default_kind],
        )
    except order_search.SearchError as exc:
        error = str(exc)[:1].upper() + str(exc)[1:] + "."
    if results and form["q"] and not after and len(results.orders) == 1 and results.next_cursor is None:
        hit = results.orders[0]
        if form["q"].lower() != hit.customer_email.lower():
            return see_other(f"/admin/orders/{hit.order_number}")  # a number, PON or serial: its one order
    filters = {k: v for k, v in form.items() if v}
    return admin_page(
        request,
        "orders.html",
        section="orders",
        status_code=400 if error else 200,
        form=form,
        error=error,
        rows=results.orders if results else [],
        searched=bool(filters) or bool(after),
        next_link=f"/admin/orders?{urlencode({**filters, 'after': results.next_cursor})}"
        if results and results.next_cursor
        else None,
        first_link=f"/admin/orders?{urlencode(filters)}" if after else None,
        realms=[] if own_merchant(member) else order_search.merchant_realms(ctx),
        statuses=order_search.STATUSES,
        kinds=KINDS,
        kind=form["kind"] if form["kind"] in KINDS else default_kind,
    )


# ---------------------------------------------------------------- one order


NOTICES: dict[str, Callable[[order_page.OrderPage, Any], str | None]] = {
    "resent": lambda page, p: (  # an address only when this order's emails went to it (no text from the URL)
        f"The delivery email is queued to {p.get('to') or page.detail.customer_email}."
        if (p.get("to") or page.detail.customer_email) in {d.to for d in page.deliveries if d.category == "email"}
        else "The delivery email is queued."
    ),
    "cancelled": lambda page, p: "The order is cancelled: its serials are revoked, its download links are off.",
    "extended": lambda page, p: f"Downloads now end on {page.download_end_date.isoformat()}.",
    "replaced": lambda page, p: (
        f"Serial replaced: the new serial is {p.get('serial')}; the end user gets it by email."
        if p.get("serial") in page.live_serials
        else "Serial replaced."
    ),
}


def _load(request: Request, member: StaffMember, raw: str) -> order_page.OrderPage:
    try:
        return order_page.order_page(
            ctx_of(request), _number(raw), publisher_id=_publisher(member), merchant_id=own_merchant(member)
        )
    except order_page.OrderNotFound:
        raise Refused(404, NO_ORDER) from None


@router.get("/admin/orders/{number}", name="adminOrder")
def order(number: str, request: Request, member: StaffMember = Depends(section("orders"))) -> Response:
    page = _load(request, member, number)
    done = request.query_params.get("done", "")
    notice = NOTICES[done](page, request.query_params) if done in NOTICES else None
    return admin_page(
        request,
        "order.html",
        section="orders",
        title=f"Order {page.detail.order_number}",
        page=page,
        notice=notice,
        reasons=CANCEL_REASONS,
    )


# ---------------------------------------------------------------- actions: a confirmation page, then its POST


ACTIONS = {
    "resend": "Resend delivery email",
    "cancel": "Cancel order",
    "extend": "Extend downloads",
    "replace": "Replace serial",
}


def _confirm(
    request: Request, member: StaffMember, number: str, action: str, status_code: int = 200, **values: Any
) -> Response:
    page = _load(request, member, number)
    values = {"error": None, "to": "", "reason": "", "comment": "", "date": "", "days": "", "serial": "", **values}
    return admin_page(
        request,
        "order_action.html",
        section="orders",
        title=f"{ACTIONS[action]} · order {page.detail.order_number}",
        status_code=status_code,
        page=page,
        action=action,
        heading=ACTIONS[action],
        reasons=sorted(CANCEL_REASONS.items()),
        **values,
    )


def _realm(request: Request, number: str) -> tuple[int, str]:
    order_number = _number(number)
    try:
        return order_number, order_page.realm_of(ctx_of(request), order_number)
    except order_page.OrderNotFound:
        raise Refused(404, NO_ORDER) from None


def _done(number: int, code: str, **extra: str) -> Response:
    return see_other(f"/admin/orders/{number}?{urlencode({'done': code, **extra})}")


def _sentence(text: str) -> str:
    text = text.strip()
    return (text[:1].upper() + text[1:]).rstrip(".") + "."


@router.get("/admin/orders/{number}/{action}", name="adminOrderConfirm")
def confirm(number: str, action: str, request: Request, member: StaffMember = Depends(ACT)) -> Response:
    if action not in ACTIONS:
        raise Refused(404, "There is no page at this address.")
    serial = (request.query_params.get("serial") or "").strip()[:200]
    return _confirm(request, member, number, action, serial=serial)


@router.post("/admin/orders/{number}/resend", name="adminOrderResend")
async def resend(number: str, request: Request, member: StaffMember = Depends(ACT)) -> Response:
    order_number, realm = await run_in_threadpool(_realm, request, number)
    to = form_text(await request.form(), "to", 320) or None
    try:
        await run_in_threadpool(
            lambda: support_orders.resend_email(ctx_of(request), str(order_number), realm, to, actor=actor(member))
        )
    except support_orders.ResendRefused as exc:
        status, message = 400 if to and "not a valid" in str(exc) else 409, _sentence(str(exc))
        return await run_in_threadpool(
            lambda: _confirm(request, member, number, "resend", status, error=message, to=to or "")
        )
    return _done(order_number, "resent", **({"to": to} if to else {}))


@router.post("/admin/orders/{number}/cancel", name="adminOrderCancel")
async def cancel(number: str, request: Request, member: StaffMember = Depends(ACT)) -> Response:
    order_number, realm = await run_in_threadpool(_realm, request, number)
    form = await request.form()
    reason, comment = form_text(form, "reason", 10), form_text(form, "comment", 1000)
    try:
        await run_in_threadpool(
            lambda: support_orders.cancel(
                ctx_of(request), str(order_number), realm, reason or None, comment or None, actor=actor(member)
            )
        )
    except Refusal as exc:
        status = 409 if exc.code in STATE_REFUSALS else 400
        message = _sentence(exc.message_in("cancelOrder"))
        return await run_in_threadpool(
            lambda: _confirm(request, member, number, "cancel", status, error=message, reason=reason, comment=comment)
        )
    return _done(order_number, "cancelled")


@router.post("/admin/orders/{number}/extend", name="adminOrderExtend")
async def extend(number: str, request: Request, member: StaffMember = Depends(ACT)) -> Response:
    order_number, realm = await run_in_threadpool(_realm, request, number)
    form = await request.form()
    date, days = form_text(form, "date", 20), form_text(form, "days", 10)
    error = None
    if bool(date) == bool(days):
        error = "Give either a new end date or a number of days, not both."
    elif days and (not days.isdigit() or not 1 <= int(days) <= 3650):
        error = "The number of days is a whole number from 1 to 3650."
    if error is None:
        value = date or f"P{int(days)}D"
        try:
            await run_in_threadpool(
                lambda: support_orders.extend_downloads(
                    ctx_of(request), str(order_number), realm, value, actor=actor(member)
                )
            )
        except Refusal as exc:
            status = 409 if exc.code in STATE_REFUSALS else 400
            message = exc.message_in("updateDownloadTime")
            if exc.code == codes.DOWNLOAD_TIME_NOT_VALID:
                message = "the end date is not valid (a date YYYY-MM-DD not before the order was placed)"
            return await run_in_threadpool(
                lambda: _confirm(
                    request, member, number, "extend", status, error=_sentence(message), date=date, days=days
                )
            )
        return _done(order_number, "extended")
    return await run_in_threadpool(
        lambda: _confirm(request, member, number, "extend", 400, error=error, date=date, days=days)
    )


@router.post("/admin/orders/{number}/replace", name="adminOrderReplace")
async def replace(number: str, request: Request, member: StaffMember = Depends(ACT)) -> Response:
    order_number, realm = await run_in_threadpool(_realm, request, number)
    serial = form_text(await request.form(), "serial", 200)
    try:
        done = await run_in_threadpool(
            lambda: support_orders.replace_serial(
                ctx_of(request), str(order_number), serial, realm, actor=actor(member)
            )
        )
    except support_orders.ReplaceRefused as exc:
        status, message = 400 if "is not one of" in str(exc) else 409, _sentence(str(exc))
        return await run_in_threadpool(
            lambda: _confirm(request, member, number, "replace", status, error=message, serial=serial)
        )
    return _done(order_number, "replaced", serial=done.new_serial)
