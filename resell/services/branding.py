"""A merchant's branding: reading it (the shop an order's end user sees) and setting it (the CLI's
`resell merchant brand`, the back office's merchant page), audited as `branding_set` with the values
before and after. The rules of each value are resell.domain.branding's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict

from sqlalchemy import Connection, select, update

from resell.db.tables import merchant_branding, merchants, orders
from resell.domain.branding import FIELDS, Branding, Shop, check, shop
from resell.services.audit_log import audit
from resell.services.context import Context


class UnknownMerchant(LookupError):
    """No merchant with that realm."""


def _branding(row: object) -> Branding:
    return Branding(**{name: getattr(row, name) for name in FIELDS})


_COLUMNS = [merchant_branding.c[name] for name in FIELDS]


def shop_of_order(conn: Connection, order_id: int) -> Shop | None:
    """The shop of an order as its end user sees it (None: no such order)."""
    row = conn.execute(
        select(merchants.c.name, *_COLUMNS)
        .select_from(orders)
        .join(merchants, merchants.c.id == orders.c.merchant_id)
        .outerjoin(merchant_branding, merchant_branding.c.merchant_id == merchants.c.id)
        .where(orders.c.id == order_id)
    ).first()
    return shop(row.name, _branding(row)) if row is not None else None


def shop_for(ctx: Context, order_id: int) -> Shop | None:
    """`shop_of_order` in its own read transaction (a page that knows the order from a signed link)."""
    with ctx.db.read() as conn:
        return shop_of_order(conn, order_id)


def current(ctx: Context, realm: str) -> tuple[str, Branding]:
    """The merchant's name and what it has set (UnknownMerchant)."""
    with ctx.db.read() as conn:
        return _current(conn, realm)


def _current(conn: Connection, realm: str) -> tuple[str, Branding]:
    row = conn.execute(
        select(merchants.c.id, merchants.c.name, *_COLUMNS)
        .outerjoin(merchant_branding, merchant_branding.c.merchant_id == merchants.c.id)
        .where(merchants.c.realm == realm.strip())
    ).first()
    if row is None:
        raise UnknownMerchant(f"no merchant {realm!r}")
    return row.name, _branding(row)


def set_branding(ctx: Context, realm: str, changes: Mapping[str, str | None], actor: str = "operator") -> Branding:
    """Apply `changes` (field -> value, "" clears) to the merchant's branding; the fields not named keep
    their values. Raises resell.domain.branding.BrandingError (nothing changed) or UnknownMerchant."""
    now = ctx.now()
    with ctx.db.write() as conn:
        merchant_id = conn.execute(select(merchants.c.id).where(merchants.c.realm == realm.strip())).scalar()
        if merchant_id is None:
            raise UnknownMerchant(f"no merchant {realm!r}")
        _, before = _current(conn, realm)
        after = check(before, changes)
        if after == before:
            return after
        values = {**asdict(after), "updated_at": now}
        exists = conn.execute(
            select(merchant_branding.c.merchant_id).where(merchant_branding.c.merchant_id == merchant_id)
        ).first()
        if exists:
            conn.execute(update(merchant_branding).where(merchant_branding.c.merchant_id == merchant_id).values(values))
        else:
            conn.execute(merchant_branding.insert().values(merchant_id=merchant_id, **values))
        changed = [name for name in FIELDS if getattr(before, name) != getattr(after, name)]
        audit(
            conn,
            now,
            actor,
            "merchant",
            merchant_id,
            "branding_set",
            before={name: getattr(before, name) for name in changed},
            after={name: getattr(after, name) for name in changed},
        )
    return after
