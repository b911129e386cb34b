"""Subscriptions: their status, cancelling them, and renewing them (by the merchant, or by the worker
when a term ends). One transaction per use case, as everywhere.

A subscription keeps its id for life; its row holds the current term (`generation`, `expires_at`).
A renewal, in one transaction: a new order `<partnerOrderNumber>-<generation>` of the same merchant
(parent_order_id: the order that bought the subscription), written by createOrder's own writer
(order_writer.insert_order: a new serial from the pool or the publisher's key generator, the
delivery email), the next term back to back with the last one, and `generation` + 1. Keys from a
generator are fetched before that transaction (plan -> fetch keys -> write, as createOrder).

States (contract 4.3) and what moves them:

    ACTIVE ──term ends──> renewed (ACTIVE, generation + 1)      ── no stock ──> RENEWAL_PENDING
    RENEWAL_PENDING ──retry succeeds──> ACTIVE;  after RENEWALS.max_attempts failures ──> EXPIRED
    ACTIVE / RENEWAL_PENDING ──cancelSubscription──> CANCELLED ──term ends──> EXPIRED
    any but EXPIRED ──cancelOrder (of its order or of a renewal order)──> TERMINATED

`next_change_at` is when the worker next looks at it (the term's end, or the next retry); null
once nothing more can happen. Workers claim due rows with FOR UPDATE SKIP LOCKED on PostgreSQL
(BEGIN IMMEDIATE on SQLite), and the renewal's own order number is unique per merchant: a
subscription is never renewed twice for the same term, however many workers run.

Time: the subscriptions of a sandbox catalogue that has a test clock live on the clock's time
(resell.services.sandbox_clock): the wall-clock pass leaves them alone, and advancing the clock runs
the same pass for that catalogue only, at each moment the clock passes (resell.services.test_clocks).
A pass's `now` dates the subscriptions and the renewal orders; the audit rows and the outbox events
are written at the wall time (`_Work.wall`), so that their delivery does not wait for a simulated date.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Row, Select, bindparam, exc, select, update

from resell.db.locking import for_update
from resell.db.tables import (
    audit_events,
    line_items,
    order_lines,
    orders,
    product_prices,
    products,
    subscriptions,
)
from resell.domain import codes
from resell.domain.codes import Refusal
from resell.domain.periods import parse_period
from resell.domain.request_fields import partner_order_number, positive_int
from resell.domain.retry import RENEWALS
from resell.domain.sandbox import test_field
from resell.logs import get_logger
from resell.services import keygen, order_writer, sandbox_clock
from resell.services.audit_log import audit, audit_many
from resell.services.context import Caller, Context
from resell.services.outbox import enqueue, enqueue_many
from resell.services.tenancy import subscription_of

log = get_logger("resell.subscriptions")

ACTIVE = "ACTIVE"
CANCELLED = "CANCELLED"
TERMINATED = "TERMINATED"
EXPIRED = "EXPIRED"
RENEWAL_PENDING = "RENEWAL_PENDING"
DUE_STATES = (ACTIVE, RENEWAL_PENDING, CANCELLED)  # the states the worker acts on when next_change_at passes

BATCH = 100
MAX_ORDER_NUMBER = 100  # orders.partner_order_number's length
# The audit log's actor for what the worker does: which machine and process did it.
WORKER = f"worker:renewals@{socket.gethostname()}:{os.getpid()}"[:120]


@dataclass(frozen=True)
class SubscriptionView:
    partner_order_number: str
    subscription_id: int
    product_ref: int
    period: str
    generation: int
    status: str
    created_at: dt.datetime
    updated_at: dt.datetime
    expires_at: dt.datetime
    next_change_at: dt.datetime | None
    currency: str
    amount: Decimal | None


@dataclass(frozen=True)
class SubscriptionChange:
    """cancelSubscription's and renewSubscription's reply: the order it concerns and the subscription."""

    partner_order_number: str
    subscription_id: int
    order_number: int


@dataclass
class RenewalPass:
    renewed: int = 0
    expired: int = 0
    terminated: int = 0
    failed: int = 0
    renewal_orders: list[str] = field(default_factory=list)
    deferred: int = 0  # due, but their keys were not planned (a concurrent change): for the next pass

    @property
    def total(self) -> int:
        return self.renewed + self.expired + self.terminated + self.failed


def _identify(raw_pon: object, raw_subscription_id: object) -> tuple[str, int]:
    pon = partner_order_number(raw_pon, missing=codes.ORDER_NUMBER_MISSING)
    subscription_id = positive_int(
        raw_subscription_id, missing=codes.SUBSCRIPTION_ID_MISSING, invalid=codes.SUBSCRIPTION_ID_NOT_VALID
    )
    return pon, subscription_id


def _require(conn: Connection, ctx: Context, caller: Caller, pon: str, subscription_id: int, lock: bool = False):  # type: ignore[no-untyped-def]
    found = subscription_of(conn, caller, pon, subscription_id, lock=lock)
    if found is None:
        raise Refusal(codes.SUBSCRIPTION_NOT_FOUND)  # another merchant's subscription is "not found" too
    return found


def _stamp(moment: dt.datetime | None) -> str | None:
    """ISO 8601 UTC, as the replies write timestamps: `2027-11-28T10:00:00Z`."""
    return None if moment is None else moment.astimezone(dt.UTC).replace(microsecond=0).isoformat()[:-6] + "Z"


def _event(kind: str, conn: Connection, at: dt.datetime, root: Row, sub: Any, **extra: Any) -> None:
    enqueue(
        conn,
        at,
        kind,
        {
            "merchantId": root.merchant_id,
            "subscriptionId": sub.id,
            "partnerOrderNumber": root.partner_order_number,
            "orderNumber": root.id,
            "productRef": extra.pop("productRef", None),
            **extra,
            **test_field(root.test),
        },
    )


def _product_ref(conn: Connection, product_id: int) -> int:
    return conn.execute(select(products.c.ref).where(products.c.id == product_id)).scalar_one()


# ---------------------------------------------------------------- the merchant's operations


def get_status(ctx: Context, caller: Caller, raw_pon: object, raw_subscription_id: object) -> SubscriptionView:
    pon, subscription_id = _identify(raw_pon, raw_subscription_id)
    with ctx.db.read() as conn:
        order, sub = _require(conn, ctx, caller, pon, subscription_id)
        return SubscriptionView(
            partner_order_number=order.partner_order_number,
            subscription_id=sub.id,
            product_ref=_product_ref(conn, sub.product_id),
            period=sub.period,
            generation=sub.generation,
            status=sub.status,
            created_at=sub.created_at,
            updated_at=sub.updated_at,
            expires_at=sub.expires_at,
            next_change_at=sub.next_change_at,
            currency=sub.currency,
            amount=sub.amount,
        )


def cancel_subscription(
    ctx: Context, caller: Caller, raw_pon: object, raw_subscription_id: object
) -> SubscriptionChange:
    """Stop renewing: the order stands and the licence stays valid until the term's end, then EXPIRED."""
    pon, subscription_id = _identify(raw_pon, raw_subscription_id)
    wall = ctx.now()
    with ctx.db.write() as conn:
        order, sub = _require(conn, ctx, caller, pon, subscription_id, lock=True)
        if sub.status not in (ACTIVE, RENEWAL_PENDING):
            raise Refusal(codes.SUBSCRIPTION_ENDED)
        now = sandbox_clock.time_of(conn, order.catalog_id, wall)
        next_change = max(sub.expires_at, now)
        conn.execute(
            update(subscriptions)
            .where(subscriptions.c.id == sub.id)
            .values(status=CANCELLED, updated_at=now, next_change_at=next_change)
        )
        audit(
            conn,
            wall,
            f"merchant:{caller.realm}",
            "subscription",
            sub.id,
            "cancelled",
            before={"status": sub.status},
            after={"status": CANCELLED, "expiresAt": _stamp(next_change)},
        )
        root = _root_order(conn, sub)
        _event(
            "subscription.cancelled",
            conn,
            wall,
            root,
            sub,
            productRef=_product_ref(conn, sub.product_id),
            generation=sub.generation,
            expirationDatetime=_stamp(next_change),
        )
    return SubscriptionChange(order.partner_order_number, sub.id, order.id)


