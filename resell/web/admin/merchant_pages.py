"""A merchant account's own pages (docs/merchants.md, "Your pages"): its credentials, its webhook
endpoints with their delivery log, and its monthly statements. Its orders are /admin/orders, scoped
the same way.

Every page reads the merchant of the signed-in account (kit.own_merchant) and nothing else: there is
no realm in these addresses to change, and an id of another merchant's endpoint is "not found" (404),
as one that does not exist.

- `GET /admin/credentials`: the realm and the live catalogues, each with its sandbox twin (or none
  yet) and the twin's test clock (read-only: its time, frozen or following the wall clock). Rotating
  the API client secret or a catalogue's secret, or creating / rotating a catalogue's sandbox secret
  (resell.services.sandbox.provide_sandbox), is a POST that first answers a confirmation page, then,
  confirmed (with the CSRF token), shows the new secret once; audited as "staff:<email>".
- `GET /admin/webhooks`, `GET /admin/webhooks/{id}?before=`: the endpoints; one endpoint's delivery log,
  newest first, a page at a time; `POST /admin/webhooks/{id}/redeliver` (eventId) queues that event to
  that endpoint again through the outbox, with the same event id (resell.services.webhooks).
- `GET /admin/sandbox-emails?before=`, `GET /admin/sandbox-emails/{id}`: the emails its test orders
  would have sent (kept, never sent: resell.services.sandbox), newest first, a page at a time; one
  email as the end user would see it: its HTML part in a sandboxed frame served by
  `GET /admin/sandbox-emails/{id}/html` under a CSP of its own (no script, no request but images,
  an opaque origin), and its plain-text part.
- `GET /admin/statements?month=`, `GET /admin/statements/{YYYY-MM}[.csv|.pdf|.json]`: the merchant's
  monthly statement as a page and as files (resell.services.reports, resell.reports).
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.responses import Response

from resell.domain import codes
from resell.domain.codes import Refusal
from resell.reports import render
from resell.services import merchants, reports, sandbox, test_clocks, webhooks
from resell.services.reports import Month, ReportError
from resell.web.admin.finance_pages import MEDIA_TYPES, last_month
from resell.web.admin.kit import (
    SECURITY_HEADERS,
    Refused,
    StaffMember,
    actor,
    admin_page,
    ctx_of,
    form_text,
    own_merchant,
    section,
    see_other,
)

router = APIRouter(include_in_schema=False)

LOG_PAGE = 50
MONTHS_LISTED = 12


def _merchant_id(member: StaffMember) -> int:
    merchant_id = own_merchant(member)
    if merchant_id is None:  # the sections are the merchant role's only; kept for the type
        raise Refused(403, "These pages are a merchant account's.")
    return merchant_id


async def _detail(request: Request, member: StaffMember) -> merchants.MerchantDetail:
    ctx = ctx_of(request)
    merchant_id = _merchant_id(member)

    def read() -> merchants.MerchantDetail:
        return merchants.merchant_detail(ctx, merchants.realm_of(ctx, merchant_id))

    try:
        return await run_in_threadpool(read)
    except merchants.MerchantError:
        raise Refused(404, "The merchant of this account no longer exists.") from None


def _missing(request: Request, section_key: str, what: str) -> Response:
    return admin_page(request, "missing.html", section=section_key, status_code=404, what=what)


# ---------------------------------------------------------------- credentials


@router.get("/admin/credentials", name="adminMyCredentials")
async def credentials(request: Request, member: StaffMember = Depends(section("credentials"))) -> Response:
    detail = await _detail(request, member)
    twins = [c.sandbox_catalog_id for c in detail.catalogs if c.sandbox_catalog_id is not None]
    clocks = await run_in_threadpool(test_clocks.clocks_of, ctx_of(request), twins)
    return admin_page(request, "my_credentials.html", section="credentials", m=detail, clocks=clocks)


def _confirmed(form: FormData) -> bool:
    return form_text(form, "confirm", 10) == "yes"


def _confirm(request: Request, action: str, question: str, warning: str, button: str) -> Response:
    return admin_page(
        request,
        "confirm.html",
        section="credentials",
        title="Please confirm",
        back="/admin/credentials",
        back_label="Credentials",
        action=action,
        question=question,
        warning=warning,
        button=button,
    )


def _shown_once(request: Request, what: str, secret: str, note: str) -> Response:
    return admin_page(
        request,
        "secret.html",
        section="credentials",
        title="New secret",
        back="/admin/credentials",
        back_label="Back to your credentials",
        holder="your systems",
        what=what,
        secret=secret,
        note=note,
    )


@router.post("/admin/credentials/client-secret", name="adminMyClientSecret")
async def rotate_client_secret(request: Request, member: StaffMember = Depends(section("credentials"))) -> Response:
    form = await request.form()
    detail = await _detail(request, member)
    if not _confirmed(form):
        return _confirm(
            request,
            "/admin/credentials/client-secret",
            f"Give {detail.realm} a new API client secret?",
            "The current client secret stops working at once: your systems cannot sign in (/iam/tokens) until "
            "they use the new one, and every refresh token is revoked.",
            "Rotate client secret",
        )
    rotated = await run_in_threadpool(
        lambda: merchants.rotate_client_secret(ctx_of(request), detail.realm, actor=actor(member))
    )
    return _shown_once(
        request,
        f"API client secret of {detail.realm}",
        rotated.secret,
        f"{rotated.refresh_tokens_revoked} refresh token(s) revoked. The old client secret no longer signs in.",
    )


def _own_catalog(detail: merchants.MerchantDetail, catalog_id: str) -> merchants.CatalogInfo | None:
    """One of the merchant's live catalogues; None for another merchant's, a sandbox's id, or none."""
    return next((c for c in detail.catalogs if str(c.catalog_id) == catalog_id), None)


