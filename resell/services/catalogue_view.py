"""The back office's view of the catalogue: products with their prices, files, links, texts per language
and stock.

Read-only, and a few queries per page whatever the number of products (no query per product). A
publisher member passes its `publisher_id`: it then reads its own products only, and another
publisher's product is "not found", as if it did not exist.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Row, String, cast, func, or_, select

from resell.db.tables import (
    option_eligibility,
    product_files,
    product_links,
    product_prices,
    product_texts,
    products,
    publishers,
    serials,
)
from resell.domain.stock import stock_status
from resell.services.context import Context

STOCK_LABELS = {100: "in stock", 200: "almost out", 300: "out of stock"}


class ProductNotFound(LookupError):
    """No such product ref (or one of another publisher, for a publisher member)."""


@dataclass(frozen=True)
class Price:
    currency: str
    amount_duty_free: Decimal
    vat_rate: Decimal


@dataclass(frozen=True)
class ProductRow:
    product_id: int
    ref: int
    name: str
    type: str
    status: str
    publisher_key: str
    publisher_name: str
    serial_source: str
    almost_out_threshold: int
    prices: list[Price]
    files: int
    serials: dict[str, int]  # serial status -> count (pooled products)

    @property
    def available(self) -> int | None:
        """Serials available, None for a product that needs no pooled serial."""
        return self.serials.get("available", 0) if self.serial_source == "pool" else None

    @property
    def stock_status(self) -> int:
        return stock_status(self.available, self.almost_out_threshold, self.status == "available")

    @property
    def stock_label(self) -> str:
        return STOCK_LABELS[self.stock_status]


@dataclass(frozen=True)
class FileInfo:
    label: str
    file_name: str
    type: str
    size: int
    group: str


@dataclass(frozen=True)
class LinkedProduct:
    ref: int
    name: str
    kind: str  # up | cross | option (an option this product may take) | eligible (a product this option fits)


@dataclass(frozen=True)
class LanguageTexts:
    """The product's texts in one language (catalogue import, `texts`); None: not translated, the
    product's own shows."""

    language: str
    name: str | None
    short_description: str | None
    remark: str | None


@dataclass(frozen=True)
class ProductDetail:
    row: ProductRow
    delivery_mode: str
    release_date: object
    subscription_period: str | None
    option_kind: str | None
    option_period: str | None
    short_description: str
    files: list[FileInfo]
    links: list[LinkedProduct] = field(default_factory=list)
    texts: list[LanguageTexts] = field(default_factory=list)  # by language code


@dataclass(frozen=True)
class PublisherInfo:
    publisher_id: int
    key: str
    name: str


_COLUMNS = (
    products.c.id,
    products.c.ref,
    products.c.name,
    products.c.type,
    products.c.status,
    products.c.serial_source,
    products.c.almost_out_threshold,
    publishers.c.key.label("publisher_key"),
    publishers.c.name.label("publisher_name"),
)


def list_products(ctx: Context, publisher_id: int | None = None, text: str = "") -> list[ProductRow]:
    """Every product by ref (a publisher's only, with `publisher_id`), those matching `text` (a part of
    the name, the ref, or the publisher's key) when given: four queries in all."""
    query = select(*_COLUMNS).join(publishers, publishers.c.id == products.c.publisher_id).order_by(products.c.ref)
    if publisher_id is not None:
        query = query.where(products.c.publisher_id == publisher_id)
    text = text.strip()
    if text:
        query = query.where(
            or_(
                func.lower(products.c.name).contains(text.lower(), autoescape=True),
                cast(products.c.ref, String) == text,
                publishers.c.key == text,
            )
        )
    with ctx.db.read() as conn:
        rows = conn.execute(query).all()
        return _rows(conn, rows, query.with_only_columns(products.c.id).order_by(None)) if rows else []


def _rows(conn: Connection, rows: Sequence[Row], wanted: Any) -> list[ProductRow]:
    """Prices, file counts and serial counts of the products `wanted` (ids, or a query of ids) in
    three grouped queries, joined to their `rows`."""
    prices: dict[int, list[Price]] = defaultdict(list)
    files: dict[int, int] = {}
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    for p in conn.execute(
        select(product_prices).where(product_prices.c.product_id.in_(wanted)).order_by(product_prices.c.currency)
    ):
        prices[p.product_id].append(Price(p.currency, p.amount_duty_free, p.vat_rate))
    files = dict(
        conn.execute(
            select(product_files.c.product_id, func.count())
            .where(product_files.c.product_id.in_(wanted))
            .group_by(product_files.c.product_id)
        ).all()
    )
    for product_id, status, n in conn.execute(
        select(serials.c.product_id, serials.c.status, func.count())
        .where(serials.c.product_id.in_(wanted), serials.c.status != "test")  # TEST- serials are no stock
        .group_by(serials.c.product_id, serials.c.status)
    ):
        counts[product_id][status] = n
    return [
        ProductRow(
            product_id=r.id,
            ref=r.ref,
            name=r.name,
            type=r.type,
            status=r.status,
            publisher_key=r.publisher_key,
            publisher_name=r.publisher_name,
            serial_source=r.serial_source,
            almost_out_threshold=r.almost_out_threshold,
            prices=prices.get(r.id, []),
            files=files.get(r.id, 0),
            serials=dict(counts.get(r.id, {})),
        )
        for r in rows
    ]