def renew_subscription(
    ctx: Context, caller: Caller, raw_pon: object, raw_subscription_id: object
) -> SubscriptionChange:
    """Renew now, at the merchant's request: the next term (back to back with the current one) and its
    order, exactly as the worker would at the term's end; 1044 when there is no serial for it, 1051
    when the publisher's key generator does not give one."""
    pon, subscription_id = _identify(raw_pon, raw_subscription_id)
    with ctx.db.read() as conn:  # the plan: which keys to ask the generators for
        _order, sub = _require(conn, ctx, caller, pon, subscription_id)
        if sub.status not in (ACTIVE, RENEWAL_PENDING):
            raise Refusal(codes.SUBSCRIPTION_ENDED)
        planned = _key_requests(conn, [sub])
    keys = {group: keygen.fetch(ctx, requests) for group, requests in planned.items()}  # or LICENCES_NOT_AVAILABLE
    wall = ctx.now()
    try:
        with ctx.db.write() as conn:
            # the order that bought it first, then the subscription (resell/db/locking.py)
            _order, sub = _require(conn, ctx, caller, pon, subscription_id)
            conn.execute(for_update(select(orders.c.id).where(orders.c.id == sub.order_id), key_share=True))
            order, sub = _require(conn, ctx, caller, pon, subscription_id, lock=True)
            if sub.status not in (ACTIVE, RENEWAL_PENDING):
                raise Refusal(codes.SUBSCRIPTION_ENDED)
            now = sandbox_clock.time_of(conn, order.catalog_id, wall)
            work = _Work.load(conn, [sub], now, f"merchant:{caller.realm}", keys, wall=wall)
            new_pon, new_id = _renew_retrying(conn, ctx, work, [sub])
            work.flush(conn)
    finally:
        _release(ctx, keys)
    return SubscriptionChange(new_pon, sub.id, new_id)


