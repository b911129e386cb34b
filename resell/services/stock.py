"""Licence-key stock: importing serials, allocating them to orders, stock levels and reports.

The rule that matters most in resell: a serial is handed out at most once, ever. Allocation runs
inside the createOrder transaction: on PostgreSQL the rows are claimed with
`FOR UPDATE SKIP LOCKED`, on SQLite the whole write transaction holds the database lock taken by
`BEGIN IMMEDIATE`. The status update re-checks `status = 'available'` and the primary key of
`serial_assignments` (one row per serial, never deleted) is the backstop if anything else slips.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from sqlalchemy import Connection, func, select, text, update

from resell.db.engine import Database
from resell.db.tables import products, publishers, serials, stock_levels
from resell.domain import codes
from resell.domain.codes import Refusal
from resell.domain.stock import ALMOST_OUT, OUT, stock_status
from resell.services.context import Context
from resell.services.events import audit, enqueue

IMPORT_BATCH = 5000
MAX_SERIAL_LENGTH = 500


class StockError(ValueError):
    """An operator mistake (unknown product, product without a serial pool)."""


@dataclass(frozen=True)
class ImportResult:
    added: int
    duplicates: int
    rejected: int  # blank lines are ignored; over-long lines are rejected


def _batches(lines: Iterable[str], size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for line in lines:
        batch.append(line)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def import_serials(
    ctx: Context,
    product_ref: int,
    lines: Iterable[str],
    on_progress: Callable[[int], None] | None = None,
    actor: str = "operator",
) -> ImportResult:
    """Add serials, one per line. Duplicates (in the file or already in stock) are skipped and counted.

    Each batch commits on its own, so memory stays flat and an interrupted import can simply be
    run again: what was already imported counts as duplicates the second time.
    """
    with ctx.db.read() as conn:
        product = conn.execute(
            select(products.c.id, products.c.serial_source).where(products.c.ref == product_ref)
        ).first()
    if product is None:
        raise StockError(f"no product with ref {product_ref}")
    if product.serial_source != "pool":
        raise StockError(
            f"product {product_ref} does not draw serials from a pool (serialSource={product.serial_source})"
        )
    added = duplicates = rejected = 0
    for batch in _batches(lines, IMPORT_BATCH):
        values: dict[str, None] = {}
        for raw in batch:
            value = raw.strip()
            if not value:
                continue
            if len(value) > MAX_SERIAL_LENGTH:
                rejected += 1
            elif value in values:
                duplicates += 1
            else:
                values[value] = None
        now = ctx.now()
        with ctx.db.write() as conn:
            existing = (
                set(
                    conn.execute(
                        select(serials.c.value).where(
                            serials.c.product_id == product.id, serials.c.value.in_(list(values))
                        )
                    ).scalars()
                )
                if values
                else set()
            )
            fresh = [v for v in values if v not in existing]
            duplicates += len(existing)
            if fresh:
                conn.execute(
                    serials.insert(),
                    [{"product_id": product.id, "value": v, "status": "available", "imported_at": now} for v in fresh],
                )
            added += len(fresh)
        if on_progress:
            on_progress(len(batch))
    with ctx.db.write() as conn:
        audit(
            conn,
            ctx.now(),
            actor,
            "stock",
            product_ref,
            "serials_imported",
            after={"added": added, "duplicates": duplicates, "rejected": rejected},
        )
    return ImportResult(added, duplicates, rejected)


def allocate(conn: Connection, db: Database, product_id: int, count: int) -> list[tuple[int, str]]:
    """Claim `count` available serials of a product in the caller's transaction, or refuse with 1044."""
    if count <= 0:
        return []
    query = (
        select(serials.c.id, serials.c.value)
        .where(serials.c.product_id == product_id, serials.c.status == "available")
        .order_by(serials.c.id)
        .limit(count)
    )
    if db.is_postgres:
        query = query.with_for_update(skip_locked=True)
    rows = conn.execute(query).all()
    if len(rows) < count:
        raise Refusal(codes.OUT_OF_STOCK)
    ids = [r.id for r in rows]
    claimed = conn.execute(
        update(serials).where(serials.c.id.in_(ids), serials.c.status == "available").values(status="assigned")
    )
    if claimed.rowcount != count:
        raise Refusal(codes.OUT_OF_STOCK)
    return [(r.id, r.value) for r in rows]


