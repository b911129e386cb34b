"""The stock service: importing serials, allocating them (each at most once), stock levels, the report."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from sqlalchemy import func, literal, select, update
from sqlalchemy.exc import IntegrityError

from resell.db.tables import (
    audit_events,
    line_items,
    order_lines,
    orders,
    products,
    serial_assignments,
    serials,
)
from resell.domain import codes
from resell.domain.codes import Refusal
from resell.domain.stock import ALMOST_OUT, ENOUGH, OUT, stock_status
from resell.services import catalog as merchant_catalog
from resell.services import iam, stock
from resell.services import orders as order_service
from resell.services.catalog_import import import_catalog
from resell.services.context import Caller, Context
from resell.services.stock import IMPORT_BATCH, MAX_SERIAL_LENGTH, ImportResult, StockLine
from tests.conftest import TEST_CATALOG, MerchantCreds, World, only_on, order_body

# ---------------------------------------------------------------- helpers


@pytest.fixture
def catalog(ctx: Context) -> None:
    import_catalog(ctx, TEST_CATALOG)


def product_row(ctx: Context, ref: int) -> Any:
    with ctx.db.read() as conn:
        return conn.execute(
            select(products.c.id, products.c.ref, products.c.serial_source, products.c.status,
                   products.c.almost_out_threshold).where(products.c.ref == ref)
        ).one()


def values_of(ctx: Context, ref: int, status: str | None = None) -> list[str]:
    query = select(serials.c.value).join(products, products.c.id == serials.c.product_id).where(products.c.ref == ref)
    if status is not None:
        query = query.where(serials.c.status == status)
    with ctx.db.read() as conn:
        return list(conn.execute(query).scalars())


def count_of(ctx: Context, ref: int, status: str | None = None) -> int:
    return len(values_of(ctx, ref, status))


def status_now(ctx: Context, ref: int) -> int:
    """The status getStockStatus reports: the product read with its serials available counted up to
    its threshold + 1 (`stock.available_column`)."""
    with ctx.db.read() as conn:
        row = conn.execute(
            select(products.c.serial_source, products.c.status, products.c.almost_out_threshold,
                   stock.available_column(literal(ref)).label("available")).where(products.c.ref == ref)
        ).one()
    return stock.status_of(row)


def take(ctx: Context, ref: int, n: int) -> list[tuple[int, str]]:
    """Allocate n serials of a product in a transaction of their own."""
    pid = product_row(ctx, ref).id
    with ctx.db.write() as conn:
        return stock.allocate(conn, pid, n)


def caller_of(ctx: Context, creds: MerchantCreds) -> Caller:
    pair = iam.issue_tokens(ctx, creds.realm, creds.client_secret)
    return iam.authenticate(ctx, pair.access_token, creds.secret)


# ---------------------------------------------------------------- import_serials


def test_import_counts_added_duplicates_and_rejected(ctx: Context, catalog: None) -> None:
    longest = "Y" * MAX_SERIAL_LENGTH
    lines = ["A-1", "A-2", "A-1", "", "   ", "  A-3\n", "X" * (MAX_SERIAL_LENGTH + 1), longest, "A-2\r\n", "\n"]
    result = stock.import_serials(ctx, 1001, lines)
    assert result == ImportResult(added=4, duplicates=2, rejected=1)
    assert sorted(values_of(ctx, 1001)) == sorted(["A-1", "A-2", "A-3", longest])
    assert count_of(ctx, 1001, "available") == 4

    again = stock.import_serials(ctx, 1001, ["A-1", "A-4", "Z" * 600, "A-4"])
    assert again == ImportResult(added=1, duplicates=2, rejected=1)
    assert count_of(ctx, 1001) == 5


def test_the_same_value_may_exist_in_two_products(ctx: Context, catalog: None) -> None:
    assert stock.import_serials(ctx, 1001, ["SHARED"]) == ImportResult(1, 0, 0)
    assert stock.import_serials(ctx, 1003, ["SHARED"]) == ImportResult(1, 0, 0)
    assert values_of(ctx, 1001) == ["SHARED"] and values_of(ctx, 1003) == ["SHARED"]


def test_import_of_an_empty_or_blank_input_adds_nothing(ctx: Context, catalog: None) -> None:
    assert stock.import_serials(ctx, 1001, []) == ImportResult(0, 0, 0)
    assert stock.import_serials(ctx, 1001, ["", "  ", "\r\n"]) == ImportResult(0, 0, 0)
    assert count_of(ctx, 1001) == 0


@pytest.mark.parametrize(("ref", "message"), [
    (424242, "no product with ref 424242"),
    (1002, "serialSource=none"),
    (1090, "serialSource=none"),
])
def test_import_refuses_unknown_products_and_products_without_a_pool(
    ctx: Context, catalog: None, ref: int, message: str
) -> None:
    with pytest.raises(stock.StockError, match=message):
        stock.import_serials(ctx, ref, ["K-1"])
    with ctx.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(serials)).scalar_one() == 0


def test_import_larger_than_a_batch_keeps_exact_counts(ctx: Context, catalog: None) -> None:
    total, batch = 12_000, 5_000
    uniques = [f"BULK-{i:06d}" for i in range(total)]
    # a duplicate inside the second batch of a serial committed by the first one,
    # and 100 duplicates at the end of a serial committed two batches earlier
    lines = uniques[:batch] + [uniques[0]] + uniques[batch:] + uniques[:100]
    progress: list[int] = []
    result = stock.import_serials(ctx, 1001, lines, on_progress=progress.append, batch_size=batch)
    assert result == ImportResult(added=total, duplicates=101, rejected=0)
    assert sum(progress) == len(lines)
    assert len(progress) == -(-len(lines) // batch)
    stored = values_of(ctx, 1001)
    assert len(stored) == total and set(stored) == set(uniques)

    # an interrupted import run again: everything counts as a duplicate, nothing is added
    rerun = stock.import_serials(ctx, 1001, uniques)
    assert rerun == ImportResult(added=0, duplicates=total, rejected=0)
    assert count_of(ctx, 1001) == total


def test_the_default_batch_is_large_and_one_batch_reports_progress_once(ctx: Context, catalog: None) -> None:
    assert IMPORT_BATCH >= 10_000  # a commit (an fsync) per batch: small batches make big imports slow
    progress: list[int] = []
    lines = [f"ONE-{i}" for i in range(1_000)] + ["", "  "]
    assert stock.import_serials(ctx, 1001, lines, on_progress=progress.append) == ImportResult(1_000, 0, 0)
    assert progress == [len(lines)]


def test_duplicates_and_rejects_are_counted_across_batch_boundaries(ctx: Context, catalog: None) -> None:
    long = "L" * (MAX_SERIAL_LENGTH + 1)
    # batches of 3 lines: [D-1 D-2 D-1] [blank long D-2] [D-3 D-3 long] [D-4]
    lines = ["D-1", "D-2", "D-1", "", long, " D-2 ", "D-3", "D-3\r\n", long, "D-4"]
    progress: list[int] = []
    result = stock.import_serials(ctx, 1001, lines, on_progress=progress.append, batch_size=3)
    assert result == ImportResult(added=4, duplicates=3, rejected=2)
    assert progress == [3, 3, 3, 1]
    assert sorted(values_of(ctx, 1001)) == ["D-1", "D-2", "D-3", "D-4"]
    assert count_of(ctx, 1001, "available") == 4


def test_serials_with_quotes_backslashes_and_unicode_are_stored_as_written(ctx: Context, catalog: None) -> None:
    odd = ['Q"1', "B\\2", "Ünï-ç😀", "00042", "1e3", "null", "[1]", "') OR 1=1 --", "\\N"]
    assert stock.import_serials(ctx, 1001, odd) == ImportResult(len(odd), 0, 0)
    assert sorted(values_of(ctx, 1001)) == sorted(odd)
    assert stock.import_serials(ctx, 1001, odd) == ImportResult(0, len(odd), 0)


def test_serials_are_stored_in_file_order_so_the_oldest_line_is_sold_first(ctx: Context, catalog: None) -> None:
    lines = [f"ORD-{i:03d}" for i in reversed(range(50))]
    stock.import_serials(ctx, 1001, lines, batch_size=7)
    with ctx.db.read() as conn:
        pid = conn.execute(select(products.c.id).where(products.c.ref == 1001)).scalar_one()
        query = select(serials.c.value).where(serials.c.product_id == pid).order_by(serials.c.id)
        stored = list(conn.execute(query).scalars())
    assert stored == lines
    assert [value for _id, value in take(ctx, 1001, 2)] == lines[:2]


class _Interrupted:
    """25 lines, read twice by the import: whole for the check, then cut at line 20 (a Ctrl-C)."""

    def __init__(self) -> None:
        self.passes = 0

    def __iter__(self) -> Any:
        self.passes += 1
        for i in range(25):
            if i == 20 and self.passes == 2:
                raise KeyboardInterrupt
            yield f"INT-{i}"


def test_an_interrupted_import_keeps_its_committed_batches_and_can_be_run_again(
    ctx: Context, catalog: None
) -> None:
    with pytest.raises(KeyboardInterrupt):
        stock.import_serials(ctx, 1001, _Interrupted(), batch_size=8)
    assert sorted(values_of(ctx, 1001)) == sorted(f"INT-{i}" for i in range(16))  # two whole batches

    again = stock.import_serials(ctx, 1001, [f"INT-{i}" for i in range(25)], batch_size=8)
    assert again == ImportResult(added=9, duplicates=16, rejected=0)
    assert count_of(ctx, 1001) == 25


def test_a_one_shot_iterator_is_refused_rather_than_imported_as_nothing(ctx: Context, catalog: None) -> None:
    with pytest.raises(TypeError, match="re-iterable"):
        stock.import_serials(ctx, 1001, iter(["K-1"]))
    assert count_of(ctx, 1001) == 0


@pytest.mark.parametrize(("lines", "message"), [
    (["serial", "K-1"], r"1 bad line \(line 1: header 'serial'\)"),
    (["", "  Licence Key \r\n", "K-1"], r"1 bad line \(line 2: header 'Licence Key'\)"),
    (["CODE", "K-1"], r"line 1: header 'CODE'"),
    (["K-1", "K-2,Pro", "K-3"], r"1 bad line \(line 2: separator ','\)"),
    (["K-1;x"], r"line 1: separator ';'"),
    (["K-1\tx"], r"line 1: separator '\\t'"),
    (["K-1 | x"], r"line 1: separator '\|'"),
    (["K-1", "K-\udcff2"], r"line 2: not UTF-8"),
])
def test_import_refuses_a_header_a_separator_or_bytes_not_utf8_and_imports_nothing(
    ctx: Context, catalog: None, lines: list[str], message: str
) -> None:
    with pytest.raises(stock.StockError, match=message) as refused:
        stock.import_serials(ctx, 1001, lines, batch_size=1)
    assert str(refused.value).startswith("file refused, nothing imported: 1 bad line (line ")
    assert count_of(ctx, 1001) == 0


def test_a_refused_file_names_its_first_five_bad_lines_and_counts_all(ctx: Context, catalog: None) -> None:
    # the check reads IMPORT_BATCH lines at a time: the second batch is clean, the third is not
    lines = ["key"] + [f"K-{i}" for i in range(50_000)] + [f"A,{i}" for i in range(7)]
    with pytest.raises(stock.StockError) as refused:
        stock.import_serials(ctx, 1001, lines, batch_size=1_000)
    assert str(refused.value) == (
        "file refused, nothing imported: 8 bad lines (line 1: header 'key'; line 50002: separator ','; "
        "line 50003: separator ','; line 50004: separator ','; line 50005: separator ',' and 3 more); "
        "one key per line, no header, UTF-8"
    )
    assert count_of(ctx, 1001) == 0  # not even the 50,000 good lines before the bad ones


def test_surrounding_tabs_in_a_later_batch_are_whitespace_not_separators(ctx: Context, catalog: None) -> None:
    lines = [f"W-{i}" for i in range(IMPORT_BATCH)] + ["\tW-TAB\t\r\n", "serial"]
    assert stock.import_serials(ctx, 1001, lines) == ImportResult(IMPORT_BATCH + 2, 0, 0)
    assert "W-TAB" in values_of(ctx, 1001)


@pytest.mark.parametrize("value", ["serial-2027-A", "KEY-1", "keystone", "A b c", "PRODUCT 1"])
def test_only_a_first_line_of_title_words_is_a_header(ctx: Context, catalog: None, value: str) -> None:
    assert stock.import_serials(ctx, 1001, [value, "serial"]) == ImportResult(2, 0, 0)


def test_import_writes_one_audit_row_with_its_counts(ctx: Context, catalog: None) -> None:
    stock.import_serials(ctx, 1001, ["AU-1", "AU-1", "X" * 501, "AU-2"], actor="ops@example.com", batch_size=2)
    with ctx.db.read() as conn:
        rows = conn.execute(
            select(audit_events.c.actor, audit_events.c.entity_id, audit_events.c.after).where(
                audit_events.c.action == "serials_imported"
            )
        ).all()
    assert [tuple(row) for row in rows] == [
        ("ops@example.com", "1001", {"added": 2, "duplicates": 1, "rejected": 1})
    ]


# ---------------------------------------------------------------- allocate


def test_allocate_never_hands_out_a_serial_twice(ctx: Context, catalog: None) -> None:
    pool = [f"P-{i:04d}" for i in range(300)]
    stock.import_serials(ctx, 1001, pool)
    stock.import_serials(ctx, 1003, [f"Q-{i}" for i in range(10)])
    seen_ids: list[int] = []
    seen_values: list[str] = []
    sizes = [1, 2, 3, 5, 7, 11]
    calls = 0
    while True:
        n = sizes[calls % len(sizes)]
        remaining = 300 - len(seen_ids)
        if remaining < n:
            break
        got = take(ctx, 1001, n)
        calls += 1
        assert len(got) == n
        seen_ids += [serial_id for serial_id, _ in got]
        seen_values += [value for _, value in got]
    assert calls > 40
    assert len(set(seen_ids)) == len(seen_ids)
    assert len(set(seen_values)) == len(seen_values)
    assert set(seen_values) <= set(pool)

    # asking for more than is left refuses and consumes nothing
    left = 300 - len(seen_ids)
    with pytest.raises(Refusal) as refused:
        take(ctx, 1001, left + 1)
    assert refused.value.code == codes.OUT_OF_STOCK == 1044
    assert count_of(ctx, 1001, "available") == left

    # the exact remainder can be taken; then the pool is empty and stays so
    last = take(ctx, 1001, left)
    assert not {value for _, value in last} & set(seen_values)
    assert set(seen_values) | {value for _, value in last} == set(pool)
    with pytest.raises(Refusal) as empty:
        take(ctx, 1001, 1)
    assert empty.value.code == 1044
    assert count_of(ctx, 1001, "assigned") == 300
    assert count_of(ctx, 1003, "available") == 10  # other products untouched


def _plan_nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(node for child in plan.get("Plans", []) for node in _plan_nodes(child))]


def _explained(ctx: Context, statement: Any, values: dict[str, Any], plan_cache_mode: str) -> list[dict[str, Any]]:
    """The nodes of a prepared statement's plan as PostgreSQL ran it (EXPLAIN ANALYZE, undone)."""
    with ctx.db.write() as conn:
        conn.exec_driver_sql(f"SET LOCAL plan_cache_mode = {plan_cache_mode}")
        sql = str(statement.statement.compile(dialect=conn.dialect))
        driver = conn.connection.driver_connection
        assert driver is not None
        (plan,) = driver.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, values).fetchone()
        conn.rollback()  # EXPLAIN ANALYZE of a claim claimed serials: undo it
    return _plan_nodes(plan[0]["Plan"])


