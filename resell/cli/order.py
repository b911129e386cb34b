"""`resell order ...`: the support desk (an order by the platform number the end user has, or by the
merchant's partnerOrderNumber)."""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from typing import Annotated, Any

import typer

from resell.api.legacy_values import decimal_text
from resell.cli.support import context, fail, folding_table, out, when

app = typer.Typer(help="Support: look orders up and act on them.", no_args_is_help=True)

OrderRef = Annotated[str, typer.Argument(help="the platform order number or the merchant's partnerOrderNumber")]
Realm = Annotated[str | None, typer.Option(help="the merchant's realm, when several use that partnerOrderNumber")]
AsJson = Annotated[bool, typer.Option("--json", help="machine-readable output")]


def _money(value: Decimal | None) -> str:
    return "" if value is None else decimal_text(value)


def _dump(value: Any) -> None:
    """JSON on stdout; amounts as strings (`9.99`), exact."""
    json.dump(value, sys.stdout, indent=2, default=lambda v: _money(v) if isinstance(v, Decimal) else str(v))
    sys.stdout.write("\n")


@app.command("show")
def order_show(order: OrderRef, realm: Realm = None, as_json: AsJson = False) -> None:
    """The order whole: customer, lines, serials (with state), files and downloads, subscriptions, status."""
    from resell.services.support_orders import OrderLookupError, order_detail

    try:
        detail = order_detail(context(), order, realm)
    except OrderLookupError as exc:
        fail(str(exc))
        return
    data = detail.as_json()
    if as_json:
        _dump(data)
        return
    invoice = detail.customer.get("locationInvoice") or {}
    name = " ".join(p for p in (invoice.get("firstName"), invoice.get("lastName")) if p)
    out.print(
        f"order {detail.order_number} · {detail.partner_order_number} · merchant {detail.realm} · "
        f"{detail.status}" + (f" (reason {detail.cancel_reason})" if detail.cancel_reason else "")
    )
    total = f"{_money(detail.total)} {detail.currency}" if detail.total is not None else "not sent"
    out.print(f"date {when(detail.order_date)} · downloads until {detail.download_end_date} · total {total}")
    out.print(f"customer {detail.customer_email}" + (f" · {name}" if name else ""))
    lines = folding_table("product", "delivery", "serials", "files (starts/completes)", title="lines")
    for line in data["lines"]:
        lines.add_row(
            str(line["productRef"]),
            line["deliveryMode"],
            "\n".join(f"{s['value']} ({s['state']})" for s in line["serials"]),
            "\n".join(f"{f['label']} {f['countStartDownload']}/{f['countCompleteDownload']}" for f in line["files"]),
        )
    out.print(lines)
    if detail.subscriptions:
        subs = folding_table("subscription", "product", "status", "period", "generation", "expires")
        for s in detail.subscriptions:
            subs.add_row(
                str(s["id"]), str(s["productRef"]), s["status"], s["period"], str(s["generation"]), s["expiresAt"]
            )
        out.print(subs)


@app.command("find")
def order_find(email: Annotated[str, typer.Argument(help="the customer's email")], as_json: AsJson = False) -> None:
    """Every order of that customer email, all merchants, newest first."""
    from resell.services.support_orders import orders_of_email

    found = orders_of_email(context(), email)
    if as_json:
        _dump([o.as_json() for o in found])
        return
    if not found:
        out.print(f"no order for {email}")
        return
    table = folding_table("order", "realm", "partnerOrderNumber", "date", "status", "total")
    for o in found:
        total = f"{_money(o.total)} {o.currency}" if o.total is not None else ""
        table.add_row(str(o.order_number), o.realm, o.partner_order_number, when(o.order_date), o.status, total)
    out.print(table)


@app.command("cancel")
def order_cancel(
    order: OrderRef,
    reason: Annotated[
        str,
        typer.Option(
            help="cancelOrder's reasonCode: 2 order cancelled, 3 unsatisfied customer, 4 double order, "
            "5 product order, 6 incompatible product, 16 fraud / chargeback"
        ),
    ],
    realm: Realm = None,
    comment: Annotated[str | None, typer.Option(help="kept with the order")] = None,
) -> None:
    """Cancel as the API's cancelOrder does (serials revoked, links off, webhooks and publisher callbacks
    queued), under the merchant's rules, audited as the operator's."""
    from resell.domain.codes import Refusal
    from resell.services.support_orders import OrderLookupError, cancel

    try:
        found, result = cancel(context(), order, realm, reason, comment)
    except OrderLookupError as exc:
        fail(str(exc))
        return
    except Refusal as refusal:
        fail(f"order {order}: {refusal.message_in('cancelOrder')} (code {refusal.code})")
        return
    out.print(
        f"order {result.order_number} ({result.partner_order_number}, merchant {found.realm}) cancelled: "
        f"serials revoked, downloads ended {result.new_download_end_date}"
    )


