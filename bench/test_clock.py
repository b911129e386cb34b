"""How long advancing a sandbox's test clock takes: the yearly renewal of one subscription (the merchant's
case: "a yearly renewal is testable in a second"), then of N subscriptions bought at once, and a clock
moved by P3Y over them (three renewals each, one moment per term).

    .venv/bin/python bench/test_clock.py [--subscriptions 100] [--db sqlite|postgres]

In process: test_clocks.advance_clock as the REST handler calls it (the HTTP round trip adds a few ms).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from resell.config import Settings  # noqa: E402
from resell.db.engine import Database  # noqa: E402
from resell.db.migrate import upgrade  # noqa: E402
from resell.services import iam, merchants, test_clocks  # noqa: E402
from resell.services import orders as order_service  # noqa: E402
from resell.services.catalog_import import import_catalog  # noqa: E402
from resell.services.context import Caller, Context  # noqa: E402

PG_ADMIN = os.environ.get("RESELL_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
JWT = "bench-jwt-secret-" + "x" * 32
START = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
CATALOG = {
    "publishers": [{"key": "bench", "name": "Bench"}],
    "products": [
        {
            "ref": 700002,
            "name": "Yearly",
            "publisher": "bench",
            "serialSource": "pool",
            "deliveryMode": "serial",
            "subscriptionPeriod": "P1Y",
            "prices": [{"currency": "EUR", "amountDutyFree": 50}],
        }
    ],
}


def buy(ctx: Context, who: Caller, pon: str, quantity: int) -> None:
    order_service.submit_order(
        ctx,
        who,
        {
            "partnerOrderNumber": pon,
            "orderDate": START.isoformat(),
            "currency": "EUR",
            "orderLines": [{"productRef": 700002, "quantity": quantity}],
            "customer": {"email": "b@example.com", "locationInvoice": {"country": "FR", "city": "Paris"}},
        },
    )


def timed(ctx: Context, who: Caller, by: str) -> tuple[float, test_clocks.ClockView]:
    started = time.perf_counter()
    view = test_clocks.advance_clock(ctx, who, None, by)
    return time.perf_counter() - started, view


def run(url: str, var: Path, n: int) -> None:
    db = Database(url)
    upgrade(db)
    ctx = Context(db=db, settings=Settings(var_dir=var, database_url=url, jwt_secret=JWT), clock=lambda: START)
    import_catalog(ctx, CATALOG)
    merchants.create_merchant(ctx, "bench")
    one = iam.caller_for_secret(
        ctx, merchants.add_catalog(ctx, "bench", merchants.CatalogSpec("one", "EUR")).sandbox_secret
    )
    many = iam.caller_for_secret(
        ctx, merchants.add_catalog(ctx, "bench", merchants.CatalogSpec("many", "EUR")).sandbox_secret
    )
    buy(ctx, one, "ONE", 1)
    elapsed, view = timed(ctx, one, "P1Y")
    assert view.renewed == 1
    print(f"one yearly subscription, advanceBy P1Y: 1 renewal in {elapsed * 1000:.0f} ms", flush=True)
    for i in range(n):
        buy(ctx, many, f"MANY-{i}", 1)
    elapsed, view = timed(ctx, many, "P1Y")
    assert view.renewed == n
    print(f"{n} subscriptions, advanceBy P1Y: {n} renewals in {elapsed * 1000:.0f} ms", flush=True)
    elapsed, view = timed(ctx, many, "P3Y")
    assert view.renewed == 3 * n
    print(f"{n} subscriptions, advanceBy P3Y: {3 * n} renewals in {elapsed * 1000:.0f} ms", flush=True)
    db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscriptions", type=int, default=100)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if args.db == "sqlite":
            run(f"sqlite:///{tmp / 'bench.db'}", tmp / "var", args.subscriptions)
            return
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        name = f"resell_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            run(
                make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False),
                tmp / "var",
                args.subscriptions,
            )
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
