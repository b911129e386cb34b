"""Time the back office's dashboard, stock pools and deliveries services on a generated year of orders.

    .venv/bin/python bench/dashboard.py --orders 1000000                  # SQLite in var/bench-dashboard.db
    .venv/bin/python bench/dashboard.py --orders 1000000 --url postgresql+psycopg://postgres@127.0.0.1:5432/bench_dash

The data is written straight into the tables (bulk inserts, not createOrder): N orders spread evenly
over the 365 days before now, 1 to 3 lines each over 200 products of 5 publishers, 20 merchants
selling in EUR, USD and GBP, 3 % cancelled, one outbox event per order (delivered) and a few failed
emails; 40 pooled products with serials (one per line sold of them, plus stock). An existing database
with the same number of orders is reused (--fresh regenerates). Prints the median and the worst of
--repeat calls of each service (the dashboard with its cache bypassed).
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from resell.config import Settings  # noqa: E402
from resell.db import tables as t  # noqa: E402
from resell.db.engine import Database  # noqa: E402
from resell.db.migrate import upgrade  # noqa: E402
from resell.services import dashboard, deliveries, stock_pools  # noqa: E402
from resell.services.context import Context  # noqa: E402

CURRENCIES = ("EUR", "USD", "GBP")
PRODUCTS = 200
POOLED = 40
PUBLISHERS = 5
MERCHANTS = 20
CHUNK = 20_000


def generate(db: Database, n_orders: int, now: dt.datetime, seed: int = 7) -> None:
    rnd = random.Random(seed)
    with db.write() as conn:
        conn.execute(
            t.publishers.insert(),
            [
                {"id": i, "key": f"pub{i}", "name": f"Publisher {i}", "delivers_directly": False}
                for i in range(1, PUBLISHERS + 1)
            ],
        )
        conn.execute(
            t.products.insert(),
            [
                {
                    "id": i,
                    "ref": 100000 + i,
                    "name": f"Product {i}",
                    "publisher_id": 1 + i % PUBLISHERS,
                    "serial_source": "pool" if i <= POOLED else "none",
                    "almost_out_threshold": 50,
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(1, PRODUCTS + 1)
            ],
        )
        conn.execute(
            t.product_prices.insert(),
            [
                {
                    "product_id": i,
                    "currency": c,
                    "amount_duty_free": Decimal(5 + i % 50) + Decimal("0.99"),
                    "vat_rate": 20,
                }
                for i in range(1, PRODUCTS + 1)
                for c in CURRENCIES
            ],
        )
        conn.execute(
            t.merchants.insert(),
            [
                {"id": m, "realm": f"shop{m}", "name": f"Shop {m}", "client_secret_hash": "x" * 64, "created_at": now}
                for m in range(1, MERCHANTS + 1)
            ],
        )
        conn.execute(
            t.catalogs.insert(),
            [
                {
                    "id": (m - 1) * 3 + k + 1,
                    "merchant_id": m,
                    "name": f"shop{m} {c}",
                    "secret_hash": uuid.uuid4().hex,
                    "currency": c,
                    "created_at": now,
                }
                for m in range(1, MERCHANTS + 1)
                for k, c in enumerate(CURRENCIES)
            ],
        )
    start = now - dt.timedelta(days=365)
    step = dt.timedelta(days=365) / n_orders
    line_id = serial_id = outbox_id = 0
    sold_pooled: dict[int, int] = {}
    for first in range(0, n_orders, CHUNK):
        order_rows, line_rows, outbox_rows, serial_rows = [], [], [], []
        for oid in range(first + 1, min(first + CHUNK, n_orders) + 1):
            m = rnd.randint(1, MERCHANTS)
            k = rnd.randrange(3)
            at = start + step * oid
            cancelled = rnd.random() < 0.03
            order_rows.append(
                {
                    "id": oid,
                    "merchant_id": m,
                    "catalog_id": (m - 1) * 3 + k + 1,
                    "partner_order_number": f"P{oid}",
                    "status": "cancelled" if cancelled else "active",
                    "order_date": at,
                    "currency": CURRENCIES[k],
                    "customer_email": f"c{oid}@example.com",
                    "customer": {},
                    "download_end_date": (at + dt.timedelta(days=365)).date(),
                    "cancelled_at": at + dt.timedelta(hours=2) if cancelled else None,
                    "cancel_reason": 1 if cancelled else None,
                    "created_at": at,
                }
            )
            for pos in range(rnd.choice((1, 1, 1, 2, 3))):
                line_id += 1
                product = rnd.randint(1, PRODUCTS)
                quantity = rnd.choice((1, 1, 1, 2))
                line_rows.append(
                    {
                        "id": line_id,
                        "order_id": oid,
                        "position": pos,
                        "product_id": product,
                        "product_ref": 100000 + product,
                        "quantity": quantity,
                        "remark": "",
                        "download_token": f"{line_id:032x}",
                    }
                )
                if product <= POOLED:
                    for _ in range(quantity):
                        serial_id += 1
                        sold_pooled[product] = sold_pooled.get(product, 0) + 1
                        serial_rows.append(
                            {
                                "id": serial_id,
                                "product_id": product,
                                "value": f"K{serial_id}",
                                "status": "revoked" if cancelled else "assigned",
                                "imported_at": start,
                            }
                        )
            outbox_id += 1
            failed = rnd.random() < 0.0005
            outbox_rows.append(
                {
                    "id": outbox_id,
                    "event_id": str(uuid.UUID(int=rnd.getrandbits(128))),
                    "kind": "mail.delivery" if failed or oid % 10 == 0 else "order.created",
                    "payload": {"orderNumber": oid, "to": f"c{oid}@example.com", "lineIds": []},
                    "created_at": at,
                    "available_at": at + dt.timedelta(minutes=5) if failed else at,
                    "attempts": rnd.randint(1, 100) if failed else 1,
                    "last_error": "SMTPServerDisconnected: Connection unexpectedly closed" if failed else None,
                    "delivered_at": None if failed and rnd.random() < 0.5 else at,
                }
            )
        with db.write() as conn:
            conn.execute(t.orders.insert(), order_rows)
            conn.execute(t.order_lines.insert(), line_rows)
            conn.execute(t.outbox.insert(), outbox_rows)
            if serial_rows:
                conn.execute(t.serials.insert(), serial_rows)
        print(f"  {min(first + CHUNK, n_orders)} orders", file=sys.stderr, end="\r")
    stock_rows = []
    for product in range(1, POOLED + 1):
        left = rnd.choice((0, 10, 60, 5000))
        for _ in range(left):
            serial_id += 1
            stock_rows.append(
                {
                    "id": serial_id,
                    "product_id": product,
                    "value": f"K{serial_id}",
                    "status": "available",
                    "imported_at": now,
                }
            )
    with db.write() as conn:
        conn.execute(t.serials.insert(), stock_rows)
    with db.write() as conn:
        conn.execute(text("ANALYZE"))
    print(file=sys.stderr)


def timed(fn, repeat: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times), max(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=300_000)
    parser.add_argument("--url", default="")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--fresh", action="store_true")
    args = parser.parse_args()
    url = args.url or f"sqlite:///{Path('var/bench-dashboard.db').resolve()}"
    db = Database(url)
    upgrade(db)
    with db.read() as conn:
        have = conn.execute(select(func.count()).select_from(t.orders)).scalar()
    if have != args.orders or args.fresh:
        if have:
            with db.write() as conn:
                for table in (
                    "serials",
                    "outbox",
                    "order_lines",
                    "orders",
                    "catalogs",
                    "merchants",
                    "product_prices",
                    "products",
                    "publishers",
                ):
                    conn.execute(text(f"DELETE FROM {table}"))
        began = time.perf_counter()
        generate(db, args.orders, dt.datetime.now(dt.UTC))
        print(f"generated {args.orders} orders in {time.perf_counter() - began:.0f} s", file=sys.stderr)
    settings = Settings(database_url=url)
    ctx = Context(db=db, settings=settings)
    with db.read() as conn:
        counts = {
            name: conn.execute(select(func.count()).select_from(getattr(t, name))).scalar()
            for name in ("orders", "order_lines", "serials", "outbox")
        }
    print(f"{db.engine.dialect.name}: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
    cases = {
        "dashboard.summary (30 days, money)": lambda: dashboard.summary(ctx, fresh=True),
        "dashboard.summary (30 days, no money)": lambda: dashboard.summary(ctx, include_money=False, fresh=True),
        "dashboard.summary (publisher 1)": lambda: dashboard.summary(ctx, publisher_id=1, fresh=True),
        "dashboard.summary (cached)": lambda: dashboard.summary(ctx),
        "stock_pools.pools": lambda: stock_pools.pools(ctx),
        "stock_pools.pools (publisher 1)": lambda: stock_pools.pools(ctx, publisher_id=1),
        "stock_pools.low_pools": lambda: stock_pools.low_pools(ctx),
        "deliveries.listing (first page)": lambda: deliveries.listing(ctx),
        "deliveries.listing (failed)": lambda: deliveries.listing(ctx, state="failed"),
        "deliveries.listing (retrying, emails)": lambda: deliveries.listing(
            ctx, state="retrying", kinds=["mail.delivery"]
        ),
        "deliveries.listing (order)": lambda: deliveries.listing(ctx, order_number=args.orders // 2),
        "deliveries.for_order": lambda: deliveries.for_order(ctx, args.orders // 2),
        "deliveries.failed": lambda: deliveries.failed(ctx),
    }
    for name, fn in cases.items():
        median, worst = timed(fn, args.repeat)
        print(f"{name:42} median {median:7.1f} ms   worst {worst:7.1f} ms")
    db.dispose()


if __name__ == "__main__":
    main()