@router.post("/admin/credentials/catalogues/{catalog_id}/secret", name="adminMyCatalogSecret")
async def rotate_catalog_secret(
    catalog_id: str, request: Request, member: StaffMember = Depends(section("credentials"))
) -> Response:
    form = await request.form()
    detail = await _detail(request, member)
    chosen = _own_catalog(detail, catalog_id)
    if chosen is None:  # another merchant's catalogue, or none
        return _missing(request, "credentials", f"catalogue {catalog_id[:20]}")
    if not _confirmed(form):
        return _confirm(
            request,
            f"/admin/credentials/catalogues/{chosen.catalog_id}/secret",
            f"Give catalogue “{chosen.name}” ({chosen.currency}, id {chosen.catalog_id}) a new secret?",
            "The current secret of this catalogue stops working at once: every Connect call sent with it is "
            "refused (responseCode 71) until your systems use the new one.",
            "Rotate catalogue secret",
        )
    try:
        rotated = await run_in_threadpool(
            lambda: merchants.rotate_catalog_secret(
                ctx_of(request), detail.realm, str(chosen.catalog_id), actor=actor(member)
            )
        )
    except merchants.MerchantError:  # removed meanwhile
        return _missing(request, "credentials", f"catalogue {chosen.catalog_id}")
    return _shown_once(
        request,
        f"secret of catalogue “{rotated.catalog}” ({chosen.currency})",
        rotated.secret,
        "The old secret of this catalogue is refused from now on.",
    )


@router.post("/admin/credentials/catalogues/{catalog_id}/sandbox-secret", name="adminMySandboxSecret")
async def provide_sandbox_secret(
    catalog_id: str, request: Request, member: StaffMember = Depends(section("credentials"))
) -> Response:
    """Create the live catalogue's sandbox, or give the existing one a new `test_` secret."""
    form = await request.form()
    detail = await _detail(request, member)
    chosen = _own_catalog(detail, catalog_id)
    if chosen is None:
        return _missing(request, "credentials", f"catalogue {catalog_id[:20]}")
    action = f"/admin/credentials/catalogues/{chosen.catalog_id}/sandbox-secret"
    if not _confirmed(form):
        if chosen.sandbox_catalog_id is None:
            return _confirm(
                request,
                action,
                f"Create a sandbox for catalogue “{chosen.name}” ({chosen.currency}, id {chosen.catalog_id})?",
                "Its secret starts with test_ and is shown once: orders placed with it are test orders (TEST- "
                "serials, no stock taken, no email sent, no sale).",
                "Create sandbox",
            )
        return _confirm(
            request,
            action,
            f"Give the sandbox of catalogue “{chosen.name}” (sandbox id {chosen.sandbox_catalog_id}) a new secret?",
            "The current sandbox secret stops working at once: every Connect call sent with it is refused "
            "(responseCode 71) until your tests use the new one. Live orders are not affected.",
            "Rotate sandbox secret",
        )
    try:
        made = await run_in_threadpool(
            lambda: sandbox.provide_sandbox(ctx_of(request), chosen.catalog_id, actor=actor(member))
        )
    except sandbox.SandboxError:  # removed meanwhile
        return _missing(request, "credentials", f"catalogue {chosen.catalog_id}")
    return _shown_once(
        request,
        f"sandbox secret of catalogue “{made.catalog}” ({chosen.currency}, sandbox id {made.sandbox_catalog_id})",
        made.secret,
        "Its orders are test orders."
        if made.created
        else "The old sandbox secret of this catalogue is refused from now on.",
    )


