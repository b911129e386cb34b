"""The order lifecycle: create, read, cancel, download window. One transaction per use case.

createOrder is the heart of resell: it refuses the whole order on the first problem (any short line
is 1044), allocates serials under a lock in the same transaction that records the order, and is
idempotent per partnerOrderNumber (1010), also when duplicates race each other.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, bindparam, exc, select, update

from resell.db import prepared
from resell.db.prepared import Prepared
from resell.db.tables import (
    line_items,
    option_eligibility,
    order_lines,
    orders,
    product_files,
    product_prices,
    products,
    publishers,
    serial_assignments,
    serials,
    subscriptions,
)
from resell.domain import codes
from resell.domain.codes import Refusal
from resell.domain.links import download_path, new_line_token
from resell.domain.order_request import OrderLineRequest, OrderRequest
from resell.domain.periods import LAST_END_DATE, add_period, parse_date, parse_period
from resell.domain.remarks import fill_remark
from resell.domain.request_fields import free_text, is_blank, partner_order_number, reason_code
from resell.services import downloads, fulfilment, keygen, shipments, stock
from resell.services.context import Caller, Context
from resell.services.events import audit, audit_many, enqueue
from resell.services.subscriptions import terminate_for_cancelled_order
from resell.services.tenancy import catalog_products_query, order_of

# ---------------------------------------------------------------- views (what every protocol renders)


@dataclass(frozen=True)
class FileView:
    file_id: int
    label: str
    type: str
    url: str
    size: int
    group: str
    date_first_download: dt.datetime | None = None
    date_last_download: dt.datetime | None = None
    count_start_download: int = 0
    count_complete_download: int = 0


@dataclass(frozen=True)
class LineItemView:
    serials: list[str]
    subscription_id: int | None


@dataclass(frozen=True)
class OrderLineView:
    product_ref: int
    line_items: list[LineItemView]
    files: list[FileView]
    date_end_download: dt.date
    digital_locker_link: str | None
    remark: str
    delivery_mode: str  # download_serial | serial | download | locker


@dataclass(frozen=True)
class OrderView:
    partner_order_number: str
    order_number: int
    status: str
    order_date: dt.datetime
    download_end_date: dt.date
    lines: list[OrderLineView]
    download_manager: dict[str, str] | None = None


@dataclass(frozen=True)
class CancelResult:
    partner_order_number: str
    order_number: int
    new_download_end_date: dt.date


@dataclass(frozen=True)
class DownloadTimeResult:
    partner_order_number: str
    new_download_end_date: dt.date


# ---------------------------------------------------------------- createOrder


@dataclass
class _Line:
    """One requested line with its product row, as checked against the catalogue."""

    position: int
    request_line: OrderLineRequest
    product: Any  # a Row of products


# createOrder's statements, prepared (resell/db/prepared.py): this is the hottest write path.
_ORDER_PRODUCT = Prepared(
    catalog_products_query(
        None,
        products.c.id,
        products.c.ref,
        products.c.name,
        products.c.type,
        products.c.status,
        products.c.release_date,
        products.c.serial_source,
        products.c.remark_template,
        products.c.subscription_period,
        products.c.option_kind,
        products.c.option_period,
        products.c.almost_out_threshold,
        products.c.publisher_id,
        publishers.c.key.label("publisher_key"),
        publishers.c.delivers_directly,
        publishers.c.keygen_url,
    )
    .join(publishers, publishers.c.id == products.c.publisher_id)
    .where(products.c.ref == bindparam("ref"))
)
_PRICE = Prepared(
    select(product_prices.c.amount_duty_free).where(
        product_prices.c.product_id == bindparam("product_id"), product_prices.c.currency == bindparam("currency")
    )
)
_INSERT_ORDER = prepared.insert(orders)
_INSERT_LINE = prepared.insert(order_lines)
_INSERT_ITEM = prepared.insert(line_items)
_INSERT_ASSIGNMENT = prepared.insert(serial_assignments)


def _check_lines(conn: Connection, caller: Caller, request: OrderRequest, today: dt.date) -> list[_Line]:
    """Catalogue rules, in the order a merchant can fix them: product, availability, options, amounts."""
    by_ref = {}
    for ref in {line.product_ref for line in request.lines}:
        row = _ORDER_PRODUCT.first(conn, catalog_id=caller.catalog_id, ref=ref)
        if row is not None:
            by_ref[ref] = row
    lines = []
    for position, line in enumerate(request.lines):
        product = by_ref.get(line.product_ref)
        if product is None:
            raise Refusal(codes.PRODUCT_UNKNOWN)
        lines.append(_Line(position, line, product))
    for entry in lines:
        product = entry.product
        if product.status != "available" or (product.release_date is not None and product.release_date > today):
            raise Refusal(codes.NOT_AVAILABLE)  # withdrawn, or a pre-order not yet released
    options = [e for e in lines if e.product.type == "option"]
    base = [e for e in lines if e.product.type != "option"]
    if options and not base:
        raise Refusal(codes.OPTION_WITHOUT_BASE)
    if options:
        eligible = defaultdict(set)
        for option_id, product_id in conn.execute(
            select(option_eligibility.c.option_product_id, option_eligibility.c.product_id).where(
                option_eligibility.c.option_product_id.in_([e.product.id for e in options])
            )
        ):
            eligible[option_id].add(product_id)
        for option in options:
            if any(b.product.id not in eligible[option.product.id] for b in base):
                raise Refusal(codes.OPTION_NOT_ELIGIBLE)
            if option.product.option_kind == "backup_dvd" and request.customer.delivery is None:
                raise Refusal(410)
            if option.product.option_kind == "backup_dvd":
                shipments.check_cart(conn, [b.product.id for b in base])  # 1041: nothing to burn
    if caller.requires_amounts and any(
        e.request_line.amount_duty_free is None and e.request_line.amount_total is None for e in lines
    ):
        raise Refusal(codes.AMOUNTS_REQUIRED)
    return lines


def _download_end(now: dt.datetime, lines: list[_Line], download_days: int) -> dt.date:
    """The order's download end date: each unit of a download-extension option adds its period.
    Past LAST_END_DATE (or past what a date can hold) the extension line's quantity is not valid."""
    end = now.date() + dt.timedelta(days=download_days)
    for entry in lines:
        if entry.product.option_kind == "download_extension" and entry.product.option_period:
            for _ in range(entry.request_line.quantity):
                try:
                    end = add_period(end, entry.product.option_period)
                except (ValueError, OverflowError):
                    end = dt.date.max
                if end > LAST_END_DATE:
                    raise Refusal(221, f"quantity not valid: the download window would end after {LAST_END_DATE}")
    return end


