"""`make bench`: resell served as in production, driven by wrk, every figure a ratio to the floor.

Steps: a fresh database (SQLite by default, PostgreSQL with --db postgres) with a catalogue and
1,000,000 serials imported through `resell stock import`; `resell serve --workers N` under each
server of --servers (uvicorn, granian, or both: each its own processes on one database) and, beside
it, the floor (bench/floor.py: a bare ASGI JSON endpoint under uvicorn with the same workers, whatever
the servers measured); wrk runs each scenario at each concurrency on each server; then the
invariants are checked in the database.
Results go to bench/results/<date>-<db>.json and a markdown table is printed.

The launch scenario (`--scenarios launch`, run by default after the others) is a game launch: one
product with 10,000 keys, 256 clients of 16 shops (each a merchant of its own, with its catalogue)
ordering until it is sold out while 16 more poll getStockStatus, each 5 ms after its last answer. It
reports orders/s, p50/p99 and the time to sell out, and checks that exactly 10,000 orders were made,
every key handed out once, every other createOrder a clean 1044 (out of stock), and no error or
timeout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

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
from scale import bare_executemany

SCENARIOS = ["create", "stock", "read", "mix", "launch"]
READ_ORDERS = 2000
LAUNCH_REF = 900010
LAUNCH_PRODUCT = {
    "ref": LAUNCH_REF,
    "name": "Bench Launch Day Game",
    "publisher": "bench",
    "serialSource": "pool",
    "deliveryMode": "download_serial",
    "almostOutThreshold": 100,
    "files": [{"label": "Installer", "fileName": "launch.exe", "size": 1000}],
    "prices": [{"currency": "EUR", "amountDutyFree": 50, "vatRate": 20}],
}
PRETIX_ORDERS_PER_SECOND = (28, 30)  # pretix's order API measured on this machine


def resell(env: dict[str, str], *args: str, capture: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([PY, "-m", "resell.cli", *args], env=env, check=True, text=True, capture_output=capture)


def setup_database(args: argparse.Namespace, workdir: Path, name: str = "") -> str:
    """A fresh database: SQLite in the work folder, or PostgreSQL's resell_bench dropped and created anew
    (RESELL_BENCH_PG_DATABASE names another, so that two runs on one server do not drop each other's)."""
    name = name or os.environ.get("RESELL_BENCH_PG_DATABASE", "resell_bench")
    if args.db == "sqlite":
        return f"sqlite:///{workdir / 'bench.db'}"
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)


def seed(
    env: dict[str, str], workdir: Path, serials: int, launch_keys: int, launch_shops: int, read_orders: int
) -> dict:
    """Schema, catalogue, serials (through the CLI, timed), a merchant, and orders to read; the launch
    product's keys and its shops."""
    resell(env, "db", "upgrade")
    catalog = json.loads(json.dumps(BENCH_CATALOG))
    catalog["products"].append(LAUNCH_PRODUCT)
    (workdir / "catalog.json").write_text(json.dumps(catalog))
    resell(env, "catalog", "import", str(workdir / "catalog.json"))
    serial_file = workdir / "serials.txt"
    with serial_file.open("w") as out:
        for i in range(serials):
            out.write(f"BENCH-{i:012d}\n")
    started = time.perf_counter()
    resell(env, "stock", "import", str(POOL_REF), str(serial_file))
    import_seconds = time.perf_counter() - started
    if launch_keys:
        with serial_file.open("w") as out:
            for i in range(launch_keys):
                out.write(f"LAUNCH-{i:08d}\n")
        resell(env, "stock", "import", str(LAUNCH_REF), str(serial_file))
    code = f"""
import json, os
from resell.config import Settings
from resell.services.context import Context
from resell.services import merchants, iam, orders
ctx = Context.from_settings(Settings())
m, (c,) = merchants.create_merchant(ctx, "bench-shop", catalogs_to_add=[merchants.CatalogSpec("Bench EUR", "EUR")])
caller = iam.caller_for_secret(ctx, c.secret) if hasattr(iam, "caller_for_secret") else None
if caller is None:
    from resell.services.context import Caller
    caller = Caller(m.merchant_id, "bench-shop", c.catalog_id, "EUR", 30, False)
for i in range(1, {read_orders} + 1):
    orders.submit_order(ctx, caller, {{"partnerOrderNumber": f"R{{i}}", "orderDate": "2026-11-28T10:00:00Z",
        "currency": "EUR", "orderLines": [{{"productRef": {POOL_REF}, "quantity": 1}}],
        "customer": {{"email": "r@example.com", "locationInvoice": {{"country": "FR"}}}}}})
shops = []
for i in range({launch_shops}):
    s, (sc,) = merchants.create_merchant(ctx, f"launch-shop-{{i:02d}}",
        catalogs_to_add=[merchants.CatalogSpec(f"Launch shop {{i:02d}} EUR", "EUR")])
    shops.append({{"realm": s.realm, "clientSecret": s.client_secret, "secret": sc.secret}})
print(json.dumps({{"realm": m.realm, "clientSecret": m.client_secret, "secret": c.secret, "shops": shops}}))
"""
    creds = json.loads(
        subprocess.run([PY, "-c", code], env=env, check=True, capture_output=True, text=True)
        .stdout.strip()
        .splitlines()[-1]
    )
    serial_file.unlink()
    creds["import_seconds"] = import_seconds
    if env["RESELL_DATABASE_URL"].startswith("postgresql"):
        analyze(env["RESELL_DATABASE_URL"])
    return creds


