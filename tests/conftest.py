"""Shared fixtures: a fresh database per test on SQLite (and PostgreSQL when
RESELL_TEST_DATABASE_URL is set), a movable clock, a small world, and a live HTTP server."""

from __future__ import annotations

import copy
import datetime as dt
import importlib.util
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import pytest
import uvicorn
from click.testing import Result
from sqlalchemy import Integer, Table, create_engine, delete, insert, select, text
from sqlalchemy.engine import make_url

from resell.api.one_write import OneWriteHttpToolsProtocol
from resell.config import Settings
from resell.db import kept
from resell.db.engine import Database
from resell.db.migrate import upgrade
from resell.db.tables import catalog_products, metadata, products
from resell.services import catalog_changes, merchants, stock
from resell.services.catalog_import import import_catalog
from resell.services.context import Context

PG_URL = os.environ.get("RESELL_TEST_DATABASE_URL", "")

# Hypothesis profiles: "quick" in `make test` (Hypothesis's own 100 examples for pure property tests,
# a few per operation for property tests over HTTP), "thorough" in `make fuzz` (ten times as many).
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "quick")
hypothesis.settings.register_profile("quick", max_examples=100)
hypothesis.settings.register_profile("thorough", max_examples=1000)
hypothesis.settings.load_profile(PROFILE)
HTTP_EXAMPLES = 150 if PROFILE == "thorough" else 15
BACKENDS = ["sqlite"] + (["postgres"] if PG_URL else [])


def only_on(backend: str, fixture: str = "db_url") -> pytest.MarkDecorator:
    """A test whose subject exists on one database only (pg_dump, a psycopg setting, a lock SQLite
    never takes): generated for that backend alone rather than generated and skipped on the other."""
    return pytest.mark.parametrize(fixture, [b for b in BACKENDS if b == backend], indirect=True)


class Clock:
    """The platform's clock in tests: starts at the real time, moves only when told."""

    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC).replace(microsecond=0)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@pytest.fixture(scope="session")
def fast_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Where the tests' SQLite files live: a folder in memory (tmpfs) where the machine has one, so
    that the durable commits the code asks for (synchronous=FULL) cost nothing in tests, without
    weakening them in the code."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        path = Path(tempfile.mkdtemp(prefix="resell-tests-", dir=shm))
        yield path
        shutil.rmtree(path, ignore_errors=True)
    else:
        yield tmp_path_factory.mktemp("db")


@pytest.fixture(scope="session")
def sqlite_template(fast_dir: Path) -> Path:
    path = fast_dir / "template.db"
    db = Database(f"sqlite:///{path}")
    upgrade(db)
    db.dispose()
    return path


@pytest.fixture(scope="session")
def sqlite_world_template(fast_dir: Path, sqlite_template: Path) -> tuple[Path, World]:
    """The migrated template with the small world in it, built once per test session."""
    path = fast_dir / "world.db"
    shutil.copy(sqlite_template, path)
    with _template_context(f"sqlite:///{path}", fast_dir) as ctx:
        made = build_world(ctx)
    return path, made