def _first_scan(nodes: list[dict[str, Any]]) -> dict[str, Any]:
    """The first scan of serials (getStockStatus's statement scans its product first)."""
    return next(n for n in nodes if "Scan" in n["Node Type"] and n.get("Relation Name") == "serials")


def _stock_status_values(ctx: Context, creds: MerchantCreds, ref: int) -> dict[str, Any]:
    """The parameters of getStockStatus's statement (the product and its count) for `ref`."""
    return {"catalog_id": caller_of(ctx, creds).catalog_id, "ref": ref, "status": "available"}


@only_on("postgres")
@pytest.mark.parametrize("plan_cache_mode", ["force_custom_plan", "force_generic_plan"])
def test_after_an_import_allocation_reads_the_first_free_serials_off_the_index(
    ctx: Context, catalog: None, plan_cache_mode: str
) -> None:
    """A pool just imported has no statistics until autovacuum analyzes it (never, where it is off),
    and without them the pick was planned as "every available serial, then sort": 125 ms an order on
    a pool of 100,000, inside the writer's turn, took createOrder to 13-15 orders/s at c=32. The
    import analyzes the table it filled."""
    with ctx.db.write() as conn:  # as if never analyzed (statistics are only the planner's hints)
        conn.exec_driver_sql("DELETE FROM pg_statistic WHERE starelid = 'serials'::regclass")
    stock.import_serials(ctx, 1001, [f"P-{i:06d}" for i in range(100_000)])
    pid = product_row(ctx, 1001).id
    nodes = _explained(ctx, stock._claim(2), {"product_id": pid, "status": "assigned"}, plan_cache_mode)
    # the pick (run once, off an index), then each picked serial found by its key to be updated:
    # no scan reads the 100,000, and a sort sorts at most the two picked ids (for the IN)
    scans = [n for n in nodes if "Scan" in n["Node Type"] and n["Node Type"] != "Subquery Scan"]
    assert [n["Node Type"] for n in scans] == ["Index Scan", "Index Scan"], scans
    assert all(n["Actual Rows"] * n["Actual Loops"] <= 2 for n in scans), scans
    sorts = [n for n in nodes if n["Node Type"] in ("Sort", "Incremental Sort")]
    assert all(n["Actual Rows"] * n["Actual Loops"] <= 2 for n in sorts), sorts


