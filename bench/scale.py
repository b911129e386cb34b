"""`python bench/scale.py`: does resell hold up when the stock and the order count get large?

Three phases (all by default, or pick with --phase import,p50,memory), each on a fresh database
(SQLite by default, PostgreSQL with --db postgres):

- import: `resell stock import` of 100k then 1M serials from a file, timed, with the peak RSS of
  each run (flat memory: the two should be about equal); on SQLite the yardstick is a bare sqlite3
  executemany of the same rows into the same table, indexes and journal settings.
- p50: `resell serve --workers 1`, 10k serials in the pool; the p50 of createOrder over --orders
  sequential orders through real HTTP; then the pool is topped up to --big serials (10M: the
  import is timed) and the p50 is measured again. Target: ratio big / small <= 1.2.
- memory: `resell serve --workers 1`, --memory-orders orders (100k) at --concurrency (8) threads;
  the VmRSS of the serving process (the uvicorn worker child if there is one) at the start and
  after every tenth of the orders. Target: under 150 MB at the end. With --tracemalloc the server
  runs under tracemalloc and the top allocation growth between the first and last sample is shown.

Prints a markdown table and writes bench/results/<date>-scale.json. Note the load average when
you read the figures: the machine has 2 cores shared with other benchmarks.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from common import (  # bench/ is on sys.path
    BENCH,
    BENCH_CATALOG,
    PG_ADMIN,
    POOL_REF,
    PY,
    ROOT,
    access_token,
    free_port,
    log,
    wait_up,
)

PG_NAME = "resell_scale"
RSS_LIMIT_MB = 150.0
P50_RATIO_LIMIT = 1.2


MERCHANT = """
import json
from resell.config import Settings
from resell.services import merchants
from resell.services.context import Context
ctx = Context.from_settings(Settings())
m, (c,) = merchants.create_merchant(ctx, "scale-shop", catalogs_to_add=[merchants.CatalogSpec("Scale EUR", "EUR")])
print(json.dumps({"realm": m.realm, "clientSecret": m.client_secret, "secret": c.secret}))
"""

TRACEMALLOC_SERVER = """
import signal, sys, tracemalloc
tracemalloc.start(int(sys.argv[1]))
first = []
def dump(_signum, _frame):
    snap = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
    if not first:
        first.append(snap)
        print("TRACEMALLOC baseline taken", file=sys.stderr, flush=True)
        return
    print("TRACEMALLOC top growth since baseline:", file=sys.stderr)
    for stat in snap.compare_to(first[0], "traceback")[:15]:
        print("TRACEMALLOC", stat, file=sys.stderr)
        for line in stat.traceback.format()[-8:]:
            print("TRACEMALLOC    ", line, file=sys.stderr)
    sys.stderr.flush()
signal.signal(signal.SIGUSR1, dump)
from resell.cli import app
sys.argv = ["resell", "serve", "--port", sys.argv[2], "--workers", "1"]
app()
"""


STATEMENTS = """
import json, re, sqlite3, sys, time
from sqlalchemy import event
from resell.config import Settings
from resell.services import iam, orders
from resell.services.context import Context
creds, body, count = json.loads(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3])
ctx = Context.from_settings(Settings())
traced = []
@event.listens_for(ctx.db.engine, "connect")
def on_connect(dbapi_connection, _record):
    dbapi_connection.set_trace_callback(traced.append)  # every statement, SQLAlchemy's or straight to the driver
pair = iam.issue_tokens(ctx, creds["realm"], creds["clientSecret"])
caller = iam.authenticate(ctx, pair.access_token, creds["secret"])
traced.clear()
started = time.perf_counter()
for n in range(count):
    body["partnerOrderNumber"] = body["payment"]["transactionId"] = f"{sys.argv[4]}-{n}"
    orders.submit_order(ctx, caller, body)
order_ms = (time.perf_counter() - started) * 1000 / count
shapes = {}
for sql in traced:
    shape = re.sub(r"\\b\\d+(\\.\\d+)?\\b", "?", re.sub(r"'(?:[^']|'')*'", "?", " ".join(sql.split())))
    entry = shapes.setdefault(shape, {"example": sql, "count": 0})
    entry["count"] += 1
