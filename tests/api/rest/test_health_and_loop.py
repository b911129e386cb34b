"""Health and readiness endpoints, and the event loop on PostgreSQL: a request waiting on the
database does not hold up the other requests of its process (api/rest/dispatch.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from resell.db.engine import Database
from resell.services.context import Context
from tests.conftest import AppSlot, Merchant, World, only_on
from tests.lifespan_support import start_and_stop
from tests.postgres_support import drop_connections, server_count


def test_healthz_and_readyz_answer_when_the_database_does(http: httpx.Client) -> None:
    assert http.get("/healthz").json() == {"status": "ok"}
    reply = http.get("/readyz")
    assert reply.status_code == 200
    assert reply.json() == {"status": "ready", "database": "ok"}


def test_readyz_is_503_when_the_database_does_not_answer(ctx: Context, _session_server: tuple[AppSlot, str]) -> None:
    from resell.app import create_app

    slot, url = _session_server
    down = Context(db=Database("postgresql+psycopg://postgres@127.0.0.1:1/nowhere"), settings=ctx.settings)
    slot.app = create_app(ctx.settings, down)
    try:
        assert httpx.get(f"{url}/healthz").status_code == 200  # alive, but
        reply = httpx.get(f"{url}/readyz", timeout=30)
        assert reply.status_code == 503
        assert reply.json() == {"status": "unavailable", "database": "OperationalError"}
    finally:
        slot.app = None
        down.db.dispose()


@pytest.fixture
def orders_locked(db_url: str) -> Iterator[Any]:
    """Another connection holding an ACCESS EXCLUSIVE lock on `orders`: every read of it waits."""
    engine = create_engine(db_url)
    conn = engine.connect()
    conn.begin()
    conn.execute(text("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE"))
    try:
        yield conn
    finally:
        conn.rollback()
        conn.close()
        engine.dispose()


def _waiting_on_a_lock(db_url: str) -> int:
    return server_count(
        db_url, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
    )


@only_on("postgres")  # SQLite reads (WAL) never wait for another connection
def test_a_read_held_in_postgresql_leaves_the_event_loop_free(
    db_url: str, server: str, world: World, shop_a: Merchant, orders_locked: Any
) -> None:
    held = Merchant(server, world.a)
    held.token()
    shop_a.token()
    replies: list[httpx.Response] = []
    # getOrderData is a hot read (run on the event loop on SQLite): it waits for the lock on orders
    waiter = threading.Thread(target=lambda: replies.append(held.call("GET", "/order/HELD-1")))
    waiter.start()
    try:
        deadline = time.monotonic() + 10
        while _waiting_on_a_lock(db_url) == 0:
            assert time.monotonic() < deadline, "the request never reached the lock"
            time.sleep(0.02)
        # meanwhile the same process answers other requests, each within a short time
        for _ in range(3):
            started = time.monotonic()
            assert httpx.get(f"{server}/healthz", timeout=2).status_code == 200
            stock = shop_a.call("POST", "/stock", {"productRefs": [1001]}, timeout=2)
            assert stock.status_code == 200 and stock.json()["responseCode"] == 0, stock.text
            assert time.monotonic() - started < 1.5
        assert waiter.is_alive() and not replies  # still held in the database
    finally:
        orders_locked.rollback()  # let it go
        waiter.join(timeout=10)
        held.http.close()
    (reply,) = replies
    assert reply.status_code == 200 and reply.json()["responseCode"] == 1010  # answered once released


@only_on("postgres")  # SQLite reads run on the event loop, in no thread pool
def test_the_reads_waiting_in_postgresql_are_as_many_as_the_read_threads(
    db_url: str, ctx: Context, _session_server: tuple[AppSlot, str], world: World, orders_locked: Any
) -> None:
    """RESELL_DATABASE_READ_THREADS: that many reads of a process wait on PostgreSQL at once, the
    others queue for a thread (holding no connection), and the event loop still answers."""
    from resell.api.rest import dispatch
    from resell.app import create_app

    slot, url = _session_server
    settings = ctx.settings.model_copy(update={"database_read_threads": 3})
    slot.app = create_app(settings, Context(db=ctx.db, settings=settings, clock=ctx.clock))
    shop = Merchant(url, world.a)
    shop.token()
    replies: list[httpx.Response] = []
    readers = [
        threading.Thread(target=lambda i=i: replies.append(shop.call("GET", f"/order/HELD-{i}", timeout=60)))
        for i in range(5)
    ]
    for reader in readers:
        reader.start()
    pool = dispatch._threads("read", 3)
    try:
        deadline = time.monotonic() + 20
        # every read arrived, two of them queued for a thread: the three threads are all taken
        while pool.calls < 5 or pool._executor._work_queue.qsize() != 2 or _waiting_on_a_lock(db_url) < 3:
            assert time.monotonic() < deadline, "the reads never reached the lock"
            time.sleep(0.05)
        assert _waiting_on_a_lock(db_url) == 3
        assert httpx.get(f"{url}/healthz", timeout=2).status_code == 200
        assert not replies
    finally:
        orders_locked.rollback()
        for reader in readers:
            reader.join(timeout=60)
        shop.http.close()
        slot.app = None
    assert sorted(r.json()["responseCode"] for r in replies) == [1010] * 5


@only_on("postgres")  # SQLite's writes queue for one group-commit writer and hold no pooled connection
def test_writes_waiting_in_postgresql_leave_connections_for_the_reads(
    db_url: str, server: str, world: World, shop_a: Merchant, orders_locked: Any
) -> None:
    """A launch: more createOrders than the process has pooled connections, all waiting in the
    database. They hold at most RESELL_DATABASE_WRITE_THREADS connections (8 by default, the
    server's); the stock polls still get theirs."""
    from resell.api.rest import dispatch
    from resell.config import Settings
    from tests.conftest import order_body

    threads = Settings.model_fields["database_write_threads"].default
    shop_a.token()
    replies: list[httpx.Response] = []
    orders = [
        threading.Thread(
            target=lambda i=i: replies.append(
                shop_a.call("POST", "/order/new", order_body(f"RUSH-{i}", (1002, 1)), timeout=60)
            )
        )
        for i in range(45)  # past the pool's 40 connections
    ]
    for thread in orders:
        thread.start()
    try:
        deadline = time.monotonic() + 20
        while True:  # every order arrived: in a write thread or queued for one
            if (
                dispatch._threads("write", threads).calls == 45
                and _waiting_on_a_lock(db_url) >= threads
            ):
                break
            assert time.monotonic() < deadline, "the orders never reached the lock"
            time.sleep(0.05)
        assert _waiting_on_a_lock(db_url) == threads
        for _ in range(3):
            started = time.monotonic()
            stock = shop_a.call("POST", "/stock", {"productRefs": [1001]}, timeout=5)
            assert stock.status_code == 200 and stock.json()["responseCode"] == 0, stock.text
            assert time.monotonic() - started < 2
        assert not replies  # every order still waiting
    finally:
        orders_locked.rollback()
        for thread in orders:
            thread.join(timeout=60)
    assert sorted(r.status_code for r in replies) == [201] * 45


@only_on("postgres")  # SQLite has no server to drop a connection
def test_the_hot_reads_answer_after_the_server_dropped_their_connections(db_url: str, shop_a: Merchant) -> None:
    """The reads' connections are kept between requests (Database.shared_read): one the server
    dropped since is found by the next read, which runs again on a new connection."""
    from tests.conftest import order_body

    assert shop_a.call("POST", "/order/new", order_body("DROPPED-1", (1002, 1))).status_code == 201
    for _ in range(2):
        stock = shop_a.call("POST", "/stock", {"productRefs": [1001]})
        assert stock.status_code == 200 and stock.json()["responseCode"] == 0, stock.text
        order = shop_a.call("GET", "/order/DROPPED-1")
        assert order.status_code == 200 and order.json()["responseCode"] == 0, order.text
        assert drop_connections(db_url) > 0


def test_what_the_server_built_to_start_is_frozen_while_it_serves(ctx: Context) -> None:
    """The cyclic collector skips the startup heap while the server runs, and gets it back at shutdown."""
    import gc

    from resell.app import create_app

    frozen: list[int] = []
    sent = start_and_stop(create_app(ctx.settings, ctx), lambda: frozen.append(gc.get_freeze_count()))
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert frozen[0] > 10_000
    assert gc.get_freeze_count() == 0


@only_on("postgres")
def test_an_order_is_written_right_after_the_server_dropped_the_connections(db_url: str, shop_a: Merchant) -> None:
    """Whoever meets a dropped connection first (the authentication's kept read, or the pool's check
    of the write's connection: no ping within a second of idle time) replaces it: the order is written."""
    from tests.conftest import order_body

    for i in range(3):
        created = shop_a.call("POST", "/order/new", order_body(f"REDIAL-{i}", (1002, 1)))
        assert created.status_code == 201 and created.json()["responseCode"] == 0, created.text
        assert drop_connections(db_url) > 0