@only_on("postgres")
@pytest.mark.parametrize("plan_cache_mode", ["force_custom_plan", "force_generic_plan"])
def test_after_sales_the_claim_and_the_stock_count_read_no_sold_serial(
    ctx: Context, world: World, plan_cache_mode: str
) -> None:
    """The sold serials are the first ones. Asked for "product_id = p, ordered by id", PostgreSQL
    walked the primary key and filtered out every serial sold so far, on each claim and each
    getStockStatus (its statistics say how many are sold, not where they are): the partial index
    of available serials is the only one that gives the order asked for now."""
    stock.import_serials(ctx, 1001, [f"S-{i:06d}" for i in range(20_000)])
    pid = product_row(ctx, 1001).id
    with ctx.db.write() as conn:
        conn.exec_driver_sql(
            "UPDATE serials SET status = 'assigned' WHERE id IN "
            f"(SELECT id FROM serials WHERE product_id = {pid} ORDER BY id LIMIT 5000)"
        )
        conn.exec_driver_sql("ANALYZE serials")
    asked = [
        (stock._claim(1), {"product_id": pid, "status": "assigned"}),
        (stock._claim(None), {"product_id": pid, "count": 40, "status": "assigned"}),  # a large claim
        (stock._COUNT_AVAILABLE, {"product_id": pid, "cap": 101}),
        (merchant_catalog._STOCK_PRODUCT, _stock_status_values(ctx, world.a, 1001)),
    ]
    for statement, values in asked:
        nodes = _explained(ctx, statement, values, plan_cache_mode)
        assert _first_scan(nodes).get("Index Name") == "ix_serials_available", nodes
        assert sum(n.get("Rows Removed by Filter", 0) for n in nodes) == 0, nodes