@pytest.fixture(scope="session")
def postgres_migrated() -> Iterator[str]:
    """A database of this test session's own on the server of RESELL_TEST_DATABASE_URL, dropped at the end,
    so that several test runs on one server never see each other."""
    name = f"resell_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    db = Database(url)
    upgrade(db)
    db.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def postgres_world_rows(postgres_migrated: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[TableRows, World]:
    """The small world built once on PostgreSQL, kept as rows to put back before each test that asks
    for it (cheaper than building it again through the services)."""
    db = Database(postgres_migrated, pool_size=1)
    _truncate(db, [])
    db.dispose()
    with _template_context(postgres_migrated, tmp_path_factory.mktemp("world")) as ctx:
        made = build_world(ctx)
    db = Database(postgres_migrated, pool_size=1)
    with db.engine.connect() as conn:
        rows = [(t, [dict(r) for r in conn.execute(select(t)).mappings()]) for t in metadata.sorted_tables]
    db.dispose()
    return rows, made


TableRows = list[tuple[Table, list[dict[str, Any]]]]


def _truncate(db: Database, rows: TableRows) -> None:
    """Empty every table, put `rows` back and restart each id sequence after them (DELETE, not
    TRUNCATE: on tables this small it is fifty times faster)."""
    with db.engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(delete(table))
        for table, table_rows in rows:
            if table_rows:
                conn.execute(insert(table), table_rows)
        for table in metadata.sorted_tables:
            key = list(table.primary_key.columns)
            if len(key) == 1 and isinstance(key[0].type, Integer):
                sequence = _sequence(conn, table.name, key[0].name)
                if sequence:
                    after = f"coalesce(max({key[0].name}), 0) + 1"
                    conn.execute(text(f"SELECT setval('{sequence}', {after}, false) FROM {table.name}"))


_SEQUENCES: dict[tuple[str, str, str], str | None] = {}


def _sequence(conn: Any, table: str, column: str) -> str | None:
    """The sequence behind an id column (None for keys that are not generated), looked up once."""
    key = (str(conn.engine.url), table, column)
    if key not in _SEQUENCES:
        _SEQUENCES[key] = conn.execute(text(f"SELECT pg_get_serial_sequence('{table}', '{column}')")).scalar()
    return _SEQUENCES[key]


def truncate_all(url: str) -> None:
    """TRUNCATE every table of a PostgreSQL database: for a test that leaves many rows behind, whose
    DELETE by the next test would crawl (each parent row's foreign-key check scans the dead rows of
    its children)."""
    db = Database(url, pool_size=1)
    names = ", ".join(t.name for t in metadata.sorted_tables)
    with db.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    db.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, fast_dir: Path) -> Iterator[str]:
    """A fresh database for the test: empty but migrated, or holding the small world when the test
    asks for `world` (copied from a template built once, not built again)."""
    wants_world = "world" in request.fixturenames
    if request.param == "sqlite":
        if wants_world:
            template, _ = request.getfixturevalue("sqlite_world_template")
        else:
            template = request.getfixturevalue("sqlite_template")
        folder = Path(tempfile.mkdtemp(dir=fast_dir))
        path = folder / "resell.db"
        shutil.copy(template, path)
        yield f"sqlite:///{path}"
        shutil.rmtree(folder, ignore_errors=True)
        return
    url = request.getfixturevalue("postgres_migrated")
    db = Database(url, pool_size=1)
    _truncate(db, request.getfixturevalue("postgres_world_rows")[0] if wants_world else [])
    kept.forget_all(db)  # the rows were put back behind the services' back: a new database
    db.dispose()
    yield url


@pytest.fixture
def clock() -> Clock:
    return Clock()


def settings_for(tmp_path: Path, db_url: str, **overrides: Any) -> Settings:
    """The suite's settings for a test (a module that needs other limits or servers passes them)."""
    base: dict[str, Any] = {
        "var_dir": tmp_path / "var",
        "database_url": db_url,
        "jwt_secret": "test-jwt-secret-" + "x" * 32,
        "public_base_url": "http://resell.test",
        "log_json": True,
        "webhook_allow_private": True,  # the suite's receivers and key generators listen on loopback
    }
    return Settings(**(base | overrides))


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return settings_for(tmp_path, db_url)


@pytest.fixture
def ctx(settings: Settings, clock: Clock) -> Iterator[Context]:
    context = Context(db=Database(settings.effective_database_url), settings=settings, clock=clock)
    yield context
    context.db.dispose()


# ---------------------------------------------------------------- a small world

