"""Database.shared_read: one read transaction for a hot request, on a connection kept between
reads; Database.run_read: a read whose kept connection the server dropped runs again."""

from __future__ import annotations

import threading
from typing import Any

import psycopg
import pytest
from sqlalchemy import Connection, event, exc, func, select

from resell.db.engine import Database
from resell.db.prepared import Prepared
from tests.conftest import only_on
from tests.postgres_support import terminate_backend


def test_the_connection_is_kept_between_reads_whatever_the_thread_and_given_back_by_dispose(db_url: str) -> None:
    """Taken from the pool once (on PostgreSQL the pool pings each connection it hands out)."""
    db = Database(db_url)
    seen: list[Connection] = []
    checkouts: list[object] = []
    event.listen(db.engine, "checkout", lambda *_: checkouts.append(1))

    def reads() -> None:
        for _ in range(3):
            with db.shared_read() as conn:
                assert conn.exec_driver_sql("SELECT 1").scalar() == 1
                seen.append(conn)

    try:
        for _ in range(2):
            thread = threading.Thread(target=reads)
            thread.start()
            thread.join()
        assert len(seen) == 6 and all(conn is seen[0] for conn in seen)
        assert len(checkouts) == 1
        assert db.engine.pool.checkedout() == 1  # kept between reads, outside any transaction
        assert not seen[0].in_transaction()
    finally:
        db.dispose()
    assert db.engine.pool.checkedout() == 0


def test_reads_at_once_each_get_a_connection_and_at_most_the_pools_size_stay_kept(db_url: str) -> None:
    db = Database(db_url, pool_size=1)
    inside, release = threading.Barrier(2), threading.Event()

    def hold() -> None:
        with db.shared_read():
            inside.wait()
            release.wait()

    try:
        thread = threading.Thread(target=hold)
        thread.start()
        inside.wait()
        with db.shared_read() as conn:  # the other one is in use: a second connection
            assert conn.exec_driver_sql("SELECT 1").scalar() == 1
            assert db.engine.pool.checkedout() == 2
        release.set()
        thread.join()
        assert db.engine.pool.checkedout() == 1  # pool_size=1: one kept, the other back to the pool
        with db.write() as conn:  # on the one given back: reset by the pool (PostgreSQL: not read-only)
            conn.exec_driver_sql("CREATE TABLE written (n integer)")
    finally:
        db.dispose()


def test_a_failed_shared_read_leaves_the_kept_connection_usable(tmp_path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'reads.db'}")
    try:
        with pytest.raises(exc.OperationalError):
            with db.shared_read() as conn:
                conn.exec_driver_sql("SELECT * FROM missing")
        with db.shared_read() as again:
            assert again is conn
            assert again.exec_driver_sql("SELECT 2").scalar() == 2
    finally:
        db.dispose()
    assert db.engine.pool.checkedout() == 0


@only_on("postgres")  # a SQLite read transaction is one snapshot already, and writes nothing
def test_a_shared_read_on_postgresql_reads_one_snapshot_and_writes_nothing(db_url: str) -> None:
    db = Database(db_url, pool_size=1)
    try:
        with db.write() as conn:
            conn.exec_driver_sql("CREATE TABLE seen (n integer)")
        with db.shared_read() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM seen").scalar() == 0
            with db.write() as other:
                other.exec_driver_sql("INSERT INTO seen VALUES (1)")
            assert conn.exec_driver_sql("SELECT count(*) FROM seen").scalar() == 0  # committed since
        with pytest.raises(exc.DBAPIError, match="read-only transaction"):
            with db.shared_read() as conn:
                conn.exec_driver_sql("INSERT INTO seen VALUES (2)")
    finally:
        db.dispose()


def _backend_pid(db: Database) -> int:
    with db.shared_read() as conn:
        return int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())


@only_on("postgres")
@pytest.mark.parametrize("prepared", [True, False], ids=["prepared", "core"])
def test_a_read_whose_kept_connection_was_dropped_runs_again_on_a_new_one(db_url: str, prepared: bool) -> None:
    one = Prepared(select(func.pg_backend_pid()))
    db = Database(db_url)
    try:
        dropped = _backend_pid(db)
        terminate_backend(db_url, dropped)
        runs: list[int] = []

        def work() -> int:
            with db.read() as conn:  # joins the shared read, as a service's read does
                runs.append(1)
                pid = one.scalar(conn) if prepared else conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
                return int(pid)

        assert db.run_read(work) != dropped
        assert len(runs) == 2  # once on the dropped connection, once more on a new one
        assert _backend_pid(db) != dropped  # and the new one is kept
    finally:
        db.dispose()