# ---------------------------------------------------------------- webhooks


@router.get("/admin/webhooks", name="adminMyWebhooks")
def webhook_list(request: Request, member: StaffMember = Depends(section("webhooks"))) -> Response:
    endpoints = webhooks.list_merchant_endpoints(ctx_of(request), _merchant_id(member))
    return admin_page(request, "my_webhooks.html", section="webhooks", endpoints=endpoints)


def _log_page(
    request: Request, member: StaffMember, endpoint_id: str, before: str | None, status_code: int = 200, **values: Any
) -> Response:
    try:
        log = webhooks.merchant_delivery_log(ctx_of(request), _merchant_id(member), endpoint_id, LOG_PAGE, before)
    except Refusal as refusal:
        if refusal.code == codes.DELIVERY_BEFORE_NOT_VALID:
            return _log_page(request, member, endpoint_id, None, 400, error="That page of the log does not exist.")
        return _missing(request, "webhooks", f"webhook endpoint {endpoint_id[:20]}")
    values = {"error": None, "notice": None, **values}
    return admin_page(
        request,
        "my_webhook.html",
        section="webhooks",
        title=f"Webhook endpoint {log.endpoint.id}",
        status_code=status_code,
        endpoint=log.endpoint,
        deliveries=log.deliveries,
        older_link=f"/admin/webhooks/{log.endpoint.id}?{urlencode({'before': log.next_before})}"
        if log.next_before
        else None,
        newest_link=f"/admin/webhooks/{log.endpoint.id}" if before else None,
        **values,
    )


@router.get("/admin/webhooks/{endpoint_id}", name="adminMyWebhook")
def webhook_log(endpoint_id: str, request: Request, member: StaffMember = Depends(section("webhooks"))) -> Response:
    before = (request.query_params.get("before") or "").strip()[:20] or None
    event = (request.query_params.get("redelivered") or "").strip()[:36]
    notice = (
        f"Event {event} is queued to this endpoint again, with the same event id; its attempt shows here once sent."
        if event
        else None
    )
    return _log_page(request, member, endpoint_id, before, notice=notice)


REDELIVER_REFUSED = {
    codes.WEBHOOK_EVENT_ID_MISSING: "Choose an event of the log to redeliver.",
    codes.WEBHOOK_EVENT_NOT_FOUND: "This endpoint does not take that event (or it is not one of yours).",
    codes.WEBHOOK_NOT_ACTIVE: "This endpoint is disabled: nothing is delivered to it. Add it again to receive events.",
}


@router.post("/admin/webhooks/{endpoint_id}/redeliver", name="adminMyWebhookRedeliver")
async def redeliver(endpoint_id: str, request: Request, member: StaffMember = Depends(section("webhooks"))) -> Response:
    event_id = form_text(await request.form(), "event_id", 64)
    merchant_id = _merchant_id(member)
    try:
        done = await run_in_threadpool(
            lambda: webhooks.merchant_redeliver(ctx_of(request), merchant_id, endpoint_id, event_id, actor(member))
        )
    except Refusal as refusal:
        if refusal.code in REDELIVER_REFUSED:
            message = REDELIVER_REFUSED[refusal.code]
            return await run_in_threadpool(lambda: _log_page(request, member, endpoint_id, None, 409, error=message))
        return _missing(request, "webhooks", f"webhook endpoint {endpoint_id[:20]}")
    return see_other(f"/admin/webhooks/{done.endpoint_id}?{urlencode({'redelivered': done.event_id})}")


# ---------------------------------------------------------------- sandbox emails

EMAIL_PAGE = 50
# the kept HTML of an email is the merchant's own data rendered by our templates, yet shown as
# untrusted: no script, nothing fetched but images, an opaque origin (no cookie, no same-origin
# access), framed by our own pages only
EMAIL_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; img-src https: data:; style-src 'unsafe-inline'; "
    "sandbox; frame-ancestors 'self'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "SAMEORIGIN",
}
# the email's page frames its HTML (served from here): the back office's policy, plus that frame
FRAMING_PAGE_HEADERS = {
    "Content-Security-Policy": SECURITY_HEADERS["Content-Security-Policy"] + "; frame-src 'self'",
}


def _email_id(raw: str) -> int | None:
    return int(raw) if raw.isdigit() and len(raw) < 19 else None


