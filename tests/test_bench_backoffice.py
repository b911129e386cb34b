"""bench/backoffice.py must not rot: a small generated database reads as real orders do, keeps the
stock invariants, and `measure` runs on it (the services, and GET through a real server)."""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from resell.api import shapes
from resell.services import orders as order_service
from resell.services import support_orders
from resell.services.context import Caller
from tests.conftest import BACKENDS, PG_URL, load_bench_script, only_on, order_body

ORDERS = 300
OF_ORDERS = """FROM serial_assignments a JOIN serials s ON s.id = a.serial_id
    JOIN line_items i ON i.id = a.line_item_id JOIN order_lines l ON l.id = i.order_line_id
    JOIN orders o ON o.id = l.order_id"""
BROKEN = {  # each counts the rows breaking an invariant
    "a line item holding two serials": "SELECT count(*) - count(DISTINCT line_item_id) FROM serial_assignments",
    "a unit of a pooled product without its serial": """SELECT count(*) FROM line_items i
        JOIN order_lines l ON l.id = i.order_line_id JOIN products p ON p.id = l.product_id
        WHERE p.serial_source = 'pool'
        AND NOT EXISTS (SELECT 1 FROM serial_assignments a WHERE a.line_item_id = i.id)""",
    "an assigned serial still available": f"SELECT count(*) {OF_ORDERS} WHERE s.status = 'available'",
    "a revoked assignment on an active order, or a live one on a cancelled order":
        f"SELECT count(*) {OF_ORDERS} WHERE (a.revoked_at IS NOT NULL) <> (o.status = 'cancelled')",
    "a revoked serial on an active order, or an assigned one on a cancelled order":
        f"SELECT count(*) {OF_ORDERS} WHERE (s.status = 'revoked') <> (o.status = 'cancelled')",
    "a subscription terminated without its order cancelled, or alive with it": """SELECT count(*) FROM subscriptions s
        JOIN orders o ON o.id = s.order_id WHERE (s.status = 'TERMINATED') <> (o.status = 'cancelled')""",
}  # fmt: skip


bo = load_bench_script("backoffice")


@pytest.fixture(params=BACKENDS, scope="module")
def generated(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[list[str], Any]]:
    """(the generator's location arguments, its Target) for a database of ORDERS generated orders."""
    if request.param == "sqlite":
        where_args = ["--db", "sqlite", "--path", str(tmp_path_factory.mktemp("bo") / "bo.db")]
        admin = None
    else:
        name = f"resell_bo_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        where_args = ["--db", "postgres", "--pg-name", name]
        bo.PG_ADMIN = PG_URL
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    bo.main(["generate", *where_args, "--orders", str(ORDERS), "--merchants", "4", "--products", "12"])
    where = bo.target(where_args[1], Path(where_args[3]) if request.param == "sqlite" else None, where_args[-1])
    yield where_args, where
    if admin is not None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(where.url).database}" WITH (FORCE)'))
        admin.dispose()
        shutil.rmtree(where.var_dir, ignore_errors=True)


def scalar(where: Any, sql: str) -> Any:
    engine = create_engine(where.url)
    with engine.connect() as conn:
        value = conn.execute(text(sql)).scalar()
    engine.dispose()
    return value


def test_counts_and_stock_invariants(generated: tuple[list[str], Any]) -> None:
    where_args, where = generated
    meta = bo.read_meta(where)
    assert meta["orders"] == ORDERS
    for table, count in meta["rows"].items():  # audit_events holds the setup's rows too (merchants created...)
        only = "actor LIKE 'merchant:%'" if table == "audit_events" else "1 = 1"
        assert scalar(where, f"SELECT count(*) FROM {table} WHERE {only}") == count, table
    assert scalar(where, "SELECT count(*) FROM orders") == ORDERS
    assert 0 < scalar(where, "SELECT count(*) FROM orders WHERE status = 'cancelled'") < ORDERS // 10
    assert scalar(where, "SELECT sum(quantity) FROM order_lines") == scalar(where, "SELECT count(*) FROM line_items")
    for name, sql in BROKEN.items():
        assert scalar(where, sql) == 0, name
    assert scalar(where, "SELECT count(*) FROM serials WHERE status = 'available'") > 0
    assert scalar(where, "SELECT count(*) FROM outbox WHERE last_error IS NOT NULL") >= 0
    assert scalar(where, "SELECT count(*) FROM download_stats") > 0
    # a generation is reused when its parameters match
    reused = bo.generate(
        bo.parser().parse_args(
            ["generate", *where_args, "--orders", str(ORDERS), "--merchants", "4", "--products", "12"]
        )
    )
    assert reused["generatedAt"] == meta["generatedAt"]


