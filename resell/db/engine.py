"""The engine and the unit of work.

One transaction per use case: a service opens `db.write()` (or `db.read()`), does its work and the
block commits once on exit, or rolls back on any exception. Routers and helpers never commit.

SQLite runs in WAL mode with synchronous=FULL (an acknowledged order survives a power cut; the
group commit's transactions flush the log themselves, after the writer's turn: db/group_commit.py); write
transactions start with BEGIN IMMEDIATE so that two writers serialize at the start instead of
failing at commit. PostgreSQL keeps its defaults (synchronous_commit on, READ COMMITTED), but for
the hot reads' shared transactions (REPEATABLE READ, READ ONLY: `Database.shared_read`), whose
statements that need no common snapshot run outside any transaction (`shared_read(lazy=True)`).
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, TypeVar

import orjson
from sqlalchemy import Connection, CursorResult, Engine, create_engine, event, exc
from sqlalchemy.engine import make_url

from resell.db.group_commit import BatchObserver, GroupCommitter
from resell.private_files import open_private, private_dir, touch_private

_BEGIN_MODE = "resell_begin"
# "KEPT": a kept read connection's (SQLite), whose shared read sends its BEGIN itself, or none when lazy
_BEGIN = {"DEFERRED": "BEGIN DEFERRED", "IMMEDIATE": "BEGIN IMMEDIATE", "KEPT": None}
# the shared read transaction open in this task or thread, with its database (Database.shared_read)
_SHARED_READ: ContextVar[tuple[Database, Connection] | None] = ContextVar("resell_shared_read", default=None)
T = TypeVar("T")
_COMMITS: dict[str, int] = {}  # by database URL (Database.commits)
_COMMITS_LOCK = threading.Lock()


def _json_text(value: object) -> str:
    """JSON columns are written by orjson (several times faster than json, and they are on every
    order); what it refuses (integers beyond 64 bits) goes through json as before."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(value)


_JSON = {"json_serializer": _json_text, "json_deserializer": orjson.loads}