@app.command("resend-email")
def order_resend_email(
    order: OrderRef,
    realm: Realm = None,
    to: Annotated[str | None, typer.Option(help="a corrected address (else the order's own)")] = None,
) -> None:
    """Queue the delivery email again (sent by `resell worker`), audited as the operator's."""
    from resell.services.support_orders import OrderLookupError, ResendRefused, resend_email

    try:
        found, queued = resend_email(context(), order, realm, to)
    except (OrderLookupError, ResendRefused) as exc:
        fail(str(exc))
        return
    for event_id, address in queued:
        where = f"order {found.id} ({found.partner_order_number}, merchant {found.realm})"
        out.print(f"{where}: delivery email to {address} queued ({event_id})")


@app.command("search")
def order_search(
    q: Annotated[
        str | None,
        typer.Argument(help="a platform order number, partnerOrderNumber, customer email or serial (exact)"),
    ] = None,
    merchant: Annotated[str | None, typer.Option(help="the merchant's realm")] = None,
    status: Annotated[str | None, typer.Option(help="active or cancelled")] = None,
    date_from: Annotated[str | None, typer.Option("--from", help="order date from YYYY-MM-DD (UTC, included)")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="order date to YYYY-MM-DD (UTC, included)")] = None,
    publisher: Annotated[
        str | None, typer.Option(help="only orders with a product of this publisher (its key)")
    ] = None,
    after: Annotated[str | None, typer.Option(help="the cursor the previous page printed")] = None,
    limit: Annotated[int, typer.Option(help="orders per page (at most 200)")] = 50,
    as_json: AsJson = False,
) -> None:
    """Orders newest first, a page at a time; prints the cursor of the next page."""
    import datetime as dt

    from sqlalchemy import select

    from resell.db.tables import publishers
    from resell.services.order_search import SearchError, search

    ctx = context()
    try:
        days = [dt.date.fromisoformat(d) if d else None for d in (date_from, date_to)]
    except ValueError:
        fail("--from and --to take a date YYYY-MM-DD")
        return
    publisher_id = None
    if publisher:
        with ctx.db.read() as conn:
            publisher_id = conn.execute(select(publishers.c.id).where(publishers.c.key == publisher)).scalar()
        if publisher_id is None:
            fail(f"no publisher {publisher!r}")
            return
    try:
        page = search(ctx, q, merchant, status, days[0], days[1], after, limit, publisher_id)
    except SearchError as exc:
        fail(str(exc))
        return
    if as_json:
        _dump({"orders": [o.as_json() for o in page.orders], "nextCursor": page.next_cursor})
        return
    if not page.orders:
        out.print("no order found")
        return
    table = folding_table("order", "partnerOrderNumber", "realm", "date", "status", "email", "products")
    for o in page.orders:
        products = ", ".join(f"{p.quantity}× {p.product_ref}" for p in o.products)
        table.add_row(
            str(o.order_number), o.partner_order_number, o.realm, when(o.order_date), o.status, o.customer_email,
            f"{o.currency} · {products}",
        )
    out.print(table)
    if page.next_cursor:
        out.print(f"next page: --after {page.next_cursor}")


@app.command("replace-serial")
def order_replace_serial(
    order: OrderRef,
    serial: Annotated[str, typer.Argument(help="the order's serial to replace")],
    realm: Realm = None,
) -> None:
    """Revoke one serial of the order and assign a fresh one of the same product from stock; the end
    user is emailed the line again with the new serial, the publisher told of the revoked one. Audited."""
    from resell.services.support_orders import OrderLookupError, ReplaceRefused, replace_serial

    try:
        done = replace_serial(context(), order, serial, realm)
    except (OrderLookupError, ReplaceRefused) as exc:
        fail(str(exc))
        return
    out.print(
        f"order {done.order_number} ({done.partner_order_number}, merchant {done.realm}), product {done.product_ref}: "
        f"serial {done.old_serial} revoked, replaced by {done.new_serial}; email to {done.email_to} queued "
        f"({done.email_event_id})"
    )


@app.command("extend")
def order_extend(
    order: OrderRef,
    until: Annotated[str | None, typer.Option(help="the new last day of the downloads, YYYY-MM-DD")] = None,
    days: Annotated[int | None, typer.Option(help="days added to the current end")] = None,
    realm: Realm = None,
) -> None:
    """Move the end of the order's downloads, as the API's updateDownloadTime does (its rules, the
    download.extended webhook), audited as the operator's."""
    from resell.domain.codes import Refusal
    from resell.services.support_orders import OrderLookupError, extend_downloads

    if (until is None) == (days is None):
        fail("give --until YYYY-MM-DD or --days N")
        return
    if days is not None and days <= 0:
        fail("--days takes a positive number")
        return
    value = until if until is not None else f"P{days}D"
    try:
        found, result = extend_downloads(context(), order, realm, str(value))
    except OrderLookupError as exc:
        fail(str(exc))
        return
    except Refusal as refusal:
        fail(f"order {order}: {refusal.message_in('updateDownloadTime')} (code {refusal.code})")
        return
    out.print(
        f"order {found.id} ({found.partner_order_number}, merchant {found.realm}): downloads until "
        f"{result.new_download_end_date}"
    )