TEST_CATALOG: dict[str, Any] = {
    "publishers": [{"key": "pub", "name": "Test Publisher"}],
    "operatingSystems": [{"id": 1, "label": "Windows 11"}, {"id": 2, "label": "macOS 14"}],
    "categories": [
        {
            "id": 10,
            "labels": {"en": "Software", "fr": "Logiciels"},
            "subcategories": [{"id": 11, "labels": {"en": "Security", "fr": "Sécurité"}}],
        },
    ],
    "products": [
        {
            "ref": 1001,
            "name": "Serial and files",
            "publisher": "pub",
            "serialSource": "pool",
            "deliveryMode": "download_serial",
            "almostOutThreshold": 3,
            "remark": "Hi %FIRSTNAME% %LASTNAME%: %GAMENAME%, order %IDTRAN%",
            "files": [{"label": "Installer", "fileName": "setup.exe", "size": 1234}],
            "prices": [{"currency": "EUR", "amountDutyFree": 10, "vatRate": 20}],
            "upSells": [1002],
            "crossSells": [1003],
            "categories": [11],
            "operatingSystems": [1],
        },
        {
            "ref": 1002,
            "name": "Download only",
            "publisher": "pub",
            "serialSource": "none",
            "deliveryMode": "download",
            "files": [{"label": "Archive", "fileName": "app.zip", "size": 99}],
            "prices": [{"currency": "EUR", "amountDutyFree": 5}],
        },
        {
            "ref": 1003,
            "name": "Serial only",
            "publisher": "pub",
            "serialSource": "pool",
            "deliveryMode": "serial",
            "prices": [{"currency": "EUR", "amountDutyFree": 3}],
        },
        {
            "ref": 1004,
            "name": "Pre-order",
            "publisher": "pub",
            "serialSource": "none",
            "deliveryMode": "download",
            "releaseDate": "2099-01-01",
        },
        {
            "ref": 1005,
            "name": "Yearly",
            "publisher": "pub",
            "serialSource": "pool",
            "deliveryMode": "serial",
            "subscriptionPeriod": "P1Y",
            "prices": [{"currency": "EUR", "amountDutyFree": 30}],
        },
        {
            "ref": 1090,
            "name": "Download extension",
            "publisher": "pub",
            "type": "option",
            "serialSource": "none",
            "deliveryMode": "download",
            "option": {"kind": "download_extension", "period": "P1Y", "eligibleRefs": [1001, 1002]},
        },
        {
            "ref": 1091,
            "name": "Backup DVD",
            "publisher": "pub",
            "type": "option",
            "serialSource": "none",
            "deliveryMode": "download",
            "option": {"kind": "backup_dvd", "eligibleRefs": [1001, 1002]},
        },
    ],
}
SERIALS = {1001: 20, 1003: 5, 1005: 10}


@dataclass
class MerchantCreds:
    realm: str
    client_secret: str
    secret: str  # the EUR catalogue
    other_secret: str  # a USD catalogue of the same merchant
    sandbox_secret: str = ""  # the EUR catalogue's sandbox (`test_...`)


@dataclass
class World:
    a: MerchantCreds
    b: MerchantCreds
    serials: dict[int, list[str]]


@contextmanager
def _template_context(url: str, var_dir: Path) -> Iterator[Context]:
    context = Context(db=Database(url), settings=settings_for(var_dir, url), clock=Clock())
    try:
        yield context
    finally:
        context.db.dispose()


@pytest.fixture
def world(request: pytest.FixtureRequest, db_url: str) -> World:
    """The small world, already in the test's database (db_url copies it from a template)."""
    if db_url.startswith("sqlite"):
        return request.getfixturevalue("sqlite_world_template")[1]  # type: ignore[no-any-return]
    return request.getfixturevalue("postgres_world_rows")[1]  # type: ignore[no-any-return]


def add_prices(ctx: Context, currency: str, *refs: int) -> None:
    """Give TEST_CATALOG products a price in `currency` too (a catalogue in it may then sell them)."""
    catalog = copy.deepcopy(TEST_CATALOG)
    for product in catalog["products"]:
        if product["ref"] in refs:
            product["prices"] = [*product.get("prices", []), {"currency": currency, "amountDutyFree": 7}]
    import_catalog(ctx, catalog)


