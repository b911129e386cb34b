"""`/admin/finance` (section "finance"): a merchant's monthly statement and a publisher's monthly
report as pages, and the same as CSV, PDF or JSON files (resell/reports renders what
resell/services/reports computed, so the page and the files show the same figures).

Admins and finance see every merchant and publisher. A publisher member sees its own publisher's
report only: another publisher's report is "not found" to it, and statements are refused (403).
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from resell.reports import render
from resell.services import catalogue_view, merchants, reports
from resell.services.reports import Month, ReportError
from resell.web.admin.kit import SECURITY_HEADERS, Refused, StaffMember, admin_page, ctx_of, section

router = APIRouter(include_in_schema=False)

MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "pdf": "application/pdf",
    "json": "application/json",
}
STATEMENT_ROLES = ("admin", "finance")


def last_month(today: dt.date) -> Month:
    first = today.replace(day=1) - dt.timedelta(days=1)
    return Month(first.year, first.month)


def _month(request: Request, text: str | None) -> tuple[Month, str | None]:
    """The month asked for (YYYY-MM), else last month; with an error sentence when it was not valid."""
    default = last_month(ctx_of(request).now().date())
    if not text:
        return default, None
    try:
        return Month.parse(text), None
    except ReportError:
        return default, f"“{text[:20]}” is not a month (YYYY-MM); showing {default}."


def _split(name: str) -> tuple[str, str | None]:
    """ "2026-11.csv" -> ("2026-11", "csv"); "2026-11" -> ("2026-11", None)."""
    stem, dot, fmt = name.rpartition(".")
    return (stem, fmt) if dot and fmt in MEDIA_TYPES else (name, None)


def _file(body: bytes, fmt: str, filename: str) -> Response:
    headers = {**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{filename}"'}
    return Response(body, media_type=MEDIA_TYPES[fmt], headers=headers)


def _own_publisher(request: Request, member: StaffMember) -> catalogue_view.PublisherInfo | None:
    return catalogue_view.publisher_of(ctx_of(request), member.publisher_id) if member.publisher_id else None


def _missing(request: Request, what: str) -> Response:
    return admin_page(request, "missing.html", section="finance", status_code=404, what=what)


@router.get("/admin/finance", name="adminFinance")
async def finance(request: Request, member: StaffMember = Depends(section("finance"))) -> Response:
    ctx = ctx_of(request)
    month, error = _month(request, request.query_params.get("month"))
    realm = request.query_params.get("realm", "").strip()[:100]
    publisher = request.query_params.get("publisher", "").strip()[:64]
    statement = report = None
    merchant_rows: list[merchants.MerchantSummary] = []
    publisher_rows: list[catalogue_view.PublisherInfo] = []
    if member.role == "publisher":
        own = await run_in_threadpool(_own_publisher, request, member)
        if own is None:
            raise Refused(403, "This account is not bound to a publisher.")
        publisher, realm = own.key, ""
        publisher_rows = [own]
    else:
        merchant_rows = await run_in_threadpool(merchants.list_merchants, ctx)
        publisher_rows = await run_in_threadpool(catalogue_view.list_publishers, ctx)
    try:
        if realm:
            statement = await run_in_threadpool(reports.statement, ctx, realm, month)
        if publisher:
            report = await run_in_threadpool(reports.publisher_report, ctx, publisher, month)
    except ReportError as exc:
        error = str(exc)[:1].upper() + str(exc)[1:] + "."
    return admin_page(
        request,
        "finance.html",
        section="finance",
        status_code=200 if error is None else 400,
        month=str(month),
        realm=realm,
        publisher=publisher,
        merchants=merchant_rows,
        publishers=publisher_rows,
        statement=statement,
        report=report,
        error=error,
        statements_allowed=member.role in STATEMENT_ROLES,
    )


@router.get("/admin/finance/statements/{realm}/{name}", name="adminStatement")
async def statement_file(
    realm: str, name: str, request: Request, member: StaffMember = Depends(section("finance"))
) -> Response:
    if member.role not in STATEMENT_ROLES:
        raise Refused(403, "Your role does not give access to merchant statements.")
    text, fmt = _split(name)
    try:
        month = Month.parse(text)
        found = await run_in_threadpool(reports.statement, ctx_of(request), realm, month)
    except ReportError:
        return _missing(request, f"statement {realm} {text}")
    if fmt is None:
        return admin_page(
            request, "statement.html", section="finance", title=f"Statement {realm} {month}", statement=found
        )
    body = await run_in_threadpool(render, found, fmt)
    return _file(body, fmt, f"statement-{found.realm}-{month}.{fmt}")


@router.get("/admin/finance/publishers/{key}/{name}", name="adminPublisherReport")
async def publisher_file(
    key: str, name: str, request: Request, member: StaffMember = Depends(section("finance"))
) -> Response:
    if member.role == "publisher":
        own = await run_in_threadpool(_own_publisher, request, member)
        if own is None or key not in (own.key, str(own.publisher_id)):
            return _missing(request, f"publisher report {key}")  # another publisher's: as if there were none
    text, fmt = _split(name)
    try:
        month = Month.parse(text)
        found = await run_in_threadpool(reports.publisher_report, ctx_of(request), key, month)
    except ReportError:
        return _missing(request, f"publisher report {key} {text}")
    if fmt is None:
        return admin_page(
            request,
            "publisher_report.html",
            section="finance",
            title=f"Publisher report {found.publisher_key} {month}",
            report=found,
        )
    body = await run_in_threadpool(render, found, fmt)
    return _file(body, fmt, f"publisher-{found.publisher_key}-{month}.{fmt}")