def _unit_amount(line, price) -> Decimal | None:  # type: ignore[no-untyped-def]
    if line.amount_total is not None:
        return line.amount_total / line.quantity
    if line.amount_duty_free is not None:
        return line.amount_duty_free / line.quantity
    return price


class _KeysNeeded(Exception):
    """The cart holds generator products: fetch their keys outside the transaction, then create."""

    def __init__(self, requests: list[keygen.KeyRequest]):
        super().__init__(len(requests))
        self.requests = requests


def create_order(ctx: Context, caller: Caller, request: OrderRequest) -> OrderView:
    try:
        try:
            return _create_order(ctx, caller, request)
        except _KeysNeeded as needed:
            generated = keygen.generate(ctx, needed.requests)  # Refusal(1051) when a generator fails
            try:
                return _create_order(ctx, caller, request, (needed.requests, generated))
            except BaseException:
                keygen.release(ctx, needed.requests, generated)  # never handed out: tell the publishers
                raise
    except exc.IntegrityError:
        # A concurrent duplicate committed first (PostgreSQL reports it at our insert): 1010.
        with ctx.db.read() as conn:
            if order_of(conn, ctx.db, caller, request.partner_order_number) is not None:
                raise Refusal(codes.NOT_FOUND) from None
        raise


def _create_order(
    ctx: Context,
    caller: Caller,
    request: OrderRequest,
    keys: tuple[list[keygen.KeyRequest], dict[int, list[str]]] | None = None,
) -> OrderView:
    if request.currency != caller.currency:
        raise Refusal(codes.CURRENCY_UNKNOWN)
    now = ctx.now()
    return ctx.db.write_grouped(lambda conn: _insert_order(conn, ctx, caller, request, keys, now))