def _sell_unpriced(ctx: Context, catalog_id: int, ref: int) -> None:
    """A catalogue selling a product without a price in its currency, as catalogues made before
    `resell merchant` refused that still may: the merchant service no longer writes such a row."""
    with ctx.db.write() as conn:
        product_id = conn.execute(select(products.c.id).where(products.c.ref == ref)).scalar_one()
        conn.execute(insert(catalog_products).values(catalog_id=catalog_id, product_id=product_id))
        catalog_changes.record(conn, ctx.now(), catalog_id, [product_id], "insert")


def build_world(ctx: Context) -> World:
    import_catalog(ctx, TEST_CATALOG)
    made: dict[int, list[str]] = {}
    for ref, n in SERIALS.items():
        made[ref] = [f"S{ref}-{i:04d}" for i in range(n)]
        stock.import_serials(ctx, ref, made[ref])
    creds = []
    for realm in ("shop-a", "shop-b"):
        m, (eur, usd) = merchants.create_merchant(
            ctx,
            realm,
            catalogs_to_add=[
                merchants.CatalogSpec(f"{realm} EUR", "EUR"),
                merchants.CatalogSpec(f"{realm} USD", "USD", []),
            ],
        )
        _sell_unpriced(ctx, usd.catalog_id, 1002)
        creds.append(MerchantCreds(realm, m.client_secret, eur.secret, usd.secret, eur.sandbox_secret))
    return World(creds[0], creds[1], made)


# ---------------------------------------------------------------- a live server and a merchant client


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppSlot:
    """The ASGI app of the session's server: each test that asks for `server` puts its own app in
    (built on its own database, settings and clock), so uvicorn starts once per session, not per test."""

    def __init__(self) -> None:
        self.app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        app = self.app
        if app is None:
            raise RuntimeError("a request reached the test server between two tests")
        await app(scope, receive, send)


@pytest.fixture(scope="session")
def _session_server() -> Iterator[tuple[AppSlot, str]]:
    slot = AppSlot()
    port = _free_port()
    config = uvicorn.Config(
        slot,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        proxy_headers=False,  # as `resell serve` by default
        http=OneWriteHttpToolsProtocol,  # as `resell serve`
    )
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started:
        if time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    yield slot, f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def server(ctx: Context, _session_server: tuple[AppSlot, str]) -> Iterator[str]:
    """The real app on a real socket, in a thread of this process (so tests can move its clock)."""
    from resell.app import create_app

    slot, url = _session_server
    slot.app = create_app(ctx.settings, ctx)
    yield url
    slot.app = None


@pytest.fixture
def http(server: str) -> Iterator[httpx.Client]:
    """A plain HTTP client to the test server (no token, no secret)."""
    with httpx.Client(base_url=server, timeout=30) as client:
        yield client


@pytest.fixture
def from_ip(server: str) -> Iterator[Callable[[str], httpx.Client]]:
    """`from_ip("127.0.0.7")`: an HTTP client to the server whose connections come from that loopback
    address, so the server sees distinct client IPs (throttling tests)."""
    made: dict[str, httpx.Client] = {}

    def client(address: str) -> httpx.Client:
        if address not in made:
            transport = httpx.HTTPTransport(local_address=address)
            made[address] = httpx.Client(base_url=server, transport=transport, timeout=30)
        return made[address]

    yield client
    for c in made.values():
        c.close()


