"""The support search's query plans on a large database: `python bench/search_plans.py --db sqlite|postgres
[--orders N]` fills a fresh database with N orders (one line, one serial each; 5 merchants, 2
publishers) straight in SQL, then prints the plan (EXPLAIN QUERY PLAN / EXPLAIN ANALYZE) and the
time of each kind of search, so that a scan is seen at once."""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, func, select, text

from resell.config import Settings
from resell.db.engine import Database
from resell.db.migrate import upgrade
from resell.db.tables import orders
from resell.services import merchants, order_search
from resell.services.catalog_import import import_catalog
from resell.services.context import Context
from resell.services.support_orders import orders_of_email

CATALOG = {
    "publishers": [{"key": "pub-a", "name": "A"}, {"key": "pub-b", "name": "B"}],
    "products": [
        {
            "ref": 1,
            "name": "One",
            "publisher": "pub-a",
            "serialSource": "pool",
            "deliveryMode": "serial",
            "prices": [{"currency": "EUR", "amountDutyFree": 1}],
        },
        {
            "ref": 2,
            "name": "Two",
            "publisher": "pub-b",
            "serialSource": "pool",
            "deliveryMode": "serial",
            "prices": [{"currency": "EUR", "amountDutyFree": 1}],
        },
    ],
}


def fill(ctx: Context, n: int) -> None:
    import_catalog(ctx, CATALOG)
    for m in range(5):
        merchants.create_merchant(ctx, f"shop-{m}", catalogs_to_add=[merchants.CatalogSpec(f"shop-{m}", "EUR")])
    pg = not ctx.db.is_sqlite
    numbers = f"generate_series(1, {n}) AS n(i)" if pg else "n"
    head = "" if pg else f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n}) "
    stamp = "to_timestamp(1735689600 + i * 60)" if pg else "datetime(1735689600 + i * 60, 'unixepoch')"
    mod = "%"
    with ctx.db.write() as conn:
        ids = {r.ref: r.id for r in conn.execute(text("SELECT id, ref FROM products"))}
        catalogs = [r[0] for r in conn.execute(text("SELECT id FROM catalogs WHERE NOT sandbox ORDER BY merchant_id"))]
        merchant_ids = [r[0] for r in conn.execute(text("SELECT id FROM merchants ORDER BY id"))]
        merchant_case = " ".join(f"WHEN {k} THEN {merchant_ids[k]}" for k in range(5))
        catalog_case = " ".join(f"WHEN {k} THEN {catalogs[k]}" for k in range(5))
        conn.execute(
            text(
                f"{head}INSERT INTO orders (id, merchant_id, catalog_id, partner_order_number, status, order_date,"
                " currency,"
                " customer_email, customer, download_end_date, generation, created_at) "
                f"SELECT i, CASE i {mod} 5 {merchant_case} END, CASE i {mod} 5 {catalog_case} END, 'PON-' || i,"
                f" CASE WHEN i {mod} 50 = 0 THEN 'cancelled' ELSE 'active' END, {stamp}, 'EUR',"
                f" 'User' || (i {mod} 100000) || '@Example.com', '{{}}', '2030-01-01', 0, {stamp} FROM {numbers}"
            )
        )
        conn.execute(
            text(
                f"{head}INSERT INTO order_lines (id, order_id, position, product_id, product_ref, quantity, remark,"
                " download_token) "
                f"SELECT i, i, 0, CASE WHEN i {mod} 100 = 0 THEN {ids[2]} ELSE {ids[1]} END,"
                f" CASE WHEN i {mod} 100 = 0 THEN 2 ELSE 1 END, 1, '', 'tok' || i FROM {numbers}"
            )
        )
        conn.execute(text(f"{head}INSERT INTO line_items (id, order_line_id, position) SELECT i, i, 0 FROM {numbers}"))
        conn.execute(
            text(
                f"{head}INSERT INTO serials (id, product_id, value, status, imported_at) "
                f"SELECT i, CASE WHEN i {mod} 100 = 0 THEN {ids[2]} ELSE {ids[1]} END, 'SER-' || i, 'assigned', {stamp}"
                f" FROM {numbers}"
            )
        )
        conn.execute(
            text(
                f"{head}INSERT INTO serial_assignments (serial_id, line_item_id, assigned_at)"
                f" SELECT i, i, {stamp} FROM {numbers}"
            )
        )
        if pg:
            for table in ("orders", "order_lines", "line_items", "serials"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {n})"))
    with ctx.db.write() as conn:
        conn.execute(text("ANALYZE"))