raw = sqlite3.connect(ctx.db.engine.url.database)
rows = []
for shape, entry in shapes.items():
    head = (shape.split() or [""])[0].upper()
    if head in ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE", "ROLLBACK", "PRAGMA", "END"):
        continue
    plan = [r[3] for r in raw.execute("EXPLAIN QUERY PLAN " + entry["example"])]
    select_ms = None
    if head in ("SELECT", "WITH"):
        t = time.perf_counter()
        for _ in range(100):
            raw.execute(entry["example"]).fetchall()
        select_ms = (time.perf_counter() - t) * 10
    rows.append({"sql": shape[:300], "per_order": entry["count"] / count, "select_ms": select_ms, "plan": plan})
rows.sort(key=lambda r: -(r["select_ms"] or 0))
print(json.dumps({"order_ms": order_ms, "statements": rows}))
"""


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def resell(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([PY, "-m", "resell.cli", *args], env=env, check=True, text=True, capture_output=True)
    return done.stdout


def timed_resell(env: dict[str, str], *args: str) -> tuple[float, float, str]:
    """Run `resell ARGS`; its wall time in seconds, its peak RSS in MB (from wait4) and its stdout."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [PY, "-m", "resell.cli", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert proc.stdout is not None
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - started
    if proc.returncode:
        raise SystemExit(f"resell {' '.join(args)} failed ({proc.returncode}): {output}")
    return elapsed, usage.ru_maxrss / 1024, output.strip()


def fresh_database(db: str, workdir: Path) -> str:
    if db == "sqlite":
        return f"sqlite:///{workdir / 'scale.db'}"
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{PG_NAME}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{PG_NAME}"'))
    admin.dispose()
    return make_url(PG_ADMIN).set(database=PG_NAME).render_as_string(hide_password=False)


def environment(args: argparse.Namespace, workdir: Path) -> dict[str, str]:
    for path in [*workdir.glob("scale.db*"), *workdir.glob("small.db*"), *workdir.glob("var/scale-merchant-*")]:
        path.unlink()
    env = {
        **os.environ,
        "RESELL_VAR_DIR": str(workdir / "var"),
        "RESELL_ACCESS_TOKEN_TTL_SECONDS": "86400",
        "RESELL_LOG_LEVEL": "INFO",  # as in production: a log line per request (to server.log)
        "PYTHONPATH": str(ROOT),
    }
    env["RESELL_DATABASE_URL"] = fresh_database(args.db, workdir)
    resell(env, "db", "upgrade")
    (workdir / "catalog.json").write_text(json.dumps(BENCH_CATALOG))
    resell(env, "catalog", "import", str(workdir / "catalog.json"))
    return env


def write_serials(path: Path, start: int, count: int) -> Path:
    """A serials file written in 1 MB chunks (10M lines would not fit a list comfortably)."""
    with path.open("w") as out:
        chunk = 50_000
        for first in range(start, start + count, chunk):
            out.write("".join(f"SCALE-{i:012d}\n" for i in range(first, min(first + chunk, start + count))))
    return path


def import_file(env: dict[str, str], path: Path) -> dict:
    seconds, rss_mb, output = timed_resell(env, "stock", "import", str(POOL_REF), str(path))
    return {"seconds": seconds, "peak_rss_mb": rss_mb, "output": output}


def bare_executemany(workdir: Path, env: dict[str, str], rows: int) -> float:
    """The same rows into the same table (resell's schema: same indexes), same pragmas, bare sqlite3."""
    path = workdir / "bare.db"
    for old in workdir.glob("bare.db*"):
        old.unlink()
    bare_env = {**env, "RESELL_DATABASE_URL": f"sqlite:///{path}"}
    resell(bare_env, "db", "upgrade")
    resell(bare_env, "catalog", "import", str(workdir / "catalog.json"))
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON"):
        conn.execute(f"PRAGMA {pragma}")
    (product_id,) = conn.execute("SELECT id FROM products WHERE ref = ?", (POOL_REF,)).fetchone()
    started = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(
        "INSERT INTO serials (product_id, value, status, imported_at) VALUES (?, ?, 'available', ?)",
        ((product_id, f"SCALE-{i:012d}", "2026-11-28 10:00:00.000000") for i in range(rows)),
    )
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    for old in workdir.glob("bare.db*"):
        old.unlink()
    return elapsed


