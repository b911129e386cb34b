"""The order lifecycle: create, read, cancel, download window. One transaction per use case.

createOrder is the heart of resell: it refuses the whole order on the first problem (any short line
is 1044), allocates serials under a lock in the same transaction that records the order, and is
idempotent per partnerOrderNumber (1010), also when duplicates race each other.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import Any, NamedTuple

from sqlalchemy import Connection, Row, Select, and_, bindparam, exc, or_, select, update

from resell.db.engine import Database
from resell.db.kept import KeptRows
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
from resell.domain import codes, sandbox
from resell.domain.codes import Refusal
from resell.domain.links import download_path
from resell.domain.order_request import OrderLineRequest, OrderRequest
from resell.domain.periods import LAST_END_DATE, add_period, parse_date
from resell.domain.request_fields import free_text, is_blank, partner_order_number, reason_code
from resell.services import delivery, downloads, keygen, order_writer, shipments
from resell.services.audit_log import audit, audit_many
from resell.services.context import Caller, Context
from resell.services.outbox import enqueue
from resell.services.subscriptions import terminate_for_cancelled_order
from resell.services.tenancy import CALLERS_ORDER, catalog_products_query, order_of, order_values

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
    product: Any  # a row of order_writer.PRODUCT_COLUMNS


class _File(NamedTuple):
    """What the reply shows of a product's file (the columns of product_files it reads)."""

    id: int
    product_id: int
    label: str
    type: str
    size: int
    group: str


# createOrder's reads, prepared (resell/db/prepared.py): this is the hottest write path. The product's
# price in the catalogue's currency comes with it (no read of its own): the line records it, and a
# subscription starts at it when the merchant sent no amount. So do its files, for the reply: a row per
# file (one with no file columns for a product without files), in the order _ORDER_FILES reads them back.
_ORDER_PRODUCT = Prepared(
    catalog_products_query(
        None,
        *order_writer.PRODUCT_COLUMNS,
        product_prices.c.amount_duty_free.label("retailer_unit_price"),
        product_prices.c.vat_rate.label("retailer_vat_rate"),
        *(product_files.c[name].label(f"file_{name}") for name in _File._fields),
    )
    .join(publishers, publishers.c.id == products.c.publisher_id)
    .outerjoin(
        product_prices,
        and_(product_prices.c.product_id == products.c.id, product_prices.c.currency == bindparam("currency")),
    )
    .outerjoin(product_files, product_files.c.product_id == products.c.id)
    .where(products.c.ref == bindparam("ref"))
    .order_by(product_files.c.position)
)


def _check_lines(
    conn: Connection, caller: Caller, request: OrderRequest, today: dt.date
) -> tuple[list[_Line], list[_File]]:
    """Catalogue rules, in the order a merchant can fix them: product, availability, options, amounts.
    The lines, and their products' files."""
    by_ref = {}
    files = []
    for ref in {line.product_ref for line in request.lines}:
        rows = _ORDER_PRODUCT.all(conn, catalog_id=caller.catalog_id, currency=caller.currency, ref=ref)
        if rows:
            by_ref[ref] = rows[0]
            if rows[0].file_id is not None:
                files += [_File(*row[-len(_File._fields) :]) for row in rows]  # the file columns come last
    lines = []
    for position, line in enumerate(request.lines):
        product = by_ref.get(line.product_ref)
        if product is None:
            raise Refusal(codes.PRODUCT_UNKNOWN)
        lines.append(_Line(position, line, product))
    for entry in lines:
        product = entry.product
        if product.status != "available" or (product.release_date is not None and product.release_date > today):
            raise Refusal(codes.LICENCES_NOT_AVAILABLE)  # withdrawn, or a pre-order not yet released
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
                raise Refusal(codes.DELIVERY_LOCATION_MISSING)
            if option.product.option_kind == "backup_dvd":
                shipments.check_cart(conn, [b.product.id for b in base])  # 1041: nothing to burn
    if caller.requires_amounts and any(
        e.request_line.amount_duty_free is None and e.request_line.amount_total is None for e in lines
    ):
        raise Refusal(codes.AMOUNTS_REQUIRED)
    return lines, files


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
                    raise Refusal(
                        codes.QUANTITY_NOT_VALID,
                        f"quantity not valid: the download window would end after {LAST_END_DATE}",
                    )
    return end