def _insert_order(
    conn: Connection,
    ctx: Context,
    caller: Caller,
    request: OrderRequest,
    keys: tuple[list[keygen.KeyRequest], dict[int, list[str]]] | None,
    now: dt.datetime,
) -> OrderView:
    """Everything createOrder writes, in the caller's (possibly shared) transaction; a refusal undoes it all."""
    if order_of(conn, ctx.db, caller, request.partner_order_number) is not None:
        raise Refusal(codes.NOT_FOUND)  # 1010: "order already created"
    lines = _check_lines(conn, caller, request, now.date())
    if keys is None and (key_requests := keygen.requests_for(lines)):
        raise _KeysNeeded(key_requests)  # nothing written yet: the transaction rolls back
    customer = request.customer
    order_id = _INSERT_ORDER.scalar(
        conn,
        merchant_id=caller.merchant_id,
        catalog_id=caller.catalog_id,
        partner_order_number=request.partner_order_number,
        status="active",
        order_date=request.order_date,
        currency=request.currency,
        customer_email=customer.email,
        customer_language=customer.language,
        customer_partner_id=customer.partner_id,
        customer=customer.as_json(),
        payment=request.payment.as_json() if request.payment else None,
        discounts=[d.as_json() for d in request.discounts] or None,
        metadata=[{"key": k, "value": v} for k, v in request.metadata] or None,
        marketing_program_id=request.marketing_program_id,
        affiliate_id=request.affiliate_id,
        download_end_date=_download_end(now, lines, ctx.settings.download_days),
        generation=0,
        created_at=now,
    )

    # Serials: the whole order or nothing. Products in id order, so PostgreSQL never deadlocks.
    wanted: dict[int, int] = defaultdict(int)
    for entry in lines:
        if entry.product.serial_source == "pool":
            wanted[entry.product.id] += entry.request_line.quantity
    pools = {pid: stock.allocate(conn, ctx.db, pid, n) for pid, n in sorted(wanted.items())}
    if keys is not None:
        pools.update(keygen.store(conn, now, lines, *keys))

    prices = {
        entry.product.id: _PRICE.scalar(conn, product_id=entry.product.id, currency=request.currency)
        for entry in lines
        if entry.product.subscription_period
    }
    invoice = customer.invoice
    assignments, subs, placed = [], [], []
    for entry in lines:
        line, product = entry.request_line, entry.product
        remark = fill_remark(
            product.remark_template,
            first_name=invoice.first_name,
            last_name=invoice.last_name,
            game_name=product.name,
            order_number=order_id,
        )
        line_id = _INSERT_LINE.scalar(
            conn,
            order_id=order_id,
            position=entry.position,
            product_id=product.id,
            product_ref=product.ref,
            quantity=line.quantity,
            vat_rate=line.vat_rate,
            amount_duty_free=line.amount_duty_free,
            amount_total=line.amount_total,
            end_user_email=line.end_user_email,
            discounts=[d.as_json() for d in line.discounts] or None,
            remark=remark,
            download_token=new_line_token(),
        )
        placed.append((entry, line_id))
        for unit in range(line.quantity):
            item_id = _INSERT_ITEM.scalar(conn, order_line_id=line_id, position=unit)
            if product.serial_source in ("pool", "generator"):
                serial_id, _value = pools[product.id].pop(0)
                assignments.append({"serial_id": serial_id, "line_item_id": item_id, "assigned_at": now})
            if product.subscription_period:
                expires = now + parse_period(product.subscription_period)
                subs.append(
                    {
                        "order_id": order_id,
                        "line_item_id": item_id,
                        "product_id": product.id,
                        "period": product.subscription_period,
                        "generation": 0,
                        "status": "ACTIVE",
                        "currency": request.currency,
                        "amount": _unit_amount(line, prices.get(product.id)),
                        "created_at": now,
                        "updated_at": now,
                        "expires_at": expires,
                        "next_change_at": expires,
                    }
                )
    for assignment in assignments:
        _INSERT_ASSIGNMENT.execute(conn, **assignment)
    if subs:
        conn.execute(subscriptions.insert(), subs)
    actor = f"merchant:{caller.realm}"
    fulfilment.on_order_created(conn, now, actor, caller.catalog_id, order_id, request, placed)
    audit(
        conn,
        now,
        actor,
        "order",
        order_id,
        "created",
        after={
            "partnerOrderNumber": request.partner_order_number,
            "lines": len(lines),
            "serials": len(assignments),
        },
    )
    _audit_new_items(conn, now, actor, order_id, assignments, bool(subs))
    enqueue(
        conn,
        now,
        "order.created",
        {
            "merchantId": caller.merchant_id,
            "orderNumber": order_id,
            "partnerOrderNumber": request.partner_order_number,
        },
    )
    return _order_view(conn, ctx, order_id)