# ---------------------------------------------------------------- renewing

_INSERT_AUDIT = audit_events.insert()
_RENEWED = (
    update(subscriptions)
    .where(subscriptions.c.id == bindparam("sid"), subscriptions.c.generation == bindparam("was"))
    .values(
        generation=bindparam("generation"),
        status=ACTIVE,
        updated_at=bindparam("now"),
        expires_at=bindparam("expires"),
        next_change_at=bindparam("expires"),
        renewal_attempts=0,
        last_renewal_error=None,
    )
)


@dataclass
class _Work:
    """One renewal transaction: what it read once for all its subscriptions, and the audit rows and
    events it writes in bulk at the end (a failed renewal's own rows are dropped with its savepoint).
    `now` is the subscriptions' time (a test clock's, in a clocked sandbox), `wall` the time the audit
    rows and the events are written at."""

    now: dt.datetime
    actor: str
    roots: dict[int, Row]  # order id -> the order that bought the subscription
    products: dict[int, Row]
    origins: dict[int, Row]  # line item id -> its order line, in the order that bought it
    # (product id, currency) -> the catalogue's price now: a renewal order records it, as createOrder does
    prices: dict[tuple[int, str], Row]
    taken: set[tuple[int, str]]  # (merchant id, partnerOrderNumber) known to exist
    keys: dict[tuple[int, int], keygen.Keys]  # (order id, generation) -> keys generated for its renewal
    key_failures: dict[tuple[int, int], Refusal] = field(default_factory=dict)  # when the generator failed
    audits: list[dict[str, Any]] = field(default_factory=list)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    wall: dt.datetime | None = None  # None: `now`

    @classmethod
    def load(
        cls,
        conn: Connection,
        subs: list[Any],
        now: dt.datetime,
        actor: str,
        keys: Mapping[tuple[int, int], keygen.Keys | Refusal] | None = None,
        wall: dt.datetime | None = None,
    ) -> _Work:
        roots = {r.id: r for r in conn.execute(select(orders).where(orders.c.id.in_({s.order_id for s in subs})))}
        product_rows = conn.execute(
            select(*order_writer.PRODUCT_COLUMNS)
            .select_from(order_writer.PRODUCTS_WITH_PUBLISHER)
            .where(products.c.id.in_({s.product_id for s in subs}))
        )
        origins = conn.execute(
            select(line_items.c.id.label("item_id"), order_lines)
            .join(order_lines, order_lines.c.id == line_items.c.order_line_id)
            .where(line_items.c.id.in_([s.line_item_id for s in subs]))
        )
        prices = conn.execute(
            select(product_prices).where(
                product_prices.c.product_id.in_({s.product_id for s in subs}),
                product_prices.c.currency.in_({r.currency for r in roots.values()}),
            )
        )
        first_choice = {f"{roots[s.order_id].partner_order_number}-{s.generation + 1}" for s in subs}
        taken = conn.execute(
            select(orders.c.merchant_id, orders.c.partner_order_number).where(
                orders.c.merchant_id.in_({r.merchant_id for r in roots.values()}),
                orders.c.partner_order_number.in_(first_choice),
            )
        )
        return cls(
            now=now,
            actor=actor,
            roots=roots,
            products={p.id: p for p in product_rows},
            origins={o.item_id: o for o in origins},
            prices={(p.product_id, p.currency): p for p in prices},
            taken={(t.merchant_id, t.partner_order_number) for t in taken},
            keys={group: k for group, k in (keys or {}).items() if isinstance(k, keygen.Keys)},
            key_failures={group: k for group, k in (keys or {}).items() if isinstance(k, Refusal)},
            wall=wall,
        )

    @property
    def written_at(self) -> dt.datetime:
        """When the audit rows and the events are written: the wall time."""
        return self.now if self.wall is None else self.wall

    def audit(self, entity: str, entity_id: object, action: str, before: Any = None, after: Any = None) -> None:
        self.audits.append(
            {
                "at": self.written_at,
                "actor": self.actor,
                "entity": entity,
                "entity_id": str(entity_id),
                "action": action,
                "before": before,
                "after": after,
            }
        )

    def event(self, kind: str, sub: Any, **data: Any) -> None:
        root = self.roots[sub.order_id]
        self.events.append(
            (
                kind,
                {
                    "merchantId": root.merchant_id,
                    "subscriptionId": sub.id,
                    "partnerOrderNumber": root.partner_order_number,
                    "orderNumber": root.id,
                    "productRef": self.products[sub.product_id].ref,
                    **data,
                    **test_field(root.test),
                },
            )
        )

    def flush(self, conn: Connection) -> None:
        if self.audits:
            conn.execute(_INSERT_AUDIT, self.audits)
        enqueue_many(conn, self.written_at, self.events)
        self.audits, self.events = [], []