def _unit_amount(line, price) -> Decimal | None:  # type: ignore[no-untyped-def]
    if line.amount_total is not None:
        return line.amount_total / line.quantity
    if line.amount_duty_free is not None:
        return line.amount_duty_free / line.quantity
    return price


@dataclass(frozen=True)
class _Created:
    """What createOrder's turn of the writer hands back: the order it wrote and its products' files."""

    written: order_writer.WrittenOrder
    files: list[_File]


def create_order(ctx: Context, caller: Caller, request: OrderRequest) -> OrderView:
    """Plan, fetch keys, write; then build the reply from what was written, after the commit.

    The plan (the catalogue's rules, checked on what is committed) is made in the writer's turn, so
    that the checks hold for the write. A cart that needs no generated keys is written in that same
    turn. One that does gets its plan back, nothing written; its keys are fetched with no
    transaction open, outside the writer's turn, and a second turn checks again and writes.

    The products' files, the one thing of the reply the order does not write, are read in the turn,
    with the products the plan reads: read after the commit they would cost every order a connection
    and a transaction more (pure cost on PostgreSQL, where each order has a transaction of its own and
    there is no turn to shorten)."""
    if request.currency != caller.currency:  # the message names the catalogue's: what to send instead
        raise Refusal(codes.CURRENCY_UNKNOWN, codes.CURRENCY_NOT_THE_CATALOGUES.format(currency=caller.currency))
    now = ctx.now()

    def write(keys: keygen.Keys) -> _Created | order_writer.NewOrder:
        return ctx.db.write_grouped(lambda conn: _write(conn, ctx, caller, request, keys, now))

    keys = keygen.NO_KEYS
    try:
        outcome = write(keys)
        if isinstance(outcome, order_writer.NewOrder):  # the plan needs keys from publishers' generators
            keys = keygen.fetch(ctx, outcome.key_requests())  # Refusal(LICENCES_NOT_AVAILABLE) when a generator fails
            outcome = write(keys)
    except BaseException as failure:
        keygen.release(ctx, keys)  # never handed out: tell the publishers
        if isinstance(failure, exc.IntegrityError):
            # A duplicate, committed before or beside ours (the unique constraint refused our insert): 1010.
            with ctx.db.read() as conn:
                _refuse_a_duplicate(conn, caller, request)
        raise
    assert isinstance(outcome, _Created), "keys fetched for a plan always fit it or are refused"
    return _written_view(ctx, outcome.written, outcome.files)


def _plan(
    conn: Connection, ctx: Context, caller: Caller, request: OrderRequest, now: dt.datetime
) -> tuple[order_writer.NewOrder, list[_File]]:
    """The order as the catalogue allows it at this moment, and its products' files; a Refusal for the
    first rule it breaks (but for 1010, a duplicate partnerOrderNumber: `_write` looks for that one)."""
    if caller.test:
        _refuse_on_purpose(sandbox.CREATE_ORDER, request.partner_order_number)
    lines, files = _check_lines(conn, caller, request, now.date())
    customer = request.customer
    plan = order_writer.NewOrder(
        merchant_id=caller.merchant_id,
        catalog_id=caller.order_catalog_id,
        test=caller.test,
        delivery_email=caller.delivery_email,
        partner_order_number=request.partner_order_number,
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
        first_name=customer.invoice.first_name,
        last_name=customer.invoice.last_name,
        delivery=customer.delivery.as_json() if customer.delivery is not None else None,
        actor=f"merchant:{caller.realm}",
        audit={"lines": len(lines)},
        lines=[
            order_writer.NewLine(
                position=entry.position,
                product=entry.product,
                quantity=entry.request_line.quantity,
                vat_rate=entry.request_line.vat_rate,
                amount_duty_free=entry.request_line.amount_duty_free,
                amount_total=entry.request_line.amount_total,
                end_user_email=entry.request_line.end_user_email,
                discounts=[d.as_json() for d in entry.request_line.discounts] or None,
                subscription_amount=_unit_amount(entry.request_line, entry.product.retailer_unit_price)
                if entry.product.subscription_period
                else None,
                retailer_unit_price=entry.product.retailer_unit_price,
                retailer_vat_rate=entry.product.retailer_vat_rate,
            )
            for entry in lines
        ],
    )
    return plan, files


