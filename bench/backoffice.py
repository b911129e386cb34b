"""`python bench/backoffice.py generate|measure|pages`: a database of 1M orders, and how fast the back office reads it.

generate: a database on the real schema (`resell db upgrade`) filled as a year of trade would fill it:
publishers and ~50 products (imported with the real catalogue import), ~20 merchants with catalogues in
EUR/USD/GBP (created with the real merchant service), then --orders orders written in bulk, row for row
as resell/services/order_writer.py writes them (lines, line items, serials and their assignments, the
subscriptions of first orders, delivery emails in the outbox, audit rows), ~3% cancelled as
cancelOrder leaves them (serials revoked, subscriptions terminated, audit and outbox rows), download
counters on some lines. Orders span the last 365 days, recent days busier; a few customers order a lot.
SQLite goes to --path (var/bench/backoffice.db), PostgreSQL to the database `resell_backoffice` on
RESELL_BENCH_PG_URL's server (created if missing, rebuilt when the parameters differ). A generated
database is reused when its `bench_backoffice_meta` row matches the parameters (--force rebuilds);
one of an older generator whose data the migrations bring up to date (UPGRADABLE) is upgraded in place,
one revision at a time, each one's duration logged and recorded in that row ("upgrades").

measure: each probe (PROBES: a service call or raw SQL the pages will make) --repeat times with varied
inputs (random orders, emails, serials of the database); p50/p95/p99 in ms, printed as a table and
written to bench/results/<date>-backoffice-<db>.json. With --base-url and --cookie NAME=VALUE it
measures GET of the --get paths through a running server instead ({order}, {pon}, {realm}, {email},
{serial}, {ref} in a path are filled from the database). run: generate (or reuse), then measure
(`make bench-backoffice`).

pages: the back office as staff use it: starts `resell serve` (one worker, RESELL_* environment) on the
generated database, creates an admin account (bench-admin@bench.example, its password set anew each
run), signs in through the /admin/login form and times GET of PAGES, --repeat times each; the dashboard
separately, cold (the first reading after a start, --cold-starts starts) and warm (kept; read again
in the background every 30 s). A page this build does not have (404 "no page at this address") is
skipped with a note. p50/p95/p99 to bench/results/<date>-backoffice-pages-<db>.json and a table.
"""

from __future__ import annotations

import argparse
import base64
import bisect
import datetime as dt
import json
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from common import BENCH, PG_ADMIN, ROOT, log  # bench/ is on sys.path

PG_NAME = "resell_backoffice"  # not bench/run.py's resell_bench: that one is dropped on every run
DEFAULT_PATH = ROOT / "var" / "bench" / "backoffice.db"
META_TABLE = "bench_backoffice_meta"
GENERATOR_VERSION = 2  # bump when the generated data changes shape: older databases are rebuilt
# older generations whose data the migrations bring to this version's: reused, upgraded in place
UPGRADABLE = {1: "0005 backfills the lines' retailer price from the catalogue, as version 2 writes it"}
BATCH = 20_000  # orders per transaction
CURRENCIES = ("EUR", "USD", "GBP")
RATES = {"EUR": Decimal(1), "USD": Decimal("1.08"), "GBP": Decimal("0.86")}
DAYS = 365
CANCELLED_SHARE = 0.03
TARGET_MS = 100.0

FIRST = "anna ben carla david emma felix gina hugo iris jonas karin leo mia noah olga paul rosa sam tina yann".split()
LAST = "martin bernard dubois thomas robert richard petit durand leroy moreau simon laurent lefebvre michel".split()
DOMAINS = ("example.com", "example.org", "example.net", "mail.example", "post.example")
CITIES = (("Paris", "75001", "FR"), ("Lyon", "69001", "FR"), ("Berlin", "10115", "DE"), ("London", "EC1A", "GB"))
LANGUAGES = ("fr_FR", "en", "de_DE", "en_GB", None)
PAYMENTS = ("CB", "PAYPAL", "VISA", "MASTERCARD")
REASONS = (2, 3, 4)


# ---------------------------------------------------------------- where


@dataclass(frozen=True)
class Target:
    db: str  # sqlite | postgres
    url: str  # SQLAlchemy URL
    var_dir: Path  # the settings' var dir (the JWT secret the download links are signed from)

    @property
    def sqlite_path(self) -> Path:
        from sqlalchemy.engine import make_url

        return Path(str(make_url(self.url).database))


def target(db: str, path: Path | None, pg_name: str = PG_NAME) -> Target:
    if db == "sqlite":
        file = (path or DEFAULT_PATH).resolve()
        return Target(db, f"sqlite:///{file}", file.parent / f"{file.stem}-var")
    from sqlalchemy.engine import make_url

    url = make_url(PG_ADMIN).set(database=pg_name).render_as_string(hide_password=False)
    return Target(db, url, ROOT / "var" / "bench" / f"{pg_name}-var")


def context(where: Target) -> Any:
    from resell.config import Settings
    from resell.services.context import Context

    where.var_dir.mkdir(parents=True, exist_ok=True)
    return Context.from_settings(Settings(database_url=where.url, var_dir=where.var_dir))


def read_meta(where: Target) -> dict[str, Any] | None:
    """The parameters a finished generation recorded, or None (no database, or not finished)."""
    from sqlalchemy import create_engine, text

    if where.db == "sqlite" and not where.sqlite_path.exists():
        return None
    try:
        engine = create_engine(where.url)
        with engine.connect() as conn:
            value = conn.execute(text(f"SELECT value FROM {META_TABLE} WHERE key = 'params'")).scalar()
        engine.dispose()
    except Exception:  # noqa: BLE001 - no database, no table: nothing to reuse
        return None
    return json.loads(value) if value else None


def write_meta(where: Target, meta: dict[str, Any]) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(where.url)
    with engine.begin() as conn:
        conn.execute(
            text(f"CREATE TABLE IF NOT EXISTS {META_TABLE} (key VARCHAR(50) PRIMARY KEY, value TEXT NOT NULL)")
        )
        conn.execute(text(f"DELETE FROM {META_TABLE}"))
        conn.execute(text(f"INSERT INTO {META_TABLE} (key, value) VALUES ('params', :v)"), {"v": json.dumps(meta)})
    engine.dispose()


def reusable(meta: dict[str, Any] | None, params: dict[str, Any]) -> bool:
    """A finished generation of these parameters, by this generator or one UPGRADABLE says migrates to it."""
    if not meta or not all(meta.get(k) == v for k, v in params.items() if k != "version"):
        return False
    return meta.get("version") == GENERATOR_VERSION or meta.get("version") in UPGRADABLE