def analyze(url: str) -> None:
    """What autovacuum does on a production server within its first minute, and this machine's
    PostgreSQL (autovacuum off) never does: statistics of the seeded tables. Without them the
    planner took any index led by merchant_id for getOrderData's lookup (and read every order of the
    merchant) as readily as the unique one of its three columns."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("ANALYZE"))
    engine.dispose()


def start(cmd: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen:
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log_path.open("w"), start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)


def wrk(url: str, scenario: str, concurrency: int, seconds: int, env_extra: dict[str, str]) -> dict:
    threads = min(2, concurrency)
    env = {**os.environ, **env_extra, "SCENARIO": scenario, "RUN": uuid.uuid4().hex[:6]}
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{concurrency}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(BENCH / "load.lua"),
            url,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(x for x in out.stdout.splitlines() if x.startswith("RESULT "))
    result = json.loads(line[len("RESULT ") :])
    result["throughput"] = result["requests"] / (result["duration_us"] / 1e6)
    statuses = {int(k): v for k, v in result["statuses"].items()}
    result["statuses"] = statuses
    ok = {201} if scenario == "create" else {200, 201}
    result["errors"] = (
        sum(v for k, v in statuses.items() if k not in ok)
        + result["connect_errors"]
        + result["read_errors"]
        + result["write_errors"]
        + result["timeouts"]
    )
    return result


def _wrk_start(url: str, scenario: str, connections: int, env_extra: dict[str, str]) -> subprocess.Popen:
    """wrk until interrupted (SIGINT: it stops and prints its RESULT line)."""
    env = {**os.environ, **env_extra, "SCENARIO": scenario, "RUN": uuid.uuid4().hex[:6]}
    cmd = ["wrk", f"-t{min(2, connections)}", f"-c{connections}", "-d3600s", "--timeout", "10s"]
    return subprocess.Popen(
        [*cmd, "-s", str(BENCH / "load.lua"), url], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _wrk_result(proc: subprocess.Popen) -> dict:
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    line = next((x for x in out.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"wrk gave no result: {out}\n{err}")
    result = json.loads(line[len("RESULT ") :])
    result["statuses"] = {int(k): v for k, v in result["statuses"].items()}
    result["throughput"] = result["requests"] / (result["duration_us"] / 1e6)
    result["transport_errors"] = sum(result[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts"))
    return result


def _launch_facts(db_url: str) -> dict:
    """What the database holds of the launch product: orders, keys handed out, keys left, last sale."""
    from sqlalchemy import create_engine, func, select

    from resell.db.tables import order_lines, products, serial_assignments, serials

    engine = create_engine(db_url)
    with engine.connect() as c:
        pid = c.execute(select(products.c.id).where(products.c.ref == LAUNCH_REF)).scalar_one()
        launch_serials = select(serials.c.id).where(serials.c.product_id == pid)
        facts = {
            "orders": c.execute(
                select(func.count(func.distinct(order_lines.c.order_id))).where(order_lines.c.product_id == pid)
            ).scalar_one(),
            "units": c.execute(select(func.coalesce(func.sum(order_lines.c.quantity), 0)).where(
                order_lines.c.product_id == pid)).scalar_one(),
            "assignments": c.execute(select(func.count()).select_from(serial_assignments).where(
                serial_assignments.c.serial_id.in_(launch_serials))).scalar_one(),
            "distinct_keys": c.execute(select(func.count(func.distinct(serial_assignments.c.serial_id))).where(
                serial_assignments.c.serial_id.in_(launch_serials))).scalar_one(),
            "keys_left": c.execute(select(func.count()).select_from(serials).where(
                serials.c.product_id == pid, serials.c.status == "available")).scalar_one(),
            "keys": c.execute(
                select(func.count()).select_from(serials).where(serials.c.product_id == pid)
            ).scalar_one(),
        }
        first, last = c.execute(
            select(func.min(serial_assignments.c.assigned_at), func.max(serial_assignments.c.assigned_at)).where(
                serial_assignments.c.serial_id.in_(launch_serials))
        ).one()
    engine.dispose()
    facts["first_sale"] = first.timestamp() if first is not None else None
    facts["last_sale"] = last.timestamp() if last is not None else None
    return facts


def _keys_left(engine, pid: int) -> int:  # type: ignore[no-untyped-def]
    from sqlalchemy import func, select

    from resell.db.tables import serials

    with engine.connect() as c:
        return int(c.execute(select(func.count()).select_from(serials).where(
            serials.c.product_id == pid, serials.c.status == "available")).scalar_one())


def cpu_seconds(server_group: int | None = None) -> dict[int, tuple[str, float]]:
    """CPU time (user + system) used so far by each API process (the process group of `resell serve`;
    None: none) and each PostgreSQL process on this machine: the capacity model's cost per order."""
    tick = os.sysconf("SC_CLK_TCK")
    used: dict[int, tuple[str, float]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            raw = stat.read_text()
        except OSError:
            continue
        name = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        seconds = (int(fields[11]) + int(fields[12])) / tick
        if server_group is not None and int(fields[2]) == server_group:
            used[int(stat.parent.name)] = ("api", seconds)
        elif name == "postgres":
            used[int(stat.parent.name)] = ("postgres", seconds)
    return used


def cpu_used(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]) -> dict[str, float]:
    """CPU seconds between the two samples, per kind, process by process (a process that ended in
    between is not counted: PostgreSQL's pooled backends live on, so little is missed)."""
    used = {"api": 0.0, "postgres": 0.0}
    for pid, (kind, seconds) in after.items():
        used[kind] += seconds - (before[pid][1] if pid in before else 0.0)
    return used