@only_on("postgres")
def test_after_an_import_the_stock_count_reads_the_index_alone(ctx: Context, world: World) -> None:
    """The import vacuums the table: its new pages are marked all-visible, so the count of available
    serials (getStockStatus) needs no visit to the table to know each one is visible."""
    stock.import_serials(ctx, 1001, [f"V-{i:05d}" for i in range(5_000)])
    product = product_row(ctx, 1001)
    asked = [  # (statement, its values, the serials it counts)
        (stock._COUNT_AVAILABLE, {"product_id": product.id, "cap": 101}, 101),
        (merchant_catalog._STOCK_PRODUCT, _stock_status_values(ctx, world.a, 1001), product.almost_out_threshold + 1),
    ]
    for statement, values, counted in asked:
        scan = _first_scan(_explained(ctx, statement, values, "force_generic_plan"))
        assert (scan["Node Type"], scan["Heap Fetches"], scan["Actual Rows"]) == ("Index Only Scan", 0, counted), scan


def test_allocate_zero_or_less_takes_nothing(ctx: Context, catalog: None) -> None:
    stock.import_serials(ctx, 1001, ["Z-1"])
    assert take(ctx, 1001, 0) == []
    assert take(ctx, 1001, -3) == []
    assert count_of(ctx, 1001, "available") == 1