def pending_revisions(ctx: Any) -> list[str]:
    """The migrations the database lacks, oldest first."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from resell.db import migrate

    script = ScriptDirectory.from_config(migrate.alembic_config(ctx.db))
    with ctx.db.engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    return [r.revision for r in reversed(list(script.iterate_revisions("heads", current)))]


def upgrade_timed(where: Target, meta: dict[str, Any]) -> dict[str, Any]:
    """`resell db upgrade`, one revision at a time: how long each takes on this many orders is what an
    operator upgrading wants to know (recorded in the meta row, `upgrades`)."""
    from resell.db import migrate

    ctx = context(where)
    pending = pending_revisions(ctx)
    upgrades = list(meta.get("upgrades", []))
    for revision in pending:
        log(f"upgrading {where.url} to {revision}")
        started = time.perf_counter()
        migrate.upgrade(ctx.db, revision)
        seconds = round(time.perf_counter() - started, 1)
        log(f"  {revision}: {seconds:.1f} s")
        upgrades.append({"revision": revision, "seconds": seconds, "at": dt.datetime.now(dt.UTC).isoformat()})
    ctx.db.engine.dispose()
    if pending:
        meta = {**meta, "upgrades": upgrades}
        write_meta(where, meta)
    return meta


def time_migrations(args: argparse.Namespace) -> dict[str, Any]:
    """Generate (or reuse) the database, take it back to `--from` (alembic's downgrade, timed), then
    upgrade it one revision at a time (timed): how long each migration holds an upgrade at this scale."""
    from resell.db import migrate

    meta = generate(args)
    where = target(args.db, args.path, args.pg_name)
    ctx = context(where)
    log(f"downgrading {where.url} to {args.from_revision}")
    started = time.perf_counter()
    migrate.downgrade(ctx.db, args.from_revision)
    log(f"  downgrade to {args.from_revision}: {time.perf_counter() - started:.1f} s")
    ctx.db.engine.dispose()
    before = len(meta.get("upgrades", []))
    meta = upgrade_timed(where, meta)
    for step in meta["upgrades"][before:]:
        print(f"{step['revision']}: {step['seconds']:.1f} s")
    return meta


def fresh_database(where: Target) -> None:
    if where.db == "sqlite":
        where.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{where.sqlite_path}{suffix}").unlink(missing_ok=True)
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = make_url(where.url).database
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()


# ---------------------------------------------------------------- the world before the orders


def catalogue(rng: random.Random, product_count: int) -> dict[str, Any]:
    """Publishers and products in the format of `resell catalog import` (docs/catalog-format.md)."""
    publishers: list[dict[str, Any]] = [
        {"key": "northsoft", "name": "Northsoft", "deliversDirectly": True},
        {"key": "pixelworks", "name": "Pixel Works"},
        {"key": "securix", "name": "Securix", "callbackUrl": "https://securix.example/revoked"},
        {"key": "officeline", "name": "Officeline"},
        {"key": "gamehouse", "name": "Game House"},
        {"key": "utilia", "name": "Utilia"},
    ]
    products: list[dict[str, Any]] = []
    for n in range(product_count):
        ref = 100_000 + n
        kind = n % 10
        publisher = publishers[n % len(publishers)]["key"]
        base = Decimal(rng.choice((5, 10, 15, 20, 30, 40, 60, 80, 120, 200))) - Decimal("0.01")
        product: dict[str, Any] = {
            "ref": ref,
            "name": f"{publisher.title()} Product {n:02d}",
            "publisher": publisher,
            "type": "game" if n % 3 == 0 else "software",
            # 6 in 10 sell serials from a pool, 1 in 10 is a yearly subscription (with a serial)
            "serialSource": "pool" if kind < 7 else "none",
            "deliveryMode": "download_serial" if kind < 7 else "download",
            "almostOutThreshold": 100,
            "files": [{"label": "Installer", "fileName": f"setup-{ref}.exe", "size": 50_000_000 + n}]
            + ([{"label": "Manual", "fileName": f"manual-{ref}.pdf", "size": 2_000_000}] if n % 4 == 0 else []),
            "prices": [
                {"currency": c, "amountDutyFree": str((base * RATES[c]).quantize(Decimal("0.01"))), "vatRate": 20}
                for c in CURRENCIES
            ],
        }
        if kind == 6:
            product["subscriptionPeriod"] = "P1Y"
        products.append(product)
    products.append(
        {
            "ref": 199_001,
            "name": "Download extension (1 year)",
            "publisher": "utilia",
            "type": "option",
            "serialSource": "none",
            "deliveryMode": "download",
            "option": {"kind": "download_extension", "period": "P1Y", "eligibleRefs": [p["ref"] for p in products]},
            "prices": [{"currency": c, "amountDutyFree": "4.99", "vatRate": 20} for c in CURRENCIES],
        }
    )
    return {"publishers": publishers, "products": products}


@dataclass
class Product:
    id: int
    ref: int
    publisher_key: str
    pooled: bool
    delivers_directly: bool
    subscription_period: str | None
    option_period: str | None
    file_ids: list[int]
    prices: dict[str, tuple[Decimal, Decimal]]  # currency -> (amount duty free, vat rate)
    serials: int = 0  # how many of its serials exist so far


@dataclass
class Catalog:
    id: int
    merchant_id: int
    realm: str
    currency: str
    every_email: bool
    products: list[Product]
    cum_weights: list[float]  # product popularity within the catalogue
    amounts: bool  # the merchant sends unit amounts and totals


def setup_world(ctx: Any, rng: random.Random, merchant_count: int, product_count: int) -> list[Catalog]:
    """Catalogue, merchants and catalogues through the real services; returns what the orders need."""
    from sqlalchemy import select

    from resell.db.tables import catalogs, product_files, product_prices, products, publishers
    from resell.services import catalog_import, delivery_mail, merchants

    data = catalogue(rng, product_count)
    catalog_import.import_catalog(ctx, data)
    with ctx.db.read() as conn:
        rows = conn.execute(
            select(products, publishers.c.key.label("pkey"), publishers.c.delivers_directly).join(
                publishers, publishers.c.id == products.c.publisher_id
            )
        ).all()
        files: dict[int, list[int]] = {}
        for pid, fid in conn.execute(select(product_files.c.product_id, product_files.c.id).order_by("id")).all():
            files.setdefault(pid, []).append(fid)
        prices: dict[int, dict[str, tuple[Decimal, Decimal]]] = {}
        for r in conn.execute(select(product_prices)).all():
            prices.setdefault(r.product_id, {})[r.currency] = (r.amount_duty_free, r.vat_rate)
    by_ref = {
        r.ref: Product(
            r.id,
            r.ref,
            r.pkey,
            r.serial_source == "pool",
            bool(r.delivers_directly),
            r.subscription_period,
            r.option_period,
            files.get(r.id, []),
            prices.get(r.id, {}),
        )
        for r in rows
    }
    sellable = [p for p in by_ref.values() if p.option_period is None]
    result = []
    for m in range(merchant_count):
        realm = f"shop-{m:02d}"
        currencies = list(CURRENCIES[: 1 + m % 3])
        specs = []
        for currency in currencies:
            chosen = rng.sample(sellable, k=max(1, min(len(sellable), rng.randint(len(sellable) // 2, len(sellable)))))
            refs = sorted(p.ref for p in chosen) + [199_001]
            specs.append(merchants.CatalogSpec(f"{realm} {currency}", currency, refs))
        merchants.create_merchant(ctx, realm, f"Shop {m:02d}", catalogs_to_add=specs)
        if m % 4 == 0:
            delivery_mail.set_every_order(ctx, realm, None, True)
    with ctx.db.read() as conn:
        from resell.db.tables import catalog_products
        from resell.db.tables import merchants as merchants_table

        for c in conn.execute(
            select(catalogs, merchants_table.c.realm)
            .join(merchants_table, merchants_table.c.id == catalogs.c.merchant_id)
            .where(catalogs.c.sandbox.is_(False))  # live orders only: the sandboxes have none
            .order_by(catalogs.c.id)
        ).all():
            ids = set(
                conn.execute(
                    select(catalog_products.c.product_id).where(catalog_products.c.catalog_id == c.id)
                ).scalars()
            )
            sold = sorted((p for p in by_ref.values() if p.id in ids and p.option_period is None), key=lambda p: p.ref)
            rng.shuffle(sold)
            weights = [1 / (i + 1) ** 0.9 for i in range(len(sold))]  # a few best sellers
            cum = []
            total = 0.0
            for w in weights:
                total += w
                cum.append(total)
            result.append(
                Catalog(c.id, c.merchant_id, c.realm, c.currency, bool(c.delivery_email), sold, cum, c.id % 7 != 3)
            )
    result.append(Catalog(0, 0, "", "", False, [by_ref[199_001]], [1.0], False))  # the extension option
    return result


# ---------------------------------------------------------------- the orders


class Writer:
    """Bulk rows into one database: sqlite3 executemany, or PostgreSQL COPY (psycopg), one transaction per flush."""

    def __init__(self, where: Target) -> None:
        self.db = where.db
        if where.db == "sqlite":
            import sqlite3

            self.sqlite = sqlite3.connect(where.sqlite_path, isolation_level=None)
            self.sqlite.execute("PRAGMA synchronous=OFF")
            self.sqlite.execute("PRAGMA foreign_keys=OFF")
            self.sqlite.execute("PRAGMA cache_size=-200000")
        else:
            import psycopg
            from sqlalchemy.engine import make_url

            url = make_url(where.url)
            self.pg = psycopg.connect(
                host=url.host, port=url.port or 5432, user=url.username, password=url.password, dbname=url.database
            )
            self.pg.execute("SET TIME ZONE 'UTC'")
            self.pg.execute("SET synchronous_commit = off")
            self.pg.commit()

    def max_id(self, table: str) -> int:
        return int(self.query(f"SELECT coalesce(max(id), 0) FROM {table}")[0][0])

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        if self.db == "sqlite":
            return self.sqlite.execute(sql).fetchall()
        return self.pg.execute(sql).fetchall()

    def flush(self, batch: dict[str, tuple[tuple[str, ...], list[tuple[Any, ...]]]]) -> None:
        if self.db == "sqlite":
            self.sqlite.execute("BEGIN")
            for table, (columns, rows) in batch.items():
                if rows:
                    names = ",".join(f'"{c}"' for c in columns)
                    marks = ",".join("?" * len(columns))
                    self.sqlite.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)
            self.sqlite.execute("COMMIT")
            return
        with self.pg.cursor() as cur:
            for table, (columns, rows) in batch.items():
                if rows:
                    names = ",".join(f'"{c}"' for c in columns)
                    with cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
        self.pg.commit()

    def execute(self, sql: str) -> None:
        if self.db == "sqlite":
            self.sqlite.execute(sql)
        else:
            self.pg.execute(sql)
            self.pg.commit()

    def close(self) -> None:
        if self.db == "sqlite":
            self.sqlite.close()
        else:
            self.pg.close()


COLUMNS: dict[str, tuple[str, ...]] = {
    "orders": (
        "id", "merchant_id", "catalog_id", "partner_order_number", "status", "order_date", "currency",
        "customer_email", "customer_language", "customer_partner_id", "customer", "payment", "discounts",
        "metadata", "marketing_program_id", "affiliate_id", "download_end_date", "cancelled_at", "cancel_reason",
        "cancel_comment", "parent_order_id", "generation", "renewed_subscription_id", "created_at",
    ),
    "order_lines": (
        "id", "order_id", "position", "product_id", "product_ref", "quantity", "vat_rate", "amount_duty_free",
        "amount_total", "retailer_unit_price", "retailer_vat_rate", "end_user_email", "discounts", "remark",
        "download_token",
    ),
    "line_items": ("id", "order_line_id", "position", "renews_subscription_id"),
    "serials": ("id", "product_id", "value", "status", "imported_at"),
    "serial_assignments": ("serial_id", "line_item_id", "assigned_at", "revoked_at"),
    "subscriptions": (
        "id", "order_id", "line_item_id", "product_id", "period", "generation", "status", "currency", "amount",
        "created_at", "updated_at", "expires_at", "next_change_at", "renewal_attempts", "last_renewal_error",
    ),
    "audit_events": ("id", "at", "actor", "entity", "entity_id", "action", "before", "after"),
    "outbox": (
        "id", "event_id", "kind", "payload", "created_at", "available_at", "attempts", "last_error", "delivered_at",
    ),
    "download_stats": (
        "order_line_id", "file_id", "starts", "completes", "first_download_at", "last_download_at",
        "served_ranges", "served_object",
    ),
}  # fmt: skip
Rows = list[tuple[Any, ...]]
SEQUENCED = ("orders", "order_lines", "line_items", "serials", "subscriptions", "audit_events", "outbox")


def ts(value: dt.datetime) -> str:
    """A UTC instant (naive here: the generator works in UTC throughout) as SQLAlchemy stores it on
    SQLite, with microseconds; PostgreSQL reads it in the session's time zone, UTC."""
    return value.isoformat(" ", "microseconds")


def money(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def js(value: Any) -> str:
    """A JSON column as SQLAlchemy writes it (None too: JSON `null`, not SQL NULL). The hot audit rows
    are formatted directly, in the same json.dumps spacing."""
    return json.dumps(value)


JNULL = "null"
AVAILABLE = js({"status": "available"})
ASSIGNED = js({"status": "assigned"})
ACTIVE = js({"status": "active"})


@dataclass
class Counters:
    ids: dict[str, int]
    pon: dict[int, int] = field(default_factory=dict)  # per merchant
    rows: dict[str, int] = field(default_factory=dict)


def order_instants(rng: random.Random, count: int, now: dt.datetime) -> list[dt.datetime]:
    """`count` instants over the last DAYS days, oldest first; the recent days busier (age ~ u**1.6)."""
    start = now - dt.timedelta(days=DAYS)
    seconds = DAYS * 86400 - 600
    ages = sorted((rng.random() ** 1.6 * seconds for _ in range(count)), reverse=True)
    return [start + dt.timedelta(seconds=seconds - age) for age in ages]


class Customers:
    """Who orders: 2% of orders from 50 heavy buyers, 13% from a pool of returning customers, the rest new."""

    def __init__(self, rng: random.Random, orders: int) -> None:
        self.rng = rng
        self.heavy = [self._person(n, heavy=True) for n in range(50)]
        self.returning = [self._person(n) for n in range(max(100, orders // 20))]
        self.new = 0

    def _person(self, n: int, heavy: bool = False) -> tuple[str, str, str, str | None, str | None]:
        rng = self.rng
        first, last = rng.choice(FIRST), rng.choice(LAST)
        local = f"{first}.{last}{n}" + ("-pro" if heavy else "")
        if rng.random() < 0.05:
            local = local.capitalize()  # the end user typed it so; lower() finds it
        email = f"{local}@{rng.choice(DOMAINS)}"
        partner_id = f"C{rng.getrandbits(40):012d}" if rng.random() < 0.6 else None
        return first, last, email, partner_id, rng.choice(LANGUAGES)

    def pick(self) -> tuple[str, str, str, str | None, str | None]:
        u = self.rng.random()
        if u < 0.02:
            return self.rng.choice(self.heavy)
        if u < 0.15:
            return self.rng.choice(self.returning)
        self.new += 1
        return self._person(1_000_000 + self.new)


def generate_orders(
    writer: Writer,
    rng: random.Random,
    catalogs: list[Catalog],
    count: int,
    now: dt.datetime,
    download_days: int,
    progress: Callable[[int], None],
) -> Counters:
    from resell.domain.periods import add_period, parse_period

    option = catalogs[-1].products[0]
    sellers = catalogs[:-1]
    merchant_weight: dict[int, float] = {}
    for c in sellers:
        merchant_weight.setdefault(c.merchant_id, 1 / (len(merchant_weight) + 1))
    cum_catalogs: list[float] = []
    total = 0.0
    for c in sellers:
        total += merchant_weight[c.merchant_id] * (1.0 if c.currency == "EUR" else 0.5)
        cum_catalogs.append(total)
    counters = Counters({t: writer.max_id(t) for t in SEQUENCED})
    customers = Customers(rng, count)
    instants = order_instants(rng, count, now)
    period_cache: dict[str, Any] = {}

    def next_id(table: str) -> int:
        counters.ids[table] += 1
        return counters.ids[table]

    for first in range(0, count, BATCH):
        batch: dict[str, tuple[tuple[str, ...], list[tuple[Any, ...]]]] = {t: (c, []) for t, c in COLUMNS.items()}
        o_rows, l_rows, i_rows = batch["orders"][1], batch["order_lines"][1], batch["line_items"][1]
        s_rows, a_rows, sub_rows = batch["serials"][1], batch["serial_assignments"][1], batch["subscriptions"][1]
        audit_rows, out_rows, dl_rows = batch["audit_events"][1], batch["outbox"][1], batch["download_stats"][1]

        def audit(
            at: str,
            actor: str,
            entity: str,
            entity_id: int,
            action: str,
            before: str,
            after: str,
            rows: Rows = audit_rows,
        ) -> None:
            rows.append((next_id("audit_events"), at, actor, entity, str(entity_id), action, before, after))

        def enqueue(at: dt.datetime, kind: str, payload: dict[str, Any], recent: bool, rows: Rows = out_rows) -> None:
            event_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            attempts, error, delivered = 1, None, at + dt.timedelta(seconds=rng.uniform(0.5, 30))
            u = rng.random()
            if u < 0.015:  # delivered after retries
                attempts = rng.randint(2, 4)
                delivered += dt.timedelta(minutes=rng.randint(1, 120))
            elif u < 0.02:  # the worker gave up
                attempts = 10
                error = "gave up: 550 5.1.1 mailbox unavailable" if kind.startswith("mail") else "gave up: HTTP 503"
                delivered += dt.timedelta(hours=rng.randint(1, 48))
            available = at
            if recent and u < 0.05:  # still being retried
                attempts, error, delivered = rng.randint(1, 5), "timed out after 10 s", None  # type: ignore[assignment]
                available = now + dt.timedelta(minutes=rng.randint(1, 60))
            rows.append(
                (
                    next_id("outbox"), event_id, kind, js(payload), ts(at), ts(available), attempts, error,
                    ts(delivered) if delivered is not None else None,
                )
            )  # fmt: skip

        for when in instants[first : first + BATCH]:
            catalog = sellers[bisect.bisect(cum_catalogs, rng.random() * total)]
            created = when + dt.timedelta(seconds=rng.uniform(1, 120))
            created_s = ts(created)
            order_id = next_id("orders")
            serial_no = counters.pon.get(catalog.merchant_id, 0) + 1
            counters.pon[catalog.merchant_id] = serial_no
            pon = f"{catalog.realm.upper()}-{serial_no:08d}"
            first_name, last_name, email, partner_id, language = customers.pick()
            city, zip_code, country = rng.choice(CITIES)
            customer = {
                "partnerId": partner_id,
                "email": email,
                "language": language,
                "locationInvoice": {
                    "companyName": None, "title": None, "lastName": last_name.title(), "firstName": first_name.title(),
                    "address1": f"{rng.randint(1, 200)} rue de la Paix", "address2": None, "zipCode": zip_code,
                    "city": city, "province": None, "country": country, "phone": None, "fax": None,
                },
                "locationDelivery": None,
                "ipV4": f"198.51.100.{rng.randint(1, 254)}",
                "ipV6": None,
            }  # fmt: skip
            actor = f"merchant:{catalog.realm}"
            # the lines: 1 (70%), 2 (22%) or 3 (8%) distinct products, mostly one unit each
            n_lines = 1 if (u := rng.random()) < 0.70 else 2 if u < 0.92 else 3
            chosen: list[Product] = []
            while len(chosen) < min(n_lines, len(catalog.products)):
                p = catalog.products[bisect.bisect(catalog.cum_weights, rng.random() * catalog.cum_weights[-1])]
                if p not in chosen:
                    chosen.append(p)
            if rng.random() < 0.02:
                chosen.append(option)
            cancelled = rng.random() < CANCELLED_SHARE
            cancelled_at = created + dt.timedelta(hours=rng.uniform(0.1, 24 * 20)) if cancelled else None
            if cancelled_at is not None and cancelled_at > now:
                cancelled_at = now - dt.timedelta(seconds=1)
            end = created.date() + dt.timedelta(days=download_days)
            serials_of_order: list[tuple[int, Product, str]] = []
            subs_of_order: list[tuple[int, dt.datetime]] = []
            mail_lines: list[tuple[int, bool]] = []
            for position, product in enumerate(chosen, start=1):
                quantity = 1 if (q := rng.random()) < 0.9 else 2 if q < 0.98 else rng.randint(3, 5)
                if product is option:
                    quantity = 1
                    end = add_period(end, product.option_period or "P1Y")
                duty_free, vat = product.prices[catalog.currency]
                amounts: tuple[Decimal | None, Decimal | None, Decimal | None] = (None, None, None)
                if catalog.amounts:
                    line_df = duty_free * quantity
                    amounts = (vat, line_df, (line_df * (1 + vat / 100)).quantize(Decimal("0.01")))
                line_id = next_id("order_lines")
                token = base64.urlsafe_b64encode(rng.randbytes(16)).decode().rstrip("=")
                l_rows.append(
                    (
                        line_id, order_id, position, product.id, product.ref, quantity, money(amounts[0]),
                        money(amounts[1]), money(amounts[2]), money(duty_free), money(vat), None, JNULL, "", token,
                    )
                )  # fmt: skip
                mail_lines.append((line_id, product.delivers_directly))
                for unit in range(quantity):
                    item_id = next_id("line_items")
                    i_rows.append((item_id, line_id, unit, None))
                    if product.pooled:
                        product.serials += 1
                        serial_id = next_id("serials")
                        value = serial_value(product, rng)
                        imported = created - dt.timedelta(days=rng.uniform(1, 30))
                        s_rows.append(
                            (serial_id, product.id, value, "revoked" if cancelled else "assigned", ts(imported))
                        )
                        a_rows.append((serial_id, item_id, created_s, ts(cancelled_at) if cancelled_at else None))
                        serials_of_order.append((serial_id, product, value))
                    if product.subscription_period:
                        period = period_cache.setdefault(
                            product.subscription_period, parse_period(product.subscription_period)
                        )
                        expires = created + period
                        sub_id = next_id("subscriptions")
                        status, changed, next_change = "ACTIVE", created, expires
                        if cancelled_at is not None:
                            status, changed, next_change = "TERMINATED", cancelled_at, None
                        elif rng.random() < 0.08:
                            status, changed = "CANCELLED", created + (now - created) * rng.random()
                        sub_rows.append(
                            (
                                sub_id, order_id, item_id, product.id, product.subscription_period, 0, status,
                                catalog.currency, money(duty_free if catalog.amounts else None), created_s,
                                ts(changed), ts(expires), ts(next_change) if next_change else None, 0, None,
                            )
                        )  # fmt: skip
                        subs_of_order.append((sub_id, expires))
                if not cancelled and product.file_ids and rng.random() < 0.4:
                    first_dl = created + dt.timedelta(minutes=rng.uniform(1, 600))
                    if first_dl < now:
                        starts = rng.randint(1, 4)
                        last_dl = first_dl + (now - first_dl) * rng.random() * 0.1
                        dl_rows.append(
                            (line_id, product.file_ids[0], starts, rng.randint(max(0, starts - 1), starts),
                             ts(first_dl), ts(last_dl), "", None)
                        )  # fmt: skip
            o_rows.append(
                (
                    order_id, catalog.merchant_id, catalog.id, pon, "cancelled" if cancelled else "active", ts(when),
                    catalog.currency, email, language, partner_id, js(customer),
                    f'{{"paymentMethod": "{rng.choice(PAYMENTS)}", "transactionId": "T{order_id:010d}"}}', JNULL,
                    JNULL, None, None, (cancelled_at.date() if cancelled_at else end).isoformat(),
                    ts(cancelled_at) if cancelled_at else None, rng.choice(REASONS) if cancelled else None, None, None,
                    0, None, created_s,
                )
            )  # fmt: skip
            # what the writer and delivery queue and audit, in their order
            recipients = [lid for lid, direct in mail_lines if catalog.every_email or direct]
            recent = now - created < dt.timedelta(hours=2)
            if recipients:
                enqueue(created, "mail.delivery", {"orderNumber": order_id, "to": email, "lineIds": recipients}, recent)
            created_after = (
                f'{{"partnerOrderNumber": "{pon}", "lines": {len(chosen)}, "serials": {len(serials_of_order)}}}'
            )
            audit(created_s, actor, "order", order_id, "created", JNULL, created_after)
            for serial_id, _, _ in serials_of_order:
                audit(created_s, actor, "serial", serial_id, "assigned", AVAILABLE,
                      f'{{"status": "assigned", "orderNumber": {order_id}}}')  # fmt: skip
            for sub_id, expires in subs_of_order:
                audit(created_s, actor, "subscription", sub_id, "created", JNULL,
                      js({"status": "ACTIVE", "generation": 0, "orderNumber": order_id,
                          "expiresAt": expires.replace(tzinfo=dt.UTC).isoformat()}))  # fmt: skip
            if cancelled_at is not None:
                at = ts(cancelled_at)
                reason = o_rows[-1][18]
                after = {"status": "cancelled", "reasonCode": reason, "serialsRevoked": len(serials_of_order)}
                audit(at, actor, "order", order_id, "cancelled", ACTIVE, js(after))
                for serial_id, _, _ in serials_of_order:
                    audit(at, actor, "serial", serial_id, "revoked", ASSIGNED,
                          js({"status": "revoked", "orderNumber": order_id}))  # fmt: skip
                for sub_id, _ in subs_of_order:
                    audit(at, actor, "subscription", sub_id, "terminated", js({"status": "ACTIVE"}),
                          js({"status": "TERMINATED", "orderNumber": order_id}))  # fmt: skip
                enqueue(cancelled_at, "order.cancelled",
                        {"merchantId": catalog.merchant_id, "orderNumber": order_id, "partnerOrderNumber": pon,
                         "reasonCode": reason}, recent)  # fmt: skip
                by_publisher: dict[str, list[dict[str, Any]]] = {}
                for _, product, value in serials_of_order:
                    by_publisher.setdefault(product.publisher_key, []).append(
                        {"productRef": product.ref, "serial": value}
                    )
                for publisher, revoked in by_publisher.items():
                    enqueue(cancelled_at, "publisher.serials_revoked",
                            {"publisher": publisher, "orderNumber": order_id, "serials": revoked}, recent)  # fmt: skip
        writer.flush(batch)
        for table, (_, rows) in batch.items():
            counters.rows[table] = counters.rows.get(table, 0) + len(rows)
        progress(min(BATCH, count - first))
    return counters


def serial_value(product: Product, rng: random.Random) -> str:
    """A licence key: unique per product by its sequence number, unguessable by its random tail."""
    return f"{product.publisher_key[:4].upper()}-{product.ref}-{product.serials:07d}-{rng.getrandbits(32):08X}"


def stock_left(
    writer: Writer, rng: random.Random, catalogs: list[Catalog], counters: Counters, now: dt.datetime
) -> None:
    """The serials still in the pools: a few hundred to a few thousand per product, two nearly out."""
    pooled = {p.id: p for c in catalogs for p in c.products if p.pooled}
    rows: list[tuple[Any, ...]] = []
    scale = min(1.0, counters.rows.get("orders", 0) / 100_000)  # small databases, small pools
    for n, product in enumerate(sorted(pooled.values(), key=lambda p: p.ref)):
        left = 20 if n < 2 else max(50, int(rng.randint(300, 5000) * scale))
        imported = ts(now - dt.timedelta(days=rng.uniform(1, 10)))
        for _ in range(left):
            product.serials += 1
            counters.ids["serials"] += 1
            value = serial_value(product, rng)
            rows.append((counters.ids["serials"], product.id, value, "available", imported))
    writer.flush({"serials": (COLUMNS["serials"], rows)})
    counters.rows["serials"] = counters.rows.get("serials", 0) + len(rows)


def generate(args: argparse.Namespace) -> dict[str, Any]:
    """Build (or reuse) the database; returns the recorded parameters and figures."""
    where = target(args.db, args.path, args.pg_name)
    params = {"version": GENERATOR_VERSION, "orders": args.orders, "merchants": args.merchants,
              "products": args.products, "seed": args.seed}  # fmt: skip
    meta = read_meta(where)
    if meta and not args.force and reusable(meta, params):
        log(f"reusing {where.url} (generated {meta['generatedAt']}, {meta['seconds']:.0f} s); --force rebuilds")
        return upgrade_timed(where, meta)
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from resell.db import migrate

    started = time.perf_counter()
    rng = random.Random(args.seed)
    fresh_database(where)
    ctx = context(where)
    migrate.upgrade(ctx.db)
    catalogs = setup_world(ctx, rng, args.merchants, args.products)
    ctx.db.engine.dispose()
    now = dt.datetime.now(dt.UTC).replace(microsecond=0, tzinfo=None)  # naive UTC, see ts()
    writer = Writer(where)
    with Progress(
        TextColumn(f"[bold]{args.db}[/] orders"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TimeRemainingColumn(), transient=not sys.stderr.isatty(),
    ) as bar:  # fmt: skip
        task = bar.add_task("orders", total=args.orders)
        counters = generate_orders(
            writer, rng, catalogs, args.orders, now, ctx.settings.download_days, lambda n: bar.advance(task, n)
        )
    stock_left(writer, rng, catalogs, counters, now)
    orders_seconds = time.perf_counter() - started
    if where.db == "postgres":
        for table in SEQUENCED:
            writer.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        log("VACUUM ANALYZE (autovacuum would do it in production)")
        writer.pg.autocommit = True
        writer.execute("VACUUM ANALYZE")
        writer.pg.autocommit = False
    seconds = time.perf_counter() - started
    meta = {
        **params,
        "db": args.db,
        "generatedAt": now.replace(tzinfo=dt.UTC).isoformat(),
        "seconds": round(seconds, 1),
        "ordersSeconds": round(orders_seconds, 1),
        "rows": counters.rows,
    }
    writer.close()
    write_meta(where, meta)
    log(f"generated {args.orders} orders in {seconds:.0f} s: {counters.rows}")
    return meta


# ---------------------------------------------------------------- measuring


@dataclass
class Samples:
    """Varied inputs drawn from the database: each call of a probe takes the next random one."""

    rng: random.Random
    orders: list[tuple[int, str, str, str]]  # (id, partnerOrderNumber, realm, email)
    heavy_emails: list[str]
    serial_values: list[str]  # serials assigned to an order (the ones support is asked about)
    max_order_id: int
    since: dt.datetime  # 30 days before the newest order
    product_refs: list[int] = field(default_factory=list)

    def order(self) -> tuple[int, str, str, str]:
        return self.rng.choice(self.orders)

    def email(self) -> str:
        # half the searches are for someone with many orders
        return self.rng.choice(self.heavy_emails) if self.rng.random() < 0.5 else self.order()[3]

    def serial(self) -> str:
        return self.rng.choice(self.serial_values)

    def ref(self) -> int:
        return self.rng.choice(self.product_refs)

    def fill(self, path: str) -> str:
        """A path with its placeholders filled from one random order (and a random assigned serial,
        product ref): {order} {pon} {realm} {email} {serial} {ref}."""
        order_id, pon, realm, email = self.order()
        serial = self.serial() if "{serial}" in path else ""
        ref = self.ref() if "{ref}" in path else ""
        return path.format(order=order_id, pon=pon, realm=realm, email=email, serial=serial, ref=ref)


def draw_samples(ctx: Any, rng: random.Random, count: int = 500) -> Samples:
    from sqlalchemy import func, select

    from resell.db.tables import merchants, orders, products, serials

    with ctx.db.read() as conn:
        top = conn.execute(select(func.max(orders.c.id), func.max(orders.c.order_date))).one()
        if top[0] is None:
            raise SystemExit("the database has no orders: run `python bench/backoffice.py generate` first")
        ids = sorted({rng.randint(1, top[0]) for _ in range(count)})
        rows = conn.execute(
            select(orders.c.id, orders.c.partner_order_number, merchants.c.realm, orders.c.customer_email)
            .join(merchants, merchants.c.id == orders.c.merchant_id)
            .where(orders.c.id.in_(ids))
        ).all()
        heavy = list(
            conn.execute(
                select(orders.c.customer_email).where(orders.c.customer_email.like("%-pro@%")).limit(2000)
            ).scalars()
        )
        max_serial = conn.execute(select(func.max(serials.c.id))).scalar() or 0
        serial_ids = [rng.randint(1, max_serial) for _ in range(count)]
        values = list(
            conn.execute(
                select(serials.c.value).where(serials.c.id.in_(serial_ids), serials.c.status == "assigned")
            ).scalars()
        )
        refs = sorted(conn.execute(select(products.c.ref)).scalars())
    return Samples(
        rng, [tuple(r) for r in rows], sorted(set(heavy)) or [rows[0][3]], values, int(top[0]),  # type: ignore[misc]
        top[1] - dt.timedelta(days=30), refs,
    )  # fmt: skip


SQL = {
    "dashboard: orders and revenue per day per currency, 30 days": """
        SELECT date(o.order_date) AS day, o.currency, count(DISTINCT o.id) AS orders, sum(l.amount_total) AS revenue
        FROM orders o JOIN order_lines l ON l.order_id = o.id
        WHERE o.order_date >= :since AND o.status = 'active'
        GROUP BY date(o.order_date), o.currency ORDER BY day, o.currency""",
    "dashboard: top products, 30 days": """
        SELECT l.product_ref, p.name, sum(l.quantity) AS units, sum(l.amount_total) AS revenue
        FROM order_lines l JOIN orders o ON o.id = l.order_id JOIN products p ON p.id = l.product_id
        WHERE o.order_date >= :since AND o.status = 'active'
        GROUP BY l.product_ref, p.name ORDER BY units DESC LIMIT 10""",
    "search: order by serial value": """
        SELECT o.id, o.partner_order_number, o.status, s.value, s.status AS serial_status
        FROM serials s JOIN serial_assignments a ON a.serial_id = s.id JOIN line_items i ON i.id = a.line_item_id
        JOIN order_lines l ON l.id = i.order_line_id JOIN orders o ON o.id = l.order_id
        WHERE s.value = :value""",
    "orders list: keyset first page (50)": """
        SELECT o.id, o.partner_order_number, o.order_date, o.status, o.currency, o.customer_email, m.realm
        FROM orders o JOIN merchants m ON m.id = o.merchant_id
        ORDER BY o.id DESC LIMIT 50""",
    "orders list: keyset deep page (50)": """
        SELECT o.id, o.partner_order_number, o.order_date, o.status, o.currency, o.customer_email, m.realm
        FROM orders o JOIN merchants m ON m.id = o.merchant_id
        WHERE o.id < :before ORDER BY o.id DESC LIMIT 50""",
    "orders list: one merchant, keyset deep page (50)": """
        SELECT o.id, o.partner_order_number, o.order_date, o.status, o.currency, o.customer_email
        FROM orders o WHERE o.merchant_id = (SELECT merchant_id FROM orders WHERE id = :before)
        AND o.id < :before ORDER BY o.id DESC LIMIT 50""",
}  # fmt: skip


def sql_params(name: str, s: Samples) -> dict[str, Any]:
    if "30 days" in name:
        return {"since": s.since}
    if "serial" in name:
        return {"value": s.serial()}
    return {"before": s.rng.randint(1, s.max_order_id)}


@dataclass(frozen=True)
class Probe:
    name: str
    call: Callable[[Any, Samples], Any]  # (context, samples) -> anything; one timed call
    sql: str | None = None  # its statement, for --explain


def raw_sql(name: str) -> Probe:
    from sqlalchemy import text

    statement = text(SQL[name])

    def run(ctx: Any, s: Samples) -> Any:
        with ctx.db.read() as conn:
            return conn.execute(statement, sql_params(name, s)).all()

    return Probe(name, run, SQL[name])


def service_probes() -> list[Probe]:
    """What the back office pages will call. A new page or service: one more line here."""
    from resell.services import audit_log, order_page, support_orders

    return [
        Probe("order_detail by order number", lambda ctx, s: support_orders.order_detail(ctx, str(s.order()[0]))),
        Probe(
            "order_detail by partnerOrderNumber",
            lambda ctx, s: support_orders.order_detail(ctx, (o := s.order())[1], o[2]),
        ),  # fmt: skip
        Probe("orders_of_email", lambda ctx, s: support_orders.orders_of_email(ctx, s.email())),
        Probe("order_trail (audit)", lambda ctx, s: audit_log.order_trail(ctx, str(s.order()[0]))),
        Probe("order_page (the back office's order page)", lambda ctx, s: order_page.order_page(ctx, s.order()[0])),
        *(raw_sql(name) for name in SQL),
    ]


def dashboard_probes() -> list[Probe]:
    """The dashboard's service: cold (its caches emptied: all 30 days read, as at a process's first
    reading), today re-read (the days that are over kept, as once its 30-second cache expires) and cached."""
    from resell.services import dashboard

    def cold(ctx: Any, _s: Samples) -> Any:
        dashboard.clear_cache()
        return dashboard.summary(ctx)

    return [
        Probe("dashboard summary, cold (caches emptied)", cold),
        Probe(
            "dashboard summary, today re-read (closed days kept)", lambda ctx, _s: dashboard.summary(ctx, fresh=True)
        ),
        Probe("dashboard summary, cached", lambda ctx, _s: dashboard.summary(ctx)),
    ]


def http_probes(base_url: str, cookies: dict[str, str], paths: list[str]) -> list[Probe]:
    """GET of each path through a running server with a signed-in session cookie; the placeholders
    of a path ({order}, {pon}, {realm}, {email}, {serial}, {ref}) take random values (Samples.fill)."""
    import httpx

    client = httpx.Client(base_url=base_url, cookies=cookies, timeout=30, follow_redirects=False)

    def get(path: str) -> Callable[[Any, Samples], Any]:
        def run(_ctx: Any, s: Samples) -> Any:
            reply = client.get(s.fill(path))
            if reply.status_code >= 400:
                raise SystemExit(f"GET {reply.request.url}: HTTP {reply.status_code}")
            return reply

        return run

    return [Probe(f"GET {path}", get(path)) for path in paths]


def percentile(sorted_ms: list[float], p: float) -> float:
    if len(sorted_ms) == 1:
        return sorted_ms[0]
    return statistics.quantiles(sorted_ms, n=100, method="inclusive")[int(p) - 1]


def time_probe(ctx: Any, probe: Probe, samples: Samples, repeat: int, budget: float, warmup: int = 2) -> dict[str, Any]:
    """`repeat` timed calls, or fewer (at least 5) when they take more than `budget` seconds in all:
    a query of seconds at 1M orders is slow whatever its p99."""
    for _ in range(warmup):
        probe.call(ctx, samples)
    timings: list[float] = []
    deadline = time.perf_counter() + budget
    while len(timings) < repeat and (len(timings) < 5 or time.perf_counter() < deadline):
        started = time.perf_counter()
        probe.call(ctx, samples)
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return {
        "name": probe.name,
        "n": len(timings),
        "p50": round(percentile(timings, 50), 2),
        "p95": round(percentile(timings, 95), 2),
        "p99": round(percentile(timings, 99), 2),
        "max": round(timings[-1], 2),
    }


def explain(ctx: Any, probe: Probe, samples: Samples) -> list[str]:
    from sqlalchemy import text

    assert probe.sql is not None
    prefix = "EXPLAIN QUERY PLAN " if ctx.db.engine.dialect.name == "sqlite" else "EXPLAIN "
    with ctx.db.read() as conn:
        rows = conn.execute(text(prefix + probe.sql), sql_params(probe.name, samples)).all()
    return [str(r[-1]) for r in rows]


def unfinished_orders(ctx: Any) -> int:
    """The orders an interrupted (or still running) generation committed: it writes batch by batch."""
    from sqlalchemy import func, select

    from resell.db.tables import orders

    try:
        with ctx.db.read() as conn:
            return int(conn.execute(select(func.count()).select_from(orders)).scalar() or 0)
    except Exception:  # noqa: BLE001 - no schema: nothing to measure
        return 0


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from rich.console import Console
    from rich.table import Table

    where = target(args.db, args.path, args.pg_name)
    meta = read_meta(where)
    ctx = context(where)
    if meta is None:
        orders = unfinished_orders(ctx)
        if not orders:
            raise SystemExit(f"no generated database at {where.url}: run `python bench/backoffice.py generate` first")
        log(f"the generation of {where.url} did not finish: measuring its {orders:,} orders")
        meta = {"orders": orders, "unfinished": True}
    samples = draw_samples(ctx, random.Random(args.seed))
    if args.base_url:
        cookies = dict(c.split("=", 1) for c in args.cookie)
        probes = http_probes(args.base_url, cookies, args.get or ["/healthz"])
    else:
        probes = [*service_probes(), *dashboard_probes()]
    if args.only:
        probes = [p for p in probes if any(word in p.name for word in args.only)]
    rows = []
    for probe in probes:
        log(f"{probe.name} x {args.repeat}")
        row = time_probe(ctx, probe, samples, args.repeat, args.budget)
        if probe.sql and (args.explain or row["p95"] > TARGET_MS):
            row["plan"] = explain(ctx, probe, samples)
        rows.append(row)
    results = {
        "db": args.db,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "load": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
        "database": meta,
        "baseUrl": args.base_url,
        "targetMs": TARGET_MS,
        "probes": rows,
    }
    out = args.out or BENCH / "results" / f"{dt.date.today().isoformat()}-backoffice-{args.db}.json"
    out.write_text(json.dumps(results, indent=2))
    table = Table(title=f"back office on {args.db}, {meta['orders']:,} orders (load {results['load']})")
    for column in ("probe", "n", "p50 ms", "p95 ms", "p99 ms", "max ms"):
        table.add_column(column, justify="left" if column == "probe" else "right", no_wrap=True)
    for row in rows:
        slow = row["p95"] > TARGET_MS
        table.add_row(
            f"[red]{row['name']}[/]" if slow else row["name"],
            str(row["n"]), *(f"{row[k]:.1f}" for k in ("p50", "p95", "p99", "max")),
        )  # fmt: skip
    Console(width=max(120, Console().width)).print(table)
    for row in rows:
        if "plan" in row:  # plain: a plan is read (and pasted) as it is, never wrapped
            print(f"\n{row['name']} ({row['p95']:.0f} ms p95), plan:", *row["plan"], sep="\n  ")
    log(f"wrote {out}")
    return results


# ---------------------------------------------------------------- pages through a real server

# the back office's pages at scale: every page that reads many orders, and the light ones for comparison
PAGES = (
    "/admin/orders",
    "/admin/orders?q={email}",
    "/admin/orders?q={pon}",
    "/admin/orders?q={order}",
    "/admin/orders?q={serial}",
    "/admin/orders?merchant={realm}",
    "/admin/orders?status=cancelled",
    "/admin/orders/{order}",
    "/admin/stock",
    "/admin/deliveries",
    "/admin/catalogue",
    "/admin/catalogue/{ref}",
    "/admin/merchants",
    "/admin/merchants/{realm}",
    "/admin/finance",
    "/admin/finance?realm={realm}",  # a merchant's statement of the current month
    "/admin/staff",
)
DASHBOARD = "/admin"
BENCH_STAFF = "bench-admin@bench.example"
NO_SUCH_PAGE = "There is no page at this address"  # the back office's 404 for a path no route serves


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`resell serve` with one worker on the generated database, configured as an operator would
    (RESELL_* environment); its output goes to {var dir}/serve.log."""

    def __init__(self, where: Target, serve_from: Path | None) -> None:
        import os

        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "RESELL_DATABASE_URL": where.url,
            "RESELL_VAR_DIR": str(where.var_dir),
            "RESELL_HOST": "127.0.0.1",
            "RESELL_PORT": str(self.port),
            "RESELL_WORKERS": "1",
            "RESELL_LOG_LEVEL": "WARNING",
        }
        if serve_from is not None:  # another checkout's code on the same database
            self.env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(serve_from), os.environ.get("PYTHONPATH"))))
        self.cwd = serve_from  # `python -m` puts the working directory first on the path
        self.log_path = where.var_dir / "serve.log"
        self.process: Any = None

    def start(self, timeout: float = 120) -> float:
        """Start and wait for /healthz; returns the seconds it took."""
        import subprocess

        import httpx

        started = time.perf_counter()
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(  # noqa: S603 - our own CLI
                [sys.executable, "-m", "resell.cli", "serve"],
                env=self.env,
                cwd=self.cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        while time.perf_counter() - started < timeout:
            if self.process.poll() is not None:
                raise SystemExit(f"`resell serve` exited with {self.process.returncode}: see {self.log_path}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=2).status_code == 200:
                    return time.perf_counter() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise SystemExit(f"`resell serve` did not answer /healthz within {timeout:.0f} s: see {self.log_path}")

    def stop(self) -> None:
        import subprocess

        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def bench_account(ctx: Any) -> tuple[str, str]:
    """An admin account to sign in with, password chosen (no forced change at sign-in); an existing
    one (an earlier run) gets a new password."""
    from resell.services import staff

    password = f"bench-{uuid.uuid4().hex}"
    try:
        staff.create_account(ctx, BENCH_STAFF, "admin", actor="operator", password=password, must_change_password=False)
    except staff.StaffError:
        once = staff.reset_password(ctx, BENCH_STAFF, actor="operator")
        with ctx.db.read() as conn:
            from sqlalchemy import select

            from resell.db.tables import staff_accounts

            staff_id = conn.execute(
                select(staff_accounts.c.id).where(staff_accounts.c.email == BENCH_STAFF)
            ).scalar_one()
        staff.change_password(ctx, staff_id, once, password, actor=f"staff:{BENCH_STAFF}")
    return BENCH_STAFF, password


def sign_in(base_url: str, email: str, password: str) -> Any:
    """An HTTP client signed in through the real form: GET /admin/login (its CSRF token and pre-session
    cookie), POST the email and password; the session cookie stays in the client."""
    import re

    import httpx

    client = httpx.Client(base_url=base_url, timeout=120, follow_redirects=False)
    form = client.get("/admin/login")
    token = re.search(r'name="csrf_token"\s+value="([^"]+)"', form.text)
    if form.status_code != 200 or token is None:
        raise SystemExit(f"GET /admin/login: HTTP {form.status_code}, no CSRF token in the form")
    reply = client.post(
        "/admin/login", data={"email": email, "password": password, "csrf_token": token.group(1), "next": DASHBOARD}
    )
    if reply.status_code != 303 or "/admin/login" in reply.headers.get("location", ""):
        raise SystemExit(f"signing in as {email}: HTTP {reply.status_code} {reply.headers.get('location', '')}")
    return client


def page_probe(client: Any, path: str, statuses: set[int]) -> Probe:
    """One GET of the path (placeholders filled); a redirect counts (a search with one hit answers 303
    to that order's page: the search is what was timed)."""

    def run(_ctx: Any, s: Samples) -> Any:
        reply = client.get(s.fill(path))
        statuses.add(reply.status_code)
        if reply.status_code >= 400:
            raise PageError(reply.status_code, str(reply.request.url), NO_SUCH_PAGE in reply.text)
        return reply

    return Probe(f"GET {path}", run)


class PageError(Exception):
    def __init__(self, status: int, url: str, no_route: bool) -> None:
        super().__init__(f"GET {url}: HTTP {status}")
        self.status, self.url, self.no_route = status, url, no_route


def stats(name: str, timings: list[float], **extra: Any) -> dict[str, Any]:
    timings = sorted(timings)
    return {
        "name": name,
        "n": len(timings),
        **{f"p{p}": round(percentile(timings, p), 2) for p in (50, 95, 99)},
        "max": round(timings[-1], 2),
        **extra,
    }


def timed_get(client: Any, path: str) -> float:
    started = time.perf_counter()
    reply = client.get(path)
    ms = (time.perf_counter() - started) * 1000
    if reply.status_code >= 400:
        raise SystemExit(f"GET {path}: HTTP {reply.status_code}")
    return ms


def pages(args: argparse.Namespace) -> dict[str, Any]:
    """Start `resell serve` on the generated database, sign in as an admin through the form, time the pages."""
    from rich.console import Console
    from rich.table import Table

    where = target(args.db, args.path, args.pg_name)
    meta = read_meta(where)
    ctx = context(where)
    if meta is None:
        raise SystemExit(f"no generated database at {where.url}: run `python bench/backoffice.py generate` first")
    if args.serve_from is None and pending_revisions(ctx):
        raise SystemExit(
            f"{where.url} is behind this release's schema: `python bench/backoffice.py generate` with the same "
            "parameters upgrades it in place (timing each migration), or run `resell db upgrade` on it"
        )
    email, password = bench_account(ctx)
    samples = draw_samples(ctx, random.Random(args.seed))
    ctx.db.engine.dispose()  # the server is the only one on the database while it is measured
    server = Server(where, args.serve_from)
    rows: list[dict[str, Any]] = []
    starts: list[float] = []
    cold: list[float] = []
    try:
        # the dashboard's first read after a start (its caches empty), once per start
        for n in range(max(1, args.cold_starts)):
            if n:
                server.stop()
            starts.append(server.start())
            client = sign_in(server.base_url, email, password)
            log(f"start {n + 1}: ready in {starts[-1]:.1f} s; GET {DASHBOARD} (cold)")
            cold.append(timed_get(client, DASHBOARD))
        rows.append(stats(f"GET {DASHBOARD} cold (first read after a start)", cold))
        log(f"GET {DASHBOARD} x {args.repeat} (warm)")
        rows.append(
            time_probe(None, page_probe(client, DASHBOARD, set()), samples, args.repeat, args.budget, warmup=0)
            | {"name": f"GET {DASHBOARD} warm (kept; read again in the background every 30 s)"}
        )
        for path in args.get or PAGES:
            statuses: set[int] = set()
            probe = page_probe(client, path, statuses)
            log(f"{probe.name} x {args.repeat}")
            try:
                row = time_probe(None, probe, samples, args.repeat, args.budget, warmup=1)
            except PageError as exc:
                note = "404, not in this build: skipped" if exc.no_route else str(exc)
                log(f"  {note}")
                rows.append({"name": probe.name, "skipped": note})
                continue
            row["statuses"] = sorted(statuses)
            rows.append(row)
    finally:
        server.stop()
    results = {
        "db": args.db,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "load": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
        "database": meta,
        "server": "resell serve, 1 worker" + (f", code from {args.serve_from}" if args.serve_from else ""),
        "startSeconds": [round(s, 1) for s in starts],
        "targetMs": TARGET_MS,
        "pages": rows,
    }
    out = args.out or BENCH / "results" / f"{dt.date.today().isoformat()}-backoffice-pages-{args.db}.json"
    out.write_text(json.dumps(results, indent=2))
    table = Table(title=f"back office pages on {args.db}, {meta['orders']:,} orders (load {results['load']})")
    for column in ("page", "n", "p50 ms", "p95 ms", "p99 ms", "max ms", "HTTP"):
        table.add_column(column, justify="left" if column in ("page", "HTTP") else "right", no_wrap=column == "page")
    for row in rows:
        if "skipped" in row:
            table.add_row(f"[dim]{row['name']}[/]", "", "", "", "", "", f"[yellow]{row['skipped']}[/]")
            continue
        slow = row["p95"] > TARGET_MS
        table.add_row(
            f"[red]{row['name']}[/]" if slow else row["name"],
            str(row["n"]), *(f"{row[k]:.1f}" for k in ("p50", "p95", "p99", "max")),
            " ".join(map(str, row.get("statuses", []))),
        )  # fmt: skip
    Console(width=max(140, Console().width)).print(table)
    log(f"server ready in {', '.join(f'{s:.1f}' for s in starts)} s; wrote {out}")
    return results


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    helps = {
        "run": "generate (or reuse), then measure",
        "pages": "time the /admin pages through `resell serve`",
        "migrations": "generate (or reuse), go back to --from, then time each migration up to the latest",
    }
    for name in ("generate", "measure", "run", "pages", "migrations"):
        p = sub.add_parser(name, help=helps.get(name))
        p.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
        p.add_argument("--path", type=Path, default=None, help=f"the SQLite file (default {DEFAULT_PATH})")
        p.add_argument("--pg-name", default=PG_NAME, help="the PostgreSQL database (on RESELL_BENCH_PG_URL's server)")
        p.add_argument("--seed", type=int, default=1)
        if name == "migrations":
            p.add_argument("--from", dest="from_revision", required=True, help="the revision to go back to")
        if name in ("generate", "run", "migrations"):
            p.add_argument("--orders", type=int, default=1_000_000)
            p.add_argument("--merchants", type=int, default=20)
            p.add_argument("--products", type=int, default=50)
            p.add_argument("--force", action="store_true", help="rebuild even when a matching database exists")
        if name in ("measure", "run", "pages"):
            p.add_argument("--repeat", type=int, default=50, help="timed calls per probe (after warm-up calls)")
            p.add_argument("--budget", type=float, default=30, help="seconds per probe before it stops repeating")
            p.add_argument("--out", type=Path, help="the results file (default bench/results/DATE-backoffice-...json)")
        if name == "pages":
            p.add_argument("--get", action="append", help=f"a path to time (default: {', '.join(PAGES)})")
            p.add_argument("--cold-starts", type=int, default=3, help="server starts, each timing one cold dashboard")
            p.add_argument(
                "--serve-from", type=Path, help="serve another resell source tree (PYTHONPATH) on the database"
            )
        if name in ("measure", "run"):
            p.add_argument("--only", action="append", help="measure only the probes whose name contains this")
            p.add_argument("--explain", action="store_true", help="show every SQL probe's plan (else only slow ones)")
            p.add_argument("--base-url", help="measure GET --get paths through this running server")
            p.add_argument("--cookie", action="append", default=[], help="NAME=VALUE sent with every GET")
            p.add_argument("--get", action="append", help="a path to GET (default /healthz)")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.command in ("generate", "run"):
        generate(args)
    if args.command in ("measure", "run"):
        measure(args)
    if args.command == "pages":
        pages(args)
    if args.command == "migrations":
        time_migrations(args)


if __name__ == "__main__":
    main()