def _write(
    conn: Connection, ctx: Context, caller: Caller, request: OrderRequest, keys: keygen.Keys, now: dt.datetime
) -> _Created | order_writer.NewOrder:
    """A turn of the writer (possibly a shared transaction): the plan on what is committed now, then
    everything createOrder writes; a refusal undoes it all. A plan that needs keys not fetched yet is
    returned as it is, nothing written.

    A duplicate partnerOrderNumber (1010) comes before every other refusal, yet costs an order that
    has none no statement of its own: the unique constraint on orders finds it when the order is
    inserted (create_order turns that IntegrityError into 1010), and it is looked for only when the
    order would be refused for something else, or before its keys are asked for."""
    try:
        plan, files = _plan(conn, ctx, caller, request, now)
        if not keys.requests and plan.key_requests():
            _refuse_a_duplicate(conn, caller, request)  # no publisher is asked for a duplicate's keys
            return plan
        written = order_writer.insert_order(conn, plan, keys, now)  # 1051 if the keys no longer fit the plan
    except Refusal:
        _refuse_a_duplicate(conn, caller, request)
        raise
    enqueue(
        conn,
        now,
        "order.created",
        {
            "merchantId": caller.merchant_id,
            "orderNumber": written.order_id,
            "partnerOrderNumber": request.partner_order_number,
            **sandbox.test_field(caller.test),
        },
    )
    return _Created(written, files)


# ---------------------------------------------------------------- reading


# The order view is read on every getOrderData and getDownloadInfo: prepared statements (joins
# rather than IN lists, so that each compiles once).
# Its lines, their items and the items' serials come in one statement: a row per serial of each item
# of each line, in the reply's order; an item without serials, or a line without items, is one row
# with NULLs there. An item's serials are its live one and what cancelOrder revoked with the order
# (revoked at the instant the order was cancelled); one support replaced (resell order replace-serial)
# is gone. `order_columns` lead each row.
def _contents(*order_columns: Any) -> Select:
    return (
        select(
            *order_columns,
            order_lines.c.id,
            order_lines.c.product_id,
            order_lines.c.product_ref,
            products.c.type,
            products.c.delivery_mode,
            order_lines.c.download_token,
            order_lines.c.remark,
            line_items.c.id.label("item_id"),
            subscriptions.c.id.label("subscription_id"),
            line_items.c.renews_subscription_id,
            serials.c.value.label("serial"),
        )
        .select_from(orders)
        .join(order_lines, order_lines.c.order_id == orders.c.id)
        .join(products, products.c.id == order_lines.c.product_id)
        .outerjoin(line_items, line_items.c.order_line_id == order_lines.c.id)
        .outerjoin(subscriptions, subscriptions.c.line_item_id == line_items.c.id)
        .outerjoin(
            serial_assignments,
            and_(
                serial_assignments.c.line_item_id == line_items.c.id,
                or_(
                    serial_assignments.c.revoked_at.is_(None),
                    serial_assignments.c.revoked_at == orders.c.cancelled_at,
                ),
            ),
        )
        .outerjoin(serials, serials.c.id == serial_assignments.c.serial_id)
        .order_by(
            order_lines.c.position,
            order_lines.c.id,
            line_items.c.position,
            line_items.c.id,
            serial_assignments.c.serial_id,
        )
    )


# an order row already read (the back office's order page)
_ORDER_CONTENTS = Prepared(_contents().where(orders.c.id == bindparam("order_id")))
# getOrderData and getDownloadInfo: the caller's order (tenancy's condition) and its contents, in one
# statement: on PostgreSQL one round trip fewer
_ORDER_COLUMNS = (
    orders.c.id.label("order_id"),
    orders.c.partner_order_number,
    orders.c.status,
    orders.c.order_date,
    orders.c.download_end_date,
)
_CALLERS_ORDER_CONTENTS = Prepared(_contents(*_ORDER_COLUMNS).where(CALLERS_ORDER))
_ORDER_FILES = Prepared(
    select(product_files)
    .where(
        product_files.c.product_id.in_(
            select(order_lines.c.product_id).where(order_lines.c.order_id == bindparam("order_id"))
        )
    )
    .order_by(product_files.c.position)
)


