"""Tenant scoping, in one place: every merchant-facing query filters by the calling merchant here.

A merchant asking for another merchant's order, or a product outside its catalogue, gets the same
answer as for one that does not exist.
"""

from __future__ import annotations

from sqlalchemy import Connection, Row, Select, and_, bindparam, select

from resell.db.locking import for_update
from resell.db.prepared import Prepared
from resell.db.tables import (
    catalog_products,
    line_items,
    order_lines,
    orders,
    products,
    subscriptions,
    webhook_endpoints,
)
from resell.services.context import Caller


def merchant_orders(caller: Caller) -> Select:
    """The caller's orders: its live ones, or its test ones for a sandbox call."""
    return select(orders).where(orders.c.merchant_id == caller.merchant_id, orders.c.test == caller.test)


# The caller's order with a partnerOrderNumber, for a Prepared statement (values: `order_values`).
# A live call sees live orders only, a sandbox call test orders only.
CALLERS_ORDER = and_(
    orders.c.merchant_id == bindparam("merchant_id"),
    orders.c.partner_order_number == bindparam("partner_order_number"),
    orders.c.test == bindparam("test"),
)
_ORDER_OF_QUERY = select(orders).where(CALLERS_ORDER)
_ORDER_OF = Prepared(_ORDER_OF_QUERY)
_ORDER_OF_LOCKED = Prepared(for_update(_ORDER_OF_QUERY))


def order_values(caller: Caller, partner_order_number: str) -> dict[str, object]:
    """The values of CALLERS_ORDER's parameters."""
    return {"merchant_id": caller.merchant_id, "partner_order_number": partner_order_number, "test": caller.test}


def order_of(conn: Connection, caller: Caller, partner_order_number: str, lock: bool = False) -> Row | None:
    """The caller's order with that partnerOrderNumber; `lock` holds it until the transaction ends."""
    query = _ORDER_OF_LOCKED if lock else _ORDER_OF
    found: Row | None = query.first(conn, **order_values(caller, partner_order_number))
    return found


def catalog_products_query(caller: Caller | None, *columns) -> Select:  # type: ignore[no-untyped-def]
    """Products the caller's catalogue sells (pass columns to narrow the select). With caller None the
    catalogue is the `catalog_id` parameter, for a Prepared statement."""
    cols = columns or (products,)
    catalog_id: object = bindparam("catalog_id") if caller is None else caller.catalog_id
    return (
        select(*cols)
        .select_from(products.join(catalog_products, catalog_products.c.product_id == products.c.id))
        .where(catalog_products.c.catalog_id == catalog_id)
    )


def subscription_of(
    conn: Connection, caller: Caller, partner_order_number: str, subscription_id: int, lock: bool = False
) -> tuple[Row, Row] | None:
    """(order, subscription): the caller's order with that number and the subscription it holds, either
    as the order that bought it or as one of its renewal orders; `lock` holds the subscription row."""
    order = order_of(conn, caller, partner_order_number)
    if order is None:
        return None
    if order.parent_order_id is not None:  # a renewal order: it must hold a term of this subscription
        renews = conn.execute(
            select(line_items.c.id)
            .join(order_lines, order_lines.c.id == line_items.c.order_line_id)
            .where(order_lines.c.order_id == order.id, line_items.c.renews_subscription_id == subscription_id)
        ).first()
        if renews is None:
            return None
    root_id = order.parent_order_id or order.id
    query = select(subscriptions).where(subscriptions.c.id == subscription_id, subscriptions.c.order_id == root_id)
    if lock:
        query = for_update(query)
    sub = conn.execute(query).first()
    return None if sub is None else (order, sub)


def merchant_webhooks(caller: Caller | int) -> Select:
    """The caller's webhook endpoints that it has not removed (a merchant id for the merchant's own
    back-office pages, which act for a merchant without a catalogue)."""
    merchant_id = caller if isinstance(caller, int) else caller.merchant_id
    return select(webhook_endpoints).where(
        webhook_endpoints.c.merchant_id == merchant_id, webhook_endpoints.c.removed_at.is_(None)
    )