def _root_order(conn: Connection, sub: Any) -> Row:
    return conn.execute(select(orders).where(orders.c.id == sub.order_id)).one()


def _free_number(conn: Connection, work: _Work, root: Row, generation: int) -> str:
    """`<partnerOrderNumber>-<generation>`; should the merchant already use it (or another renewal of
    the same generation, when the subscriptions of one order diverged), `-2`, `-3` ... after it."""
    base = f"{root.partner_order_number}-{generation}"
    if (root.merchant_id, base) not in work.taken and len(base) <= MAX_ORDER_NUMBER:
        return base
    candidates = [f"{base}-{k}" for k in range(2, 100)]
    taken = set(
        conn.execute(
            select(orders.c.partner_order_number).where(
                orders.c.merchant_id == root.merchant_id, orders.c.partner_order_number.in_(candidates)
            )
        ).scalars()
    )
    for candidate in candidates:
        if candidate not in taken and len(candidate) <= MAX_ORDER_NUMBER:
            return candidate
    raise Refusal(codes.INTERNAL_ERROR, f"no order number is free for the renewal of {root.partner_order_number}")


def _renew(conn: Connection, ctx: Context, work: _Work, group: list[Any]) -> tuple[str, int]:
    """Renew subscriptions of one order, all at the same generation, into one new order written by
    order_writer.insert_order, in the caller's transaction: all of them or none (a Refusal: 1044 when
    the pool is short, as in createOrder; 1051 when the keys generated for it no longer fit)."""
    now, root = work.now, work.roots[group[0].order_id]
    generation = group[0].generation + 1
    terms = {}
    for sub in group:
        terms[sub.id] = sub.expires_at + parse_period(sub.period)
        if terms[sub.id] <= sub.expires_at:
            raise Refusal(codes.INTERNAL_ERROR, f"subscription period {sub.period!r} does not move time forward")
    new_pon = _free_number(conn, work, root, generation)
    members = sorted(group, key=lambda sub: sub.id)
    by_line: dict[int, list[Any]] = defaultdict(list)
    for sub in members:
        by_line[work.origins[sub.line_item_id].id].append(sub)
    lines = []
    for position, subs_of_line in enumerate(
        sorted(by_line.values(), key=lambda subs: work.origins[subs[0].line_item_id].position)
    ):
        line = work.origins[subs_of_line[0].line_item_id]
        count = len(subs_of_line)
        price = work.prices.get((line.product_id, root.currency))
        lines.append(
            order_writer.NewLine(
                position=position,
                product=work.products[line.product_id],
                quantity=count,
                vat_rate=line.vat_rate,
                amount_duty_free=_share(line.amount_duty_free, line.quantity, count),
                amount_total=_share(line.amount_total, line.quantity, count),
                end_user_email=line.end_user_email,
                renews=[sub.id for sub in subs_of_line],
                retailer_unit_price=price.amount_duty_free if price is not None else None,
                retailer_vat_rate=price.vat_rate if price is not None else None,
            )
        )
    invoice = (root.customer or {}).get("locationInvoice") or {}
    new_order = order_writer.NewOrder(
        merchant_id=root.merchant_id,
        catalog_id=root.catalog_id,
        partner_order_number=new_pon,
        order_date=now,
        currency=root.currency,
        customer_email=root.customer_email,
        customer_language=root.customer_language,
        customer_partner_id=root.customer_partner_id,
        customer=root.customer,
        payment=None,  # the merchant takes the renewal's payment itself
        marketing_program_id=root.marketing_program_id,
        affiliate_id=root.affiliate_id,
        download_end_date=now.date() + dt.timedelta(days=ctx.settings.download_days),
        parent_order_id=root.id,
        generation=generation,
        test=root.test,  # a test subscription renews into test orders
        renewed_subscription_id=members[0].id,
        first_name=invoice.get("firstName"),
        last_name=invoice.get("lastName"),
        lines=lines,
        actor=work.actor,
        audit={
            "renewalOf": root.partner_order_number,
            "subscriptions": [sub.id for sub in members],
            "generation": generation,
        },
    )
    keys = work.keys.get((root.id, group[0].generation), keygen.NO_KEYS)
    order_id = order_writer.insert_order(conn, new_order, keys, work.written_at).order_id
    for sub in members:
        moved = conn.execute(
            _RENEWED,
            {"sid": sub.id, "was": sub.generation, "generation": generation, "now": now, "expires": terms[sub.id]},
        )
        if moved.rowcount != 1:  # cannot happen under the row locks; the unique order number is the backstop
            raise RuntimeError(f"subscription {sub.id} changed under its renewal")
    work.taken.add((root.merchant_id, new_pon))
    for sub in members:
        work.audit(
            "subscription",
            sub.id,
            "renewed",
            before={"status": sub.status, "generation": sub.generation, "expiresAt": _stamp(sub.expires_at)},
            after={
                "status": ACTIVE,
                "generation": generation,
                "expiresAt": _stamp(terms[sub.id]),
                "orderNumber": order_id,
                "partnerOrderNumber": new_pon,
            },
        )
        work.event(
            "subscription.renewed",
            sub,
            generation=generation,
            expirationDatetime=_stamp(terms[sub.id]),
            renewalPartnerOrderNumber=new_pon,
            renewalOrderNumber=order_id,
        )
    return new_pon, order_id