@only_on("postgres")
def test_a_read_that_fails_on_a_live_connection_is_not_run_again(db_url: str) -> None:
    db = Database(db_url)
    runs: list[int] = []

    def work() -> None:
        runs.append(1)
        with db.read() as conn:
            conn.exec_driver_sql("SELECT * FROM missing")

    try:
        with pytest.raises(exc.ProgrammingError):
            db.run_read(work)
        assert runs == [1]
    finally:
        db.dispose()


def test_a_lazy_shared_read_runs_outside_a_transaction_until_a_read_needs_one_snapshot(db_url: str) -> None:
    """On PostgreSQL no BEGIN and no COMMIT (two round trips), on SQLite two statements fewer."""
    db = Database(db_url, pool_size=1)

    def seen(conn: Connection) -> int:
        return int(conn.exec_driver_sql("SELECT count(*) FROM lazy_seen").scalar_one())

    def insert() -> None:
        with db.write() as other:
            other.exec_driver_sql("INSERT INTO lazy_seen VALUES (1)")

    def in_transaction(conn: Connection) -> bool:
        driver: Any = conn.connection.driver_connection
        if db.is_sqlite:
            return bool(driver.in_transaction)
        return driver.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS  # type: ignore[no-any-return]

    try:
        with db.write() as conn:
            conn.exec_driver_sql("CREATE TABLE lazy_seen (n integer)")
        with db.shared_read(lazy=True) as conn:
            with db.read(snapshot=False):
                assert seen(conn) == 0
            assert not in_transaction(conn)  # no BEGIN sent
            insert()
            with db.read(snapshot=False):
                assert seen(conn) == 1  # its own snapshot
            with db.read():
                assert seen(conn) == 1
                assert in_transaction(conn)
            insert()
            with db.read(snapshot=False):  # joins the transaction the read above began
                assert seen(conn) == 1
            if db.is_postgres:
                with pytest.raises(exc.DBAPIError, match="read-only transaction"):
                    conn.exec_driver_sql("INSERT INTO lazy_seen VALUES (2)")
        assert not in_transaction(conn)  # committed at the end of the block
        with db.shared_read() as again:  # the same kept connection, not lazy: one snapshot throughout
            assert again is conn
            assert seen(again) == 2
            assert in_transaction(again)
            insert()
            assert seen(again) == 2
        with db.write() as other:  # the pool's connection (SQLite: the one kept) begins writes as before
            other.exec_driver_sql("INSERT INTO lazy_seen VALUES (3)")
            assert in_transaction(other)
    finally:
        _drop(db, "lazy_seen")


def test_a_lazy_shared_reads_connection_given_back_to_the_pool_is_transactional_again(db_url: str) -> None:
    """What the kept connection's reads set does not outlive it in the pool (psycopg's autocommit,
    reset by the pool; SQLite's begin that sends nothing, an option of the kept Connection alone): a
    write that fails on it afterwards is rolled back whole."""
    db = Database(db_url, pool_size=1)
    inside, release = threading.Barrier(2), threading.Event()

    def hold() -> None:
        with db.shared_read(lazy=True):
            inside.wait()
            release.wait()

    try:
        with db.write() as conn:
            conn.exec_driver_sql("CREATE TABLE lazy_kept (n integer)")
        thread = threading.Thread(target=hold)
        thread.start()
        inside.wait()
        with db.shared_read(lazy=True) as conn:
            conn.exec_driver_sql("SELECT 1")
        release.set()
        thread.join()  # pool_size=1: one kept, the other given back
        with pytest.raises(RuntimeError):
            with db.write() as conn:
                conn.exec_driver_sql("INSERT INTO lazy_kept VALUES (1)")
                raise RuntimeError("undo")
        with db.read() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM lazy_kept").scalar() == 0
    finally:
        _drop(db, "lazy_kept")


def _drop(db: Database, table: str) -> None:
    """The database outlives the test (its known tables are emptied between tests, not this one)."""
    with db.write() as conn:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
    db.dispose()