@dataclass(frozen=True)
class _ViewLine:
    """What the reply shows of an order line, read back or just written."""

    line_id: int
    product_id: int
    product_ref: int
    product_type: str
    delivery_mode: str
    download_token: str
    remark: str
    items: list[LineItemView]


def _callers_order_view(conn: Connection, ctx: Context, caller: Caller, pon: str, with_stats: bool) -> OrderView:
    """The reply for the caller's order `pon` (1060 when there is none), its row and contents read in
    one statement.

    Its statements need not share one snapshot: the lines, items and serials are written with the
    order, in its transaction, and read with its row (the serials revoked with the order are picked
    against the cancellation instant that row holds; a support serial replacement is one transaction
    too); the files and the download counters are each as of their own statement."""
    rows = _CALLERS_ORDER_CONTENTS.all(conn, **order_values(caller, pon))
    if not rows:
        raise Refusal(codes.ORDER_NOT_FOUND)
    order = rows[0]
    contents = (row[len(_ORDER_COLUMNS) :] for row in rows)
    return _read_view(conn, ctx, order.order_id, order, contents, with_stats)


def _order_view(conn: Connection, ctx: Context, order: Row, with_stats: bool = False) -> OrderView:
    """The reply for an order row the caller has already read (tenancy.order_of)."""
    return _read_view(conn, ctx, order.id, order, _ORDER_CONTENTS.all(conn, order_id=order.id), with_stats)


def _read_view(
    conn: Connection, ctx: Context, order_id: int, order: Any, contents: Iterable[Any], with_stats: bool
) -> OrderView:
    """The reply from the order's row (its number, status and dates) and its contents' rows; the files
    and, with `with_stats`, the download counters read here."""
    lines: dict[int, _ViewLine] = {}
    items: dict[int, LineItemView] = {}
    for (
        line_id,
        product_id,
        product_ref,
        product_type,
        delivery_mode,
        download_token,
        remark,
        item_id,
        subscription_id,
        renews_subscription_id,
        serial,
    ) in contents:
        line = lines.get(line_id)
        if line is None:
            line = lines[line_id] = _ViewLine(
                line_id, product_id, product_ref, product_type, delivery_mode, download_token, remark, []
            )
        if item_id is None:
            continue
        item = items.get(item_id)
        if item is None:
            # a renewal order's item holds a new term of the subscription it renews
            item = items[item_id] = LineItemView(
                serials=[],
                subscription_id=subscription_id if subscription_id is not None else renews_subscription_id,
            )
            line.items.append(item)
        if serial is not None:
            item.serials.append(serial)
    return _view(
        ctx,
        partner_order_number=order.partner_order_number,
        order_id=order_id,
        status=order.status,
        order_date=order.order_date,
        download_end_date=order.download_end_date,
        lines=list(lines.values()),
        files=_order_files(conn, ctx, order_id, lines.values()),
        stats=downloads.stats_for_order(conn, order_id) if with_stats else {},
    )


# The files of the products of an order, by the products (db/kept.py): a product's files change
# when a file is attached or a catalogue imported, and getOrderData read them in a round trip of its own.
_KEPT_FILES: KeptRows[list[Any]] = KeptRows()


def _order_files(conn: Connection, ctx: Context, order_id: int, lines: Iterable[_ViewLine]) -> list[Any]:
    """The files of the order's products (its lines'), kept RESELL_CACHE_SECONDS."""
    products = tuple(sorted({line.product_id for line in lines}))
    read = partial(_ORDER_FILES.all, conn, order_id=order_id)  # the files of exactly those products
    return _KEPT_FILES.get(ctx.db, products, ctx.settings.cache_seconds, read)[0]


def forget_product_files(db: Database) -> None:
    """Call after committing a change to products' files: this process's next replies read them again."""
    _KEPT_FILES.forget(db)