WRITER_COUNTERS = ("resell_writer_batches_total", "resell_writer_jobs_total", "resell_writer_busy_seconds_total")


def writer_counters(url: str) -> dict[str, float]:
    """SQLite's writer as /metrics counts it, every worker summed (resell_writer_*: 0 on PostgreSQL)."""
    page = urllib.request.urlopen(f"{url}/metrics", timeout=10).read().decode()
    found = {name: re.search(rf"^{name} (\S+)$", page, re.M) for name in WRITER_COUNTERS}
    return {name: float(match.group(1)) if match else 0.0 for name, match in found.items()}


def writer_figures(before: dict[str, float], after: dict[str, float], seconds: float) -> dict[str, float] | None:
    """The share of the run SQLite's one writer was held (over 0.9: it is what limits the writes), its
    time per write and the writes per commit; None when nothing went through it."""
    batches, jobs, busy = (after[name] - before[name] for name in WRITER_COUNTERS)
    if jobs <= 0:
        return None
    # a batch is counted when it ends: one begun before the window may carry the share past 1
    held = min(busy / seconds, 1.0)
    return {"busy": held, "ms_per_write": busy * 1000 / jobs, "per_commit": jobs / max(batches, 1)}


def launch(url: str, db_url: str, creds: dict, args: argparse.Namespace, server_group: int) -> dict:
    """The launch: `args.launch_clients` connections order the launch product, one unit each, through
    the shops in turn, while `args.launch_pollers` poll its stock status (each `args.launch_poll_ms`
    after its last answer); stopped `LAUNCH_TAIL` seconds after the last key is gone, so that every
    client meets the sold-out product."""
    from sqlalchemy import create_engine, select

    from resell.db.tables import products

    shops = ";".join(f"{access_token(url, shop)} {shop['secret']}" for shop in creds["shops"])
    extra = {"SHOPS": shops, "REF": str(LAUNCH_REF), "POLL_MS": str(args.launch_poll_ms)}
    engine = create_engine(db_url)
    with engine.connect() as c:
        pid = c.execute(select(products.c.id).where(products.c.ref == LAUNCH_REF)).scalar_one()
    cpu_before = cpu_seconds(server_group)
    writer_before = writer_counters(url)
    pollers = _wrk_start(url, "poll", args.launch_pollers, extra)
    started = time.time()
    creators = _wrk_start(url, "launch", args.launch_clients, extra)
    sold_out_seen = None
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and creators.poll() is None:
            if _keys_left(engine, pid) == 0:
                sold_out_seen = time.time()
                break
            time.sleep(0.05)
        time.sleep(LAUNCH_TAIL)
    finally:
        engine.dispose()
        create = _wrk_result(creators)
        poll = _wrk_result(pollers)
    cpu_after = cpu_seconds(server_group)
    facts = _launch_facts(db_url)
    last_sale = facts["last_sale"] or sold_out_seen or time.time()
    sell_out = last_sale - started
    row = {
        "keys": args.launch_keys,
        "clients": args.launch_clients,
        "pollers": args.launch_pollers,
        "poll_ms": args.launch_poll_ms,
        "shops": len(creds["shops"]),
        "sell_out_seconds": sell_out,
        "orders_per_second": facts["orders"] / sell_out if sell_out > 0 else 0.0,
        "create": create,
        "poll": poll,
        # CPU milliseconds per order sold, the polls and the 1044s of the launch included
        "cpu_ms_per_order": {
            k: v * 1000 / max(facts["orders"], 1) for k, v in cpu_used(cpu_before, cpu_after).items()
        },
        "facts": facts,
        "writer": writer_figures(writer_before, writer_counters(url), time.time() - started),
    }
    create_errors = sum(v for k, v in create["statuses"].items() if k not in (200, 201)) + create["transport_errors"]
    poll_errors = sum(v for k, v in poll["statuses"].items() if k != 200) + poll["transport_errors"]
    row["checks"] = {
        f"exactly {args.launch_keys:,} orders (201 replies and in the database)": create["sold"]
        == facts["orders"]
        == facts["units"]
        == args.launch_keys,
        "every key handed out once": facts["assignments"] == facts["distinct_keys"] == facts["keys"]
        and facts["keys_left"] == 0,
        "every other createOrder a clean 1044": create["other"] == 0 and create["out_of_stock"] > 0
        and create["sold"] + create["out_of_stock"] == create["requests"],
        "no 5xx, no timeouts, no transport errors": create_errors == 0 and poll_errors == 0 and poll["other"] == 0,
    }
    return row


