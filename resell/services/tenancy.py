"""Tenant scoping, in one place: every merchant-facing query filters by the calling merchant here.

A merchant asking for another merchant's order, or a product outside its catalogue, gets the same
answer as for one that does not exist.
"""

from __future__ import annotations

from sqlalchemy import Connection, Row, Select, select

from resell.db.engine import Database
from resell.db.tables import catalog_products, orders, products
from resell.services.context import Caller


def merchant_orders(caller: Caller) -> Select:
    return select(orders).where(orders.c.merchant_id == caller.merchant_id)


def order_of(
    conn: Connection, db: Database, caller: Caller, partner_order_number: str, lock: bool = False
) -> Row | None:
    """The caller's order with that partnerOrderNumber; `lock` holds it until the transaction ends."""
    query = merchant_orders(caller).where(orders.c.partner_order_number == partner_order_number)
    if lock and db.is_postgres:
        query = query.with_for_update()
    return conn.execute(query).first()


def catalog_products_query(caller: Caller, *columns) -> Select:  # type: ignore[no-untyped-def]
    """Products the caller's catalogue sells (pass columns to narrow the select)."""
    cols = columns or (products,)
    return (
        select(*cols)
        .select_from(products.join(catalog_products, catalog_products.c.product_id == products.c.id))
        .where(catalog_products.c.catalog_id == caller.catalog_id)
    )