def _written_view(ctx: Context, written: order_writer.WrittenOrder, files: list[_File]) -> OrderView:
    """createOrder's reply, from what it just wrote and the products' files read in its turn, built after the commit."""
    order = written.order
    return _view(
        ctx,
        partner_order_number=order.partner_order_number,
        order_id=written.order_id,
        status="active",
        order_date=order.order_date.astimezone(dt.UTC),
        download_end_date=order.download_end_date,
        lines=[
            _ViewLine(
                w.line_id,
                w.line.product.id,
                w.line.product.ref,
                w.line.product.type,
                w.line.product.delivery_mode,
                w.download_token,
                w.remark,
                [LineItemView(serials=item.serials, subscription_id=item.subscription_id) for item in w.items],
            )
            for w in written.lines
        ],
        files=files,
        stats={},
    )


def _view(
    ctx: Context,
    *,
    partner_order_number: str,
    order_id: int,
    status: str,
    order_date: dt.datetime,
    download_end_date: dt.date,
    lines: list[_ViewLine],
    files: list[Any],
    stats: dict[Any, Any],
) -> OrderView:
    by_product = defaultdict(list)
    for f in files:
        by_product[f.product_id].append(f)
    base = ctx.settings.base_url
    key = ctx.settings.effective_download_key
    no_stats = downloads.NO_STATS
    every_product_has_files = all(by_product[line.product_id] for line in lines if line.product_type != "option")
    return OrderView(
        partner_order_number=partner_order_number,
        order_number=order_id,
        status=status,
        order_date=order_date,
        download_end_date=download_end_date,
        lines=[
            OrderLineView(
                product_ref=line.product_ref,
                line_items=line.items,
                files=[
                    FileView(
                        file_id=f.id,
                        label=f.label,
                        type=f.type,
                        size=f.size,
                        group=f.group,
                        url=base + download_path(key, line.download_token, f.id),
                        date_first_download=stats.get((line.line_id, f.id), no_stats).first_download_at,
                        date_last_download=stats.get((line.line_id, f.id), no_stats).last_download_at,
                        count_start_download=stats.get((line.line_id, f.id), no_stats).starts,
                        count_complete_download=stats.get((line.line_id, f.id), no_stats).completes,
                    )
                    for f in by_product[line.product_id]
                ],
                date_end_download=download_end_date,
                digital_locker_link=downloads.locker_link(ctx.settings, order_id),
                remark=line.remark,
                delivery_mode=line.delivery_mode,
            )
            for line in lines
        ],
        download_manager=downloads.download_manager(ctx.settings, order_id) if every_product_has_files else None,
    )


def _refuse_a_duplicate(conn: Connection, caller: Caller, request: OrderRequest) -> None:
    """1010 when the caller already has an order with this partnerOrderNumber."""
    if order_of(conn, caller, request.partner_order_number) is not None:
        raise Refusal(codes.ORDER_ALREADY_CREATED) from None  # not the IntegrityError that led here


def _refuse_on_purpose(operation: str, pon: str) -> None:
    """The sandbox's magic values (resell.domain.sandbox): a refusal the merchant asked for."""
    refusal = sandbox.magic_refusal(operation, pon)
    if refusal is not None:
        raise refusal


def _require_order(conn: Connection, ctx: Context, caller: Caller, pon: str, lock: bool = False):  # type: ignore[no-untyped-def]
    order = order_of(conn, caller, pon, lock=lock)
    if order is None:
        raise Refusal(codes.ORDER_NOT_FOUND)
    return order


def get_order(ctx: Context, caller: Caller, raw_partner_order_number: object) -> OrderView:
    """The order's reply, read without one snapshot (`_callers_order_view` says why it needs none)."""
    pon = partner_order_number(raw_partner_order_number, missing=codes.ORDER_NUMBER_MISSING)
    with ctx.db.read(snapshot=False) as conn:
        return _callers_order_view(conn, ctx, caller, pon, with_stats=False)


def download_info(ctx: Context, caller: Caller, raw_partner_order_number: object) -> OrderView:
    """The order's files with their download counters (counted by the download endpoint)."""
    pon = partner_order_number(raw_partner_order_number, missing=codes.ORDER_NUMBER_MISSING)
    with ctx.db.read(snapshot=False) as conn:
        return _callers_order_view(conn, ctx, caller, pon, with_stats=True)


