"""A feed of 100,000 products streams over HTTP in bounded memory.

The catalogue is bulk-inserted (one executemany per table). The feed is fetched from the live test
server, whose thread shares this process: tracemalloc sees the server's allocations and the
client's. Loading the catalogue whole would take well over 100 MB; streaming stays within a few MB.
Run with `-s` to see the figures:

    .venv/bin/python -m pytest tests/api/feed/test_feed_scale.py -s
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import select

from resell.db.tables import (
    catalog_products,
    categories,
    category_labels,
    product_categories,
    product_prices,
    products,
    publishers,
)
from resell.services import feeds, merchants
from resell.services.context import Context
from tests.conftest import truncate_all

PRODUCTS = 100_000
FIRST_REF = 5_000_000
BATCH = 10_000
MAX_PEAK_GROWTH = 16 * 1024 * 1024  # bytes


def bulk_catalogue(ctx: Context) -> str:
    """100,000 products, each with a price, a category and a description, all in one merchant catalogue;
    returns that catalogue's secret."""
    now = ctx.now()
    with ctx.db.write() as conn:
        conn.execute(publishers.insert().values(key="bulk", name="Bulk Publisher"))
        publisher_id = conn.execute(select(publishers.c.id).where(publishers.c.key == "bulk")).scalar_one()
        conn.execute(categories.insert().values(id=1, parent_id=None, position=0))
        conn.execute(category_labels.insert().values(category_id=1, language="en", label="Games"))
        for start in range(0, PRODUCTS, BATCH):
            refs = range(FIRST_REF + start, FIRST_REF + min(start + BATCH, PRODUCTS))
            conn.execute(
                products.insert(),
                [
                    {
                        "ref": ref,
                        "name": f"Bulk product {ref}",
                        "type": "game",
                        "status": "available",
                        "delivery_mode": "download",
                        "serial_source": "none",
                        "publisher_id": publisher_id,
                        "short_description": f"A generated product, number {ref}, for the feed volume test.",
                        "image_small": f"bulk/{ref}.png",
                        "remark_template": "",
                        "almost_out_threshold": 10,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for ref in refs
                ],
            )
    made, (catalogue,) = merchants.create_merchant(
        ctx, "bulk-shop", catalogs_to_add=[merchants.CatalogSpec("Bulk EUR", "EUR", product_refs=[])]
    )
    with ctx.db.write() as conn:
        ids = list(conn.execute(select(products.c.id).where(products.c.ref >= FIRST_REF)).scalars())
        for start in range(0, len(ids), BATCH):
            batch = ids[start : start + BATCH]
            conn.execute(
                catalog_products.insert(), [{"catalog_id": catalogue.catalog_id, "product_id": i} for i in batch]
            )
            conn.execute(
                product_prices.insert(),
                [
                    {"product_id": i, "currency": "EUR", "amount_duty_free": Decimal("9.99"), "vat_rate": Decimal(20)}
                    for i in batch
                ],
            )
            conn.execute(product_categories.insert(), [{"product_id": i, "category_id": 1} for i in batch])
    return catalogue.secret


def download(server: str, secret: str, config: str) -> tuple[int, int]:
    """Streams the feed; returns (bytes, products) without keeping the body."""
    size = count = 0
    marker = b"<product id=" if config == "xml" else b"\n"
    tail = b""
    params = {"secret": secret, "provider": "bench", "config": config}
    with httpx.stream("GET", f"{server}/flow/getcatalog/v2.4/", params=params, timeout=600) as reply:
        assert reply.status_code == 200
        for chunk in reply.iter_bytes():
            size += len(chunk)
            count += (tail + chunk).count(marker) - tail.count(marker)
            tail = chunk[-16:]
    return size, count - (1 if config == "csv" else 0)  # the CSV's header line


@pytest.fixture
def emptied_after(ctx: Context) -> Iterator[None]:
    """100,000 products are too many for the next test's DELETE: TRUNCATE them on PostgreSQL."""
    yield
    if ctx.db.is_postgres:
        ctx.db.dispose()
        truncate_all(ctx.settings.effective_database_url)


def test_100k_product_feed_streams_in_bounded_memory(ctx: Context, server: str, emptied_after: None) -> None:
    started = time.perf_counter()
    secret = bulk_catalogue(ctx)
    print(f"\n{PRODUCTS:,} products bulk-inserted in {time.perf_counter() - started:.1f} s ({ctx.db.engine.name})")
    for feed_format in ("xml", "csv"):
        feeds.configure(ctx, "bulk-shop", "EUR", "bench", feed_format, feed_format)

        # one download, traced: tracemalloc makes it several times slower, and its peak is the figure
        started = time.perf_counter()
        tracemalloc.start()
        try:
            baseline = tracemalloc.get_traced_memory()[0]
            size, count = download(server, secret, feed_format)
            peak = tracemalloc.get_traced_memory()[1] - baseline
        finally:
            tracemalloc.stop()
        seconds = time.perf_counter() - started
        print(
            f"{feed_format}: {size / 1e6:.1f} MB in {seconds:.1f} s under tracemalloc; "
            f"peak memory growth while streaming {peak / 2**20:.1f} MiB (server and client)"
        )
        assert count == PRODUCTS
        assert peak < MAX_PEAK_GROWTH

    # a differential feed reads the window's changes, not the 100,000 products or their stock
    started = time.perf_counter()
    params = {"secret": secret, "provider": "bench", "config": "xml", "diff": "last"}
    reply = httpx.get(f"{server}/flow/getcatalog/v2.4/", params=params, timeout=600)
    seconds = time.perf_counter() - started
    assert reply.status_code == 200 and b"<product " not in reply.content
    print(f"xml diff=last with nothing changed: {seconds:.2f} s")