def _key_requests(conn: Connection, subs: list[Any]) -> dict[tuple[int, int], list[keygen.KeyRequest]]:
    """The plan of a renewal: for each (order, generation) group of subscriptions about to renew whose
    products use a key generator, what to ask the generators for (one key per subscription)."""
    renewing = [sub for sub in subs if sub.status != CANCELLED]
    if renewing:  # test subscriptions renew with TEST- serials: no generator is asked
        tests = set(
            conn.execute(
                select(orders.c.id).where(orders.c.id.in_({sub.order_id for sub in renewing}), orders.c.test.is_(True))
            ).scalars()
        )
        renewing = [sub for sub in renewing if sub.order_id not in tests]
    if not renewing:
        return {}
    generator_products = {
        row.id: row
        for row in conn.execute(
            select(*order_writer.PRODUCT_COLUMNS)
            .select_from(order_writer.PRODUCTS_WITH_PUBLISHER)
            .where(
                products.c.id.in_({sub.product_id for sub in renewing}),
                products.c.serial_source == "generator",
            )
        )
    }
    groups: dict[tuple[int, int], list[tuple[Any, int]]] = defaultdict(list)
    for sub in renewing:
        if sub.product_id in generator_products:
            groups[(sub.order_id, sub.generation)].append((generator_products[sub.product_id], 1))
    return {group: keygen.requests_for(wanted) for group, wanted in groups.items()}


