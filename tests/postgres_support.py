"""The PostgreSQL server's side of a test: what it sees and what it drops, each on a connection of
its own (not the application's). Plain functions, no fixtures."""

from __future__ import annotations

from sqlalchemy import create_engine, text


def server_count(db_url: str, sql: str, **params: object) -> int:
    """One count read by the server's view (pg_stat_activity and the like)."""
    engine = create_engine(db_url)
    with engine.connect() as c:
        n = c.execute(text(sql), params).scalar_one()
    engine.dispose()
    return int(n)


def terminate_backend(db_url: str, pid: int) -> None:
    """pg_terminate_backend on one server process (what a restart does to its connection)."""
    assert server_count(db_url, "SELECT count(*) FILTER (WHERE pg_terminate_backend(:pid, 5000))", pid=pid) == 1


def drop_connections(db_url: str) -> int:
    """pg_terminate_backend on every other connection to the test's database (as a restart would);
    how many were dropped."""
    return server_count(
        db_url,
        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000)) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