def product_detail(ctx: Context, ref: int, publisher_id: int | None = None) -> ProductDetail:
    """One product with its prices, files (with sizes), links, texts per language and serial counts."""
    query = select(
        *_COLUMNS,
        products.c.delivery_mode,
        products.c.release_date,
        products.c.subscription_period,
        products.c.option_kind,
        products.c.option_period,
        products.c.short_description,
    ).join(publishers, publishers.c.id == products.c.publisher_id)
    query = query.where(products.c.ref == ref)
    if publisher_id is not None:
        query = query.where(products.c.publisher_id == publisher_id)
    with ctx.db.read() as conn:
        found = conn.execute(query).first()
        if found is None:
            raise ProductNotFound(f"no product {ref}")
        row = _rows(conn, [found], [found.id])[0]
        file_rows = conn.execute(
            select(product_files)
            .where(product_files.c.product_id == found.id)
            .order_by(product_files.c.position, product_files.c.id)
        ).all()
        linked = products.alias("linked")
        links = [
            LinkedProduct(r.ref, r.name, r.kind)
            for r in conn.execute(
                select(linked.c.ref, linked.c.name, product_links.c.kind)
                .join(linked, linked.c.id == product_links.c.linked_product_id)
                .where(product_links.c.product_id == found.id)
                .order_by(product_links.c.kind.desc(), linked.c.ref)
            )
        ]
        links += [
            LinkedProduct(r.ref, r.name, "option")
            for r in conn.execute(
                select(linked.c.ref, linked.c.name)
                .join(option_eligibility, option_eligibility.c.option_product_id == linked.c.id)
                .where(option_eligibility.c.product_id == found.id)
                .order_by(linked.c.ref)
            )
        ]
        links += [
            LinkedProduct(r.ref, r.name, "eligible")
            for r in conn.execute(
                select(linked.c.ref, linked.c.name)
                .join(option_eligibility, option_eligibility.c.product_id == linked.c.id)
                .where(option_eligibility.c.option_product_id == found.id)
                .order_by(linked.c.ref)
            )
        ]
        texts = [
            LanguageTexts(t.language, t.name, t.short_description, t.remark_template or None)  # "": its own
            for t in conn.execute(
                select(product_texts).where(product_texts.c.product_id == found.id).order_by(product_texts.c.language)
            )
        ]
    if publisher_id is not None:
        own = _refs_of(ctx, publisher_id, [link.ref for link in links])
        links = [link for link in links if link.ref in own]
    return ProductDetail(
        row=row,
        delivery_mode=found.delivery_mode,
        release_date=found.release_date,
        subscription_period=found.subscription_period,
        option_kind=found.option_kind,
        option_period=found.option_period,
        short_description=found.short_description,
        files=[FileInfo(f.label, f.file_name, f.type, f.size, f.group) for f in file_rows],
        links=links,
        texts=texts,
    )


def _refs_of(ctx: Context, publisher_id: int, refs: list[int]) -> set[int]:
    """Which of `refs` belong to the publisher: a publisher member sees no other publisher's product."""
    if not refs:
        return set()
    with ctx.db.read() as conn:
        return set(
            conn.execute(
                select(products.c.ref).where(products.c.ref.in_(refs), products.c.publisher_id == publisher_id)
            ).scalars()
        )


def list_publishers(ctx: Context) -> list[PublisherInfo]:
    with ctx.db.read() as conn:
        return [
            PublisherInfo(r.id, r.key, r.name)
            for r in conn.execute(
                select(publishers.c.id, publishers.c.key, publishers.c.name).order_by(publishers.c.key)
            )
        ]


def publisher_of(ctx: Context, publisher_id: int) -> PublisherInfo | None:
    with ctx.db.read() as conn:
        r = conn.execute(
            select(publishers.c.id, publishers.c.key, publishers.c.name).where(publishers.c.id == publisher_id)
        ).first()
    return PublisherInfo(r.id, r.key, r.name) if r else None