# ---------------------------------------------------------------- reading


# The order view is read on every createOrder, getOrderData and getDownloadInfo: prepared statements,
# each selecting by the order's id (joins rather than IN lists, so that each compiles once).
_ORDER = Prepared(select(orders).where(orders.c.id == bindparam("order_id")))
_ORDER_LINES = Prepared(
    select(order_lines, products.c.delivery_mode, products.c.type.label("product_type"))
    .join(products, products.c.id == order_lines.c.product_id)
    .where(order_lines.c.order_id == bindparam("order_id"))
    .order_by(order_lines.c.position)
)
_ORDER_ITEMS = Prepared(
    select(
        line_items.c.id,
        line_items.c.order_line_id,
        subscriptions.c.id.label("subscription_id"),
        line_items.c.renews_subscription_id,
    )
    .join(order_lines, order_lines.c.id == line_items.c.order_line_id)
    .outerjoin(subscriptions, subscriptions.c.line_item_id == line_items.c.id)
    .where(order_lines.c.order_id == bindparam("order_id"))
    .order_by(line_items.c.order_line_id, line_items.c.position)
)
_ORDER_SERIALS = Prepared(
    select(serial_assignments.c.line_item_id, serials.c.value)
    .join(serials, serials.c.id == serial_assignments.c.serial_id)
    .join(line_items, line_items.c.id == serial_assignments.c.line_item_id)
    .join(order_lines, order_lines.c.id == line_items.c.order_line_id)
    .where(order_lines.c.order_id == bindparam("order_id"))
    .order_by(serial_assignments.c.serial_id)
)
_ORDER_FILES = Prepared(
    select(product_files)
    .where(
        product_files.c.product_id.in_(
            select(order_lines.c.product_id).where(order_lines.c.order_id == bindparam("order_id"))
        )
    )
    .order_by(product_files.c.position)
)


def _order_view(conn: Connection, ctx: Context, order_id: int, with_stats: bool = False) -> OrderView:
    order = _ORDER.first(conn, order_id=order_id)
    lines = _ORDER_LINES.all(conn, order_id=order_id)
    items = _ORDER_ITEMS.all(conn, order_id=order_id)
    serial_values = defaultdict(list)
    for item_id, value in _ORDER_SERIALS.all(conn, order_id=order_id):
        serial_values[item_id].append(value)
    files = defaultdict(list)
    for f in _ORDER_FILES.all(conn, order_id=order_id):
        files[f.product_id].append(f)
    items_by_line = defaultdict(list)
    for item in items:
        items_by_line[item.order_line_id].append(
            LineItemView(
                serials=serial_values[item.id],
                # a renewal order's item holds a new term of the subscription it renews
                subscription_id=item.subscription_id
                if item.subscription_id is not None
                else item.renews_subscription_id,
            )
        )
    base = ctx.settings.base_url
    key = ctx.settings.effective_download_key
    stats = downloads.stats_for_order(conn, order_id) if with_stats else {}
    no_stats = downloads.NO_STATS
    every_product_has_files = all(files[line.product_id] for line in lines if line.product_type != "option")
    return OrderView(
        partner_order_number=order.partner_order_number,
        order_number=order.id,
        status=order.status,
        order_date=order.order_date,
        download_end_date=order.download_end_date,
        lines=[
            OrderLineView(
                product_ref=line.product_ref,
                line_items=items_by_line[line.id],
                files=[
                    FileView(
                        file_id=f.id,
                        label=f.label,
                        type=f.type,
                        size=f.size,
                        group=f.group,
                        url=base + download_path(key, line.download_token, f.id),
                        date_first_download=stats.get((line.id, f.id), no_stats).first_download_at,
                        date_last_download=stats.get((line.id, f.id), no_stats).last_download_at,
                        count_start_download=stats.get((line.id, f.id), no_stats).starts,
                        count_complete_download=stats.get((line.id, f.id), no_stats).completes,
                    )
                    for f in files[line.product_id]
                ],
                date_end_download=order.download_end_date,
                digital_locker_link=downloads.locker_link(ctx.settings, order.id),
                remark=line.remark,
                delivery_mode=line.delivery_mode,
            )
            for line in lines
        ],
        download_manager=downloads.download_manager(ctx.settings, order.id) if every_product_has_files else None,
    )