def phase_import(args: argparse.Namespace, workdir: Path) -> dict:
    result: dict = {"load_before": load()}
    env = environment(args, workdir)
    small = write_serials(workdir / "small.txt", 0, args.import_serials // 10)
    result["small"] = {"serials": args.import_serials // 10, **import_file(env, small)}
    small.unlink()
    env = environment(args, workdir)
    big = write_serials(workdir / "big.txt", 0, args.import_serials)
    result["big"] = {"serials": args.import_serials, **import_file(env, big)}
    big_run = result["big"]
    log(f"import {args.import_serials:,}: {big_run['seconds']:.2f} s, peak RSS {big_run['peak_rss_mb']:.0f} MB")
    rerun = import_file(env, big)  # everything is a duplicate now
    result["rerun"] = {"serials": args.import_serials, **rerun}
    big.unlink()
    if args.db == "sqlite":
        result["bare_seconds"] = bare_executemany(workdir, env, args.import_serials)
        result["ratio"] = result["big"]["seconds"] / result["bare_seconds"]
        log(f"bare executemany {result['bare_seconds']:.2f} s, ratio {result['ratio']:.2f}")
    result["load_after"] = load()
    return result


def merchant_file(env: dict[str, str]) -> Path:
    digest = hashlib.sha1(env["RESELL_DATABASE_URL"].encode()).hexdigest()[:12]
    return Path(env["RESELL_VAR_DIR"]) / f"scale-merchant-{digest}.json"


def merchant(env: dict[str, str]) -> dict:
    """The bench merchant of the database of `env`, created the first time (kept in the var dir)."""
    path = merchant_file(env)
    if not path.exists():
        done = subprocess.run([PY, "-c", MERCHANT], env=env, check=True, capture_output=True, text=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(done.stdout.strip().splitlines()[-1])
    return dict(json.loads(path.read_text()))


def snapshot(args: argparse.Namespace, env: dict[str, str], workdir: Path) -> dict[str, str]:
    """A copy of the database as it is now (no server may be running), and the environment that uses it."""
    if args.db == "sqlite":
        source = workdir / "scale.db"
        with sqlite3.connect(source) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        with sqlite3.connect(source) as src, sqlite3.connect(workdir / "small.db") as dst:
            src.backup(dst)
        url = f"sqlite:///{workdir / 'small.db'}"
    else:
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{PG_NAME}_small" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{PG_NAME}_small" TEMPLATE "{PG_NAME}"'))
        admin.dispose()
        url = make_url(PG_ADMIN).set(database=f"{PG_NAME}_small").render_as_string(hide_password=False)
    small_env = {**env, "RESELL_DATABASE_URL": url}
    merchant_file(small_env).write_text(merchant_file(env).read_text())
    return small_env


def interleaved(small: Server, big: Server, orders: int, rounds: int = 10) -> dict:
    """Both pools measured in alternating rounds, so that a change of machine load hits both alike."""
    samples: dict[str, list[float]] = {"small": [], "big": []}
    for r in range(rounds):
        samples["small"] += create_orders(small, f"Is{r}", orders // rounds)
        samples["big"] += create_orders(big, f"Ib{r}", orders // rounds)
    out: dict = {name: {"p50_ms": p50(values), "orders": len(values)} for name, values in samples.items()}
    out["ratio"] = out["big"]["p50_ms"] / out["small"]["p50_ms"]
    out["load"] = load()
    return out


class Server:
    """`resell serve --workers 1` (optionally under tracemalloc), with a token and its merchant."""

    def __init__(self, env: dict[str, str], workdir: Path, name: str = "server", trace_frames: int = 0):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"{name}.log"
        if trace_frames:
            cmd = [PY, "-c", TRACEMALLOC_SERVER, str(trace_frames), str(self.port)]
        else:
            cmd = [PY, "-m", "resell.cli", "serve", "--port", str(self.port), "--workers", "1"]
        self.proc = subprocess.Popen(
            cmd, env=env, stdout=subprocess.DEVNULL, stderr=self.log_path.open("w"), start_new_session=True
        )
        try:
            self._sign_in(env)
        except BaseException:
            self.stop()  # never leave a server behind
            raise

    def _sign_in(self, env: dict[str, str]) -> None:
        wait_up(f"{self.base}/healthz")
        self.creds = creds = merchant(env)
        token = access_token(self.base, creds)
        self.headers = {"Authorization": f"Bearer {token}", "secret": creds["secret"]}

    def worker_pid(self) -> int:
        """The process that serves: uvicorn's worker child if it forked one, else the server itself."""
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        return int(children[-1]) if children else self.proc.pid

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.worker_pid()}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.proc.pid, signal.SIGKILL)


def order_body(pon: str, n: int) -> dict:
    return {
        "partnerOrderNumber": pon,
        "orderDate": "2026-11-28T10:00:00+00:00",
        "currency": "EUR",
        "orderLines": [{"productRef": POOL_REF, "quantity": 1, "vatRate": 20, "amountTotal": 12}],
        "customer": {
            "partnerId": f"c{n % 100}",
            "email": "bench@example.com",
            "language": "en_US",
            "locationInvoice": {"firstName": "B", "lastName": "Ench", "country": "FR", "city": "Paris"},
            "ipV4": "192.0.2.1",
        },
        "payment": {"paymentMethod": "External Payment", "transactionId": pon},
    }


def create_orders(server: Server, prefix: str, count: int) -> list[float]:
    """`count` sequential createOrder calls on one keep-alive connection; each latency in ms."""
    latencies = []
    with httpx.Client(base_url=server.base, headers=server.headers, timeout=30) as client:
        for n in range(count):
            started = time.perf_counter()
            reply = client.post("/connect/order/new", json=order_body(f"{prefix}-{n}", n))
            latencies.append((time.perf_counter() - started) * 1000)
            if reply.status_code != 201:
                raise SystemExit(f"createOrder answered {reply.status_code}: {reply.text[:300]}")
    return latencies


def p50(samples: list[float]) -> float:
    return statistics.median(samples)


def measure_p50(server: Server, label: str, orders: int) -> dict:
    create_orders(server, f"W{label}", max(20, orders // 10))  # warm up
    latencies = create_orders(server, f"P{label}", orders)
    q = statistics.quantiles(latencies, n=100)
    started = time.perf_counter()
    httpx.get(f"{server.base}/metrics", timeout=120).raise_for_status()  # counts the available serials
    metrics_ms = (time.perf_counter() - started) * 1000
    return {
        "orders": orders,
        "p50_ms": p50(latencies),
        "p90_ms": q[89],
        "p99_ms": q[98],
        "metrics_ms": metrics_ms,
        "load": load(),
    }


def phase_p50(args: argparse.Namespace, workdir: Path) -> dict:
    env = environment(args, workdir)
    result: dict = {"small_serials": args.small, "big_serials": args.big}
    small = write_serials(workdir / "small.txt", 0, args.small)
    import_file(env, small)
    small.unlink()
    server = Server(env, workdir)
    try:
        result["small"] = measure_p50(server, "s", args.orders)
        result["small"]["statements"] = statement_profile(env, server, "s")
        log(f"p50 with {args.small:,} serials: {result['small']['p50_ms']:.2f} ms (load {load()})")
    finally:
        server.stop()
    small_env = snapshot(args, env, workdir)
    log(f"writing {args.big - args.small:,} more serials")
    big = write_serials(workdir / "big.txt", args.small, args.big - args.small)
    result["big_import"] = {"serials": args.big - args.small, "load_before": load(), **import_file(env, big)}
    big.unlink()
    log(f"import of {args.big - args.small:,}: {result['big_import']['seconds']:.1f} s (load {load()})")
    server = Server(env, workdir)
    try:
        result["big"] = measure_p50(server, "b", args.orders)
        result["big"]["statements"] = statement_profile(env, server, "b")
        log(f"p50 with {args.big:,} serials: {result['big']['p50_ms']:.2f} ms (load {load()})")
        small_server = Server(small_env, workdir, name="server-small")
        try:
            create_orders(small_server, "Iw", 50)
            result["interleaved"] = interleaved(small_server, server, args.orders)
        finally:
            small_server.stop()
    finally:
        server.stop()
    result["ratio"] = result["big"]["p50_ms"] / result["small"]["p50_ms"]
    both = result["interleaved"]
    log(f"interleaved p50 {both['small']['p50_ms']:.2f} / {both['big']['p50_ms']:.2f} ms: ratio {both['ratio']:.2f}")
    return result


def statement_profile(env: dict[str, str], server: Server, label: str, count: int = 50) -> dict:
    """SQLite: createOrder in-process (`count` orders, ms each) and every statement it ran (traced at the
    driver): how often per order, its plan, and for a SELECT its time run again alone."""
    if not env["RESELL_DATABASE_URL"].startswith("sqlite"):
        return {}
    done = subprocess.run(
        [PY, "-c", STATEMENTS, json.dumps(server.creds), json.dumps(order_body("x", 0)), str(count), f"S{label}"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def phase_memory(args: argparse.Namespace, workdir: Path) -> dict:
    env = environment(args, workdir)
    serials = write_serials(workdir / "pool.txt", 0, args.memory_orders + 10_000)
    import_file(env, serials)
    serials.unlink()
    server = Server(env, workdir, trace_frames=args.tracemalloc)
    step = max(1, args.memory_orders // 10)
    series: list[dict] = []
    errors = 0
    try:
        create_orders(server, "M-warm", 200)
        if args.tracemalloc:
            os.kill(server.worker_pid(), signal.SIGUSR1)
        series.append({"orders": 0, "rss_mb": server.rss_mb(), "load": load()})
        log(f"memory: {series[-1]['rss_mb']:.1f} MB at start (pid {server.worker_pid()})")
        started = time.perf_counter()
        done = 0
        while done < args.memory_orders:
            errors += concurrent_orders(server, f"M{done}", min(step, args.memory_orders - done), args.concurrency)
            done += min(step, args.memory_orders - done)
            series.append({"orders": done, "rss_mb": server.rss_mb(), "load": load()})
            rate = done / (time.perf_counter() - started)
            log(f"memory: {series[-1]['rss_mb']:.1f} MB after {done:,} orders ({rate:,.0f} orders/s)")
        if args.tracemalloc:
            os.kill(server.worker_pid(), signal.SIGUSR1)
            time.sleep(10)
    finally:
        server.stop()
    result: dict = {
        "orders": args.memory_orders,
        "concurrency": args.concurrency,
        "series": series,
        "errors": errors,
        "final_rss_mb": series[-1]["rss_mb"],
        "pass": series[-1]["rss_mb"] < RSS_LIMIT_MB and errors == 0,
    }
    if args.tracemalloc:
        result["tracemalloc"] = [
            line.removeprefix("TRACEMALLOC ")
            for line in server.log_path.read_text().splitlines()
            if "TRACEMALLOC" in line
        ]
    return result


def concurrent_orders(server: Server, prefix: str, count: int, concurrency: int) -> int:
    """`count` createOrder calls from `concurrency` threads, each on its own keep-alive connection; errors."""
    numbers: Iterator[int] = iter(range(count))
    lock = threading.Lock()
    errors = [0]

    def run() -> None:
        with httpx.Client(base_url=server.base, headers=server.headers, timeout=60) as client:
            while True:
                with lock:
                    n = next(numbers, None)
                if n is None:
                    return
                try:
                    reply = client.post("/connect/order/new", json=order_body(f"{prefix}-{n}", n))
                    ok = reply.status_code == 201
                except httpx.HTTPError:
                    ok = False
                if not ok:
                    with lock:
                        errors[0] += 1

    threads = [threading.Thread(target=run) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors[0]


def table(results: dict) -> str:
    lines = ["| figure | value | target |", "|---|---:|---|"]
    imp = results.get("import")
    if imp:
        lines += [
            f"| import {imp['small']['serials']:,} serials | {imp['small']['seconds']:.2f} s, "
            f"peak RSS {imp['small']['peak_rss_mb']:.0f} MB | |",
            f"| import {imp['big']['serials']:,} serials | {imp['big']['seconds']:.2f} s, "
            f"peak RSS {imp['big']['peak_rss_mb']:.0f} MB | < 15 s, RSS flat |",
            f"| same file again (all duplicates) | {imp['rerun']['seconds']:.2f} s | |",
        ]
        if "bare_seconds" in imp:
            lines.append(
                f"| bare sqlite3 executemany, same rows | {imp['bare_seconds']:.2f} s "
                f"(import / bare = {imp['ratio']:.2f}) | |"
            )
    p = results.get("p50")
    if p:
        lines += [
            f"| createOrder p50, {p['small_serials']:,} serials | {p['small']['p50_ms']:.2f} ms "
            f"(p99 {p['small']['p99_ms']:.2f}) | |",
            f"| import of {p['big_import']['serials']:,} more serials | {p['big_import']['seconds']:.1f} s, "
            f"peak RSS {p['big_import']['peak_rss_mb']:.0f} MB | |",
            f"| createOrder p50, {p['big_serials']:,} serials | {p['big']['p50_ms']:.2f} ms "
            f"(p99 {p['big']['p99_ms']:.2f}) | |",
            f"| p50 ratio big / small (one after the other) | {p['ratio']:.2f} | <= {P50_RATIO_LIMIT} |",
            f"| p50 small / big, alternating rounds on a copy of the small pool | "
            f"{p['interleaved']['small']['p50_ms']:.2f} / {p['interleaved']['big']['p50_ms']:.2f} ms, "
            f"ratio {p['interleaved']['ratio']:.2f} | <= {P50_RATIO_LIMIT} |",
            f"| GET /metrics, small / big pool | {p['small']['metrics_ms']:.0f} ms / "
            f"{p['big']['metrics_ms']:.0f} ms | |",
        ]
    m = results.get("memory")
    if m:
        series = ", ".join(f"{row['rss_mb']:.0f}" for row in m["series"])
        lines += [
            f"| worker VmRSS (MB) every {m['orders'] // 10:,} orders | {series} | |",
            f"| worker VmRSS after {m['orders']:,} orders | {m['final_rss_mb']:.1f} MB "
            f"({'PASS' if m['pass'] else 'FAIL'}, {m['errors']} errors) | < {RSS_LIMIT_MB:.0f} MB |",
        ]
    lines.append(f"\nLoad average at the end: {load()} ({os.cpu_count()} CPUs).")
    return "\n".join(lines)


def statements_table(p: dict) -> str:
    """createOrder's statements on the big pool, SELECTs slowest first, with their time at both sizes."""
    if not p["big"].get("statements"):
        return ""
    small = {row["sql"]: row["select_ms"] for row in p["small"]["statements"]["statements"]}
    lines = [
        f"\ncreateOrder in-process: {p['small']['statements']['order_ms']:.2f} ms with the small pool, "
        f"{p['big']['statements']['order_ms']:.2f} ms with the big one.\n",
        "| statement createOrder runs (SQLite, traced) | per order | SELECT ms small | SELECT ms big | plan (big) |",
        "|---|---:|---:|---:|---|",
    ]
    for row in p["big"]["statements"]["statements"]:
        plan = "; ".join(row["plan"])[:140]
        sql = row["sql"][:100].replace("|", "\\|")
        ms_small, ms_big = small.get(row["sql"]), row["select_ms"]
        cells = [f"{v:.3f}" if v is not None else "" for v in (ms_small, ms_big)]
        lines.append(f"| `{sql}` | {row['per_order']:g} | {cells[0]} | {cells[1]} | {plan} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--phase", default="import,p50,memory", help="comma-separated: import, p50, memory")
    parser.add_argument("--import-serials", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=10_000, help="pool size of the first p50")
    parser.add_argument("--big", type=int, default=10_000_000, help="pool size of the second p50")
    parser.add_argument("--orders", type=int, default=500, help="sequential orders per p50")
    parser.add_argument("--memory-orders", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=8, help="client threads of the memory phase")
    parser.add_argument("--tracemalloc", type=int, default=0, metavar="FRAMES", help="memory phase under tracemalloc")
    parser.add_argument("--workdir", type=Path, help="default: a new temporary directory")
    args = parser.parse_args()
    phases = [p.strip() for p in args.phase.split(",") if p.strip()]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="resell-scale-"))
    workdir.mkdir(parents=True, exist_ok=True)
    results: dict = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "db": args.db,
        "cpus": os.cpu_count(),
        "load_at_start": load(),
    }
    log(f"{args.db} in {workdir}, phases {', '.join(phases)}, load {load()}")
    for phase in phases:
        runner = {"import": phase_import, "p50": phase_p50, "memory": phase_memory}[phase]
        results[phase] = runner(args, workdir)
    results["load_at_end"] = load()
    out = BENCH / "results" / f"{results['date'][:10]}-scale.json"
    out.parent.mkdir(exist_ok=True)
    # phases run separately the same day add up in one file (the last run of a phase wins)
    earlier = json.loads(out.read_text()).get(args.db, {}) if out.exists() else {}
    merged = json.loads(out.read_text()) if out.exists() else {}
    merged[args.db] = {**earlier, **{phase: {**results[phase], "date": results["date"]} for phase in phases}}
    out.write_text(json.dumps(merged, indent=2))
    print(table(results))
    if "p50" in results:
        print(statements_table(results["p50"]))
    for line in results.get("memory", {}).get("tracemalloc", []):
        print(line)
    print(f"\n(results in {out.relative_to(ROOT)}; work files in {workdir})")


if __name__ == "__main__":
    main()