class Merchant:
    """A merchant's HTTP client: gets a token once and sends `secret` with every /connect call."""

    def __init__(self, base_url: str, creds: MerchantCreds):
        self.creds = creds
        self.http = httpx.Client(base_url=base_url, timeout=30)
        self.secret = creds.secret
        self._token: str | None = None

    def token(self) -> str:
        if self._token is None:
            reply = self.http.post(
                "/iam/tokens",
                json={
                    "realmName": self.creds.realm,
                    "clientSecret": self.creds.client_secret,
                    "grantType": "client_credentials",
                },
            )
            assert reply.status_code == 200, reply.text
            self._token = reply.json()["access_token"]
        return self._token

    def call(self, method: str, path: str, json: Any = None, secret: str | None = None, **kw: Any) -> httpx.Response:
        extra = kw.pop("headers", {})
        for _attempt in range(2):
            headers = {"Authorization": f"Bearer {self.token()}", "secret": secret or self.secret, **extra}
            reply = self.http.request(method, "/connect" + path, json=json, headers=headers, **kw)
            if reply.status_code != 401:
                break
            self._token = None  # the test moved the clock past the token's life: sign in again
        return reply


@pytest.fixture
def shop_a(server: str, world: World) -> Iterator[Merchant]:
    client = Merchant(server, world.a)
    yield client
    client.http.close()


@pytest.fixture
def shop_b(server: str, world: World) -> Iterator[Merchant]:
    client = Merchant(server, world.b)
    yield client
    client.http.close()


def order_body(pon: str, *lines: tuple[int, int], **extra: Any) -> dict[str, Any]:
    """A valid createOrder body; `lines` are (productRef, quantity)."""
    body: dict[str, Any] = {
        "partnerOrderNumber": pon,
        "orderDate": "2026-11-28T10:00:00+00:00",
        "currency": "EUR",
        "orderLines": [{"productRef": ref, "quantity": qty, "vatRate": 20} for ref, qty in lines],
        "customer": {
            "partnerId": "cust-1",
            "email": "buyer@example.com",
            "language": "en_US",
            "locationInvoice": {"firstName": "Ada", "lastName": "Lovelace", "country": "FR", "city": "Paris"},
            "ipV4": "192.0.2.10",
        },
        "payment": {"paymentMethod": "External Payment", "transactionId": "T-1"},
    }
    body.update(extra)
    return body


def load_bench_script(name: str) -> Any:
    """bench/<name>.py as a module (the bench scripts are scripts, not a package), as `bench_<name>`."""
    bench = Path(__file__).resolve().parents[1] / "bench"
    if str(bench) not in sys.path:
        sys.path.insert(0, str(bench))  # the bench scripts import their `common` module so
    spec = importlib.util.spec_from_file_location(f"bench_{name}", bench / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def run_cli(env: dict[str, str | None], *args: str):  # type: ignore[no-untyped-def]
    """Run `resell ARGS` in-process with `env`, on settings read afresh (get_settings is cached)."""
    from typer.testing import CliRunner

    from resell.cli import app
    from resell.config import get_settings

    get_settings.cache_clear()
    try:
        return CliRunner().invoke(app, list(args), env=env)
    finally:
        get_settings.cache_clear()


CliRun = Callable[..., Result]


@pytest.fixture
def cli(settings: Settings) -> Iterator[CliRun]:
    """`cli("files", "list")` runs a command in-process on the test's database and var dir (modules that
    need another var dir or base URL define their own `cli`)."""
    env: dict[str, str | None] = {
        "RESELL_DATABASE_URL": settings.effective_database_url,
        "RESELL_VAR_DIR": str(settings.var_dir),
        "RESELL_JWT_SECRET": settings.jwt_secret,
        "RESELL_WEBHOOK_ALLOW_PRIVATE": str(settings.webhook_allow_private).lower(),
        "RESELL_WEBHOOK_MAX_ENDPOINTS": str(settings.webhook_max_endpoints),
        "COLUMNS": "200",
    }
    yield lambda *args: run_cli(env, *args)


# ---------------------------------------------------------------- the browser of the web pages' tests

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium (/usr/bin/chromium, installed by scripts/system-deps), headless, driven by
    Playwright; one per test module: each test opens its own context (cookies, viewport, language)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