def test_a_short_allocation_rolls_back_the_whole_transaction(ctx: Context, catalog: None) -> None:
    stock.import_serials(ctx, 1001, [f"A-{i}" for i in range(4)])
    stock.import_serials(ctx, 1003, [f"B-{i}" for i in range(5)])
    first, second = product_row(ctx, 1001).id, product_row(ctx, 1003).id
    with pytest.raises(Refusal) as refused:
        with ctx.db.write() as conn:
            assert len(stock.allocate(conn, first, 2)) == 2
            stock.allocate(conn, second, 6)  # only 5: the order cannot be filled
    assert refused.value.code == 1044
    assert count_of(ctx, 1001, "available") == 4  # the 2 claimed in the same transaction came back
    assert count_of(ctx, 1003, "available") == 5
    with ctx.db.write() as conn:  # and they can all be sold afterwards
        assert len(stock.allocate(conn, first, 4)) == 4
        assert len(stock.allocate(conn, second, 5)) == 5


def test_allocate_skips_revoked_and_assigned_serials(ctx: Context, catalog: None) -> None:
    stock.import_serials(ctx, 1001, [f"R-{i}" for i in range(6)])
    with ctx.db.write() as conn:
        conn.execute(update(serials).where(serials.c.value.in_(["R-0", "R-2"])).values(status="revoked"))
        conn.execute(update(serials).where(serials.c.value == "R-4").values(status="assigned"))
    got = take(ctx, 1001, 3)
    assert sorted(value for _, value in got) == ["R-1", "R-3", "R-5"]
    with pytest.raises(Refusal):
        take(ctx, 1001, 1)
    assert count_of(ctx, 1001, "revoked") == 2