LAUNCH_TAIL = 1.0  # seconds of ordering after the sell-out: every client meets the 1044


def launch_table(row: dict, db: str) -> str:
    create, poll = row["create"], row["poll"]
    low, high = PRETIX_ORDERS_PER_SECOND
    lines = [
        f"Launch day ({db}): {row['keys']:,} keys, {row['clients']} clients of {row['shops']} shops, "
        f"{row['pollers']} getStockStatus pollers (each {row['poll_ms']} ms after its last answer)",
        "",
        "| figure | value |",
        "|---|---:|",
        f"| time to sell out | {row['sell_out_seconds']:.2f} s |",
        f"| orders/s | {row['orders_per_second']:,.0f} |",
        f"| createOrder p50 / p99 | {create['p50_us'] / 1000:.1f} / {create['p99_us'] / 1000:.1f} ms |",
        f"| createOrder replies: orders / 1044 / other | {create['sold']:,} / {create['out_of_stock']:,} / "
        f"{create['other']} |",
        f"| getStockStatus polls, req/s | {poll['throughput']:,.0f} |",
        f"| getStockStatus p50 / p99 | {poll['p50_us'] / 1000:.1f} / {poll['p99_us'] / 1000:.1f} ms |",
        f"| CPU per order: API processes / PostgreSQL | {row['cpu_ms_per_order']['api']:.2f} / "
        f"{row['cpu_ms_per_order']['postgres']:.2f} ms |",
        f"| vs pretix's order API ({low}-{high} orders/s) | "
        f"{row['orders_per_second'] / high:.1f}-{row['orders_per_second'] / low:.1f}x |",
    ]
    if row.get("writer"):
        writer = row["writer"]
        lines.append(
            f"| SQLite's writer: held / per write / writes per commit | {writer['busy']:.0%} / "
            f"{writer['ms_per_write']:.2f} ms / {writer['per_commit']:.1f} |"
        )
    lines.append("")
    lines.append("Launch checks: " + ", ".join(f"{k}: {'ok' if v else 'FAILED'}" for k, v in row["checks"].items()))
    return "\n".join(lines)


