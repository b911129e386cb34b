"""The hot operations' cost per call, in process: createOrder, getStockStatus and getOrderData.

A small database (SQLite, or PostgreSQL with --db postgres) seeded as `make bench` seeds it; then
each operation is called `--calls` times through the ASGI application itself (no socket, no server,
no client library), one after another. It prints the CPU microseconds per call (process time: what
the machine's load changes less than wall time) and, with --top N, the N costliest functions of
each under cProfile (the main thread and the group-commit writer thread both profiled; the time per
call then includes the profiler's own cost).
On PostgreSQL it also prints PostgreSQL's own CPU per call (its server processes', read from /proc:
the server runs on this machine), and with --statements that CPU statement by statement, split into
Bind (where a prepared statement is planned, or its plan checked) and Execute: PostgreSQL reports it
itself (`log_statement_stats`, sent back to the client as notices). A statement whose Bind costs
more than its Execute is being planned again on every call. On SQLite, --statements prints SQLite's
CPU per call statement by statement: the time its thread spends in the driver's execute (SQLite runs
in the process), the COMMIT and the group commit's SAVEPOINTs included.
What `make bench` measures under load starts from these costs.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import re
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

from common import POOL_REF, ROOT  # bench/ is on sys.path
from run import cpu_seconds, cpu_used, seed, setup_database

CHECKOUTS: list[int] = []  # one per connection taken from the pool (PostgreSQL: a ping each)


class Caller:
    """Requests straight into an ASGI application: what a server would hand it, no more."""

    def __init__(self, app: Any):
        self.app = app

    async def call(self, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> tuple[int, bytes]:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
        }
        sent = False
        status = 0
        chunks: list[bytes] = []

        async def receive() -> dict:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.sleep(3600)
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return status, b"".join(chunks)


def order_body(pon: str) -> bytes:
    """The body bench/load.lua sends for createOrder."""
    return json.dumps(
        {
            "partnerOrderNumber": pon,
            "orderDate": "2026-11-28T10:00:00+00:00",
            "currency": "EUR",
            "orderLines": [{"productRef": POOL_REF, "quantity": 1, "vatRate": 20, "amountTotal": 12}],
            "customer": {
                "partnerId": "c1",
                "email": "bench@example.com",
                "language": "en_US",
                "locationInvoice": {"firstName": "B", "lastName": "Ench", "country": "FR", "city": "Paris"},
                "ipV4": "192.0.2.1",
            },
            "payment": {"paymentMethod": "External Payment", "transactionId": pon},
        }
    ).encode()


def profile_writer_thread(merged: list[cProfile.Profile]) -> None:
    """Profile the group-commit writer thread too (cProfile follows one thread only)."""
    from resell.db import group_commit

    original = group_commit.GroupCommitter._run_batch

    def run_batch(self, batch):  # type: ignore[no-untyped-def]
        profiler = cProfile.Profile()
        profiler.enable()
        try:
            return original(self, batch)
        finally:
            profiler.disable()
            merged.append(profiler)

    group_commit.GroupCommitter._run_batch = run_batch  # type: ignore[method-assign]


class StatementStats:
    """PostgreSQL's CPU per statement, as it reports it: with `log_statement_stats` on and
    `client_min_messages = log`, it sends each connection the resource usage of each protocol message
    it handles (Parse, Bind, Execute; Query for the BEGIN and COMMIT psycopg sends as simple queries),
    as notices, while the statement runs. Each is put down to the statement psycopg is sending: its
    Cursor.execute and Connection.commit are wrapped to name it (the calls run one at a time)."""

    _USAGE = re.compile(r"([0-9.]+) s user, ([0-9.]+) s system")

    def __init__(self) -> None:
        self.spent: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0, 0.0])  # (sql, message) -> n, s
        self.on = False
        self._statement = "?"

    def install(self, engine: Any) -> None:
        """Before the first connection: each new one reports, and each statement is named."""
        import psycopg
        from sqlalchemy import event

        event.listen(engine, "connect", self._on_connect)
        execute, commit = psycopg.Cursor.execute, psycopg.Connection.commit

        def named_execute(cursor: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
            self._statement = " ".join(str(query).split())[:100]
            return execute(cursor, query, *args, **kwargs)

        def named_commit(connection: Any) -> None:
            self._statement = "COMMIT"
            commit(connection)

        psycopg.Cursor.execute = named_execute  # type: ignore[assignment]
        psycopg.Connection.commit = named_commit  # type: ignore[assignment]

    def _on_connect(self, driver: Any, _record: Any) -> None:
        driver.add_notice_handler(self._notice)
        autocommit, driver.autocommit = driver.autocommit, True
        driver.execute("SET log_statement_stats = on")
        driver.execute("SET client_min_messages = log")
        driver.autocommit = autocommit

    def _notice(self, diagnostic: Any) -> None:  # called on the statement's thread, while it runs
        usage = self._USAGE.search(diagnostic.message_detail or "")
        if usage is None or not self.on:
            return
        message = (diagnostic.message_primary or "").split(" ")[0].title()  # BIND MESSAGE STATISTICS: Bind
        statement = self._statement
        if message == "Query" and statement != "COMMIT":  # the BEGIN psycopg sends before a transaction's first
            statement = "BEGIN"
        spent = self.spent[statement, message]
        spent[0] += 1
        spent[1] += float(usage[1]) + float(usage[2])

    def report(self, calls: int) -> None:
        by_statement: dict[str, dict[str, float]] = defaultdict(dict)
        for (statement, message), (_, seconds) in self.spent.items():
            by_statement[statement][message] = seconds / calls * 1e6
        print(f"  {'Bind us':>8} {'Exec us':>8}  PostgreSQL's CPU per call, by statement (reporting it adds some)")
        for statement, costs in sorted(by_statement.items(), key=lambda item: -sum(item[1].values())):
            bind = costs.get("Parse", 0) + costs.get("Bind", 0)
            run = costs.get("Execute", 0) + costs.get("Query", 0)
            print(f"  {bind:8.0f} {run:8.0f}  {statement}")
        self.spent.clear()


class SQLiteStatementTimes:
    """SQLite's CPU per statement: SQLite runs in this process, so a statement's cost is the CPU its
    thread spends in the driver's execute (`time.thread_time` around it; the column types' conversion
    of the values comes before it, not counted). The driver's classes are written in C: each
    connection is made of a subclass whose cursors time their statements (sqlite3.connect's
    `factory`, given through SQLAlchemy's do_connect event). Same interface as StatementStats."""

    def __init__(self) -> None:
        self.spent: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])  # sql -> n, s
        self.on = False

    def install(self, engine: Any) -> None:
        """Before the first connection: every connection then times its statements."""
        import sqlite3

        from sqlalchemy import event

        times = self

        def timed(sql: str, run: Any, *args: Any) -> Any:
            if not times.on:
                return run(*args)
            started = time.thread_time()
            try:
                return run(*args)
            finally:
                spent = times.spent[" ".join(sql.split())[:100]]
                spent[0] += 1
                spent[1] += time.thread_time() - started

        class TimedCursor(sqlite3.Cursor):
            def execute(self, sql: str, *args: Any) -> Any:  # type: ignore[override]
                return timed(sql, super().execute, sql, *args)

            def executemany(self, sql: str, *args: Any) -> Any:  # type: ignore[override]
                return timed(sql, super().executemany, sql, *args)

        class TimedConnection(sqlite3.Connection):
            def cursor(self, factory: Any = TimedCursor) -> Any:  # type: ignore[override]
                return super().cursor(factory)

            def execute(self, sql: str, *args: Any) -> Any:  # type: ignore[override]
                return self.cursor().execute(sql, *args)  # SAVEPOINTs, BEGIN, PRAGMAs

            def commit(self) -> None:
                timed("COMMIT", super().commit)

        @event.listens_for(engine, "do_connect")
        def _timed_connection(_dialect: Any, _record: Any, _args: Any, params: dict) -> None:
            params["factory"] = TimedConnection

    def report(self, calls: int) -> None:
        total = sum(seconds for _, seconds in self.spent.values()) / calls * 1e6
        print(f"  {'CPU us':>8}  SQLite's CPU per call, by statement (in all, {total:,.0f} us)")
        for statement, (_, seconds) in sorted(self.spent.items(), key=lambda item: -item[1][1]):
            print(f"  {seconds / calls * 1e6:8.0f}  {statement}")
        self.spent.clear()