# ---------------------------------------------------------------- the backstop: one assignment per serial


def _assignments(ctx: Context, pon: str) -> list[Any]:
    with ctx.db.read() as conn:
        return conn.execute(
            select(serial_assignments.c.serial_id, serial_assignments.c.line_item_id)
            .join(line_items, line_items.c.id == serial_assignments.c.line_item_id)
            .join(order_lines, order_lines.c.id == line_items.c.order_line_id)
            .join(orders, orders.c.id == order_lines.c.order_id)
            .where(orders.c.partner_order_number == pon)
            .order_by(line_items.c.position)
        ).all()


def test_serial_assignments_primary_key_rejects_a_second_assignment(ctx: Context, world: World) -> None:
    caller = caller_of(ctx, world.a)
    order_service.submit_order(ctx, caller, order_body("PK-1", (1001, 2)))
    first, second = _assignments(ctx, "PK-1")
    assert first.serial_id != second.serial_id and first.line_item_id != second.line_item_id

    # the serial of the first unit assigned again, to the second unit: the primary key refuses
    with pytest.raises(IntegrityError) as failed:
        with ctx.db.write() as conn:
            conn.execute(serial_assignments.insert().values(
                serial_id=first.serial_id, line_item_id=second.line_item_id, assigned_at=ctx.now()))
    assert "serial_assignments" in str(failed.value)

    # control: the same line item with a serial never assigned is accepted (so the key is what refused)
    fresh = take(ctx, 1001, 1)[0][0]
    with ctx.db.engine.connect() as conn:
        with conn.begin() as tx:
            conn.execute(serial_assignments.insert().values(
                serial_id=fresh, line_item_id=second.line_item_id, assigned_at=ctx.now()))
            tx.rollback()
    assert len(_assignments(ctx, "PK-1")) == 2


