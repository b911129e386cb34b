"""The two records every state change leaves: an append-only audit row, and outbox events.

Both are written on the caller's connection, inside the transaction of the change itself: an event
exists if and only if the change it describes was committed.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Connection

from resell.db.tables import audit_events, outbox


def audit(
    conn: Connection,
    at: dt.datetime,
    actor: str,
    entity: str,
    entity_id: object,
    action: str,
    before: Any = None,
    after: Any = None,
) -> None:
    conn.execute(
        audit_events.insert().values(
            at=at, actor=actor, entity=entity, entity_id=str(entity_id), action=action, before=before, after=after
        )
    )


def enqueue(conn: Connection, at: dt.datetime, kind: str, payload: dict[str, Any]) -> str:
    """Queue a side effect for the worker; returns its stable event id."""
    event_id = str(uuid.uuid4())
    conn.execute(outbox.insert().values(event_id=event_id, kind=kind, payload=payload, created_at=at, available_at=at))
    return event_id