def check_invariants(env: dict[str, str], created_ok: int, in_flight: int, serials: int, read_orders: int) -> dict:
    """Every order and serial of the database: `created_ok` and `serials` include the launch's."""
    """`in_flight`: creates wrk may have sent but not read when it stopped (at most its connections per run)."""
    code = f"""
import json
from sqlalchemy import func, select
from resell.config import Settings
from resell.services.context import Context
from resell.db.tables import orders, serials, serial_assignments, line_items, order_lines, products
ctx = Context.from_settings(Settings())
with ctx.db.read() as c:
    n_orders = c.execute(select(func.count()).select_from(orders)).scalar_one()
    n_assign = c.execute(select(func.count()).select_from(serial_assignments)).scalar_one()
    n_distinct = c.execute(select(func.count(func.distinct(serial_assignments.c.serial_id)))).scalar_one()
    by_status = dict(c.execute(select(serials.c.status, func.count()).group_by(serials.c.status)).all())
    pool_items = c.execute(select(func.count()).select_from(line_items.join(order_lines,
        order_lines.c.id == line_items.c.order_line_id)).where(
        order_lines.c.product_ref.in_([{POOL_REF}, {LAUNCH_REF}]))).scalar_one()
    assigned_without_row = c.execute(select(func.count()).select_from(serials.outerjoin(serial_assignments,
        serial_assignments.c.serial_id == serials.c.id)).where(serials.c.status != "available",
        serial_assignments.c.serial_id.is_(None))).scalar_one()
print(json.dumps(dict(orders=n_orders, assignments=n_assign, distinct=n_distinct, by_status=by_status,
                      pool_items=pool_items, assigned_without_row=assigned_without_row)))
"""
    facts = json.loads(
        subprocess.run([PY, "-c", code], env=env, check=True, capture_output=True, text=True)
        .stdout.strip()
        .splitlines()[-1]
    )
    expected_orders = read_orders + created_ok
    checks = {
        # wrk stops on the clock: replies still in flight then are not counted but their orders exist
        "orders in the database = successful replies (+ cut-off in-flight)": expected_orders
        <= facts["orders"]
        <= expected_orders + in_flight,
        "no serial assigned twice": facts["assignments"] == facts["distinct"],
        "every sold unit has its serial": facts["assignments"] == facts["pool_items"],
        "no serial lost": sum(facts["by_status"].values()) == serials
        and facts["by_status"].get("available", 0) + facts["assignments"] == serials
        and facts["assigned_without_row"] == 0,
    }
    return {"facts": facts, "expected_orders": expected_orders, "checks": checks}


# The targets at concurrency 32 (scenario, figure, bound): ratios to the floor at least, p99 at most.
TARGETS = {
    "sqlite": [
        ("create", "ratio", 0.08),
        ("create", "p99_ms", 30),
        ("stock", "ratio", 0.30),
        ("read", "ratio", 0.15),
        ("mix", "ratio", 0.15),
    ],
    "postgres": [
        ("create", "ratio", 0.04),
        ("create", "p99_ms", 60),
        ("stock", "ratio", 0.15),
        ("read", "ratio", 0.08),
    ],
}