def test_the_backstop_refuses_an_order_if_a_sold_serial_looks_available_again(ctx: Context, world: World) -> None:
    caller = caller_of(ctx, world.a)
    order_service.submit_order(ctx, caller, order_body("BS-1", (1003, 1)))
    [sold] = _assignments(ctx, "BS-1")
    with ctx.db.write() as conn:  # corruption: the sold serial is marked available again
        conn.execute(update(serials).where(serials.c.id == sold.serial_id).values(status="available"))
    with pytest.raises(IntegrityError):
        order_service.submit_order(ctx, caller, order_body("BS-2", (1003, 1)))
    with ctx.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(orders)).scalar_one() == 1
        assert conn.execute(
            select(func.count()).select_from(serial_assignments).where(serial_assignments.c.serial_id == sold.serial_id)
        ).scalar_one() == 1


# ---------------------------------------------------------------- stock levels


@pytest.mark.parametrize(("available", "threshold", "on_sale", "expected"), [
    (4, 3, True, ENOUGH),  # threshold + 1
    (3, 3, True, ALMOST_OUT),  # threshold exactly
    (1, 3, True, ALMOST_OUT),
    (0, 3, True, OUT),
    (1, 0, True, ENOUGH),
    (0, 0, True, OUT),
    (-1, 3, True, OUT),
    (1000, 3, False, OUT),
    (None, 3, True, ENOUGH),
    (None, 3, False, OUT),
])
def test_stock_status_levels(available: int | None, threshold: int, on_sale: bool, expected: int) -> None:
    assert stock_status(available, threshold, on_sale) == expected
    assert (ENOUGH, ALMOST_OUT, OUT) == (100, 200, 300)


def test_status_of_at_the_threshold_boundaries(ctx: Context, catalog: None) -> None:
    assert product_row(ctx, 1001).almost_out_threshold == 3
    assert status_now(ctx, 1001) == OUT  # nothing imported yet
    stock.import_serials(ctx, 1001, ["T-1", "T-2", "T-3", "T-4"])
    assert status_now(ctx, 1001) == ENOUGH  # 4 = threshold + 1
    take(ctx, 1001, 1)
    assert status_now(ctx, 1001) == ALMOST_OUT  # 3 = threshold
    take(ctx, 1001, 2)
    assert status_now(ctx, 1001) == ALMOST_OUT  # 1
    take(ctx, 1001, 1)
    assert status_now(ctx, 1001) == OUT  # 0, with 4 assigned serials that do not count
    assert count_of(ctx, 1001, "assigned") == 4


