"""Outbox events: the side effects of a change, queued on the caller's connection in the
transaction of the change itself, so that an event exists if and only if the change it describes
was committed; the worker (resell/worker/) delivers them afterwards.

Webhooks are built from the same events: when an event's kind is a webhook event type, enqueue
also writes one `webhook.deliver` outbox row per active endpoint subscribed to it (the merchant's
own endpoints for merchant events, the operator's and the product's publisher's for stock events),
in the same transaction. Each delivery carries the event's id, the `webhook-id` of every attempt.
The audit row every change also leaves is written by resell.services.audit_log.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Connection, bindparam, or_, select

from resell.db import prepared
from resell.db.prepared import Prepared
from resell.db.tables import outbox, webhook_endpoints
from resell.domain.webhooks import DELIVERY_KIND, EVENT_TYPES, STOCK_EVENTS

_INSERT_OUTBOX = prepared.insert(outbox)
# what a delivery row needs of an endpoint: its id, its event types, its owner
_ENDPOINT_COLUMNS = (
    webhook_endpoints.c.id,
    webhook_endpoints.c.events,
    webhook_endpoints.c.merchant_id,
    webhook_endpoints.c.publisher_id,
)
# the endpoints of a merchant event (every order event looks them up)
_MERCHANT_ENDPOINTS = Prepared(
    select(*_ENDPOINT_COLUMNS)
    .where(
        webhook_endpoints.c.active.is_(True),
        webhook_endpoints.c.removed_at.is_(None),
        webhook_endpoints.c.merchant_id == bindparam("merchant_id"),
    )
    .order_by(webhook_endpoints.c.id)
)


def enqueue(conn: Connection, at: dt.datetime, kind: str, payload: dict[str, Any]) -> str:
    """Queue a side effect for the worker; returns its stable event id."""
    event_id = str(uuid.uuid4())
    _INSERT_OUTBOX.execute(conn, event_id=event_id, kind=kind, payload=payload, created_at=at, available_at=at)
    deliveries = webhook_delivery_rows(conn, at, event_id, kind, payload, at)
    if deliveries:
        conn.execute(outbox.insert(), deliveries)
    return event_id


def enqueue_many(conn: Connection, at: dt.datetime, events: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """enqueue for many events at once (one INSERT, one endpoint lookup per audience); their ids."""
    if not events:
        return []
    rows: list[dict[str, Any]] = [
        {"event_id": str(uuid.uuid4()), "kind": kind, "payload": payload, "created_at": at, "available_at": at}
        for kind, payload in events
    ]
    audiences: dict[tuple[Any, ...], list[Any]] = {}
    deliveries = [
        delivery
        for row in rows
        for delivery in webhook_delivery_rows(
            conn, at, row["event_id"], row["kind"], row["payload"], at, None, audiences
        )
    ]
    conn.execute(outbox.insert(), rows + deliveries)
    return [row["event_id"] for row in rows]


def webhook_delivery_rows(
    conn: Connection,
    at: dt.datetime,
    event_id: str,
    kind: str,
    payload: dict[str, Any],
    occurred_at: dt.datetime,
    endpoint_id: int | None = None,
    audiences: dict[tuple[Any, ...], list[Any]] | None = None,
) -> list[dict[str, Any]]:
    """The outbox rows delivering event `event_id` to each active endpoint subscribed to `kind`
    (`audiences` caches the endpoint lookups across several events)."""
    if kind not in EVENT_TYPES:
        return []
    stock_event = kind in STOCK_EVENTS
    audience = ("stock", payload.get("publisherId")) if stock_event else ("merchant", payload.get("merchantId"))
    key = (*audience, endpoint_id)
    found: list[Any] | None = None if audiences is None else audiences.get(key)
    if found is None and not stock_event and endpoint_id is None:
        found = _MERCHANT_ENDPOINTS.all(conn, merchant_id=audience[1])
    if found is None:
        query = select(*_ENDPOINT_COLUMNS).where(
            webhook_endpoints.c.active.is_(True), webhook_endpoints.c.removed_at.is_(None)
        )
        if stock_event:
            query = query.where(
                webhook_endpoints.c.merchant_id.is_(None),
                or_(webhook_endpoints.c.publisher_id.is_(None), webhook_endpoints.c.publisher_id == audience[1]),
            )
        else:
            query = query.where(webhook_endpoints.c.merchant_id == audience[1])
        if endpoint_id is not None:
            query = query.where(webhook_endpoints.c.id == endpoint_id)
        found = list(conn.execute(query.order_by(webhook_endpoints.c.id)).all())
        if audiences is not None:
            audiences[key] = found
    message = {
        "type": kind,
        "timestamp": occurred_at.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "data": {k: v for k, v in payload.items() if k not in ("merchantId", "publisherId")},
    }
    return [
        {
            "event_id": str(uuid.uuid4()),
            "kind": DELIVERY_KIND,
            "payload": {"endpointId": row.id, "owner": _owner(row), "webhookId": event_id, "message": message},
            "created_at": at,
            "available_at": at,
        }
        for row in found
        if kind in (row.events or [])
    ]


def _owner(endpoint: Any) -> str:
    """Whose endpoint: the worker sends at most RESELL_WORKER_PER_DESTINATION deliveries at a time to
    one owner's endpoints, however many of them hang."""
    if endpoint.merchant_id is not None:
        return f"merchant:{endpoint.merchant_id}"
    return "operator" if endpoint.publisher_id is None else f"publisher:{endpoint.publisher_id}"