@router.get("/admin/sandbox-emails", name="adminMySandboxEmails")
def sandbox_emails(request: Request, member: StaffMember = Depends(section("sandbox_emails"))) -> Response:
    before = _email_id((request.query_params.get("before") or "").strip())
    found = sandbox.list_emails(ctx_of(request), _merchant_id(member), limit=EMAIL_PAGE + 1, before_id=before)
    emails = found[:EMAIL_PAGE]
    return admin_page(
        request,
        "my_sandbox_emails.html",
        section="sandbox_emails",
        emails=emails,
        older_link=f"/admin/sandbox-emails?{urlencode({'before': emails[-1].email_id})}"
        if len(found) > EMAIL_PAGE
        else None,
        newest_link="/admin/sandbox-emails" if before is not None else None,
    )


def _kept_email(request: Request, member: StaffMember, raw: str) -> sandbox.KeptEmail | None:
    email_id = _email_id(raw)
    return None if email_id is None else sandbox.get_email(ctx_of(request), _merchant_id(member), email_id)


@router.get("/admin/sandbox-emails/{email_id}", name="adminMySandboxEmail")
def sandbox_email(
    email_id: str, request: Request, member: StaffMember = Depends(section("sandbox_emails"))
) -> Response:
    email = _kept_email(request, member, email_id)
    if email is None:  # another merchant's, or none
        return _missing(request, "sandbox_emails", f"sandbox email {email_id[:20]}")
    return admin_page(
        request,
        "my_sandbox_email.html",
        section="sandbox_emails",
        title=email.subject,
        email=email,
        headers=FRAMING_PAGE_HEADERS,
    )


@router.get("/admin/sandbox-emails/{email_id}/html", name="adminMySandboxEmailHtml")
def sandbox_email_html(
    email_id: str, request: Request, member: StaffMember = Depends(section("sandbox_emails"))
) -> Response:
    """The email's HTML part alone, as the end user's mail program would show it (see EMAIL_HEADERS)."""
    email = _kept_email(request, member, email_id)
    if email is None:
        return _missing(request, "sandbox_emails", f"sandbox email {email_id[:20]}")
    body = email.html or "<!doctype html><p>This email has no HTML part: its plain text is below.</p>"
    return Response(body, media_type="text/html; charset=utf-8", headers=EMAIL_HEADERS)


# ---------------------------------------------------------------- statements


def _months(today: dt.date) -> list[str]:
    """The last MONTHS_LISTED full months, newest first."""
    month, found = last_month(today), []
    for _ in range(MONTHS_LISTED):
        found.append(str(month))
        month = Month(month.year - 1, 12) if month.month == 1 else Month(month.year, month.month - 1)
    return found


@router.get("/admin/statements", name="adminMyStatements")
async def statements(request: Request, member: StaffMember = Depends(section("statements"))) -> Response:
    ctx = ctx_of(request)
    detail = await _detail(request, member)
    text = (request.query_params.get("month") or "").strip()[:20]
    error, statement = None, None
    try:
        month = Month.parse(text) if text else last_month(ctx.now().date())
        statement = await run_in_threadpool(reports.statement, ctx, detail.realm, month)
    except ReportError as exc:
        error = str(exc)[:1].upper() + str(exc)[1:] + "."
    return admin_page(
        request,
        "my_statements.html",
        section="statements",
        status_code=400 if error else 200,
        months=_months(ctx.now().date()),
        month=str(statement.month) if statement else text,
        statement=statement,
        statement_base="/admin/statements",
        error=error,
    )


@router.get("/admin/statements/{name}", name="adminMyStatement")
async def statement_file(name: str, request: Request, member: StaffMember = Depends(section("statements"))) -> Response:
    detail = await _detail(request, member)
    stem, dot, fmt = name.rpartition(".")
    text, kind = (stem, fmt) if dot and fmt in MEDIA_TYPES else (name, None)
    try:
        found = await run_in_threadpool(reports.statement, ctx_of(request), detail.realm, Month.parse(text))
    except ReportError:
        return _missing(request, "statements", f"statement {text[:20]}")
    if kind is None:
        return see_other(f"/admin/statements?{urlencode({'month': str(found.month)})}")
    body = await run_in_threadpool(render, found, kind)
    headers = {
        **SECURITY_HEADERS,
        "Content-Disposition": f'attachment; filename="statement-{found.realm}-{found.month}.{kind}"',
    }
    return Response(body, media_type=MEDIA_TYPES[kind], headers=headers)
