"""Renewal throughput: N subscriptions due at once, renewed by one `resell worker --once --now` process,
then (on a fresh copy of the same database) by two such processes started together.

    .venv/bin/python bench/renewals.py [--subscriptions 1000] [--db sqlite|postgres]

Each subscription is its own order (one renewal order each, with a new serial from the pool). The
figures: the renewal job alone, in process; then whole worker passes (renewals and the delivery of
their subscription.renewed events), per second of wall time with the process start-up (measured with
a pass that finds nothing due) subtracted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, func, select, text, update
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from resell.config import Settings  # noqa: E402
from resell.db.engine import Database  # noqa: E402
from resell.db.migrate import upgrade  # noqa: E402
from resell.db.tables import orders, outbox  # noqa: E402
from resell.services import iam, merchants, stock, subscriptions  # noqa: E402
from resell.services import orders as order_service  # noqa: E402
from resell.services.catalog_import import import_catalog  # noqa: E402
from resell.services.context import Context  # noqa: E402

PG_ADMIN = os.environ.get("RESELL_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
JWT = "bench-jwt-secret-" + "x" * 32
START = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
CATALOG = {
    "publishers": [{"key": "bench", "name": "Bench"}],
    "products": [
        {
            "ref": 700001,
            "name": "Monthly",
            "publisher": "bench",
            "serialSource": "pool",
            "deliveryMode": "serial",
            "subscriptionPeriod": "P1M",
            "prices": [{"currency": "EUR", "amountDutyFree": 5}],
        }
    ],
}


def seed(url: str, n: int, var: Path) -> None:
    db = Database(url)
    upgrade(db)
    ctx = Context(db=db, settings=Settings(var_dir=var, database_url=url, jwt_secret=JWT), clock=lambda: START)
    import_catalog(ctx, CATALOG)
    stock.import_serials(ctx, 700001, [f"B-{i}" for i in range(2 * n)])
    merchants.create_merchant(ctx, "bench")
    catalog = merchants.add_catalog(ctx, "bench", merchants.CatalogSpec("bench EUR", "EUR"))
    who = iam.caller_for_secret(ctx, catalog.secret)
    for i in range(n):
        order_service.submit_order(
            ctx,
            who,
            {
                "partnerOrderNumber": f"B{i}",
                "orderDate": START.isoformat(),
                "currency": "EUR",
                "orderLines": [{"productRef": 700001, "quantity": 1}],
                "customer": {"email": "b@example.com", "locationInvoice": {"country": "FR", "city": "Paris"}},
            },
        )
    with db.write() as conn:  # as a worker that kept up would have left it: the orders' events delivered
        conn.execute(update(outbox).values(delivered_at=START))
    db.dispose()


def in_process(url: str, var: Path, now: dt.datetime) -> float:
    """The renewal job alone (subscriptions.renew_due), without process start-up or outbox delivery."""
    db = Database(url)
    ctx = Context(db=db, settings=Settings(var_dir=var, database_url=url, jwt_secret=JWT), clock=lambda: now)
    started = time.perf_counter()
    subscriptions.renew_due(ctx)
    elapsed = time.perf_counter() - started
    db.dispose()
    return elapsed


def workers(url: str, var: Path, count: int, now: dt.datetime) -> float:
    env = {
        **os.environ,
        "RESELL_DATABASE_URL": url,
        "RESELL_VAR_DIR": str(var),
        "RESELL_JWT_SECRET": JWT,
        "RESELL_LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "resell.cli", "worker", "--once", "--now", now.isoformat()]
    started = time.perf_counter()
    processes = [subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL) for _ in range(count)]
    for p in processes:
        if p.wait() != 0:
            raise SystemExit("a worker failed")
    return time.perf_counter() - started


def renewals(url: str) -> int:
    db = Database(url)
    with db.read() as conn:
        n = conn.execute(select(func.count()).select_from(orders).where(orders.c.parent_order_id.is_not(None)))
        count = n.scalar_one()
    db.dispose()
    return count


class Copies:
    """Fresh copies of the seeded database: file copies on SQLite, template databases on PostgreSQL."""

    def __init__(self, kind: str, tmp: Path):
        self.kind, self.tmp = kind, tmp
        self.made: list[str] = []
        self.admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT") if kind == "postgres" else None
        self.seed_url = self.new(empty=True)

    def new(self, empty: bool = False) -> str:
        name = f"resell_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        if self.kind == "sqlite":
            path = self.tmp / f"{name}.db"
            if not empty:
                source = make_url(self.seed_url).database or ""
                shutil.copy(source, path)
            return f"sqlite:///{path}"
        assert self.admin is not None
        with self.admin.connect() as conn:
            template = "" if empty else f' TEMPLATE "{make_url(self.seed_url).database}"'
            conn.execute(text(f'CREATE DATABASE "{name}"{template}'))
        self.made.append(name)
        return make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)

    def drop(self) -> None:
        if self.admin is not None:
            with self.admin.connect() as conn:
                for name in self.made:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscriptions", type=int, default=1000)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    n = args.subscriptions
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        copies = Copies(args.db, tmp)
        try:
            t = time.perf_counter()
            seed(copies.seed_url, n, tmp / "var")
            print(f"seeded {n} subscriptions on {args.db} in {time.perf_counter() - t:.1f} s", flush=True)
            due = START + dt.timedelta(days=40)
            idle_url = copies.new()
            startup = min(workers(idle_url, tmp / "var", 1, START) for _ in range(3))
            print(f"worker start-up and an idle pass: {startup:.2f} s", flush=True)
            url = copies.new()
            alone = in_process(url, tmp / "var", due)
            assert renewals(url) == n
            print(f"renewal job in process (renew_due): {n} in {alone:.2f} s, {n / alone:.0f} renewals/s", flush=True)
            results = {}
            for count in (1, 2):
                url = copies.new()
                wall = workers(url, tmp / "var", count, due)
                done = renewals(url)
                assert done == n, f"{done} renewals for {n} subscriptions"
                rate = n / max(wall - startup, 1e-9)
                results[count] = rate
                print(f"{count} worker(s): {n} renewed in {wall:.2f} s wall, {rate:.0f} renewals/s without start-up")
            print(f"two workers vs one: x{results[2] / results[1]:.2f}")
        finally:
            copies.drop()


if __name__ == "__main__":
    main()