def show(ctx: Context, title: str, query) -> None:  # type: ignore[no-untyped-def]
    with ctx.db.read() as conn:
        compiled = query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
        explain = (
            "EXPLAIN QUERY PLAN " if ctx.db.is_sqlite else "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) "
        )
        plan = conn.exec_driver_sql(explain + str(compiled).replace("%", "%%")).all()
    print(f"--- {title}")
    for row in plan:
        print("   ", row[-1])


def timed(title: str, call) -> None:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    result = call()
    print(f"    {title}: {(time.perf_counter() - start) * 1000:.1f} ms, {len(getattr(result, 'orders', result))} rows")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--orders", type=int, default=300_000)
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/resell_search_plans")
    parser.add_argument("--reuse", action="store_true", help="PostgreSQL: query the database the last run filled")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="resell-plans-"))
    url = f"sqlite:///{work / 'plans.db'}" if args.db == "sqlite" else args.pg_url
    ctx = Context(db=Database(url), settings=Settings(var_dir=work, database_url=url))
    if args.db == "postgres" and not args.reuse:  # its own database, made afresh (never the tests' one)
        ctx.db.dispose()
        base, _, name = args.pg_url.rpartition("/")
        admin = create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        ctx = Context(db=Database(url), settings=Settings(var_dir=work, database_url=url))
    if not args.reuse:
        upgrade(ctx.db)
        start = time.perf_counter()
        fill(ctx, args.orders)
        print(f"{args.orders} orders in {time.perf_counter() - start:.1f} s")
    with ctx.db.read() as conn:
        shop = conn.execute(text("SELECT id FROM merchants WHERE realm = 'shop-3'")).scalar()
        pub_b = conn.execute(text("SELECT id FROM publishers WHERE key = 'pub-b'")).scalar()
    n = args.orders
    day = dt.date(2025, 1, 1) + dt.timedelta(minutes=n // 2)  # order i is i minutes after 2025-01-01
    with ctx.db.read() as conn:
        bounds = tuple(
            conn.execute(
                text("SELECT min(id + 0), max(id + 0) FROM orders WHERE order_date >= :a AND order_date < :b"),
                {
                    "a": dt.datetime.combine(day, dt.time.min),
                    "b": dt.datetime.combine(day, dt.time.min) + dt.timedelta(days=1),
                },
            ).one()
        )
    show(
        ctx,
        "the date range's id bounds",
        select(func.min(orders.c.id + 0), func.max(orders.c.id + 0)).where(*order_search._date_filter(day, day)),
    )
    cases = [
        ("q = order number", {"q": str(n // 2)}),
        ("q = partnerOrderNumber", {"q": f"PON-{n // 3}"}),
        ("q = email (any case)", {"q": "user4242@example.COM"}),
        ("q = serial", {"q": f"SER-{n // 4}"}),
        ("no filter, first page", {}),
        ("no filter, a page deep down", {"before_id": n // 10}),
        ("merchant", {"merchant_id": shop}),
        ("merchant, deep page", {"merchant_id": shop, "before_id": n // 10}),
        ("status cancelled", {"status": "cancelled"}),
        (
            "date range (a day in the middle), as search() bounds it",
            {"date_from": day, "date_to": day, "id_range": bounds},
        ),
        ("publisher (1% of orders)", {"publisher_id": pub_b}),
        ("merchant + status + publisher", {"merchant_id": shop, "status": "active", "publisher_id": pub_b}),
    ]
    for title, kw in cases:
        show(ctx, title, order_search.search_query(limit=51, **kw))
    print("--- timings through order_search.search (SQL + the page's lines)")
    timed("q = email", lambda: order_search.search(ctx, q="user4242@example.COM"))
    timed("q = serial", lambda: order_search.search(ctx, q=f"SER-{n // 4}"))
    timed("q = PON", lambda: order_search.search(ctx, q=f"PON-{n // 3}"))
    timed("merchant", lambda: order_search.search(ctx, merchant="shop-3"))
    timed("status cancelled", lambda: order_search.search(ctx, status="cancelled"))
    timed("publisher", lambda: order_search.search(ctx, publisher_id=pub_b))
    timed("date range", lambda: order_search.search(ctx, date_from=day, date_to=day))
    timed("wide date range", lambda: order_search.search(ctx, date_from=dt.date(2025, 1, 1), date_to=day))
    timed("orders_of_email (resell order find)", lambda: orders_of_email(ctx, "USER4242@example.com"))
    ctx.db.dispose()


if __name__ == "__main__":
    main()
