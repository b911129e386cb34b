"""The outbox seen by the back office: every side effect (email, webhook, publisher callback, other
events) with its state, attempts and last error; going out again on demand.

A row's state follows from its columns, as the worker (resell.worker.dispatcher) leaves them:
- waiting: not delivered, no error yet (new, or its first attempt under way);
- retrying: not delivered, the last attempt failed (`last_error`), the next one at `available_at`
  by the kind's retry policy (resell.domain.retry);
- failed: closed with an error, given up (a permanent refusal, or the policy's attempts used up);
- delivered: closed without error (kinds nobody handles, such as `order.created` itself, are closed
  at once: their webhook rows carry them out).

`redeliver` never resets the closed row (its attempt count is the worker's claim token, and the row
is the record of what happened): emails and publisher callbacks are queued again as a new event with
the same payload (an email's Message-ID follows its event id, so it is a new message); a webhook
delivery goes through resell.services.webhooks.redeliver, with the same webhook-id.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, func, select

from resell.db.tables import OutboxOrder, order_lines, outbox, products, publishers
from resell.domain import retry
from resell.domain.webhooks import DELIVERY_KIND
from resell.services.audit_log import audit
from resell.services.context import Context

EMAIL = "mail.delivery"
ORDER_LIST = "mail.order_list"  # resell.services.order_list_mail: the list of an address's orders
PUBLISHER_CALLBACK = "publisher.serials_revoked"
STATES = ("waiting", "retrying", "failed", "delivered")
# what a kind is, for people; other kinds are "event"
CATEGORIES = {EMAIL: "email", ORDER_LIST: "email", DELIVERY_KIND: "webhook", PUBLISHER_CALLBACK: "publisher callback"}
POLICIES = {
    EMAIL: retry.EMAILS,
    ORDER_LIST: retry.EMAILS,
    DELIVERY_KIND: retry.WEBHOOKS,
    PUBLISHER_CALLBACK: retry.PUBLISHER_CALLBACKS,
}
REDELIVERABLE = (EMAIL, DELIVERY_KIND, PUBLISHER_CALLBACK)
PAGE = 50
MAX_PAGE = 500

ORDER_OF = OutboxOrder(outbox.c.payload)  # indexed: ix_outbox_order


class DeliveryError(ValueError):
    """No such outbox row, or one that cannot go out again (still pending, a kind nobody sends)."""


@dataclass(frozen=True)
class Delivery:
    id: int
    event_id: str
    kind: str
    category: str  # email | webhook | publisher callback | event
    state: str  # waiting | retrying | failed | delivered
    attempts: int
    max_attempts: int | None  # the kind's retry policy (None: a kind without a handler of its own)
    last_error: str | None
    created_at: dt.datetime
    next_attempt_at: dt.datetime | None  # None once closed
    delivered_at: dt.datetime | None  # when closed (delivered, or given up)
    order_number: int | None  # the order the payload names
    to: str | None  # an email's address, a webhook's endpoint id, a callback's publisher key
    webhook_id: str | None  # a webhook delivery: the event id receivers see


@dataclass(frozen=True)
class Page:
    rows: list[Delivery]
    next_after: int | None  # pass as `before` for the next (older) page; None: no more


def _state(delivered_at: Any, last_error: Any) -> str:
    if delivered_at is None:
        return "waiting" if last_error is None else "retrying"
    return "delivered" if last_error is None else "failed"


def state_filter(state: str) -> ColumnElement[bool]:
    """SQL: the rows in `state` (one of STATES). The rows not closed, and those with an error, are
    few: they are picked from the partial indexes ix_outbox_pending and ix_outbox_failed first."""
    pending = outbox.c.id.in_(select(outbox.c.id).where(outbox.c.delivered_at.is_(None)))
    erred = outbox.c.id.in_(select(outbox.c.id).where(outbox.c.last_error.isnot(None)))
    if state == "waiting":
        return and_(pending, outbox.c.last_error.is_(None))
    if state == "retrying":
        return and_(erred, outbox.c.delivered_at.is_(None))
    if state == "failed":
        return and_(erred, outbox.c.delivered_at.isnot(None))
    if state == "delivered":
        return and_(outbox.c.delivered_at.isnot(None), outbox.c.last_error.is_(None))
    raise DeliveryError(f"unknown state {state!r}: one of {', '.join(STATES)}")


def _to(kind: str, payload: dict[str, Any]) -> str | None:
    if kind == EMAIL:
        return payload.get("to")
    if kind == DELIVERY_KIND:
        return f"endpoint {payload.get('endpointId')}"
    if kind == PUBLISHER_CALLBACK:
        return payload.get("publisher")
    return None


def _row(r: Any) -> Delivery:
    payload = r.payload if isinstance(r.payload, dict) else {}
    policy = POLICIES.get(r.kind)
    order = r.order_number
    return Delivery(
        id=r.id,
        event_id=r.event_id,
        kind=r.kind,
        category=CATEGORIES.get(r.kind, "event"),
        state=_state(r.delivered_at, r.last_error),
        attempts=r.attempts,
        max_attempts=policy.max_attempts
        if policy
        else (retry.DEFAULT.max_attempts if r.kind in REDELIVERABLE else None),
        last_error=r.last_error,
        created_at=r.created_at,
        next_attempt_at=r.available_at if r.delivered_at is None else None,
        delivered_at=r.delivered_at,
        order_number=int(order) if order not in (None, "") and str(order).isdigit() else None,
        to=_to(r.kind, payload),
        webhook_id=payload.get("webhookId") if r.kind == DELIVERY_KIND else None,
    )


_COLUMNS = (
    outbox.c.id,
    outbox.c.event_id,
    outbox.c.kind,
    outbox.c.payload,
    outbox.c.created_at,
    outbox.c.available_at,
    outbox.c.attempts,
    outbox.c.last_error,
    outbox.c.delivered_at,
    ORDER_OF.label("order_number"),
)


def listing(
    ctx: Context,
    state: str | None = None,
    kinds: list[str] | None = None,
    order_number: int | None = None,
    before: int | None = None,
    limit: int = PAGE,
) -> Page:
    """Outbox rows newest first, filtered by state, kinds (outbox kinds: mail.delivery,
    webhook.deliver, publisher.serials_revoked, or event kinds) and order; keyset pages by id:
    `before` is the previous page's `next_after`."""
    limit = max(1, min(limit, MAX_PAGE))
    query = select(*_COLUMNS)
    if state is not None:
        query = query.where(state_filter(state))
    if kinds:
        query = query.where(outbox.c.kind.in_(kinds))
    if order_number is not None:
        query = query.where(ORDER_OF == str(order_number))
    if before is not None:
        query = query.where(outbox.c.id < before)
    with ctx.db.read() as conn:
        rows = conn.execute(query.order_by(outbox.c.id.desc()).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return Page([_row(r) for r in rows], rows[-1].id if more else None)


def for_order(ctx: Context, order_number: int) -> list[Delivery]:
    """The emails, webhooks and publisher callbacks of one order, oldest first (its order page)."""
    with ctx.db.read() as conn:
        rows = conn.execute(
            select(*_COLUMNS)
            .where(ORDER_OF == str(order_number), outbox.c.kind.in_(REDELIVERABLE))
            .order_by(outbox.c.id)
        ).all()
    return [_row(r) for r in rows]


def get(ctx: Context, outbox_id: int) -> Delivery:
    with ctx.db.read() as conn:
        row = conn.execute(select(*_COLUMNS).where(outbox.c.id == outbox_id)).first()
    if row is None:
        raise DeliveryError(f"no outbox row {outbox_id}")
    return _row(row)


def failed(ctx: Context, limit: int = 20, publisher_id: int | None = None) -> tuple[list[Delivery], int]:
    """The rows whose last attempt failed, retrying or given up, newest first; and how many there are.
    Reads the partial index ix_outbox_failed (rows with an error only)."""
    erred = outbox.c.last_error.isnot(None)
    with ctx.db.read() as conn:
        query = select(*_COLUMNS).where(erred)
        total_query = select(func.count()).select_from(outbox).where(erred)
        if publisher_id is not None:
            rows = conn.execute(query.order_by(outbox.c.id.desc())).all()
            key = conn.execute(select(publishers.c.key).where(publishers.c.id == publisher_id)).scalar()
            theirs = _order_numbers_of(conn, publisher_id, {r.order_number for r in rows if r.order_number})
            rows = [
                r
                for r in rows
                if (r.order_number in theirs)
                or (r.kind == PUBLISHER_CALLBACK and isinstance(r.payload, dict) and r.payload.get("publisher") == key)
            ]
            return [_row(r) for r in rows[:limit]], len(rows)
        rows = conn.execute(query.order_by(outbox.c.id.desc()).limit(limit)).all()
        total = int(conn.execute(total_query).scalar() or 0)
    return [_row(r) for r in rows], total


def _order_numbers_of(conn: Connection, publisher_id: int, numbers: set[str]) -> set[str]:
    """Those of `numbers` (orders, as text) with a line of this publisher's products."""
    ids = [int(n) for n in numbers if str(n).isdigit()]
    if not ids:
        return set()
    found = conn.execute(
        select(order_lines.c.order_id)
        .join(products, products.c.id == order_lines.c.product_id)
        .where(order_lines.c.order_id.in_(ids), products.c.publisher_id == publisher_id)
        .distinct()
    ).scalars()
    return {str(i) for i in found}


def redeliver(ctx: Context, outbox_id: int, actor: str = "operator") -> int:
    """Make a failed or delivered email, webhook delivery or publisher callback go out again; returns
    how many outbox rows were queued (1). A row still waiting or retrying is refused: the worker has it in hand.

    A webhook delivery is resent by resell.services.webhooks.redeliver to its endpoint, with the
    same webhook-id (receivers deduplicate on it). An email or a callback is queued again as a new
    outbox event with the same payload; the closed row stays as the record of what happened. Audited
    ("outbox", id, "redelivered")."""
    from resell.services import webhooks

    now = ctx.now()
    with ctx.db.read() as conn:
        row = conn.execute(select(outbox).where(outbox.c.id == outbox_id)).first()
    if row is None:
        raise DeliveryError(f"no outbox row {outbox_id}")
    if row.kind not in REDELIVERABLE:
        raise DeliveryError(f"outbox row {outbox_id} is a {row.kind} event: nothing is sent for it as such")
    if row.delivered_at is None:
        raise DeliveryError(
            f"outbox row {outbox_id} is still {_state(row.delivered_at, row.last_error)}: the worker has it"
        )
    if row.kind == DELIVERY_KIND:
        payload = row.payload
        try:
            count = webhooks.redeliver(ctx, str(payload["webhookId"]), int(payload["endpointId"]), actor=actor)
        except (webhooks.WebhookError, KeyError, ValueError) as exc:
            raise DeliveryError(f"outbox row {outbox_id}: {exc}") from None
        with ctx.db.write() as conn:
            audit(conn, now, actor, "outbox", outbox_id, "redelivered", after={"webhookId": payload["webhookId"]})
        return count
    event_id = str(uuid.uuid4())
    with ctx.db.write() as conn:
        conn.execute(
            outbox.insert().values(
                event_id=event_id, kind=row.kind, payload=row.payload, created_at=now, available_at=now
            )
        )
        audit(
            conn,
            now,
            actor,
            "outbox",
            outbox_id,
            "redelivered",
            before={"state": _state(row.delivered_at, row.last_error), "lastError": row.last_error},
            after={"eventId": event_id},
        )
    return 1
