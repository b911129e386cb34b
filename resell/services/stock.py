"""Licence-key stock: importing serials, allocating them to orders, stock levels and reports.

The rule that matters most in resell: a serial is handed out at most once, ever. Allocation runs
inside the createOrder transaction: on PostgreSQL the rows are claimed with
`FOR UPDATE SKIP LOCKED`, on SQLite the whole write transaction holds the database lock taken by
`BEGIN IMMEDIATE`. The status update re-checks `status = 'available'` and the primary key of
`serial_assignments` (one row per serial, never deleted) is the backstop if anything else slips.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from itertools import islice
from typing import BinaryIO

from sqlalchemy import ColumnElement, Connection, Select, bindparam, func, literal_column, select, update

from resell.db.engine import Database
from resell.db.locking import for_update, try_advisory_lock
from resell.db.prepared import Prepared
from resell.db.tables import products, publishers, serials, stock_levels
from resell.domain import codes
from resell.domain.codes import Refusal
from resell.domain.stock import ALMOST_OUT, OUT, stock_status
from resell.services import catalog_changes
from resell.services.audit_log import audit
from resell.services.context import Context
from resell.services.outbox import enqueue

# serials per transaction: large enough that commits cost nothing, small enough that createOrder never
# waits long behind an import for SQLite's write lock (about 0.1 s a batch on this class of machine)
IMPORT_BATCH = 20_000
MAX_SERIAL_LENGTH = 500


class StockError(ValueError):
    """An operator mistake (unknown product, product without a serial pool, a malformed file)."""


# a line holding one of these is a CSV (or a table) pasted as keys; \udc80-\udcff are the bytes
# that were not UTF-8, as decoding with errors="surrogateescape" keeps them
_SEPARATOR = re.compile(r"[,;\t|]")
_NOT_UTF8 = re.compile("[\udc80-\udcff]")
_SUSPECT = re.compile("[,;\t|\udc80-\udcff]")
# a first line made only of these words is a column title, not a key ("serial", "Licence key", ...)
_HEADER_WORDS = frozenset(
    "serial serials key keys code codes licence licences license licenses number numbers no activation "
    "product voucher pin value values".split()
)
_SHOWN_PROBLEMS = 5


def _problem(value: str, first: bool) -> str | None:
    """Why a stripped, non-blank line cannot be a key, or None when it can."""
    if _NOT_UTF8.search(value):
        return "not UTF-8"
    if sep := _SEPARATOR.search(value):
        return f"separator {sep.group()!r}"
    if first and all(word in _HEADER_WORDS for word in re.split(r"[\s_\-]+", value.lower())):
        return f"header {value!r}"
    return None


def check_serials(lines: Iterable[str]) -> None:
    """Refuse a file that holds a header line, non-UTF-8 bytes or separated fields (a pasted CSV).

    One streamed pass before anything is written, so a refused file imports nothing at all; the
    error names the first few offending line numbers and how many there are in all.
    """
    problems: list[str] = []
    total = 0
    first = True
    number = 0
    for batch in _batches(lines, IMPORT_BATCH):
        # one C-speed search of the whole batch; only a batch with a suspect character (maybe just
        # surrounding whitespace) or the first key (a possible header) is looked at line by line
        if not first and _SUSPECT.search("".join(batch)) is None:
            number += len(batch)
            continue
        for line in batch:
            number += 1
            value = line.strip()
            if not value:
                continue
            why = _problem(value, first)
            first = False
            if why:
                total += 1
                if len(problems) < _SHOWN_PROBLEMS:
                    problems.append(f"line {number}: {why}")
    if total:
        more = f" and {total - len(problems)} more" if total > len(problems) else ""
        raise StockError(
            f"file refused, nothing imported: {total} bad line{'s' * (total > 1)} "
            f"({'; '.join(problems)}{more}); one key per line, no header, UTF-8"
        )


class SerialStream:
    """The lines of a seekable binary file (an upload), read from its start at each iteration, as
    `import_serials` needs: decoded as the CLI decodes a file (UTF-8, lines end at "\n", bytes that
    are not UTF-8 kept as surrogates so that `check_serials` names their line)."""

    def __init__(self, binary: BinaryIO) -> None:
        self.binary = binary

    def __iter__(self) -> Iterator[str]:
        self.binary.seek(0)
        text = io.TextIOWrapper(self.binary, encoding="utf-8", errors="surrogateescape", newline="\n")
        try:
            yield from text
        finally:
            text.detach()  # the caller's file stays open


@dataclass(frozen=True)
class ImportResult:
    added: int
    duplicates: int
    rejected: int  # blank lines are ignored; over-long lines are rejected


def _batches(lines: Iterable[str], size: int) -> Iterator[list[str]]:
    it = iter(lines)
    while batch := list(islice(it, size)):
        yield batch


# the whole batch is one JSON array parameter: no per-row binding in Python (2-3x faster than an
# executemany); "WHERE true" is SQLite's required disambiguation of an upsert on a SELECT
_SQLITE_INSERT = (
    "INSERT INTO serials (product_id, value, status, imported_at) "
    "SELECT ?, value, 'available', ? FROM json_each(?) WHERE true "
    "ON CONFLICT (product_id, value) DO NOTHING"
)
_PG_STAGE = "CREATE TEMP TABLE serial_import (value text NOT NULL) ON COMMIT DROP"
_PG_INSERT = (
    "INSERT INTO serials (product_id, value, status, imported_at) "
    "SELECT %s, value, 'available', %s FROM serial_import "
    "ON CONFLICT (product_id, value) DO NOTHING"
)


def _insert_batch(conn: Connection, db: Database, product_id: int, values: list[str], now: dt.datetime) -> int:
    """Insert what is new among `values` in the caller's transaction; returns how many rows were added.

    Straight to the driver, one INSERT ... SELECT ... ON CONFLICT DO NOTHING per batch: from the
    batch as a JSON array on SQLite, from a temporary table filled by COPY on PostgreSQL. The unique
    constraint on (product_id, value) does the duplicate check, for the rows already in stock and
    for the repeats inside the file alike: whatever was not added was a duplicate.
    """
    driver = conn.connection.driver_connection
    assert driver is not None
    if db.is_sqlite:
        bind = serials.c.imported_at.type.bind_processor(conn.dialect)
        stamp = bind(now) if bind else now
        if isinstance(stamp, dt.datetime):
            stamp = stamp.isoformat(" ")  # what sqlite3's adapter would do, once instead of once a row
        cursor = driver.cursor()
        try:
            cursor.execute(_SQLITE_INSERT, (product_id, stamp, json.dumps(values, ensure_ascii=False)))
            return int(cursor.rowcount)
        finally:
            cursor.close()
    with driver.cursor() as cursor:
        cursor.execute(_PG_STAGE)
        with cursor.copy("COPY serial_import (value) FROM STDIN") as copy:
            for value in values:
                copy.write_row((value,))
        cursor.execute(_PG_INSERT, (product_id, now))
        return int(cursor.rowcount)


def import_serials(
    ctx: Context,
    product_ref: int,
    lines: Iterable[str],
    on_progress: Callable[[int], None] | None = None,
    actor: str = "operator",
    batch_size: int = IMPORT_BATCH,
) -> ImportResult:
    """Add serials, one per line. Duplicates (in the file or already in stock) are skipped and counted.

    `lines` is read twice: first checked whole (`check_serials`: all or nothing), then imported, so
    it must be re-iterable (a list, or an object that reopens its file); a one-shot iterator is
    refused rather than silently importing nothing. Each batch commits on its own, so memory stays
    flat and an interrupted import can simply be run again: what was already imported counts as
    duplicates the second time. `on_progress` is called after each batch with the number of lines
    it held (blank ones included).
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
    if iter(lines) is lines:
        raise TypeError("import_serials reads its lines twice: pass a re-iterable, not an iterator")
    check_serials(lines)
    added = duplicates = rejected = 0
    for batch in _batches(lines, batch_size):
        values = [v for v in map(str.strip, batch) if v]
        kept = [v for v in values if len(v) <= MAX_SERIAL_LENGTH]
        rejected += len(values) - len(kept)
        if kept:
            with ctx.db.write() as conn:
                now = ctx.now()
                fresh = _insert_batch(conn, ctx.db, product.id, kept, now)
                if fresh:  # the product may be back in stock: differential feeds list it
                    catalog_changes.record_restock(conn, now, product.id)
            added += fresh
            duplicates += len(kept) - fresh
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
    if added and ctx.db.is_postgres:
        _vacuum_analyze(ctx.db)
    return ImportResult(added, duplicates, rejected)