def available_at_most(conn: Connection, product_id: int, cap: int) -> int:
    """How many serials are available, counting no further than `cap` (cheap on huge pools)."""
    capped = (
        select(serials.c.id)
        .where(serials.c.product_id == product_id, serials.c.status == "available")
        .limit(cap)
        .subquery()
    )
    return conn.execute(select(func.count()).select_from(capped)).scalar_one()


def status_of(conn: Connection, product, today: dt.date) -> int:  # type: ignore[no-untyped-def]
    """getStockStatus's 100/200/300 for one product row (needs serial_source, status, threshold)."""
    if product.serial_source != "pool":
        return stock_status(None, product.almost_out_threshold, product.status == "available")
    available = available_at_most(conn, product.id, product.almost_out_threshold + 1)
    return stock_status(available, product.almost_out_threshold, product.status == "available")


@dataclass(frozen=True)
class StockLine:
    ref: int
    name: str
    serial_source: str
    available: int
    assigned: int
    revoked: int


def report(ctx: Context) -> list[StockLine]:
    """Available / assigned / revoked serials per product, for the operator."""
    with ctx.db.read() as conn:
        counts: dict[int, dict[str, int]] = {}
        for product_id, status, n in conn.execute(
            select(serials.c.product_id, serials.c.status, func.count()).group_by(
                serials.c.product_id, serials.c.status
            )
        ):
            counts.setdefault(product_id, {})[status] = n
        rows = conn.execute(
            select(products.c.id, products.c.ref, products.c.name, products.c.serial_source).order_by(products.c.ref)
        ).all()
    return [
        StockLine(
            ref=r.ref,
            name=r.name,
            serial_source=r.serial_source,
            available=counts.get(r.id, {}).get("available", 0),
            assigned=counts.get(r.id, {}).get("assigned", 0),
            revoked=counts.get(r.id, {}).get("revoked", 0),
        )
        for r in rows
    ]


LEVEL_EVENTS = {ALMOST_OUT: "stock.low", OUT: "stock.out"}
LEVELS_LOCK = 0x7265_7365_6C6C_0001  # a PostgreSQL advisory lock key: one level check at a time


def check_levels(ctx: Context, actor: str = "worker:stock") -> int:
    """Compare each pooled product's stock level with the last one seen; report the changes.

    Entering "almost out" from "enough" is stock.low, entering "out" is stock.out (for the operator's
    endpoints and the publisher's); every change, up or down, is an audit row. A product seen for the
    first time is recorded silently. Run by the worker (not inside createOrder: concurrent orders on
    PostgreSQL do not see each other's claims, so only a later look can tell the level for sure).
    Returns the number of changes.
    """
    now = ctx.now()
    changes = 0
    with ctx.db.write() as conn:
        lock = text("SELECT pg_try_advisory_xact_lock(:key)")
        if ctx.db.is_postgres and not conn.execute(lock, {"key": LEVELS_LOCK}).scalar():
            return 0  # another worker is looking right now (SQLite: BEGIN IMMEDIATE makes them take turns)
        known = dict(conn.execute(select(stock_levels.c.product_id, stock_levels.c.status)).all())
        pooled = conn.execute(
            select(
                products.c.id,
                products.c.ref,
                products.c.name,
                products.c.status,
                products.c.serial_source,
                products.c.almost_out_threshold,
                products.c.publisher_id,
                publishers.c.key.label("publisher"),
            )
            .join(publishers, publishers.c.id == products.c.publisher_id)
            .where(products.c.serial_source == "pool")
            .order_by(products.c.id)
        ).all()
        for product in pooled:
            available = available_at_most(conn, product.id, product.almost_out_threshold + 1)
            level = stock_status(available, product.almost_out_threshold)
            before = known.get(product.id)
            if before == level:
                continue
            if before is None:
                conn.execute(stock_levels.insert().values(product_id=product.id, status=level, changed_at=now))
                continue
            conn.execute(
                update(stock_levels).where(stock_levels.c.product_id == product.id).values(status=level, changed_at=now)
            )
            audit(
                conn,
                now,
                actor,
                "stock",
                product.ref,
                "level_changed",
                before={"status": before},
                after={"status": level, "available": available},
            )
            kind = LEVEL_EVENTS.get(level)
            if kind == "stock.out" or (kind == "stock.low" and before < level):
                enqueue(
                    conn,
                    now,
                    kind,
                    {
                        "publisherId": product.publisher_id,
                        "publisher": product.publisher,
                        "productRef": product.ref,
                        "productName": product.name,
                        "available": available,
                        "almostOutThreshold": product.almost_out_threshold,
                    },
                )
            changes += 1
    return changes