def test_generated_orders_read_as_real_ones(generated: tuple[list[str], Any]) -> None:
    _, where = generated
    ctx = bo.context(where)
    rng = random.Random(7)
    cancelled = scalar(where, "SELECT min(id) FROM orders WHERE status = 'cancelled'")
    for order_id in [cancelled, *rng.sample(range(1, ORDERS + 1), 15)]:
        detail = support_orders.order_detail(ctx, str(order_id))
        assert detail.order_number == order_id
        assert detail.view.lines, order_id
        serials = [s for line in detail.view.lines for item in line.line_items for s in item.serials]
        states = set(detail.serial_states.values())
        assert len(serials) == len(detail.serial_states)
        assert states <= ({"revoked"} if detail.status == "cancelled" else {"assigned"})
        by_pon = support_orders.order_detail(ctx, detail.partner_order_number, detail.realm)
        assert by_pon.order_number == order_id
        # getOrderData through the real service and reply shape
        with ctx.db.read() as conn:
            caller = support_orders.caller_for(conn, support_orders.find_order(conn, str(order_id)))
        reply = shapes.order("getOrderData", order_service.get_order(ctx, caller, detail.partner_order_number))
        assert reply["orderNumber"] == order_id
        assert all(line["responseCode"] == 0 for line in reply["orderLines"])
        assert sum(len(i["serials"]) for line in reply["orderLines"] for i in line["lineItems"]) == len(serials)
    heavy = scalar(where, "SELECT customer_email FROM orders WHERE customer_email LIKE '%-pro@%' LIMIT 1")
    assert heavy is not None
    assert len(support_orders.orders_of_email(ctx, heavy.upper())) >= 1
    ctx.db.engine.dispose()


@only_on("sqlite", "generated")  # PostgreSQL's column types make the generator's values conform
def test_sqlite_rows_are_stored_as_the_writer_stores_them(generated: tuple[list[str], Any]) -> None:
    """A real createOrder into the generated database: its rows have the same SQLite storage classes."""
    _, where = generated
    ctx = bo.context(where)
    with ctx.db.read() as conn:
        catalog = conn.execute(text(
            "SELECT c.id, c.merchant_id, c.currency, c.cancel_period_days, m.realm FROM catalogs c "
            "JOIN merchants m ON m.id = c.merchant_id WHERE c.currency = 'EUR' AND c.delivery_email ORDER BY c.id"
        )).first()  # fmt: skip
        ref = conn.execute(text(
            "SELECT p.ref FROM products p JOIN catalog_products cp ON cp.product_id = p.id "
            "WHERE cp.catalog_id = :c AND p.serial_source = 'pool' ORDER BY p.ref"), {"c": catalog.id}
        ).scalar()  # fmt: skip
    caller = Caller(catalog.merchant_id, catalog.realm, catalog.id, "EUR", catalog.cancel_period_days, False, True)
    body = order_body("REAL-1", (ref, 1))
    body["orderLines"][0].update(amountDutyFree="9.99", amountTotal="11.99")
    real = order_service.submit_order(ctx, caller, body).order_number
    ctx.db.engine.dispose()
    raw = sqlite3.connect(where.sqlite_path)
    generated_id = raw.execute(
        "SELECT o.id FROM orders o JOIN order_lines l ON l.order_id = o.id JOIN products p ON p.id = l.product_id "
        "WHERE o.catalog_id = ? AND p.serial_source = 'pool' AND o.status = 'active' AND l.amount_total IS NOT NULL "
        "ORDER BY o.id LIMIT 1",
        (catalog.id,),
    ).fetchone()[0]
    queries = {
        "orders": "SELECT * FROM orders WHERE id = ?",
        "order_lines": "SELECT * FROM order_lines WHERE order_id = ? ORDER BY id LIMIT 1",
        "line_items": "SELECT i.* FROM line_items i JOIN order_lines l ON l.id = i.order_line_id WHERE l.order_id = ?",
        "serial_assignments": "SELECT a.* FROM serial_assignments a JOIN line_items i ON i.id = a.line_item_id "
        "JOIN order_lines l ON l.id = i.order_line_id WHERE l.order_id = ? LIMIT 1",
        "audit_events": "SELECT * FROM audit_events WHERE entity = 'order' AND entity_id = CAST(? AS TEXT)",
        "outbox": "SELECT * FROM outbox WHERE kind = 'mail.delivery' AND json_extract(payload, '$.orderNumber') = ?",
    }

    def storage(sql: str, order_id: int) -> dict[str, str]:
        cursor = raw.execute(sql, (order_id,))
        row = cursor.fetchone()
        assert row is not None, sql
        names = [d[0] for d in cursor.description]
        return {n: type(v).__name__ for n, v in zip(names, row, strict=True) if v is not None}

    for table, sql in queries.items():
        mine, theirs = storage(sql, generated_id), storage(sql, real)
        common = mine.keys() & theirs.keys()
        assert {k: mine[k] for k in common} == {k: theirs[k] for k in common}, table
    text_columns = ("order_date", "created_at", "customer", "payment", "download_end_date")
    for column in text_columns:
        mine_v, real_v = (
            raw.execute(f"SELECT {column} FROM orders WHERE id = ?", (i,)).fetchone()[0] for i in (generated_id, real)
        )  # noqa: S608
        assert len(str(mine_v)) > 0 and (column not in ("order_date", "created_at") or len(mine_v) == len(real_v)), (
            column
        )
        if column in ("customer", "payment"):
            assert set(json.loads(mine_v)) == set(json.loads(real_v)), column
    raw.close()


