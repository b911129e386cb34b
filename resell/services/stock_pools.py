"""Serial pools for the back office: per pooled product, its available / assigned / revoked serials,
its low-stock threshold and level; changing a threshold (audited).

Counts come from one grouped query over the index `ix_serials_product_status` (product_id, status),
never one query per product. `low_pools` is the cheap question the dashboard asks ("which pools are
at or under their threshold?"): each pool's available serials counted no further than its threshold
+ 1, in one query, so a pool of a million keys costs as little as one of ten.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, literal_column, select, update

from resell.db.tables import products, publishers, serials
from resell.domain.stock import ALMOST_OUT, OUT, stock_status
from resell.services.audit_log import audit
from resell.services.context import Context

LEVELS = {OUT: "out", ALMOST_OUT: "low"}  # else "enough"
MAX_THRESHOLD = 1_000_000

_AVAILABLE: ColumnElement[str] = literal_column("'available'")  # in the SQL, so the partial index applies


class PoolError(ValueError):
    """No pooled product with that ref, or a threshold that is not one."""


@dataclass(frozen=True)
class Pool:
    ref: int
    name: str
    publisher_id: int
    publisher: str  # the publisher's name
    on_sale: bool  # products.status == available
    available: int
    assigned: int  # None from low_pools: not counted there
    revoked: int
    threshold: int  # products.almost_out_threshold: "low" at or under it
    status: int  # getStockStatus's 100 / 200 / 300 by the serials alone (a withdrawn product keeps its level)
    level: str  # "enough" | "low" | "out"


def _level(available: int, threshold: int) -> tuple[int, str]:
    code = stock_status(available, threshold)
    return code, LEVELS.get(code, "enough")


def _pooled(publisher_id: int | None):  # type: ignore[no-untyped-def]
    query = (
        select(
            products.c.id,
            products.c.ref,
            products.c.name,
            products.c.status,
            products.c.publisher_id,
            publishers.c.name.label("publisher"),
            products.c.almost_out_threshold,
        )
        .join(publishers, publishers.c.id == products.c.publisher_id)
        .where(products.c.serial_source == "pool")
        .order_by(products.c.ref)
    )
    if publisher_id is not None:
        query = query.where(products.c.publisher_id == publisher_id)
    return query


def pools(ctx: Context, publisher_id: int | None = None) -> list[Pool]:
    """Every pooled product (of one publisher) with its three counts, its threshold and level, by ref."""
    with ctx.db.read() as conn:
        rows = conn.execute(_pooled(publisher_id)).all()
        counts: dict[int, dict[str, int]] = {}
        if rows:
            query = select(serials.c.product_id, serials.c.status, func.count()).group_by(
                serials.c.product_id, serials.c.status
            )
            if publisher_id is not None:
                query = query.where(serials.c.product_id.in_([r.id for r in rows]))
            for product_id, status, n in conn.execute(query):
                counts.setdefault(product_id, {})[status] = n
    found = []
    for r in rows:
        mine = counts.get(r.id, {})
        available = mine.get("available", 0)
        code, level = _level(available, r.almost_out_threshold)
        found.append(
            Pool(
                r.ref,
                r.name,
                r.publisher_id,
                r.publisher,
                r.status == "available",
                available,
                mine.get("assigned", 0),
                mine.get("revoked", 0),
                r.almost_out_threshold,
                code,
                level,
            )
        )
    return found


def low_pools(ctx: Context, publisher_id: int | None = None) -> list[Pool]:
    """The pools of products on sale that are low or out, emptiest first. Assigned and revoked are not
    counted here (-1): the available serials only, and only up to the threshold + 1."""
    with ctx.db.read() as conn:
        # one cap for all (SQLite takes no column in a LIMIT): the largest threshold, plus one
        cap = conn.execute(
            select(func.max(products.c.almost_out_threshold)).where(products.c.serial_source == "pool")
        ).scalar()
        if cap is None:
            return []
        capped = (
            select(serials.c.id)
            .where(serials.c.product_id == products.c.id, serials.c.status == _AVAILABLE)
            .limit(literal_column(str(int(cap) + 1)))
            .correlate(products)
            .subquery()
        )
        available = select(func.count()).select_from(capped).scalar_subquery()
        query = _pooled(publisher_id).add_columns(available.label("available")).where(products.c.status == "available")
        rows = conn.execute(query).all()
    found = []
    for r in rows:
        code, level = _level(r.available, r.almost_out_threshold)
        if level != "enough":
            found.append(
                Pool(
                    r.ref,
                    r.name,
                    r.publisher_id,
                    r.publisher,
                    True,
                    r.available,
                    -1,
                    -1,
                    r.almost_out_threshold,
                    code,
                    level,
                )
            )
    return sorted(found, key=lambda p: (p.available, p.ref))


def set_threshold(ctx: Context, product_ref: int, threshold: int, actor: str = "operator") -> tuple[int, int]:
    """Set a pooled product's low-stock threshold; returns (before, after). Audited ("stock", ref,
    "threshold_changed"). The worker's next level check reports a level it changes (stock.low)."""
    if not isinstance(threshold, int) or isinstance(threshold, bool) or not 0 <= threshold <= MAX_THRESHOLD:
        raise PoolError(f"threshold must be a whole number from 0 to {MAX_THRESHOLD}")
    with ctx.db.write() as conn:
        row = conn.execute(
            select(products.c.id, products.c.serial_source, products.c.almost_out_threshold).where(
                products.c.ref == product_ref
            )
        ).first()
        if row is None:
            raise PoolError(f"no product with ref {product_ref}")
        if row.serial_source != "pool":
            raise PoolError(f"product {product_ref} has no serial pool (serialSource={row.serial_source})")
        before = row.almost_out_threshold
        if before != threshold:
            conn.execute(
                update(products)
                .where(products.c.id == row.id)
                .values(almost_out_threshold=threshold, updated_at=ctx.now())
            )
            audit(
                conn,
                ctx.now(),
                actor,
                "stock",
                product_ref,
                "threshold_changed",
                before={"almostOutThreshold": before},
                after={"almostOutThreshold": threshold},
            )
    return before, threshold


def publisher_id_of(ctx: Context, key: str) -> int | None:
    """A publisher's id from its key (the CLI's --publisher), None when there is none."""
    with ctx.db.read() as conn:
        found = conn.execute(select(publishers.c.id).where(publishers.c.key == key)).scalar()
    return None if found is None else int(found)