def _require_order(conn: Connection, ctx: Context, caller: Caller, pon: str, lock: bool = False):  # type: ignore[no-untyped-def]
    order = order_of(conn, ctx.db, caller, pon, lock=lock)
    if order is None:
        raise Refusal(codes.NOT_FOUND)
    return order


def get_order(ctx: Context, caller: Caller, raw_partner_order_number: object) -> OrderView:
    pon = partner_order_number(raw_partner_order_number, missing=100)
    with ctx.db.read() as conn:
        order = _require_order(conn, ctx, caller, pon)
        return _order_view(conn, ctx, order.id)


def download_info(ctx: Context, caller: Caller, raw_partner_order_number: object) -> OrderView:
    """The order's files with their download counters (counted by the download endpoint)."""
    pon = partner_order_number(raw_partner_order_number, missing=100)
    with ctx.db.read() as conn:
        order = _require_order(conn, ctx, caller, pon)
        return _order_view(conn, ctx, order.id, with_stats=True)


# ---------------------------------------------------------------- changing an order


def cancel_order(
    ctx: Context, caller: Caller, raw_partner_order_number: object, raw_reason: object, comment: object
) -> CancelResult:
    """Revoke the licences at once, stop the downloads, terminate subscriptions, tell the publishers."""
    reason = reason_code(raw_reason)
    pon = partner_order_number(raw_partner_order_number, missing=110)
    now = ctx.now()
    with ctx.db.write() as conn:
        order = _require_order(conn, ctx, caller, pon, lock=True)
        if order.status == "cancelled":
            raise Refusal(codes.ALREADY_CANCELLED)
        if now > order.created_at + dt.timedelta(days=caller.cancel_period_days):
            raise Refusal(1020)
        today = now.date()
        conn.execute(
            update(orders)
            .where(orders.c.id == order.id)
            .values(
                status="cancelled",
                cancelled_at=now,
                cancel_reason=reason,
                cancel_comment=free_text(comment),
                download_end_date=today,
            )
        )
        revoked = conn.execute(
            select(serial_assignments.c.serial_id, serials.c.value, products.c.ref, products.c.publisher_id)
            .join(serials, serials.c.id == serial_assignments.c.serial_id)
            .join(products, products.c.id == serials.c.product_id)
            .join(line_items, line_items.c.id == serial_assignments.c.line_item_id)
            .join(order_lines, order_lines.c.id == line_items.c.order_line_id)
            .where(order_lines.c.order_id == order.id, serial_assignments.c.revoked_at.is_(None))
        ).all()
        serial_ids = [r.serial_id for r in revoked]
        if serial_ids:
            conn.execute(update(serials).where(serials.c.id.in_(serial_ids)).values(status="revoked"))
            conn.execute(
                update(serial_assignments).where(serial_assignments.c.serial_id.in_(serial_ids)).values(revoked_at=now)
            )
        actor = f"merchant:{caller.realm}"
        fulfilment.on_order_cancelled(conn, now, actor, order.id)  # a backup DVD not yet shipped stays home
        audit(
            conn,
            now,
            actor,
            "order",
            order.id,
            "cancelled",
            before={"status": order.status},
            after={"status": "cancelled", "reasonCode": reason, "serialsRevoked": len(serial_ids)},
        )
        audit_many(
            conn,
            now,
            actor,
            "serial",
            "revoked",
            [(sid, {"status": "assigned"}, {"status": "revoked", "orderNumber": order.id}) for sid in serial_ids],
        )
        terminate_for_cancelled_order(conn, now, actor, order)
        enqueue(
            conn,
            now,
            "order.cancelled",
            {
                "merchantId": caller.merchant_id,
                "orderNumber": order.id,
                "partnerOrderNumber": pon,
                "reasonCode": reason,
            },
        )
        by_publisher = defaultdict(list)
        for r in revoked:
            by_publisher[r.publisher_id].append({"productRef": r.ref, "serial": r.value})
        if by_publisher:
            keys = dict(
                conn.execute(
                    select(publishers.c.id, publishers.c.key).where(publishers.c.id.in_(list(by_publisher)))
                ).all()
            )
            for publisher_id, revoked_serials in by_publisher.items():
                enqueue(
                    conn,
                    now,
                    "publisher.serials_revoked",
                    {"publisher": keys[publisher_id], "orderNumber": order.id, "serials": revoked_serials},
                )
    return CancelResult(pon, order.id, today)