def test_measure_runs_the_probes_and_http_gets(
    generated: tuple[list[str], Any], _session_server: tuple[Any, str], tmp_path: Path
) -> None:
    where_args, where = generated
    out = tmp_path / "results.json"
    results = bo.measure(
        bo.parser().parse_args(["measure", *where_args, "--repeat", "3", "--explain", "--out", str(out)])
    )
    assert json.loads(out.read_text())["probes"] == results["probes"]
    names = {row["name"] for row in results["probes"]}
    assert {"order_detail by order number", "orders_of_email", "search: order by serial value"} <= names
    assert all(row["p50"] > 0 and "plan" in row for row in results["probes"] if row["name"] in bo.SQL)
    from resell.app import create_app

    slot, url = _session_server
    ctx = bo.context(where)
    slot.app = create_app(ctx.settings, ctx)
    try:
        results = bo.measure(bo.parser().parse_args([
            "measure", *where_args, "--repeat", "3", "--out", str(out), "--base-url", url,
            "--cookie", "resell_session=x", "--get", "/healthz", "--get", "/locker?order={order}",
        ]))  # fmt: skip
    finally:
        slot.app = None
        ctx.db.engine.dispose()
    assert [row["name"] for row in results["probes"]] == ["GET /healthz", "GET /locker?order={order}"]


def test_lines_record_the_retailer_price_as_the_writer_does(generated: tuple[list[str], Any]) -> None:
    """Each line carries its catalogue price in the order's currency, as createOrder records it."""
    _, where = generated
    assert scalar(where, "SELECT count(*) FROM order_lines WHERE retailer_unit_price IS NULL") == 0
    differing = """SELECT count(*) FROM order_lines l JOIN orders o ON o.id = l.order_id
        JOIN product_prices p ON p.product_id = l.product_id AND p.currency = o.currency
        WHERE l.retailer_unit_price <> p.amount_duty_free OR l.retailer_vat_rate <> p.vat_rate"""
    assert scalar(where, differing) == 0


def test_an_upgradable_older_generation_is_reused(generated: tuple[list[str], Any]) -> None:
    """A database of generator version 1 at the latest schema (0005's backfill wrote the same prices)
    is reused, not rebuilt; nothing is left to upgrade."""
    where_args, where = generated
    meta = bo.read_meta(where)
    bo.write_meta(where, {**meta, "version": 1})
    try:
        args = ["generate", *where_args, "--orders", str(ORDERS), "--merchants", "4", "--products", "12"]
        reused = bo.generate(bo.parser().parse_args(args))
        assert reused["generatedAt"] == meta["generatedAt"] and "upgrades" not in reused
        ctx = bo.context(where)
        assert bo.pending_revisions(ctx) == []
        ctx.db.engine.dispose()
    finally:
        bo.write_meta(where, meta)


def test_pages_signs_in_through_the_form_and_times_the_pages(generated: tuple[list[str], Any], tmp_path: Path) -> None:
    """`pages` starts `resell serve` on the database, signs in as an admin through /admin/login and
    times the dashboard (cold, warm) and the pages; a page this build lacks is skipped, not fatal."""
    where_args, where = generated
    out = tmp_path / "pages.json"
    paths = ["/admin/staff", "/admin/orders?q={serial}", "/admin/no-such-page"]
    args = ["pages", *where_args, "--repeat", "2", "--cold-starts", "1", "--out", str(out)]
    results = bo.pages(bo.parser().parse_args([*args, *(a for p in paths for a in ("--get", p))]))
    assert json.loads(out.read_text())["pages"] == results["pages"]
    rows = {row["name"]: row for row in results["pages"]}
    assert [name.split(" (")[0] for name in rows][:2] == ["GET /admin cold", "GET /admin warm"]
    assert rows["GET /admin/staff"]["p50"] > 0 and rows["GET /admin/staff"]["statuses"] == [200]
    assert "skipped" in rows["GET /admin/no-such-page"]
    search = rows["GET /admin/orders?q={serial}"]  # the orders pages: measured once this build has them
    assert "skipped" in search or set(search["statuses"]) <= {200, 303}
    # a second run signs in again (the account exists: its password is set anew)
    again = bo.pages(bo.parser().parse_args([*args, "--get", "/admin/staff"]))
    assert again["pages"][-1]["n"] == 2


def test_search_samples_are_assigned_serials(generated: tuple[list[str], Any]) -> None:
    _, where = generated
    ctx = bo.context(where)
    samples = bo.draw_samples(ctx, random.Random(3))
    ctx.db.engine.dispose()
    values = ", ".join(f"'{v}'" for v in samples.serial_values)
    assert samples.serial_values
    assert scalar(where, f"SELECT count(*) FROM serials WHERE status <> 'assigned' AND value IN ({values})") == 0
    path = samples.fill("/admin/orders?q={serial}&o={order}&r={ref}")
    assert "{" not in path and samples.fill("/admin/catalogue/{ref}").rsplit("/", 1)[1].isdigit()