def _vacuum_analyze(db: Database) -> None:
    """PostgreSQL plans on statistics, and a pool just imported has none yet (autovacuum analyzes a
    table a minute or more after it changed, never where it is off). Without them createOrder's pick
    of the first free serials was planned as "every available serial of the product, then sort":
    125 ms an order on a pool of 100,000, inside the writer's turn, and createOrder fell to 13-15
    orders/s at c=32. ANALYZE samples the table (a fraction of a second for a million rows).
    VACUUM marks the new pages all-visible: getStockStatus's count of available serials then reads
    the index alone instead of checking each serial in the table (PostgreSQL's CPU for a count up to
    101: 220 µs before, 90 after). VACUUM runs outside a transaction."""
    with db.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM (ANALYZE) serials")


# 'available' is written into the SQL, not bound: only then may SQLite and PostgreSQL (whose
# prepared statements get generic plans) use the partial index of available serials.
_AVAILABLE: ColumnElement[str] = literal_column("'available'")


def _of_product(product_id: ColumnElement[int]) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """The product's serials, in the partial index's order. Asked for as the range [product, product]
    ordered by (product_id, id), not as product_id = p ordered by id: with an equality PostgreSQL
    takes the primary key's order instead and filters as it goes, which its statistics price the same
    (they know how many serials are sold, not that the sold ones are the first), but which reads every
    serial sold before the first free one: a claim read 900 pages after 3,000 sales against 15."""
    return serials.c.product_id >= product_id, serials.c.product_id <= product_id


