"""What changed in which merchant catalogue, and when: the rows the differential product feeds read.

Three things change what a catalogue's feed shows, and each records here, in the transaction of
the change itself:

- a product joins a catalogue (`insert`) or leaves it (`delete`): resell.services.merchants;
- an imported product's feed data changes (`update`), for every catalogue that sells it:
  resell.services.catalog_import takes a `snapshot` before and calls `record_updates` after.
  Re-importing an unchanged product records nothing.

- serials are imported for a product (`update`, for every catalogue that sells it): its stock may have
  come back, moving its feed status from out_of_stock to available: resell.services.stock calls
  `record_restock` in the transaction of each batch that added serials.

Stock running out and a release date passing also move a product's feed status; the feed finds
those when it is read (resell.services.feeds, docs/feed.md), because allocation on PostgreSQL cannot
tell inside createOrder that a concurrent order took the last serial.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import Connection, literal, select

from resell.db.tables import (
    catalog_changes,
    catalog_products,
    category_labels,
    product_categories,
    product_files,
    product_links,
    product_operating_systems,
    product_prices,
    product_texts,
    products,
    publishers,
)

BATCH = 1000


def record(conn: Connection, at: dt.datetime, catalog_id: int, product_ids: Iterable[int], action: str) -> None:
    """Products that joined (`insert`) or left (`delete`) one catalogue."""
    rows = [{"catalog_id": catalog_id, "product_id": pid, "action": action, "at": at} for pid in product_ids]
    if rows:
        conn.execute(catalog_changes.insert(), rows)


def _batches(ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), BATCH):
        yield ids[start : start + BATCH]


def _fingerprints(conn: Connection, ids: list[int]) -> dict[int, str]:
    """A digest of everything a feed shows of each product (its row, publisher, prices, categories with
    their labels, operating systems, links, files, names and short descriptions per language)."""
    parts: dict[int, list[Any]] = defaultdict(list)
    for batch in _batches(ids):
        queries = [
            select(products, publishers.c.key, publishers.c.name)
            .join(publishers, publishers.c.id == products.c.publisher_id)
            .where(products.c.id.in_(batch)),
            select(product_prices).where(product_prices.c.product_id.in_(batch)),
            select(product_categories.c.product_id, product_categories.c.category_id, category_labels)
            .outerjoin(category_labels, category_labels.c.category_id == product_categories.c.category_id)
            .where(product_categories.c.product_id.in_(batch)),
            select(product_operating_systems).where(product_operating_systems.c.product_id.in_(batch)),
            select(product_links).where(product_links.c.product_id.in_(batch)),
            select(product_files.c.product_id, product_files.c.file_name, product_files.c.size).where(
                product_files.c.product_id.in_(batch)
            ),
            select(
                product_texts.c.product_id,
                product_texts.c.language,
                product_texts.c.name,
                product_texts.c.short_description,
            ).where(product_texts.c.product_id.in_(batch)),
        ]
        for kind, query in enumerate(queries):  # each query's first column is the product id
            for row in conn.execute(query):
                values = row._mapping
                parts[row[0]].append(
                    (kind, tuple(str(v) for k, v in values.items() if k not in ("updated_at", "created_at")))
                )
    return {pid: hashlib.sha256(repr(sorted(rows)).encode()).hexdigest() for pid, rows in parts.items()}


def snapshot(conn: Connection, refs: Iterable[int]) -> dict[int, str]:
    """Before an import: the fingerprints of the listed products that some catalogue sells."""
    refs = list(dict.fromkeys(refs))
    ids: list[int] = []
    for batch in _batches(refs):
        ids += conn.execute(
            select(products.c.id)
            .where(products.c.ref.in_(batch))
            .where(select(catalog_products.c.product_id).where(catalog_products.c.product_id == products.c.id).exists())
        ).scalars()
    return _fingerprints(conn, ids)


def record_updates(conn: Connection, at: dt.datetime, before: dict[int, str]) -> int:
    """After an import: an `update` in every catalogue selling a product whose fingerprint changed."""
    after = _fingerprints(conn, list(before))
    changed = [pid for pid, digest in before.items() if after.get(pid) != digest]
    for batch in _batches(changed):
        _record_everywhere(conn, at, batch)
    return len(changed)


def record_restock(conn: Connection, at: dt.datetime, product_id: int) -> None:
    """Serials were added to a product's pool: an `update` in every catalogue selling it."""
    _record_everywhere(conn, at, [product_id])


def _record_everywhere(conn: Connection, at: dt.datetime, product_ids: list[int]) -> None:
    conn.execute(
        catalog_changes.insert().from_select(
            ["catalog_id", "product_id", "action", "at"],
            select(
                catalog_products.c.catalog_id,
                catalog_products.c.product_id,
                literal("update"),
                literal(at, catalog_changes.c.at.type),
            ).where(catalog_products.c.product_id.in_(product_ids)),
        )
    )
