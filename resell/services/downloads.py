"""Download links at work: who may download what, until when, and the counters getDownloadInfo shows.

A link is `/download/{line token}/{file id}/{signature}` (resell.domain.links). It opens while the
order is active and today (UTC) is on or before the order's download end date, read at each request,
so updateDownloadTime, the extension option and a cancellation take effect at once.

Counting, per order line and file (download_stats):
- a *start* is a GET whose bytes begin at byte 0 (the whole file, or a first segment);
- a *complete* is counted when the bytes handed to the link's clients since the last complete
  cover the whole file: each GET adds the byte spans it actually sent (a client that went away
  mid-body adds only what was sent before), kept as a compact interval set per link; once their
  union is the whole file, the complete is counted and the set starts again;
- first and last download dates are those of any GET that served bytes; HEAD and refused
  requests count nothing.
So `curl` then `curl -C -` after an interruption counts one start and one complete, four parallel
segments count one complete, and `Range: bytes=-1` (the last byte alone) counts none.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from resell import __version__
from resell.config import Settings
from resell.db.locking import for_update
from resell.db.prepared import Prepared
from resell.db.tables import download_stats, order_lines, orders, product_files, products
from resell.domain import metalink
from resell.domain.links import download_path, metalink_path, verify, verify_metalink
from resell.domain.ranges import covers, format_spans, parse_spans, union
from resell.domain.request_fields import decimal_id
from resell.services.context import Context


@dataclass(frozen=True)
class Download:
    order_line_id: int
    file_id: int
    file_name: str
    content_type: str
    size: int
    sha256: str | None
    storage_key: str | None


class LinkRefused(Exception):
    """Why a link does not open: `tampered` (403), `cancelled` or `expired` (410, with the date), `missing` (404)."""

    def __init__(
        self, reason: str, date: dt.date | None = None, language: str | None = None, order_id: int | None = None
    ):
        super().__init__(reason, date)
        self.reason = reason
        self.date = date
        self.language = language  # the order's customer language, when the order is known
        self.order_id = order_id  # the order, when known (its page then shows the shop)


def _check_open(order: Any, order_id: int, today: dt.date) -> None:
    if order.status == "cancelled":
        cancelled = order.cancelled_at.date() if order.cancelled_at else order.download_end_date
        raise LinkRefused("cancelled", cancelled, order.customer_language, order_id)
    if today > order.download_end_date:
        raise LinkRefused("expired", order.download_end_date, order.customer_language, order_id)


def resolve(ctx: Context, line_token: str, raw_file_id: str, signature: str) -> Download:
    """The file a link opens, or LinkRefused. The signature is checked before the database is asked."""
    file_id = decimal_id(raw_file_id)
    if file_id is None or len(line_token) > 64:
        raise LinkRefused("tampered")
    if not verify(ctx.settings.effective_download_key, line_token, file_id, signature):
        raise LinkRefused("tampered")
    with ctx.db.read() as conn:
        row = conn.execute(
            select(
                order_lines.c.id.label("line_id"),
                orders.c.id.label("order_id"),
                orders.c.status,
                orders.c.cancelled_at,
                orders.c.download_end_date,
                orders.c.customer_language,
                product_files.c.id.label("file_id"),
                product_files.c.file_name,
                product_files.c.content_type,
                product_files.c.size,
                product_files.c.sha256,
                product_files.c.storage_key,
            )
            .select_from(order_lines)
            .join(orders, orders.c.id == order_lines.c.order_id)
            .outerjoin(
                product_files,
                (product_files.c.product_id == order_lines.c.product_id) & (product_files.c.id == file_id),
            )
            .where(order_lines.c.download_token == line_token)
        ).first()
    if row is None:
        raise LinkRefused("missing")
    _check_open(row, row.order_id, ctx.now().date())
    if row.file_id is None:  # the file was withdrawn from the product since the order
        raise LinkRefused("missing", language=row.customer_language, order_id=row.order_id)
    return Download(
        order_line_id=row.line_id,
        file_id=row.file_id,
        file_name=row.file_name,
        content_type=row.content_type,
        size=row.size,
        sha256=row.sha256,
        storage_key=row.storage_key,
    )


def record(ctx: Context, order_line_id: int, file_id: int, started: bool) -> None:
    """Count one GET about to serve bytes (its start, the dates): one atomic upsert, safe under concurrency."""
    now = ctx.now()
    insert = postgresql.insert if ctx.db.is_postgres else sqlite.insert
    statement = insert(download_stats).values(
        order_line_id=order_line_id,
        file_id=file_id,
        starts=int(started),
        completes=0,
        first_download_at=now,
        last_download_at=now,
    )
    statement = statement.on_conflict_do_update(
        index_elements=[download_stats.c.order_line_id, download_stats.c.file_id],
        set_={
            "starts": download_stats.c.starts + int(started),
            "first_download_at": func.coalesce(
                download_stats.c.first_download_at, statement.excluded.first_download_at
            ),
            "last_download_at": statement.excluded.last_download_at,
        },
    )
    with ctx.db.write() as conn:
        conn.execute(statement)


def record_served(ctx: Context, target: Download, size: int, spans: list[tuple[int, int]]) -> bool:
    """Add the byte spans one GET sent of a file of `size` bytes to the link's record, and count a complete
    when the record covers the file (see the module's docstring). Returns whether this GET completed it.

    A read-modify-write of one row: under its row lock on PostgreSQL, under BEGIN IMMEDIATE on SQLite,
    so parallel segments finishing together are all added and the complete is counted once.
    """
    key = (download_stats.c.order_line_id == target.order_line_id) & (download_stats.c.file_id == target.file_id)
    with ctx.db.write() as conn:
        row = conn.execute(
            for_update(select(download_stats.c.served_ranges, download_stats.c.served_object).where(key))
        ).first()
        if row is None:  # record() made the row before the first byte went out; the line was since deleted
            return False
        held = parse_spans(row.served_ranges) if row.served_object == target.storage_key else []
        served = union(held + spans)
        complete = covers(served, size)
        conn.execute(
            update(download_stats)
            .where(key)
            .values(
                served_ranges="" if complete else format_spans(served),
                served_object=target.storage_key,
                completes=download_stats.c.completes + int(complete),
            )
        )
    return complete


# ---------------------------------------------------------------- what order replies show


_ORDER_STATS = Prepared(
    select(download_stats)
    .join(order_lines, order_lines.c.id == download_stats.c.order_line_id)
    .where(order_lines.c.order_id == bindparam("order_id"))
)


def stats_for_order(conn: Connection, order_id: int) -> dict[tuple[int, int], Any]:
    """download_stats rows of an order's lines, by (order line id, file id)."""
    return {(r.order_line_id, r.file_id): r for r in _ORDER_STATS.all(conn, order_id=order_id)}


def locker_link(settings: Settings, order_id: int, language: str | None = None) -> str:
    """The sign-in page with the order number filled in; `language` (the emails') opens it in that language."""
    link = f"{settings.base_url}/locker?order={order_id}"
    return f"{link}&lang={language}" if language else link


def download_manager(settings: Settings, order_id: int) -> dict[str, str]:
    """Both platforms get the order's one Metalink document: it lists every file, each with its group."""
    url = settings.base_url + metalink_path(settings.effective_download_key, order_id)
    return {"pc": url, "mac": url}


# ---------------------------------------------------------------- the Metalink document


def metalink_document(ctx: Context, raw_order_id: str, signature: str) -> bytes:
    order_id = decimal_id(raw_order_id)
    if order_id is None:
        raise LinkRefused("tampered")
    key = ctx.settings.effective_download_key
    if not verify_metalink(key, order_id, signature):
        raise LinkRefused("tampered")
    with ctx.db.read() as conn:
        order = conn.execute(select(orders).where(orders.c.id == order_id)).first()
        if order is None:
            raise LinkRefused("missing")
        _check_open(order, order.id, ctx.now().date())
        lines = conn.execute(
            select(order_lines.c.id, order_lines.c.product_id, order_lines.c.download_token, products.c.name)
            .join(products, products.c.id == order_lines.c.product_id)
            .where(order_lines.c.order_id == order_id)
            .order_by(order_lines.c.position)
        ).all()
        files = defaultdict(list)
        for f in conn.execute(
            select(product_files)
            .where(product_files.c.product_id.in_({line.product_id for line in lines}))
            .order_by(product_files.c.position, product_files.c.id)
        ):
            files[f.product_id].append(f)
    base = ctx.settings.base_url
    entries = [
        metalink.MetalinkFile(
            name=f.file_name,
            size=f.size,
            sha256=f.sha256,
            url=base + download_path(key, line.download_token, f.id),
            description=f"{line.name}: {f.label}" + (f" ({f.group})" if f.group else ""),
        )
        for line in lines
        for f in files[line.product_id]
    ]
    return metalink.document(entries, ctx.now(), f"resell/{__version__}")


@dataclass(frozen=True)
class _NoStats:
    first_download_at: dt.datetime | None = None
    last_download_at: dt.datetime | None = None
    starts: int = 0
    completes: int = 0


NO_STATS = _NoStats()