def targets(results: dict) -> list[str]:
    """Each target of the issue against what this run measured at concurrency 32 under each server:
    met or short, on the median of the repeats (their spread beside it); for a ratio, what it leaves
    each request (`_budget`)."""
    if "32" not in results["floor"]:
        return ["(targets are set at concurrency 32, which this run did not measure)"]
    lines = [
        "| target (c=32) | wanted | median | spread | | at the target, per request: most / used |",
        "|---|---:|---:|---:|---|---|",
    ]
    for server in results["servers"]:
        label = f" ({server})" if len(results["servers"]) > 1 else ""
        for scenario, figure, bound in TARGETS[results["db"]]:
            rows = [
                r
                for r in results["runs"]
                if r["concurrency"] == 32 and r["server"] == server and r["scenario"] == scenario
            ]
            if not rows:
                continue
            values = sorted(r["ratio"] if figure == "ratio" else r["p99_us"] / 1000 for r in rows)
            value = statistics.median(values)
            if figure == "ratio":
                ok, wanted, fmt = value >= bound, f">= {bound}", "{:.3f}"
            else:
                ok, wanted, fmt = value <= bound, f"<= {bound} ms", "{:.1f} ms"
            spread = f"{fmt.format(values[0])} - {fmt.format(values[-1])}"
            budget = _budget(rows, bound, results["cpus"]) if figure == "ratio" else ""
            lines.append(
                f"| {scenario} {figure.replace('_ms', '')}{label} | {wanted} | {fmt.format(value)} | {spread} | "
                f"{'met' if ok else 'SHORT'} | {budget} |"
            )
    errors = sum(row["errors"] for row in results["runs"])
    lines.append(f"| errors, every run | 0 | {errors} | | {'met' if errors == 0 else 'SHORT'} | |")
    return lines


def _budget(rows: list[dict], ratio: float, cpus: int) -> str:
    """What a ratio target leaves each request at the rate it asks for (`ratio` times the floor of
    each run), against what a request cost (medians of the rows): the CPU time of every core shared
    by the API and PostgreSQL (wrk's own share ignored, so it is generous), and on SQLite the one
    writer's time per write (createOrder: every request one write), which the writes cannot share.
    A cost over its budget cannot meet the target by waiting less: the work itself has to shrink."""
    rates = [ratio * row["floor"] for row in rows]
    cpu = statistics.median(cpus * 1e6 / rate for rate in rates)
    used = statistics.median(sum(row.get("cpu_us", {}).values()) for row in rows)
    parts = [f"CPU {cpu:,.0f} / {used:,.0f} µs"]
    held = [row["writer"]["ms_per_write"] for row in rows if row.get("writer") and row["scenario"] == "create"]
    if held:
        writer = statistics.median(1e3 / rate for rate in rates)
        parts.append(f"writer {writer:.2f} / {statistics.median(held):.2f} ms")
    return ", ".join(parts)


def _cpu(row: dict) -> str:
    """CPU microseconds per request of the server's processes (and PostgreSQL's, when it did work):
    what the load costs the machine, steadier than req/s when other work shares the cores."""
    cpu = row.get("cpu_us", {})
    api, postgres = cpu.get("api", 0.0), cpu.get("postgres", 0.0)
    return f"{api:,.0f}" + (f" + {postgres:,.0f} PG" if postgres >= 1 else "")


def _writer(row: dict) -> str:
    writer = row.get("writer")
    if not writer:
        return ""
    return (
        f", SQLite's writer held {writer['busy']:.0%} of the time, {writer['ms_per_write']:.2f} ms per write,"
        f" {writer['per_commit']:.1f} writes per commit"
    )