def download_view(conn: Connection, ctx: Context, order: Row) -> OrderView:
    """getDownloadInfo's view of an order row already read on `conn`: the back office's order page
    reads it with the rest of the page, in the same transaction."""
    return _order_view(conn, ctx, order, with_stats=True)


# ---------------------------------------------------------------- changing an order


def cancel_order(
    ctx: Context,
    caller: Caller,
    raw_partner_order_number: object,
    raw_reason: object,
    comment: object,
    actor: str | None = None,
) -> CancelResult:
    """Revoke the licences at once, stop the downloads, terminate subscriptions, tell the publishers.
    `actor` is who the audit records: the merchant itself unless the operator cancels for it."""
    reason = reason_code(raw_reason)
    pon = partner_order_number(raw_partner_order_number, missing=codes.CANCEL_ORDER_NUMBER_MISSING)
    now = ctx.now()
    with ctx.db.write() as conn:
        order = _require_order(conn, ctx, caller, pon, lock=True)
        if order.status == "cancelled":
            raise Refusal(codes.ORDER_ALREADY_CANCELLED)
        if order.test:
            _refuse_on_purpose(sandbox.CANCEL_ORDER, pon)
        if now > order.created_at + dt.timedelta(days=caller.cancel_period_days):
            raise Refusal(codes.CANCEL_PERIOD_EXPIRED)
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
        if serial_ids and not order.test:  # a TEST- serial keeps its status: it never was stock
            conn.execute(update(serials).where(serials.c.id.in_(serial_ids)).values(status="revoked"))
            conn.execute(
                update(serial_assignments).where(serial_assignments.c.serial_id.in_(serial_ids)).values(revoked_at=now)
            )
        actor = actor or f"merchant:{caller.realm}"
        delivery.on_order_cancelled(conn, now, actor, order.id)  # a backup DVD not yet shipped stays home
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
                **sandbox.test_field(order.test),
            },
        )
        by_publisher = defaultdict(list)
        for r in revoked:
            by_publisher[r.publisher_id].append({"productRef": r.ref, "serial": r.value})
        if by_publisher and not order.test:  # publishers never hear of test orders
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
    ctx: Context, caller: Caller, raw_partner_order_number: object, value: object, actor: str | None = None
) -> DownloadTimeResult:
    """`value` is the new end date (YYYY-MM-DD) or an ISO 8601 period added to the current one.
    `actor` is who the audit records: the merchant itself unless the operator extends for it."""
    pon = partner_order_number(raw_partner_order_number, missing=codes.ORDER_NUMBER_MISSING)
    if is_blank(value):
        raise Refusal(codes.DOWNLOAD_TIME_MISSING)
    now = ctx.now()
    with ctx.db.write() as conn:
        order = _require_order(conn, ctx, caller, pon, lock=True)
        if order.status == "cancelled":
            raise Refusal(codes.ORDER_ALREADY_CANCELLED)
        if order.test:
            _refuse_on_purpose(sandbox.UPDATE_DOWNLOAD_TIME, pon)
        text = str(value).strip() if isinstance(value, str) else None
        try:
            new_end = parse_date(text) if text and "-" in text else add_period(order.download_end_date, text or "")
        except (ValueError, OverflowError):
            raise Refusal(codes.DOWNLOAD_TIME_NOT_VALID) from None
        if new_end < order.created_at.date() or new_end > LAST_END_DATE:
            raise Refusal(codes.DOWNLOAD_TIME_NOT_VALID)
        conn.execute(update(orders).where(orders.c.id == order.id).values(download_end_date=new_end))
        audit(
            conn,
            now,
            actor or f"merchant:{caller.realm}",
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
                **sandbox.test_field(order.test),
            },
        )
    return DownloadTimeResult(pon, new_end)


def submit_order(ctx: Context, caller: Caller, body: object) -> OrderView:
    """createOrder from the decoded request document, as every protocol receives it."""
    from resell.domain.order_request import parse_order_request

    limits = ctx.settings
    request = parse_order_request(body, max_lines=limits.order_max_lines, max_units=limits.order_max_units)
    return create_order(ctx, caller, request)