def update_download_time(
    ctx: Context, caller: Caller, raw_partner_order_number: object, value: object
) -> DownloadTimeResult:
    """`value` is the new end date (YYYY-MM-DD) or an ISO 8601 period added to the current one."""
    pon = partner_order_number(raw_partner_order_number, missing=100)
    if is_blank(value):
        raise Refusal(110)
    now = ctx.now()
    with ctx.db.write() as conn:
        order = _require_order(conn, ctx, caller, pon, lock=True)
        if order.status == "cancelled":
            raise Refusal(codes.ALREADY_CANCELLED)
        text = str(value).strip() if isinstance(value, str) else None
        try:
            new_end = parse_date(text) if text and "-" in text else add_period(order.download_end_date, text or "")
        except (ValueError, OverflowError):
            raise Refusal(111) from None
        if new_end < order.created_at.date() or new_end > LAST_END_DATE:
            raise Refusal(111)
        conn.execute(update(orders).where(orders.c.id == order.id).values(download_end_date=new_end))
        audit(
            conn,
            now,
            f"merchant:{caller.realm}",
            "order",
            order.id,
            "download_time_updated",
            before={"downloadEndDate": order.download_end_date.isoformat()},
            after={"downloadEndDate": new_end.isoformat()},
        )
        enqueue(
            conn,
            now,
            "download.extended",
            {
                "merchantId": caller.merchant_id,
                "orderNumber": order.id,
                "partnerOrderNumber": pon,
                "downloadEndDate": new_end.isoformat(),
            },
        )
    return DownloadTimeResult(pon, new_end)


def submit_order(ctx: Context, caller: Caller, body: object) -> OrderView:
    """createOrder from the decoded request document, as every protocol receives it."""
    from resell.domain.order_request import parse_order_request

    limits = ctx.settings
    request = parse_order_request(body, max_lines=limits.order_max_lines, max_units=limits.order_max_units)
    return create_order(ctx, caller, request)


def _audit_new_items(
    conn: Connection, now: dt.datetime, actor: str, order_id: int, assignments: list[dict], has_subscriptions: bool
) -> None:
    """createOrder's audit rows for the serials it assigned and the subscriptions it started."""
    audit_many(
        conn,
        now,
        actor,
        "serial",
        "assigned",
        [
            (a["serial_id"], {"status": "available"}, {"status": "assigned", "orderNumber": order_id})
            for a in assignments
        ],
    )
    if has_subscriptions:
        started = conn.execute(
            select(subscriptions.c.id, subscriptions.c.generation, subscriptions.c.expires_at).where(
                subscriptions.c.order_id == order_id
            )
        ).all()
        audit_many(
            conn,
            now,
            actor,
            "subscription",
            "created",
            [
                (
                    r.id,
                    None,
                    {
                        "status": "ACTIVE",
                        "generation": r.generation,
                        "orderNumber": order_id,
                        "expiresAt": r.expires_at.isoformat(),
                    },
                )
                for r in started
            ],
        )