def _first_available(count: ColumnElement[int]) -> Select[tuple[int, str]]:
    """The first `count` free serials of the product `product_id`, in the partial index's order."""
    return (
        select(serials.c.id, serials.c.value)
        .where(*_of_product(bindparam("product_id")), serials.c.status == _AVAILABLE)
        .order_by(serials.c.product_id, serials.c.id)
        .limit(count)
    )


# Claims of up to this many serials have their count written into the SQL (a statement each).
_LITERAL_COUNTS = 16


@cache
def _claim(count: int | None) -> Prepared:
    """Pick and claim in one statement (one round trip on PostgreSQL): the first free serials, locked
    and skipping those a concurrent order holds, are set assigned; the outer re-check of `available`
    is SQLite's (no row locks there, the write transaction is the lock).

    The count is written into the SQL for the usual small orders. With LIMIT a parameter, the plan
    PostgreSQL prepares once (its generic plan) is priced for a tenth of the pool, so it planned the
    claim again on every order instead: 0.2 ms of its CPU per order, more than running it."""
    limit: ColumnElement[int] = bindparam("count") if count is None else literal_column(str(int(count)))
    return Prepared(
        update(serials)
        .where(
            serials.c.id.in_(for_update(_first_available(limit).with_only_columns(serials.c.id), skip_locked=True)),
            serials.c.status == _AVAILABLE,
        )
        .values(status="assigned")
        .returning(serials.c.id, serials.c.value)
    )


def _count_available(product_id: ColumnElement[int], cap: ColumnElement[int]) -> Select[int]:
    """How many serials of `product_id` are available, counting no further than `cap` (cheap on huge
    pools). `product_id` may be a column of an enclosing query (`available_column`)."""
    return select(func.count()).select_from(
        select(serials.c.id)
        .where(*_of_product(product_id), serials.c.status == _AVAILABLE)
        .order_by(serials.c.product_id, serials.c.id)
        .limit(cap)
        .correlate(products)
        .subquery()
    )


_COUNT_AVAILABLE = Prepared(_count_available(bindparam("product_id"), bindparam("cap")))


_THRESHOLD_OF = products.alias("threshold_of")


def available_column(ref: ColumnElement[int]) -> ColumnElement[int]:
    """The serials available of the product `ref` (a bound value) as a column of a query of that
    product, counted up to its threshold + 1: what `status_of` needs, with the product row, in one
    statement (one round trip on PostgreSQL). SQLite takes no column of the outer query in a LIMIT,
    so the threshold is read again by the ref, in an uncorrelated subquery."""
    cap = select(_THRESHOLD_OF.c.almost_out_threshold + literal_column("1")).where(_THRESHOLD_OF.c.ref == ref)
    return _count_available(products.c.id, cap.scalar_subquery()).scalar_subquery()


def allocate(conn: Connection, product_id: int, count: int) -> list[tuple[int, str]]:
    """Claim `count` available serials of a product in the caller's transaction, or refuse with 1044.

    PostgreSQL skips rows a concurrent order has locked; SQLite has one writer at a time. Either way
    the claim re-checks `available`, and serial_assignments' primary key is the last word."""
    if count <= 0:
        return []
    if count <= _LITERAL_COUNTS:
        claimed = _claim(count).all(conn, product_id=product_id)
    else:  # a larger claim takes its count as a parameter (and is planned each time: rare, and large)
        claimed = _claim(None).all(conn, product_id=product_id, count=count)
    claimed.sort()  # RETURNING has no order
    if len(claimed) < count:
        raise Refusal(codes.OUT_OF_STOCK)  # the caller's transaction rolls the partial claim back
    return [(serial_id, value) for serial_id, value in claimed]


def available_at_most(conn: Connection, product_id: int, cap: int) -> int:
    """How many serials are available, counting no further than `cap` (cheap on huge pools)."""
    return int(_COUNT_AVAILABLE.scalar(conn, product_id=product_id, cap=cap))


def pool_levels(ctx: Context, cap: int) -> list[tuple[int, int]]:
    """(product ref, serials available counted up to `cap`) for each pooled product: the metrics' gauge."""
    with ctx.db.read() as conn:
        pools = conn.execute(select(products.c.id, products.c.ref).where(products.c.serial_source == "pool")).all()
        return [(ref, available_at_most(conn, product_id, cap)) for product_id, ref in pools]


def status_of(product) -> int:  # type: ignore[no-untyped-def]
    """getStockStatus's 100/200/300 for a product row (serial_source, status, threshold) read with its
    `available` serials counted up to at least its threshold + 1 (`available_column`)."""
    available = product.available if product.serial_source == "pool" else None
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
        if not try_advisory_lock(conn, LEVELS_LOCK):
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
