"""Webhook endpoints: registering, listing and removing them, their delivery log, redelivery.

Merchants manage their own endpoints (the API under /connect/webhooks, or the operator's CLI for
them) and receive the merchant events; they read each endpoint's delivery log and redeliver an event
to it (the API, or their own back-office pages: `merchant_delivery_log`, `merchant_redeliver`).
Endpoints without a merchant belong to the operator (every stock event) or to a publisher (stock
events of its products); only the CLI creates those.
What gets delivered is decided in resell.services.outbox.enqueue, in the transaction of the change;
the worker (resell.worker.webhooks) sends, signs and logs each delivery.

A URL must lead to public addresses only (resell.outbound, checked here and again at every delivery),
unless RESELL_WEBHOOK_ALLOW_PRIVATE is on; a merchant has at most RESELL_WEBHOOK_MAX_ENDPOINTS endpoints.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, func, select, update

from resell.db.engine import inserted_id
from resell.db.locking import for_update
from resell.db.tables import merchants, outbox, publishers, webhook_deliveries, webhook_endpoints
from resell.domain import codes
from resell.domain.codes import Refusal
from resell.domain.request_fields import decimal_id, positive_int
from resell.domain.webhooks import (
    EVENT_TYPES,
    MERCHANT_EVENTS,
    STOCK_EVENTS,
    InvalidEndpoint,
    check_events,
    check_url,
    new_salt,
    signing_secret,
)
from resell.outbound import AddressRefused, check_url_destination
from resell.services.audit_log import audit
from resell.services.context import Caller, Context
from resell.services.outbox import webhook_delivery_rows
from resell.services.tenancy import merchant_webhooks


class WebhookError(ValueError):
    """An operator mistake on the CLI (unknown realm, publisher, endpoint or event)."""


@dataclass(frozen=True)
class Endpoint:
    id: int
    owner: str  # "merchant:REALM", "publisher:KEY" or "operator"
    url: str
    events: list[str]
    active: bool
    created_at: dt.datetime
    disabled_at: dt.datetime | None
    disabled_reason: str | None


@dataclass(frozen=True)
class NewEndpoint:
    endpoint: Endpoint
    signing_secret: str  # shown once; never stored (derived from the platform key and the salt)


@dataclass(frozen=True)
class Delivery:
    endpoint_id: int
    event_id: str
    attempt: int
    at: dt.datetime
    status_code: int | None
    error: str | None
    duration_ms: int | None


def _owned(query: Any) -> Any:
    return query.outerjoin(merchants, merchants.c.id == webhook_endpoints.c.merchant_id).outerjoin(
        publishers, publishers.c.id == webhook_endpoints.c.publisher_id
    )


def _columns() -> list[Any]:
    return [webhook_endpoints, merchants.c.realm, publishers.c.key.label("publisher_key")]


def _endpoint(row: Row) -> Endpoint:
    if row.merchant_id is not None:
        owner = f"merchant:{row.realm}"
    elif row.publisher_id is not None:
        owner = f"publisher:{row.publisher_key}"
    else:
        owner = "operator"
    return Endpoint(
        id=row.id,
        owner=owner,
        url=row.url,
        events=list(row.events),
        active=row.active,
        created_at=row.created_at,
        disabled_at=row.disabled_at,
        disabled_reason=row.disabled_reason,
    )


def _insert(
    conn: Connection,
    ctx: Context,
    actor: str,
    url: str,
    events: list[str],
    merchant_id: int | None = None,
    publisher_id: int | None = None,
) -> NewEndpoint:
    now = ctx.now()
    salt = new_salt()
    endpoint_id = inserted_id(
        conn.execute(
            webhook_endpoints.insert().values(
                merchant_id=merchant_id,
                publisher_id=publisher_id,
                url=url,
                events=events,
                secret_salt=salt,
                active=True,
                created_at=now,
            )
        )
    )
    audit(conn, now, actor, "webhook", endpoint_id, "created", after={"url": url, "events": events})
    row = conn.execute(_owned(select(*_columns())).where(webhook_endpoints.c.id == endpoint_id)).one()
    return NewEndpoint(_endpoint(row), signing_secret(ctx.settings.effective_webhook_key, salt))


def _checked(ctx: Context, raw_url: object, raw_events: object, allowed: tuple[str, ...]) -> tuple[str, list[str]]:
    try:
        url, events = check_url(raw_url), check_events(raw_events, allowed)
    except InvalidEndpoint as invalid:
        raise Refusal(invalid.code, str(invalid)) from None
    try:
        check_url_destination(url, ctx.settings.webhook_allow_private)
    except AddressRefused:  # the reason (what a name resolves to here) stays in the operator's network
        raise Refusal(codes.WEBHOOK_URL_NOT_VALID, "url not valid: it must lead to a public address") from None
    return url, events


def _check_room(conn: Connection, ctx: Context, merchant_id: int) -> None:
    """At most RESELL_WEBHOOK_MAX_ENDPOINTS endpoints per merchant; the merchant's row is locked on
    PostgreSQL so two registrations at once cannot both take the last place (SQLite writes one at a time)."""
    conn.execute(for_update(select(merchants.c.id).where(merchants.c.id == merchant_id)))
    count = conn.execute(
        select(func.count())
        .select_from(webhook_endpoints)
        .where(webhook_endpoints.c.merchant_id == merchant_id, webhook_endpoints.c.removed_at.is_(None))
    ).scalar_one()
    limit = ctx.settings.webhook_max_endpoints
    if count >= limit:
        raise Refusal(codes.TOO_MANY_WEBHOOKS, f"too many webhook endpoints (at most {limit})")


# ---------------------------------------------------------------- a merchant's own endpoints (the API)


def add_merchant_endpoint(ctx: Context, caller: Caller, raw_url: object, raw_events: object) -> NewEndpoint:
    url, events = _checked(ctx, raw_url, raw_events, MERCHANT_EVENTS)
    with ctx.db.write() as conn:
        _check_room(conn, ctx, caller.merchant_id)
        return _insert(conn, ctx, f"merchant:{caller.realm}", url, events, merchant_id=caller.merchant_id)


def list_merchant_endpoints(ctx: Context, caller: Caller | int) -> list[Endpoint]:
    """The endpoints of the caller (or of the merchant with that id: its back-office pages)."""
    with ctx.db.read() as conn:
        query = _owned(merchant_webhooks(caller).with_only_columns(*_columns()))
        return [_endpoint(r) for r in conn.execute(query.order_by(webhook_endpoints.c.id))]


def remove_merchant_endpoint(ctx: Context, caller: Caller, raw_id: object) -> int:
    endpoint_id = positive_int(raw_id, missing=codes.WEBHOOK_ID_MISSING, invalid=codes.WEBHOOK_ID_NOT_VALID)
    with ctx.db.write() as conn:
        found = conn.execute(merchant_webhooks(caller).where(webhook_endpoints.c.id == endpoint_id)).first()
        if found is None:
            raise Refusal(codes.WEBHOOK_NOT_FOUND)
        _remove(conn, ctx.now(), f"merchant:{caller.realm}", found)
    return endpoint_id


MAX_LOG_PAGE = 200


@dataclass(frozen=True)
class LoggedDelivery:
    """One attempt of the delivery log, with the event it delivered (its type None when the event
    itself is no longer kept)."""

    id: int  # the log's own order: `before` of the next page
    event_id: str
    event_type: str | None
    attempt: int
    at: dt.datetime
    status_code: int | None
    error: str | None
    duration_ms: int | None


@dataclass(frozen=True)
class DeliveryLog:
    endpoint: Endpoint
    deliveries: list[LoggedDelivery]  # newest first
    next_before: int | None  # pass as `before` for the next (older) page; None on the last page


def _merchant_endpoint(conn: Connection, merchant_id: int, raw_id: object) -> Row:
    """The merchant's endpoint (not removed) that `raw_id` names; another merchant's is "not found"."""
    endpoint_id = positive_int(raw_id, missing=codes.WEBHOOK_ID_MISSING, invalid=codes.WEBHOOK_ID_NOT_VALID)
    found = conn.execute(
        _owned(merchant_webhooks(merchant_id).with_only_columns(*_columns())).where(
            webhook_endpoints.c.id == endpoint_id
        )
    ).first()
    if found is None:
        raise Refusal(codes.WEBHOOK_NOT_FOUND)
    return found


def _int_in_range(raw: object, code: int, low: int, high: int) -> int | None:
    if raw is None or raw == "":
        return None
    value = raw if isinstance(raw, int) and not isinstance(raw, bool) else decimal_id(str(raw))
    if value is None or not low <= value <= high:
        raise Refusal(code)
    return value


def merchant_delivery_log(
    ctx: Context, merchant_id: int, raw_id: object, raw_limit: object = None, raw_before: object = None
) -> DeliveryLog:
    """A page of the delivery log of one of the merchant's endpoints, newest first: `limit` attempts
    (1 to 200, default 50) older than `before` (the previous page's `next_before`)."""
    limit = _int_in_range(raw_limit, codes.DELIVERY_LIMIT_NOT_VALID, 1, MAX_LOG_PAGE) or 50
    before = _int_in_range(raw_before, codes.DELIVERY_BEFORE_NOT_VALID, 1, 2**62)
    with ctx.db.read() as conn:
        endpoint = _merchant_endpoint(conn, merchant_id, raw_id)
        query = (
            select(webhook_deliveries, outbox.c.kind)
            .outerjoin(outbox, outbox.c.event_id == webhook_deliveries.c.event_id)
            .where(webhook_deliveries.c.endpoint_id == endpoint.id)
        )
        if before is not None:
            query = query.where(webhook_deliveries.c.id < before)
        rows = conn.execute(query.order_by(webhook_deliveries.c.id.desc()).limit(limit + 1)).all()
    page = [
        LoggedDelivery(r.id, r.event_id, r.kind, r.attempt, r.at, r.status_code, r.error, r.duration_ms)
        for r in rows[:limit]
    ]
    return DeliveryLog(_endpoint(endpoint), page, page[-1].id if len(rows) > limit else None)


@dataclass(frozen=True)
class Redelivered:
    endpoint_id: int
    event_id: str
    event_type: str


def merchant_redeliver(ctx: Context, merchant_id: int, raw_id: object, raw_event_id: object, actor: str) -> Redelivered:
    """Queue event `raw_event_id` again to one of the merchant's endpoints, through the outbox, with
    the same webhook-id (the receiver deduplicates by it). The event must be the merchant's and of a
    type the endpoint takes; a disabled endpoint gets nothing. Audited."""
    event_id = raw_event_id.strip() if isinstance(raw_event_id, str) else ""
    now = ctx.now()
    with ctx.db.write() as conn:
        endpoint = _merchant_endpoint(conn, merchant_id, raw_id)
        if not event_id:
            raise Refusal(codes.WEBHOOK_EVENT_ID_MISSING)
        event = conn.execute(select(outbox).where(outbox.c.event_id == event_id[:36])).first()
        if (
            event is None
            or event.kind not in MERCHANT_EVENTS
            or event.payload.get("merchantId") != merchant_id
            or event.kind not in endpoint.events
        ):
            raise Refusal(codes.WEBHOOK_EVENT_NOT_FOUND)
        if not endpoint.active:
            raise Refusal(codes.WEBHOOK_NOT_ACTIVE)
        rows = webhook_delivery_rows(
            conn, now, event.event_id, event.kind, event.payload, event.created_at, endpoint.id
        )
        if not rows:  # disabled meanwhile
            raise Refusal(codes.WEBHOOK_NOT_ACTIVE)
        conn.execute(outbox.insert(), rows)
        audit(
            conn,
            now,
            actor,
            "webhook_event",
            event.event_id,
            "redelivered",
            after={"deliveries": len(rows), "endpointId": endpoint.id},
        )
    return Redelivered(endpoint.id, event.event_id, event.kind)


def _remove(conn: Connection, now: dt.datetime, actor: str, row: Row) -> None:
    """Removed endpoints keep their delivery log; nothing is delivered to them any more."""
    conn.execute(update(webhook_endpoints).where(webhook_endpoints.c.id == row.id).values(active=False, removed_at=now))
    audit(conn, now, actor, "webhook", row.id, "removed", before={"url": row.url, "active": row.active})


# ---------------------------------------------------------------- the operator's CLI


def add_endpoint(
    ctx: Context,
    url: str,
    events: list[str],
    realm: str | None = None,
    publisher: str | None = None,
    actor: str = "operator",
) -> NewEndpoint:
    """A merchant's endpoint (realm), a publisher's (publisher key) or, with neither, the operator's."""
    if realm and publisher:
        raise WebhookError("an endpoint belongs to a merchant or to a publisher, not both")
    allowed = MERCHANT_EVENTS if realm else STOCK_EVENTS
    try:
        clean_url, clean_events = check_url(url), check_events(events, allowed)
        check_url_destination(clean_url, ctx.settings.webhook_allow_private)
    except InvalidEndpoint as invalid:  # 111's message names the allowed events
        raise WebhookError(str(invalid)) from None
    except AddressRefused as refused:
        raise WebhookError(f"url not valid: {refused} (RESELL_WEBHOOK_ALLOW_PRIVATE=true allows it)") from None
    with ctx.db.write() as conn:
        merchant_id = publisher_id = None
        if realm:
            merchant_id = conn.execute(select(merchants.c.id).where(merchants.c.realm == realm)).scalar()
            if merchant_id is None:
                raise WebhookError(f"no merchant {realm!r}")
            try:
                _check_room(conn, ctx, merchant_id)
            except Refusal as refusal:
                raise WebhookError(str(refusal.message)) from None
        if publisher:
            publisher_id = conn.execute(select(publishers.c.id).where(publishers.c.key == publisher)).scalar()
            if publisher_id is None:
                raise WebhookError(f"no publisher {publisher!r}")
        return _insert(conn, ctx, actor, clean_url, clean_events, merchant_id, publisher_id)


def list_endpoints(ctx: Context, realm: str | None = None) -> list[Endpoint]:
    query = _owned(select(*_columns())).where(webhook_endpoints.c.removed_at.is_(None))
    if realm:
        query = query.where(merchants.c.realm == realm)
    with ctx.db.read() as conn:
        return [_endpoint(r) for r in conn.execute(query.order_by(webhook_endpoints.c.id))]


def remove_endpoint(ctx: Context, endpoint_id: int, actor: str = "operator") -> None:
    with ctx.db.write() as conn:
        row = conn.execute(
            select(webhook_endpoints).where(
                webhook_endpoints.c.id == endpoint_id, webhook_endpoints.c.removed_at.is_(None)
            )
        ).first()
        if row is None:
            raise WebhookError(f"no webhook endpoint {endpoint_id}")
        _remove(conn, ctx.now(), actor, row)


def redeliver(ctx: Context, event_id: str, endpoint_id: int | None = None, actor: str = "operator") -> int:
    """Send event `event_id` again, with the same webhook-id, to the active endpoints subscribed to it
    (or to one of them); returns how many deliveries were queued."""
    now = ctx.now()
    with ctx.db.write() as conn:
        event = conn.execute(select(outbox).where(outbox.c.event_id == event_id.strip())).first()
        if event is None or event.kind not in EVENT_TYPES:
            raise WebhookError(f"no webhook event {event_id!r}")
        rows = webhook_delivery_rows(
            conn, now, event.event_id, event.kind, event.payload, event.created_at, endpoint_id
        )
        if not rows:
            raise WebhookError(
                f"no active endpoint {endpoint_id} subscribed to {event.kind}"
                if endpoint_id is not None
                else f"no active endpoint is subscribed to {event.kind} for this event"
            )
        conn.execute(outbox.insert(), rows)
        audit(conn, now, actor, "webhook_event", event.event_id, "redelivered", after={"deliveries": len(rows)})
    return len(rows)


def delivery_log(ctx: Context, endpoint_id: int, limit: int = 50) -> list[Delivery]:
    """The latest delivery attempts to one endpoint, newest first."""
    with ctx.db.read() as conn:
        if conn.execute(select(webhook_endpoints.c.id).where(webhook_endpoints.c.id == endpoint_id)).first() is None:
            raise WebhookError(f"no webhook endpoint {endpoint_id}")
        rows = conn.execute(
            select(webhook_deliveries)
            .where(webhook_deliveries.c.endpoint_id == endpoint_id)
            .order_by(webhook_deliveries.c.id.desc())
            .limit(limit)
        ).all()
    return [Delivery(r.endpoint_id, r.event_id, r.attempt, r.at, r.status_code, r.error, r.duration_ms) for r in rows]


# ---------------------------------------------------------------- what the worker needs


@dataclass(frozen=True)
class Target:
    id: int
    url: str
    active: bool
    removed: bool
    secret: str


def target(ctx: Context, endpoint_id: int) -> Target | None:
    with ctx.db.read() as conn:
        row = conn.execute(select(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id)).first()
    if row is None:
        return None
    return Target(
        row.id,
        row.url,
        row.active,
        row.removed_at is not None,
        signing_secret(ctx.settings.effective_webhook_key, row.secret_salt),
    )


def record_attempt(
    ctx: Context,
    endpoint_id: int,
    event_id: str,
    status_code: int | None,
    error: str | None,
    duration_ms: int | None,
    disable_reason: str | None = None,
) -> int:
    """Log one attempt (numbered per endpoint and event, across redeliveries); `disable_reason`
    also disables the endpoint. Returns the attempt's number."""
    now = ctx.now()
    with ctx.db.write() as conn:
        attempt = (
            conn.execute(
                select(func.count())
                .select_from(webhook_deliveries)
                .where(webhook_deliveries.c.endpoint_id == endpoint_id, webhook_deliveries.c.event_id == event_id)
            ).scalar_one()
            + 1
        )
        conn.execute(
            webhook_deliveries.insert().values(
                endpoint_id=endpoint_id,
                event_id=event_id,
                attempt=attempt,
                at=now,
                status_code=status_code,
                error=None if error is None else error[:2000],
                duration_ms=duration_ms,
            )
        )
        if disable_reason is not None:
            disabled = conn.execute(
                update(webhook_endpoints)
                .where(webhook_endpoints.c.id == endpoint_id, webhook_endpoints.c.active.is_(True))
                .values(active=False, disabled_at=now, disabled_reason=disable_reason)
            )
            if disabled.rowcount:
                audit(
                    conn,
                    now,
                    "worker:webhooks",
                    "webhook",
                    endpoint_id,
                    "disabled",
                    before={"active": True},
                    after={"active": False, "reason": disable_reason},
                )
    return attempt