def _sqlite_engine(url: str, pool_size: int) -> Engine:
    parsed = make_url(url)
    if parsed.database and parsed.database != ":memory:":
        # created 0600 before SQLite opens it: SQLite gives its -wal, -shm and -journal the database's mode
        private_dir(Path(parsed.database).parent)
        touch_private(parsed.database)
    engine = create_engine(
        url,
        **_JSON,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=False,
        connect_args={"check_same_thread": False, "timeout": 30},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        begin = _BEGIN[conn.get_execution_options().get(_BEGIN_MODE, "DEFERRED")]
        # on the driver connection directly: every unit of work begins here, and this is a constant
        if begin is not None:
            conn.connection.driver_connection.execute(begin)  # type: ignore[union-attr]

    return engine


# a pooled connection idle for longer than this is pinged before use (Database: _check_on_checkout)
_PING_AFTER_IDLE_SECONDS = 1.0
_IDLE_SINCE = "resell_idle_since"


def _server_said_goodbye(dbapi_connection: Any) -> bool:
    """Whether an idle PostgreSQL connection has something to read: the server closed it (a restart,
    pg_terminate_backend: its farewell message, then end of file). Idle, it has nothing else to say
    (no LISTEN here). One poll of the socket, no round trip."""
    poller = select.poll()
    poller.register(dbapi_connection.fileno(), select.POLLIN)
    return bool(poller.poll(0))


def _check_on_checkout(engine: Engine) -> None:
    """The pool's liveness check, in place of pool_pre_ping's round trip on every checkout: a
    connection the server closed is seen on its socket; one idle in the pool for more than
    _PING_AFTER_IDLE_SECONDS (a dead peer that closed nothing, such as a firewall's dropped state)
    is pinged. Under load connections come back within milliseconds: no ping. Either failure raises
    DisconnectionError: the pool replaces that connection and checks out again."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection, record):  # type: ignore[no-untyped-def]
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection, record, _proxy):  # type: ignore[no-untyped-def]
        idle_since = record.info.pop(_IDLE_SINCE, None)
        if idle_since is None:  # a new connection
            return
        try:
            if dbapi_connection.closed or _server_said_goodbye(dbapi_connection):
                raise exc.DisconnectionError("the server closed the connection")
            if time.monotonic() - idle_since > _PING_AFTER_IDLE_SECONDS:
                engine.dialect.do_ping(dbapi_connection)  # pool_pre_ping's ping
        except engine.dialect.loaded_dbapi.Error as error:
            raise exc.DisconnectionError(str(error)) from error


class Database:
    """The engine plus the two ways to open a unit of work."""

    def __init__(self, url: str, pool_size: int = 20, group_commit: bool = True, server_prepare: bool = True):
        self.url = url
        self._committer: GroupCommitter | None = None
        self._committer_lock = threading.Lock()
        self._on_batch: BatchObserver | None = None
        self.is_sqlite = make_url(url).get_backend_name() == "sqlite"
        self.is_postgres = make_url(url).get_backend_name() == "postgresql"
        # Group commit is SQLite's: one writer at a time there, so sharing its fsync is all the gain.
        # PostgreSQL runs concurrent transactions side by side and already shares one WAL flush among
        # the commits that wait for it; one writer thread per process would queue every order's
        # statements, each a round trip, behind each other's on one connection (measured at c=32, 2
        # workers: 63-69 orders/s through it, 117-142 with a transaction of its own for each order).
        self.group_commit = group_commit and self.is_sqlite
        # SQLite reads are a local file's pages: microseconds, and in WAL mode they never wait for a
        # writer, so the hot reads may run on the event loop. A PostgreSQL read is a network round
        # trip that can wait (a lock, a busy server, a full pool): never on the loop (api/rest/dispatch.py).
        self.reads_on_loop = self.is_sqlite
        self._writer_lock_path: str | None = None
        self._wal_path: str | None = None
        self._writer_lock_fd: int | None = None
        self._writer_turn_lock = threading.Lock()
        self._kept_idle: list[Connection] = []  # shared_read's connections between reads
        self._kept_max = pool_size
        self._kept_lock = threading.Lock()
        if self.is_sqlite:
            self.engine = _sqlite_engine(url, pool_size)
            database = make_url(url).database
            if database and database != ":memory:":
                self._writer_lock_path = database + "-writer.lock"
                self._wal_path = database + "-wal"
        else:
            # psycopg prepares a statement on the server once a connection has run it 5 times; a pooler
            # in transaction mode that does not track prepared statements needs that off (None)
            connect_args = {} if server_prepare or not self.is_postgres else {"prepare_threshold": None}
            self.engine = create_engine(
                url,
                **_JSON,
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_pre_ping=not self.is_postgres,
                connect_args=connect_args,
            )
            if self.is_postgres:
                _check_on_checkout(self.engine)

    @contextmanager
    def write(self, sync: bool = True) -> Iterator[Connection]:
        """A transaction that will write: commits once on exit, rolls back on error.

        `sync=False` (SQLite): the commit returns without waiting for the disk (synchronous=NORMAL
        for this one transaction); the caller makes it durable with `sync_log()` before it answers
        anyone. The group commit so leaves the writer to the other processes during its fsync."""
        with self.engine.connect() as conn:
            if not self.is_sqlite:
                with conn.begin():
                    yield conn
                self._committed()
                return
            driver = conn.connection.driver_connection
            assert driver is not None
            if not sync:  # a transaction's safety level is set before it begins
                driver.execute("PRAGMA synchronous=NORMAL")
            try:
                with conn.execution_options(**{_BEGIN_MODE: "IMMEDIATE"}).begin():
                    yield conn
                self._committed()
            finally:
                if not sync and not conn.invalidated:  # the pooled connection's other users commit durably
                    driver.execute("PRAGMA synchronous=FULL")

    @property
    def commits(self) -> int:
        """The write transactions this process has committed on this database (every Database of its
        URL): a value kept until the next one (db/kept.py, `until_write`) compares it with the count
        when it was read."""
        return _COMMITS.get(self.url, 0)

    def _committed(self) -> None:
        with _COMMITS_LOCK:  # a count that went back would keep a stale value
            _COMMITS[self.url] = _COMMITS.get(self.url, 0) + 1

    def sync_log(self) -> None:
        """SQLite: the write-ahead log on disk, what a commit under synchronous=FULL waits for. Every
        transaction committed before the call is then durable: the log is one file, appended to in
        commit order, and the call flushes all of it, whichever process wrote it."""
        if self._wal_path is None:
            return
        try:
            fd = os.open(self._wal_path, os.O_RDONLY)  # opened each time: SQLite may replace the file
        except FileNotFoundError:
            return  # the last connection checkpointed it into the database file (synced) and removed it
        try:
            os.fdatasync(fd)
        finally:
            os.close(fd)

    @contextmanager
    def read(self, snapshot: bool = True) -> Iterator[Connection]:
        """A read-only transaction: one consistent snapshot, nothing written. Inside `shared_read`
        of this database (same task or thread), it is that shared transaction.

        `snapshot=False` says its statements need not see one snapshot together (each is whole on
        its own): inside a lazy shared read on PostgreSQL they then run outside any transaction,
        where nothing refuses a write (keep them to SELECTs)."""
        shared = _SHARED_READ.get()
        if shared is not None and shared[0] is self:
            conn = shared[1]
            if snapshot:
                if self.is_postgres:
                    _set_autocommit(conn, False)  # psycopg sends BEGIN with the next statement
                else:
                    _sqlite_begin(conn)  # committed with the shared read
            yield conn
            return
        with self.engine.connect() as conn:
            with conn.begin():
                yield conn

    @contextmanager
    def shared_read(self, lazy: bool = False) -> Iterator[Connection]:
        """A read transaction that every `read()` inside the block joins: the hot path authenticates
        and answers a read in one transaction. Not for generators, which may resume elsewhere.

        It runs on a connection kept between these transactions (`_kept_read`). On PostgreSQL the
        transaction is REPEATABLE READ, READ ONLY: a reply read in several statements comes from one
        snapshot, as on SQLite, and psycopg names both in the BEGIN it sends anyway, so they cost no
        round trip.

        `lazy`: the statements run outside any transaction, each on its own snapshot, until the
        first `read()` that needs one snapshot; its BEGIN starts the transaction, which lasts to the
        end of the block. The hot path's authentication and its reads of one statement each
        (`read(snapshot=False)`) so spare a BEGIN and a COMMIT: on PostgreSQL 2 of the 5 round trips
        of a getStockStatus, on SQLite two statements of the driver's."""
        if _SHARED_READ.get() is not None:  # nested: the outer one is the transaction
            with self.read() as conn:
                yield conn
            return
        with self._kept_read() as conn:
            if self.is_postgres:
                _set_autocommit(conn, lazy)
            elif not lazy:
                _sqlite_begin(conn)
            token = _SHARED_READ.set((self, conn))
            try:
                yield conn
            finally:
                _SHARED_READ.reset(token)

    def run_read(self, work: Callable[[], T], lazy: bool = False) -> T:
        """work() inside `shared_read(lazy)`. A kept connection the server dropped since its last use
        (a restart, pg_terminate_backend) fails at its first statement: work runs once more, on a new
        connection (a read changes nothing, so running it again is safe)."""
        dropped = False
        try:
            with self.shared_read(lazy) as conn:
                try:
                    return work()
                except exc.DBAPIError:
                    dropped = self._dropped(conn)  # seen before the rollback, whatever that raises
                    raise
        except Exception:
            if not dropped:
                raise
        with self.shared_read(lazy):
            return work()

    @contextmanager
    def _kept_read(self) -> Iterator[Connection]:
        """A shared read's connection: an idle kept one, or a new one from the pool. Taking one from
        the pool and giving it back (its checkout checks and its reset on return) cost more
        than the hot reads themselves. Kept idle, it is outside any transaction: it holds no snapshot, and
        on SQLite no checkpoint back."""
        with self._kept_lock:
            conn = self._kept_idle.pop() if self._kept_idle else None
        if conn is None:
            conn = self.engine.connect()
            if self.is_postgres:  # reset by the pool when the connection goes back to it
                conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            else:  # this Connection's own: the pool's next user of the driver connection begins as usual
                conn.execution_options(**{_BEGIN_MODE: "KEPT"})
        try:
            with conn.begin():
                yield conn
        finally:
            self._keep(conn)

    def _keep(self, conn: Connection) -> None:
        """Back to the idle kept connections, up to the pool's size (the rest of the pool stays for
        the writes). A dropped one goes, and so do the idle others: a server restart dropped them
        too, and the pool checks each before handing it out again (`_check_on_checkout`)."""
        if self._dropped(conn):
            with self._kept_lock:
                gone, self._kept_idle = self._kept_idle, []
            conn.invalidate()
            for other in [conn, *gone]:
                other.close()
            return
        with self._kept_lock:
            if len(self._kept_idle) < self._kept_max:
                self._kept_idle.append(conn)
                return
        conn.close()

    def _dropped(self, conn: Connection) -> bool:
        """Whether the server dropped this connection: SQLAlchemy saw it, or psycopg did under a
        prepared statement (db/prepared.py runs those on the driver, out of SQLAlchemy's sight)."""
        return conn.invalidated or (self.is_postgres and conn.connection.driver_connection.closed)  # type: ignore[union-attr]

    @contextmanager
    def writer_turn(self) -> Iterator[None]:
        """SQLite: waits for the other processes' group commits to finish. A file lock wakes the next
        writer the moment the last one commits; SQLite's own busy handler sleeps and polls, which
        costs several milliseconds per turn when two API processes take turns. A no-op elsewhere."""
        if self._writer_lock_path is None:
            yield
            return
        with self._writer_turn_lock:  # flock is per open file: the threads of this process queue here
            if self._writer_lock_fd is None:  # opened once: opening it per turn cost 5% of the writer's time
                self._writer_lock_fd = open_private(self._writer_lock_path, os.O_WRONLY | os.O_APPEND)
            fcntl.flock(self._writer_lock_fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._writer_lock_fd, fcntl.LOCK_UN)

    def write_grouped(self, work: Callable[[Connection], T]) -> T:
        """Run work(conn) in a write transaction it may share with concurrent callers (one commit, one
        fsync for all of them, a savepoint each); return once that commit is durable. Without group
        commit (PostgreSQL, or RESELL_GROUP_COMMIT=false) it is simply
        `with db.write() as conn: return work(conn)`."""
        if not self.group_commit:
            with self.write() as conn:
                return work(conn)
        if self._committer is None:
            with self._committer_lock:
                if self._committer is None:
                    self._committer = GroupCommitter(self, on_batch=self._on_batch)
        return self._committer.run(work)

    def observe_batches(self, on_batch: BatchObserver) -> None:
        """Tell `on_batch` of each group commit of this process (the /metrics of the writer)."""
        self._on_batch = on_batch
        if self._committer is not None:
            self._committer.on_batch = on_batch

    def dispose(self) -> None:
        if self._committer is not None:
            self._committer.close()
            self._committer = None
        with self._kept_lock:
            kept, self._kept_idle = self._kept_idle, []
        for conn in kept:
            conn.close()
        if self._writer_lock_fd is not None:
            os.close(self._writer_lock_fd)
            self._writer_lock_fd = None
        self.engine.dispose()


def _set_autocommit(conn: Connection, on: bool) -> None:
    """psycopg's autocommit on the connection, set only when it changes (setting it takes a lock)."""
    driver: Any = conn.connection.driver_connection
    if driver.autocommit != on:
        driver.autocommit = on


def _sqlite_begin(conn: Connection) -> None:
    """SQLite, a kept read connection (whose SQLAlchemy begin sends nothing): BEGIN, unless its
    transaction has begun already. SQLAlchemy's commit at the end of the shared read commits it; with
    no BEGIN sent, the driver's commit does nothing."""
    driver: Any = conn.connection.driver_connection
    if not driver.in_transaction:
        driver.execute("BEGIN DEFERRED")


def inserted_id(result: CursorResult) -> int:
    """The primary key of the row a single-row INSERT just created."""
    key = result.inserted_primary_key
    assert key is not None, "not a single-row INSERT"
    return int(key[0])