def _release(ctx: Context, keys: dict[tuple[int, int], Any]) -> None:
    """After the renewal transaction, whatever happened to it: the keys no renewal took go back."""
    for planned in keys.values():
        if isinstance(planned, keygen.Keys):
            keygen.release(ctx, planned)


def _renew_retrying(conn: Connection, ctx: Context, work: _Work, group: list[Any]) -> tuple[str, int]:
    """_renew in a savepoint, so that a failure leaves nothing behind. A unique-number clash means a
    concurrent renewal of the same order took the number between our look and our insert: try again
    with the next free one (at most 3 times)."""
    for attempt in range(3):
        marks = len(work.audits), len(work.events)
        try:
            with conn.begin_nested():
                return _renew(conn, ctx, work, group)
        except (Refusal, exc.IntegrityError) as failure:
            del work.audits[marks[0] :], work.events[marks[1] :]
            if isinstance(failure, Refusal) or attempt == 2:
                raise
            root = work.roots[group[0].order_id]
            work.taken.add((root.merchant_id, f"{root.partner_order_number}-{group[0].generation + 1}"))
    raise AssertionError("unreachable")


def _share(amount: Decimal | None, quantity: int, count: int) -> Decimal | None:
    """The part of a line's amount that `count` of its `quantity` units carry."""
    return None if amount is None else amount * count / max(quantity, 1)


def _set_state(conn: Connection, sub: Any, now: dt.datetime, **values: Any) -> None:
    conn.execute(update(subscriptions).where(subscriptions.c.id == sub.id).values(updated_at=now, **values))


def _expire(conn: Connection, work: _Work, sub: Any, reason: str, was: str) -> None:
    _set_state(conn, sub, work.now, status=EXPIRED, next_change_at=None)
    work.audit("subscription", sub.id, "expired", {"status": was}, {"status": EXPIRED, "reason": reason})
    work.event(
        "subscription.expired",
        sub,
        generation=sub.generation,
        expirationDatetime=_stamp(sub.expires_at),
        reason=reason,
    )


def _renewal_failed(conn: Connection, work: _Work, sub: Any, error: str) -> bool:
    """Record a failed attempt: RENEWAL_PENDING and a later retry, or EXPIRED when retries are used up.
    Reported (subscription.renewal_failed) on the first failure and when giving up. True if given up."""
    attempt = sub.renewal_attempts + 1
    wait = RENEWALS.next_delay(attempt)  # a renewal that fails (no stock, most often) is retried later
    final = wait is None
    retry_at = None if wait is None else work.now + wait
    _set_state(
        conn,
        sub,
        work.now,
        status=RENEWAL_PENDING,
        next_change_at=retry_at,
        renewal_attempts=attempt,
        last_renewal_error=error[:2000],
    )
    work.audit(
        "subscription",
        sub.id,
        "renewal_failed",
        {"status": sub.status, "attempts": sub.renewal_attempts},
        {"status": RENEWAL_PENDING, "attempts": attempt, "error": error, "nextAttemptAt": _stamp(retry_at)},
    )
    if attempt == 1 or final:
        work.event(
            "subscription.renewal_failed",
            sub,
            generation=sub.generation,
            attempts=attempt,
            error=error,
            nextAttemptAt=_stamp(retry_at),
            final=final,
        )
    if final:
        _expire(conn, work, sub, "renewal failed", RENEWAL_PENDING)
    return final


