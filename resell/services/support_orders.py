"""The operator's support desk: find an order by the number the end user has (the platform order
number) or by the merchant's partnerOrderNumber, show it whole, and act on it with the same service
functions the API uses (the actor recorded is `operator`)."""

from __future__ import annotations

from sqlalchemy import Connection, Row, select

from resell.db.tables import catalogs, merchants, orders
from resell.services.context import Caller


class OrderLookupError(ValueError):
    """No such order, or a partnerOrderNumber several merchants use (the CLI prints it)."""


def find_order(conn: Connection, ref: str, realm: str | None = None) -> Row:
    """The order (with its merchant's `realm`) whose platform number is `ref` when `ref` is an integer
    naming one, else the order with that partnerOrderNumber, narrowed to `realm` when given."""
    base = select(orders, merchants.c.realm).join(merchants, merchants.c.id == orders.c.merchant_id)
    if realm:
        base = base.where(merchants.c.realm == realm)
    ref = ref.strip()
    if ref.isdigit() and len(ref) < 19:
        by_number = conn.execute(base.where(orders.c.id == int(ref))).first()
        if by_number is not None:
            return by_number
    found = conn.execute(base.where(orders.c.partner_order_number == ref)).all()
    if not found:
        raise OrderLookupError(f"no order {ref!r}" + (f" of merchant {realm!r}" if realm else ""))
    if len(found) > 1:
        realms = ", ".join(sorted(r.realm for r in found))
        raise OrderLookupError(f"several merchants have an order {ref!r} ({realms}): add --realm")
    return found[0]


def caller_for(conn: Connection, order: Row) -> Caller:
    """The merchant and catalogue of the order, as the API's authentication would have resolved them."""
    catalog = conn.execute(select(catalogs).where(catalogs.c.id == order.catalog_id)).one()
    return Caller(
        merchant_id=order.merchant_id,
        realm=order.realm,
        catalog_id=catalog.id,
        currency=catalog.currency,
        cancel_period_days=catalog.cancel_period_days,
        requires_amounts=catalog.requires_amounts,
    )