def table(results: dict) -> str:
    lines = [
        "| scenario | server | conc. | req/s | p50 ms | p99 ms | errors | / floor | CPU µs/request |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in results["runs"]:
        lines.append(
            f"| {row['scenario']} | {row['server']} | {row['concurrency']} | {row['throughput']:,.0f} | "
            f"{row['p50_us'] / 1000:.1f} | {row['p99_us'] / 1000:.1f} | {row['errors']} | "
            f"{row['ratio']:.3f} | {_cpu(row)} |"
        )
    for row in results["floor_runs"]:
        c = row["concurrency"]
        lines.append(
            f"| floor | uvicorn | {c} | {row['throughput']:,.0f} | {row['p50_us'] / 1000:.1f} | "
            f"{row['p99_us'] / 1000:.1f} | {row['errors']} | 1.000 | {_cpu(row)} |"
        )
    lines += ["", *targets(results)]
    held = [row for row in results["runs"] if row.get("writer")]
    if held:  # SQLite: what limits the writes
        lines.append("")
        lines += [f"{row['scenario']} c={row['concurrency']}{_writer(row)}" for row in held]
    imp = results["import"]
    lines.append("")
    lines.append(
        f"Import of {imp['serials']:,} serials: {imp['seconds']:.1f} s through `resell stock import`, "
        f"{imp['bare_seconds']:.1f} s for a bare executemany (ratio {imp['ratio']:.2f})."
    )
    lines.append(
        "Invariants: "
        + ", ".join(f"{k}: {'ok' if v else 'FAILED'}" for k, v in results["invariants"]["checks"].items())
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--servers", default="uvicorn", help="resell serve --server for each: uvicorn, granian or uvicorn,granian"
    )
    parser.add_argument("--seconds", type=int, default=8, help="per scenario and concurrency")
    parser.add_argument("--concurrency", default="1,8,32,64")
    parser.add_argument("--repeats", type=int, default=1, help="measure every concurrency this many times (spread)")
    parser.add_argument("--serials", type=int, default=1_000_000)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help=f"any of {','.join(SCENARIOS)}")
    parser.add_argument("--launch-keys", type=int, default=10_000, help="launch: keys of the launch product")
    parser.add_argument("--launch-clients", type=int, default=256, help="launch: concurrent createOrder clients")
    parser.add_argument("--launch-pollers", type=int, default=16, help="launch: concurrent getStockStatus clients")
    parser.add_argument(
        "--launch-poll-ms", type=int, default=5, help="launch: each poller's wait between an answer and its next poll"
    )
    parser.add_argument("--launch-shops", type=int, default=16, help="launch: merchants the clients belong to")
    args = parser.parse_args()
    unknown = sorted(set(args.scenarios.split(",")) - set(SCENARIOS))
    if unknown:  # an unknown name would measure 404s
        parser.error(f"unknown scenario {', '.join(unknown)}: choose among {', '.join(SCENARIOS)}")
    servers = args.servers.split(",")
    if set(servers) - {"uvicorn", "granian"}:
        parser.error(f"unknown server in {args.servers}: choose among uvicorn, granian")
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: run scripts/system-deps --bench")
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    scenarios = [name for name in args.scenarios.split(",") if name != "launch"]
    launching = "launch" in args.scenarios.split(",")
    launch_keys = args.launch_keys if launching else 0
    read_orders = READ_ORDERS if set(scenarios) & {"read", "mix"} else 0  # the orders those read
    workdir = Path(tempfile.mkdtemp(prefix="resell-bench-"))
    env = {
        **os.environ,
        "RESELL_VAR_DIR": str(workdir / "var"),
        "RESELL_ACCESS_TOKEN_TTL_SECONDS": "86400",
        "RESELL_LOG_LEVEL": "INFO",
        "PYTHONPATH": str(ROOT),
    }
    env["RESELL_DATABASE_URL"] = setup_database(args, workdir)
    log(f"seeding {args.db} in {workdir} ({args.serials:,} serials)")
    creds = seed(env, workdir, args.serials, launch_keys, args.launch_shops if launching else 0, read_orders)
    bare = bare_executemany(workdir, env, args.serials)  # resell's own table and indexes, bare sqlite3
    log(f"import {creds['import_seconds']:.1f} s (bare executemany {bare:.1f} s)")

    ports = {name: free_port() for name in servers}
    floor_port = free_port()
    started_servers = {
        name: start(
            [PY, "-m", "resell.cli", "serve", "--port", str(port), "--workers", str(args.workers), "--server", name],
            env,
            workdir / f"server-{name}.log",
        )
        for name, port in ports.items()
    }
    floor = start(
        [
            PY,
            "-m",
            "uvicorn",
            "floor:app",
            "--app-dir",
            str(BENCH),
            "--port",
            str(floor_port),
            "--workers",
            str(args.workers),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        env,
        workdir / "floor.log",
    )
    results: dict = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "db": args.db,
        "workers": args.workers,
        "servers": servers,
        "seconds": args.seconds,
        "cpus": os.cpu_count(),
        "runs": [],
        "floor": {},  # the last floor measured at each concurrency
        "floor_runs": [],  # every floor measured: each figure's ratio is to the floor just before it
    }
    try:
        for port in ports.values():
            wait_up(f"http://127.0.0.1:{port}/healthz")
        wait_up(f"http://127.0.0.1:{floor_port}/")
        port = ports[servers[0]]  # the launch's server
        token = access_token(f"http://127.0.0.1:{port}", creds)
        extra = {
            "TOKEN": token,
            "SECRET": creds["secret"],
            "REF": str(POOL_REF),
            "READ_PREFIX": "R",
            "READ_COUNT": str(READ_ORDERS),
        }
        for each in ports.values():
            wrk(f"http://127.0.0.1:{each}", "stock", 8, 2, extra)  # warm up every worker
        created_ok = in_flight = 0
        for c in [c for _ in range(args.repeats) for c in concurrencies] if scenarios else []:
            cpu_before = cpu_seconds(floor.pid)
            floor_row = wrk(f"http://127.0.0.1:{floor_port}", "floor", c, args.seconds, {})
            cpu = cpu_used(cpu_before, cpu_seconds(floor.pid))
            floor_row["cpu_us"] = {k: v * 1e6 / max(floor_row["requests"], 1) for k, v in cpu.items()}
            floor_row["concurrency"] = c
            results["floor"][str(c)] = floor_row
            results["floor_runs"].append(floor_row)
            log(f"floor c={c}: {floor_row['throughput']:,.0f} req/s")
            for scenario in scenarios:
                for name, each in ports.items():  # servers in turn, scenario by scenario: the same load
                    cpu_before = cpu_seconds(started_servers[name].pid)
                    writer_before, writer_from = writer_counters(f"http://127.0.0.1:{each}"), time.monotonic()
                    row = wrk(f"http://127.0.0.1:{each}", scenario, c, args.seconds, extra)
                    cpu = cpu_used(cpu_before, cpu_seconds(started_servers[name].pid))
                    row["cpu_us"] = {k: v * 1e6 / max(row["requests"], 1) for k, v in cpu.items()}
                    writer_after = writer_counters(f"http://127.0.0.1:{each}")
                    writer = writer_figures(writer_before, writer_after, time.monotonic() - writer_from)
                    if writer:
                        row["writer"] = writer
                    row.update(scenario=scenario, concurrency=c, server=name, floor=floor_row["throughput"])
                    row["ratio"] = row["throughput"] / floor_row["throughput"]
                    created_ok += row["statuses"].get(201, 0)
                    in_flight += c if scenario in ("create", "mix") else 0
                    results["runs"].append(row)
                    ratio = row["ratio"]
                    log(
                        f"{scenario} {name} c={c}: {row['throughput']:,.0f} req/s, p99 {row['p99_us'] / 1000:.1f} ms,"
                        f" errors {row['errors']}, ratio {ratio:.3f}, CPU/request {_cpu(row)}{_writer(row)}"
                    )
        if launching:
            log(f"launch: {args.launch_keys:,} keys, {args.launch_clients} clients, {args.launch_pollers} pollers")
            results["launch"] = launch(
                f"http://127.0.0.1:{port}", env["RESELL_DATABASE_URL"], creds, args, started_servers[servers[0]].pid
            )
            created_ok += results["launch"]["create"]["sold"]
            log(
                f"launch: sold out in {results['launch']['sell_out_seconds']:.2f} s, "
                f"{results['launch']['orders_per_second']:,.0f} orders/s"
            )
    finally:
        for proc in started_servers.values():
            stop(proc)
        stop(floor)
    results["import"] = {
        "serials": args.serials,
        "seconds": creds["import_seconds"],
        "bare_seconds": bare,
        "ratio": creds["import_seconds"] / bare,
    }
    results["invariants"] = check_invariants(env, created_ok, in_flight, args.serials + launch_keys, read_orders)
    out = BENCH / "results" / f"{results['date'][:10]}-{args.db}.json"
    out.write_text(json.dumps(results, indent=2))
    print(table(results))
    if launching:
        print("\n" + launch_table(results["launch"], args.db))
    print(f"\n(results in {out.relative_to(ROOT)}; server logs in {workdir})")
    if not all(results["invariants"]["checks"].values()):
        raise SystemExit("an invariant failed")
    if launching and not all(results["launch"]["checks"].values()):
        raise SystemExit("a launch check failed")


if __name__ == "__main__":
    main()