def _advance(conn: Connection, ctx: Context, work: _Work, group: list[Any], result: RenewalPass) -> None:
    """What happens to due subscriptions of one order and one generation, in the claiming transaction."""
    root = work.roots[group[0].order_id]
    if root.status == "cancelled":  # cancelOrder terminates at once; this only catches stragglers
        for sub in group:
            _set_state(conn, sub, work.now, status=TERMINATED, next_change_at=None)
            work.audit("subscription", sub.id, "terminated", {"status": sub.status}, {"status": TERMINATED})
            result.terminated += 1
        return
    if group[0].status == CANCELLED:  # cancelled ones come one by one: their term is over
        for sub in group:
            _expire(conn, work, sub, "cancelled", sub.status)
            result.expired += 1
        return
    group_key = (group[0].order_id, group[0].generation)
    needs_keys = (
        []
        if work.roots[group[0].order_id].test  # TEST- serials
        else keygen.requests_for((work.products[sub.product_id], 1) for sub in group)
    )
    if needs_keys and group_key not in work.keys and group_key not in work.key_failures:
        result.deferred += len(group)  # appeared after the plan: it is planned on the next pass
        return
    if (no_keys := work.key_failures.get(group_key)) is not None:
        error = no_keys.message_in("renewSubscription")
    else:
        try:
            new_pon, _order_id = _renew_retrying(conn, ctx, work, group)
        except Refusal as refusal:
            error = refusal.message_in("renewSubscription")
        except exc.IntegrityError as clash:
            error = f"could not record the renewal: {clash.orig}"
        else:
            result.renewed += len(group)
            result.renewal_orders.append(new_pon)
            return
    log.warning("renewal_failed", subscriptions=[s.id for s in group], order=root.id, error=error)
    for sub in group:
        if _renewal_failed(conn, work, sub, error):
            result.expired += 1
        result.failed += 1


def _hold_roots(conn: Connection, due: list[Any]) -> list[Any]:
    """Hold the orders that bought the subscriptions about to renew, FOR KEY SHARE, skipping
    those that a cancelOrder holds; their subscriptions wait for the next pass (a cancelled order's are
    TERMINATED by the cancel itself).

    A renewal inserts an order whose parent_order_id points at the first order, and that foreign key
    takes FOR KEY SHARE on it. cancelOrder locks the order FOR UPDATE and then updates its subscriptions;
    a renewal that had claimed those subscriptions and then waited for the order deadlocked with it (one
    of the two failed: the merchant's cancelOrder got a 500, or the worker's whole batch rolled back).
    Taking the order without waiting removes the cycle: the renewal never waits for a cancel, and a
    cancel that comes later waits for the renewal's commit."""
    renewing = {sub.order_id for sub in due if sub.status != CANCELLED}
    if not renewing:
        return due
    held = set(
        conn.execute(
            for_update(select(orders.c.id).where(orders.c.id.in_(renewing)), key_share=True, skip_locked=True)
        ).scalars()
    )
    return [sub for sub in due if sub.status == CANCELLED or sub.order_id in held]


def _on_time(catalog_id: int | None) -> Any:
    """Which subscriptions a pass looks at: those on the wall clock (None), or those of the catalogue
    `catalog_id`, whose test clock the pass runs on."""
    return sandbox_clock.on_wall_clock() if catalog_id is None else sandbox_clock.on_clock_of(catalog_id)


def _due(conn: Connection, now: dt.datetime, batch: int, claim: bool, catalog_id: int | None = None) -> list[Any]:
    """The next `batch` due subscriptions (on the wall clock, or of the clocked catalogue `catalog_id`),
    and their siblings due at the same time that the batch did not reach; `claim` (in a write
    transaction) locks them, FOR UPDATE SKIP LOCKED (resell/db/locking.py)."""

    def locked(query: Select) -> Select:  # type: ignore[type-arg]
        return for_update(query, skip_locked=True) if claim else query

    query = (
        select(subscriptions)
        .where(
            subscriptions.c.status.in_(DUE_STATES), subscriptions.c.next_change_at <= now, _on_time(catalog_id)
        )
        .order_by(subscriptions.c.next_change_at, subscriptions.c.id)
        .limit(batch)
    )
    due = list(conn.execute(locked(query)).all())
    claimed = {sub.id for sub in due}
    renewing_orders = {sub.order_id for sub in due if sub.status != CANCELLED}
    if renewing_orders:
        siblings = (
            select(subscriptions)
            .where(
                subscriptions.c.order_id.in_(renewing_orders),
                subscriptions.c.status.in_([ACTIVE, RENEWAL_PENDING]),
                subscriptions.c.next_change_at <= now,
                subscriptions.c.id.not_in(claimed),
            )
            .order_by(subscriptions.c.id)
        )
        due += conn.execute(locked(siblings)).all()
    return due