async def measure(
    caller: Caller,
    name: str,
    calls: int,
    request: Any,
    top: int,
    postgres: bool = False,
    statements: StatementStats | SQLiteStatementTimes | None = None,
) -> float:
    writer: list[cProfile.Profile] = []
    for i in range(20):  # warm up: caches, prepared statements, the pools
        await request(i, warm=True)
    from resell.db import group_commit

    saved = group_commit.GroupCommitter._run_batch
    if top:  # without --top, no profiler: its own cost would count in the time per call
        profile_writer_thread(writer)
    profiler = cProfile.Profile()
    checkouts_before = len(CHECKOUTS)
    server_before = cpu_seconds() if postgres else {}
    started, wall = time.process_time(), time.perf_counter()
    if top:
        profiler.enable()
    if statements is not None:
        statements.on = True
    for i in range(calls):
        await request(i, warm=False)
    if top:
        profiler.disable()
    used, wall = time.process_time() - started, time.perf_counter() - wall
    server = cpu_used(server_before, cpu_seconds())["postgres"] if postgres else 0.0
    if statements is not None:
        statements.on = False
    group_commit.GroupCommitter._run_batch = saved  # type: ignore[method-assign]
    per_call = used / calls * 1e6
    checkouts = len(CHECKOUTS) - checkouts_before
    print(
        f"{name}: {per_call:,.0f} us CPU per call, {wall / calls * 1e3:.1f} ms wall ({calls} calls), "
        f"{checkouts / calls:.1f} pool checkouts per call"
        + (f", PostgreSQL {server / calls * 1e6:,.0f} us CPU per call" if postgres else "")
    )
    if statements is not None and statements.spent:
        statements.report(calls)
    if top:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        for p in writer:
            stats.add(p)
        stats.sort_stats(os.environ.get("PROFILE_SORT", "tottime")).print_stats(top)
        print(out.getvalue())
    return per_call


