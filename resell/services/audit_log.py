"""The audit log: one append-only row (who, what, when, before, after) for each state change,
written on the caller's connection inside the transaction of the change itself. The outbox events
the same change queues are written by resell.services.outbox.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection

from resell.db import prepared
from resell.db.tables import audit_events

_INSERT_AUDIT = prepared.insert(audit_events)


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
    _INSERT_AUDIT.execute(
        conn, at=at, actor=actor, entity=entity, entity_id=str(entity_id), action=action, before=before, after=after
    )


def audit_many(conn: Connection, at: dt.datetime, actor: str, entity: str, action: str, rows: list[Any]) -> None:
    """One audit row per (entity_id, before, after) in `rows`, in a single round trip (a few: one each)."""
    if len(rows) <= 4:
        for entity_id, before, after in rows:
            audit(conn, at, actor, entity, entity_id, action, before, after)
    else:
        conn.execute(
            audit_events.insert(),
            [
                {
                    "at": at,
                    "actor": actor,
                    "entity": entity,
                    "entity_id": str(entity_id),
                    "action": action,
                    "before": before,
                    "after": after,
                }
                for entity_id, before, after in rows
            ],
        )
