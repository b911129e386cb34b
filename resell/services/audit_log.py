"""The audit log: one append-only row (who, what, when, before, after) for each state change,
written on the caller's connection inside the transaction of the change itself (audit, audit_many);
the outbox events the same change queues are written by resell.services.outbox.

Read back as an order's history, as `resell audit PARTNER_ORDER_NUMBER` prints it (order_trail): the
rows about the order, its renewal orders, the serials assigned to any of them and the subscriptions
it bought, oldest first.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Connection, Row, and_, bindparam, or_, select

from resell.db import prepared
from resell.db.prepared import Prepared
from resell.db.tables import audit_events, line_items, order_lines, orders, serial_assignments, subscriptions
from resell.services.context import Context

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
    """One audit row per (entity_id, before, after) in `rows`, in a single statement."""
    audit_rows(conn, at, actor, [(entity, entity_id, action, before, after) for entity_id, before, after in rows])


# Up to this many rows go in one prepared multi-row INSERT (a statement compiled per row count);
# more go through an executemany, whose own cost is then spread over many rows.
_PREPARED_ROWS = 8
_ROW_COLUMNS = ("entity", "entity_id", "action", "before", "after")


@cache
def _insert_rows(count: int) -> Prepared:
    """INSERT of `count` audit rows sharing one `at` and one `actor`; row i's values named `<column>_i`."""
    shared = {name: bindparam(name, type_=audit_events.c[name].type) for name in ("at", "actor")}
    return Prepared(
        audit_events.insert().values(
            [
                {**shared, **{name: bindparam(f"{name}_{i}", type_=audit_events.c[name].type) for name in _ROW_COLUMNS}}
                for i in range(count)
            ]
        )
    )


def audit_rows(conn: Connection, at: dt.datetime, actor: str, rows: list[tuple[str, object, str, Any, Any]]) -> None:
    """The audit rows (entity, entity_id, action, before, after) of one change, in a single statement:
    createOrder's turn of the writer writes the order's and its serials' together."""
    if not rows:
        return
    if len(rows) == 1:
        audit(conn, at, actor, *rows[0])
    elif len(rows) <= _PREPARED_ROWS:
        values: dict[str, Any] = {"at": at, "actor": actor}
        for i, (entity, entity_id, action, before, after) in enumerate(rows):
            values.update(
                {
                    f"entity_{i}": entity,
                    f"entity_id_{i}": str(entity_id),
                    f"action_{i}": action,
                    f"before_{i}": before,
                    f"after_{i}": after,
                }
            )
        _insert_rows(len(rows)).execute(conn, **values)
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
                for entity, entity_id, action, before, after in rows
            ],
        )


# ---------------------------------------------------------------- reading: an order's history


class AuditError(ValueError):
    """No such order, or a number several merchants use (the CLI prints it)."""


@dataclass(frozen=True)
class AuditEntry:
    at: dt.datetime
    actor: str
    entity: str
    entity_id: str
    action: str
    before: Any
    after: Any


@dataclass(frozen=True)
class OrderTrail:
    realm: str
    partner_order_number: str
    order_number: int
    entries: list[AuditEntry]


def order_trail(ctx: Context, order_ref: str, realm: str | None = None) -> OrderTrail:
    """`order_ref` is the platform order number or the merchant's partnerOrderNumber."""
    from resell.services.support_orders import OrderLookupError, find_order

    with ctx.db.read() as conn:
        try:
            order = find_order(conn, order_ref, realm)
        except OrderLookupError as exc:
            raise AuditError(str(exc)) from None
        entries = entries_of_order(conn, order)
    return OrderTrail(
        realm=order.realm,
        partner_order_number=order.partner_order_number,
        order_number=order.id,
        entries=entries,
    )


def entries_of_order(conn: Connection, order: Row) -> list[AuditEntry]:
    """The trail of an order row already read on `conn` (its `id` and `parent_order_id`), oldest first."""
    # The order itself, or, for the order that bought subscriptions, the renewal orders too.
    order_ids = [order.id]
    if order.parent_order_id is None:
        order_ids += conn.execute(select(orders.c.id).where(orders.c.parent_order_id == order.id)).scalars().all()
    serial_ids = (
        conn.execute(
            select(serial_assignments.c.serial_id)
            .join(line_items, line_items.c.id == serial_assignments.c.line_item_id)
            .join(order_lines, order_lines.c.id == line_items.c.order_line_id)
            .where(order_lines.c.order_id.in_(order_ids))
        )
        .scalars()
        .all()
    )
    subscription_ids = (
        conn.execute(
            select(subscriptions.c.id).where(
                or_(
                    subscriptions.c.order_id == order.id,
                    subscriptions.c.id.in_(
                        select(line_items.c.renews_subscription_id)
                        .join(order_lines, order_lines.c.id == line_items.c.order_line_id)
                        .where(order_lines.c.order_id == order.id)
                    ),
                )
            )
        )
        .scalars()
        .all()
    )
    wanted = [("order", order_ids), ("serial", serial_ids), ("subscription", subscription_ids)]
    rows = conn.execute(
        select(audit_events)
        .where(
            or_(
                *(
                    and_(audit_events.c.entity == entity, audit_events.c.entity_id.in_([str(i) for i in ids]))
                    for entity, ids in wanted
                    if ids
                )
            )
        )
        .order_by(audit_events.c.at, audit_events.c.id)
    ).all()
    return [AuditEntry(r.at, r.actor, r.entity, r.entity_id, r.action, r.before, r.after) for r in rows]