async def main_async(args: argparse.Namespace, creds: dict) -> dict[str, float]:
    from sqlalchemy import event

    from resell.app import create_app
    from resell.config import get_settings
    from resell.services.context import Context

    ctx = Context.from_settings(get_settings())
    statements: StatementStats | SQLiteStatementTimes | None = None
    if args.statements:
        statements = StatementStats() if args.db == "postgres" else SQLiteStatementTimes()
    if statements is not None:  # before the first connection is made
        statements.install(ctx.db.engine)
    app = create_app(ctx=ctx)
    caller = Caller(app)
    event.listen(ctx.db.engine, "checkout", lambda *_: CHECKOUTS.append(1))
    status, reply = await caller.call(
        "POST",
        "/iam/tokens",
        {"content-type": "application/json"},
        json.dumps(
            {"realmName": creds["realm"], "clientSecret": creds["clientSecret"], "grantType": "client_credentials"}
        ).encode(),
    )
    token = json.loads(reply)["access_token"]
    auth = {"authorization": f"Bearer {token}", "secret": creds["secret"], "content-type": "application/json"}
    run = uuid.uuid4().hex[:6]

    def check(status: int, body: bytes, ok: int) -> None:
        if status != ok:
            raise SystemExit(f"unexpected {status}: {body[:300]!r}")

    async def create(i: int, warm: bool) -> None:
        pon = f"P{run}-{'w' if warm else ''}{i}"
        status, body = await caller.call("POST", "/connect/order/new", auth, order_body(pon))
        check(status, body, 201)

    async def stock(i: int, warm: bool) -> None:
        status, body = await caller.call("POST", "/connect/stock", auth, f'{{"productRefs":[{POOL_REF}]}}'.encode())
        check(status, body, 200)

    async def read(i: int, warm: bool) -> None:
        status, body = await caller.call("GET", f"/connect/order/R{i % args.read_orders + 1}", auth)
        check(status, body, 200)

    results = {}
    for name, fn in (("createOrder", create), ("getStockStatus", stock), ("getOrderData", read)):
        if name in args.only.split(","):
            results[name] = await measure(caller, name, args.calls, fn, args.top, args.db == "postgres", statements)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--calls", type=int, default=500, help="calls of each operation")
    parser.add_argument("--serials", type=int, default=20_000)
    parser.add_argument("--read-orders", type=int, default=200)
    parser.add_argument("--top", type=int, default=0, help="print the N costliest functions of each operation")
    parser.add_argument("--only", default="createOrder,getStockStatus,getOrderData")
    parser.add_argument(
        "--statements",
        action="store_true",
        help="the database's CPU per call statement by statement (PostgreSQL: Bind and Execute)",
    )
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="resell-profile-"))
    env = {
        **os.environ,
        "RESELL_VAR_DIR": str(workdir / "var"),
        "RESELL_ACCESS_TOKEN_TTL_SECONDS": "86400",
        "RESELL_LOG_LEVEL": "INFO",
        "PYTHONPATH": str(ROOT),
    }
    env["RESELL_DATABASE_URL"] = setup_database(args, workdir, os.environ.get("PROFILE_DB", "resell_profile"))
    creds = seed(env, workdir, args.serials, 0, 0, args.read_orders)
    os.environ.update(env)
    results = asyncio.run(main_async(args, creds))
    print(json.dumps({"db": args.db, "us_cpu_per_call": {k: round(v) for k, v in results.items()}}))
    sys.stdout.flush()
    os._exit(0)  # the app's threads (group commit, dashboard) need no orderly end here


if __name__ == "__main__":
    main()