def _plan_keys(
    ctx: Context, now: dt.datetime, batch: int, catalog_id: int | None = None
) -> dict[tuple[int, int], keygen.Keys | Refusal]:
    """Before a batch's transaction, outside any: the keys its renewals need from the publishers'
    generators, per (order, generation) group; a generator's Refusal stands for that group's failure."""
    with ctx.db.read() as conn:
        planned = _key_requests(conn, _due(conn, now, batch, claim=False, catalog_id=catalog_id))
    keys: dict[tuple[int, int], keygen.Keys | Refusal] = {}
    for group, requests in planned.items():
        try:
            keys[group] = keygen.fetch(ctx, requests)
        except Refusal as refusal:
            keys[group] = refusal
    return keys


def renew_due(
    ctx: Context,
    limit: int = 10_000,
    batch: int = BATCH,
    *,
    at: dt.datetime | None = None,
    catalog_id: int | None = None,
    actor: str = WORKER,
) -> RenewalPass:
    """Renew, expire or retry every subscription whose next change is due (the worker's periodic job).

    By default: the subscriptions on the wall clock, due by `ctx.now()`. With `catalog_id` and `at`:
    those of that clocked sandbox catalogue, due by `at`, its test clock's moment
    (resell.services.test_clocks); the renewal orders are dated `at`.

    Each batch is planned (the keys of generator products are fetched, no transaction open), then
    written in one transaction. On PostgreSQL the due rows are claimed with FOR UPDATE SKIP LOCKED,
    so concurrent workers take disjoint batches; on SQLite BEGIN IMMEDIATE makes writers take turns,
    and the next one no longer sees as due what was just renewed. The subscriptions of one order that
    renew at the same time (same generation, due together) are renewed together, into one order.
    """
    result = RenewalPass()
    while result.total < limit:
        wall = ctx.now()
        now = wall if at is None else at
        size = min(batch, limit - result.total)
        keys = _plan_keys(ctx, now, size, catalog_id)
        before = result.total
        try:
            with ctx.db.write() as conn:
                due = _hold_roots(conn, _due(conn, now, size, claim=True, catalog_id=catalog_id))
                if not due:  # none due, or all being cancelled right now: the next pass sees what became of them
                    break
                groups: dict[tuple[Any, ...], list[Any]] = defaultdict(list)
                for sub in due:
                    key = (sub.order_id, sub.id) if sub.status == CANCELLED else (sub.order_id, sub.generation)
                    groups[key].append(sub)
                work = _Work.load(conn, due, now, actor, keys, wall=wall)
                for group in groups.values():
                    _advance(conn, ctx, work, group, result)
                work.flush(conn)
        finally:
            _release(ctx, keys)
        if result.total == before:  # only deferred renewals: they wait for the next pass
            break
    return result


# ---------------------------------------------------------------- when an order is cancelled


def terminate_for_cancelled_order(conn: Connection, now: dt.datetime, actor: str, order: Any) -> int:
    """cancelOrder's part: the subscriptions bought by the order, or renewed by it, are TERMINATED."""
    query = select(subscriptions.c.id, subscriptions.c.status).where(
        subscriptions.c.status.in_([ACTIVE, CANCELLED, RENEWAL_PENDING])
    )
    if order.parent_order_id is None:
        query = query.where(subscriptions.c.order_id == order.id)
    else:
        renewed = (
            select(line_items.c.renews_subscription_id)
            .join(order_lines, order_lines.c.id == line_items.c.order_line_id)
            .where(order_lines.c.order_id == order.id)
        )
        query = query.where(subscriptions.c.id.in_(renewed.scalar_subquery()))
    rows = conn.execute(query).all()
    if rows:
        conn.execute(
            update(subscriptions)
            .where(subscriptions.c.id.in_([r.id for r in rows]))
            .values(status=TERMINATED, updated_at=now, next_change_at=None)
        )
        audit_many(
            conn,
            now,
            actor,
            "subscription",
            "terminated",
            [(r.id, {"status": r.status}, {"status": TERMINATED, "orderNumber": order.id}) for r in rows],
        )
    return len(rows)
