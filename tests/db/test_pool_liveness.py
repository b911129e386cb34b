"""PostgreSQL: the pool's liveness check on checkout (resell/db/engine.py `_check_on_checkout`). A
connection the server closed is replaced without a round trip; one idle in the pool for more than
a second is pinged; one back within it is handed out as it is."""

from __future__ import annotations

import time

import pytest

from resell.db import engine as engine_module
from resell.db.engine import Database
from tests.conftest import only_on
from tests.postgres_support import terminate_backend

pytestmark = only_on("postgres")  # SQLite has no server to drop a connection


def _backend_pid(db: Database) -> int:
    with db.write() as conn:
        return int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())


@pytest.fixture
def pings(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The pings the pool sends."""
    sent: list[int] = []
    from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg

    original = PGDialect_psycopg.do_ping

    def do_ping(self, dbapi_connection):  # type: ignore[no-untyped-def]
        sent.append(1)
        return original(self, dbapi_connection)

    monkeypatch.setattr(PGDialect_psycopg, "do_ping", do_ping)
    return sent


def test_a_connection_back_within_the_threshold_is_not_pinged_and_one_idle_longer_is(
    db_url: str, pings: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "_PING_AFTER_IDLE_SECONDS", 0.2)
    db = Database(db_url, pool_size=1)
    try:
        pid = _backend_pid(db)
        assert [_backend_pid(db) for _ in range(5)] == [pid] * 5
        assert pings == []
        time.sleep(0.3)
        assert _backend_pid(db) == pid
        assert pings == [1]
    finally:
        db.dispose()


def test_a_write_right_after_the_server_closed_its_connection_runs_on_a_new_one(
    db_url: str, pings: list[int]
) -> None:
    """Inside the threshold: the closed socket says so, no ping needed (pool_pre_ping pinged)."""
    db = Database(db_url, pool_size=1)
    try:
        dropped = _backend_pid(db)
        terminate_backend(db_url, dropped)
        assert _backend_pid(db) != dropped
        assert pings == []
    finally:
        db.dispose()


def test_a_connection_idle_past_the_threshold_that_died_silently_is_replaced_by_the_ping(
    db_url: str, pings: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dead peer that closed nothing (a firewall dropped the state) shows nothing on the socket:
    simulated by a check of the socket that sees nothing; the ping finds it."""
    monkeypatch.setattr(engine_module, "_PING_AFTER_IDLE_SECONDS", 0.1)
    monkeypatch.setattr(engine_module, "_server_said_goodbye", lambda _connection: False)
    db = Database(db_url, pool_size=1)
    try:
        dropped = _backend_pid(db)
        terminate_backend(db_url, dropped)
        time.sleep(0.2)
        assert _backend_pid(db) != dropped
        assert pings == [1]
    finally:
        db.dispose()
