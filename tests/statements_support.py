"""What SQL a piece of work sends to the database, seen at the driver.

SQLAlchemy's cursor events miss the prepared statements of the hot path (resell.db.prepared runs
them on the driver's cursor), so this watches the driver itself: on SQLite the connection's trace
callback, on PostgreSQL a cursor class that notes each statement it executes.

Plain functions, no fixtures.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from sqlalchemy import Connection, event

from resell.db.engine import Database


@contextmanager
def driver_statements(db: Database) -> Iterator[list[str]]:
    """The statements every transaction of `db` begun inside the block sends, in order (whichever
    connection or thread runs it). Only inside transactions: the pool's liveness ping is not the
    work's. Neither BEGIN (the engine sends it before this watch starts) nor COMMIT or ROLLBACK is
    in the list: count transactions with `transactions`."""
    seen: list[str] = []

    def watch(conn: Connection) -> None:
        driver: Any = conn.connection.driver_connection
        if db.is_sqlite:
            driver.set_trace_callback(seen.append)
        else:
            driver.cursor_factory = _noting(driver.cursor_factory, seen)

    def stop(conn: Connection) -> None:
        driver: Any = conn.connection.driver_connection
        if db.is_sqlite:
            driver.set_trace_callback(None)
        elif getattr(driver.cursor_factory, "notes", None) is seen:
            driver.cursor_factory = driver.cursor_factory.__base__

    listeners = [("begin", watch), ("commit", stop), ("rollback", stop)]
    for name, listener in listeners:
        # before the engine's own "begin" listener, which sends SQLite's BEGIN
        event.listen(db.engine, name, listener, insert=True)
    try:
        yield seen
    finally:
        for name, listener in listeners:
            event.remove(db.engine, name, listener)


@contextmanager
def transactions(db: Database) -> Iterator[list[Connection]]:
    """The connection of each transaction of `db` begun inside the block, in order: how many
    snapshots a piece of work read from (PostgreSQL's BEGIN is not among `driver_statements`)."""
    begun: list[Connection] = []

    def note(conn: Connection) -> None:
        begun.append(conn)

    event.listen(db.engine, "begin", note)
    try:
        yield begun
    finally:
        event.remove(db.engine, "begin", note)


@contextmanager
def transaction_commands() -> Iterator[list[str]]:
    """PostgreSQL: the BEGINs, COMMITs and ROLLBACKs psycopg sends inside the block, from any
    connection of the process. Each is a round trip of its own, sent by psycopg itself, out of
    `driver_statements`' sight."""
    seen: list[str] = []
    original = psycopg.Connection._exec_command

    def noting(self: Any, command: Any, *args: Any, **kwargs: Any) -> Any:
        text = command.decode() if isinstance(command, bytes) else str(command)
        if text.split(" ", 1)[0] in ("BEGIN", "COMMIT", "ROLLBACK"):
            seen.append(text)
        return original(self, command, *args, **kwargs)

    psycopg.Connection._exec_command = noting  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        psycopg.Connection._exec_command = original  # type: ignore[method-assign]


def _noting(base: type, seen: list[str]) -> type:
    """A subclass of the psycopg cursor class `base` whose execute notes the statement in `seen`."""

    def execute(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(str(query))
        return base.execute(self, query, *args, **kwargs)

    return type("NotingCursor", (base,), {"execute": execute, "notes": seen})


def selects(statements: list[str]) -> list[str]:
    """The SELECTs among `statements`, each on one line."""
    return [" ".join(s.split()) for s in statements if s.lstrip().upper().startswith(("SELECT", "WITH"))]


def without_files(reads: list[str]) -> int:
    """How many of `reads` are not of products' files (read only when not kept, db/kept.py)."""
    return len([s for s in reads if " FROM product_files " not in s])