def test_status_of_with_a_zero_threshold_withdrawn_products_and_no_pool(ctx: Context) -> None:
    data = copy.deepcopy(TEST_CATALOG)
    for product in data["products"]:
        if product["ref"] == 1003:
            product["almostOutThreshold"] = 0
    import_catalog(ctx, data)
    stock.import_serials(ctx, 1003, ["Z-1"])
    assert status_now(ctx, 1003) == ENOUGH  # 1 > 0
    take(ctx, 1003, 1)
    assert status_now(ctx, 1003) == OUT

    assert status_now(ctx, 1002) == ENOUGH  # no pool: never runs out while on sale
    stock.import_serials(ctx, 1001, [f"W-{i}" for i in range(50)])
    assert status_now(ctx, 1001) == ENOUGH
    for product in data["products"]:
        if product["ref"] in (1001, 1002):
            product["status"] = "not_available"
    import_catalog(ctx, data)
    assert status_now(ctx, 1001) == OUT  # withdrawn, even with 50 in stock
    assert status_now(ctx, 1002) == OUT


def test_revoked_serials_do_not_count_as_stock(ctx: Context, catalog: None) -> None:
    stock.import_serials(ctx, 1001, [f"V-{i}" for i in range(5)])
    with ctx.db.write() as conn:
        conn.execute(update(serials).where(serials.c.value.in_(["V-0", "V-1"])).values(status="revoked"))
    assert status_now(ctx, 1001) == ALMOST_OUT  # 3 available, threshold 3


def test_available_at_most_counts_up_to_the_cap(ctx: Context, catalog: None) -> None:
    stock.import_serials(ctx, 1001, [f"C-{i}" for i in range(10)])
    pid = product_row(ctx, 1001).id
    with ctx.db.read() as conn:
        assert stock.available_at_most(conn, pid, 4) == 4
        assert stock.available_at_most(conn, pid, 10) == 10
        assert stock.available_at_most(conn, pid, 20) == 10
        assert stock.available_at_most(conn, product_row(ctx, 1003).id, 20) == 0


# ---------------------------------------------------------------- report


def test_report_counts_available_assigned_and_revoked_per_product(ctx: Context, world: World) -> None:
    caller = caller_of(ctx, world.a)
    order_service.submit_order(ctx, caller, order_body("REP-1", (1001, 3), (1003, 2)))
    order_service.submit_order(ctx, caller, order_body("REP-2", (1001, 1), (1005, 1), (1002, 1)))
    order_service.cancel_order(ctx, caller, "REP-2", 3, "changed my mind")

    lines = stock.report(ctx)
    assert [line.ref for line in lines] == [1001, 1002, 1003, 1004, 1005, 1090, 1091]
    by_ref = {line.ref: line for line in lines}
    assert by_ref[1001] == StockLine(1001, "Serial and files", "pool", available=16, assigned=3, revoked=1)
    assert by_ref[1003] == StockLine(1003, "Serial only", "pool", available=3, assigned=2, revoked=0)
    assert by_ref[1005] == StockLine(1005, "Yearly", "pool", available=9, assigned=0, revoked=1)
    assert by_ref[1002] == StockLine(1002, "Download only", "none", available=0, assigned=0, revoked=0)
    assert by_ref[1091].serial_source == "none"
    total = sum(line.available + line.assigned + line.revoked for line in lines)
    with ctx.db.read() as conn:
        assert total == conn.execute(select(func.count()).select_from(serials)).scalar_one() == 35
