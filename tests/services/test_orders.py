"""createOrder's reply is built from what it wrote, after the commit, outside the writer's turn."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from resell.services import orders as order_service
from resell.services.catalog_import import import_catalog
from resell.services.context import Context
from tests.conftest import TEST_CATALOG, World, only_on, order_body
from tests.renewal_support import caller_of

# the order view's reads of what an order holds and of its products' files (getOrderData and
# getDownloadInfo read it back with them); createOrder's turn reads the files with its products
VIEW_READS = ("_ORDER_CONTENTS", "_ORDER_FILES")


def test_the_create_order_reply_is_what_was_written_and_is_built_outside_the_writers_turn(
    ctx: Context, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    in_turn: list[bool] = []  # shared with the group-commit thread
    reads_in_turn: list[str] = []
    grouped = ctx.db.write_grouped

    def traced(work: Any) -> Any:
        def job(conn: Any) -> Any:
            in_turn.append(True)
            try:
                return work(conn)
            finally:
                in_turn.pop()

        return grouped(job)

    monkeypatch.setattr(ctx.db, "write_grouped", traced)
    for name in VIEW_READS:
        statement = getattr(order_service, name)
        for method in ("all", "first"):
            original = getattr(statement, method)

            def recording(*args: Any, _name: str = name, _original: Any = original, **kwargs: Any) -> Any:
                if in_turn:
                    reads_in_turn.append(_name)
                return _original(*args, **kwargs)

            monkeypatch.setattr(statement, method, recording)

    who = caller_of(ctx, world.a)
    # serials from the pool, a product with files and none, a subscription
    created = order_service.submit_order(ctx, who, order_body("VIEW-1", (1001, 2), (1002, 1), (1005, 1)))
    assert reads_in_turn == []
    assert created == order_service.get_order(ctx, who, "VIEW-1")  # what a read-back shows, field by field
    assert created.lines[2].line_items[0].subscription_id is not None


def test_the_create_order_reply_shows_each_products_files_as_a_read_back_does(ctx: Context, world: World) -> None:
    """Several files per product, a product twice, a product without files: the files read with the
    products in the plan are the ones, in the order, that getOrderData reads back."""
    catalog = copy.deepcopy(TEST_CATALOG)
    (product,) = [p for p in catalog["products"] if p["ref"] == 1001]
    product["files"] = [
        {"label": label, "fileName": f"{label}.bin", "size": size, "group": group}
        for label, size, group in (("Zeta", 3, "b"), ("Alpha", 1, "a"), ("Mid", 2, "b"))
    ]
    import_catalog(ctx, catalog)
    product["files"].insert(0, product["files"].pop())  # the files' positions no longer follow their ids
    import_catalog(ctx, catalog)
    who = caller_of(ctx, world.a)
    created = order_service.submit_order(ctx, who, order_body("FILES-1", (1001, 1), (1003, 1), (1001, 1)))
    labels = [[f.label for f in line.files] for line in created.lines]
    assert labels == [["Mid", "Zeta", "Alpha"], [], ["Mid", "Zeta", "Alpha"]]
    assert [f.file_id for f in created.lines[0].files] != sorted(f.file_id for f in created.lines[0].files)
    assert created == order_service.get_order(ctx, who, "FILES-1")


# What one createOrder of one line and one pooled serial runs inside its turn of the writer, the one
# section every writer of every process passes through one at a time on SQLite. A statement added
# here lowers the ceiling of orders per second: make sure it has to be in the turn.
TURN_STATEMENTS = [
    "SELECT products",  # the plan: the catalogue's rules, with the product's price and its files (for the reply)
    "UPDATE serials",  # the pool's next serial, picked, taken and read back
    "INSERT orders",
    "INSERT order_lines",
    "INSERT line_items",
    "INSERT serial_assignments",
    "INSERT audit_events",  # the order's and its serial's, in one statement
    "INSERT outbox",  # order.created
    "SELECT webhook_endpoints",  # ... and who hears of it, decided with it
]


def _turn_statements(ctx: Context, monkeypatch: pytest.MonkeyPatch, body: dict[str, Any], world: World) -> list[str]:
    """The kinds ("INSERT orders") of the statements a createOrder of `body` runs in its turn of the writer."""
    statements: list[str] = []  # shared with the group-commit thread
    grouped = ctx.db.write_grouped

    def traced(work: Any) -> Any:
        def job(conn: Any) -> Any:
            driver = conn.connection.driver_connection
            driver.set_trace_callback(statements.append)
            try:
                return work(conn)
            finally:
                driver.set_trace_callback(None)

        return grouped(job)

    monkeypatch.setattr(ctx.db, "write_grouped", traced)
    who = caller_of(ctx, world.a)
    assert not who.delivery_email  # a catalogue that emails every order queues one more outbox row
    order_service.submit_order(ctx, who, body)

    def kind(sql: str) -> str:
        words = sql.replace('"', "").split()
        verb = words[0]
        table = words[words.index("FROM" if verb == "SELECT" else "INTO" if verb == "INSERT" else verb) + 1]
        return f"{verb} {table}"

    return [kind(sql) for sql in statements]


@only_on("sqlite")
def test_create_order_runs_only_these_statements_in_its_turn_of_the_writer(
    ctx: Context, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _turn_statements(ctx, monkeypatch, order_body("COUNT-1", (1001, 1)), world) == TURN_STATEMENTS


@only_on("sqlite")
def test_an_order_of_many_units_inserts_its_items_and_assignments_in_a_statement_each(
    ctx: Context, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    statements = _turn_statements(ctx, monkeypatch, order_body("COUNT-2", (1001, 3), (1003, 2), (1001, 2)), world)
    assert statements.count("INSERT line_items") == 1 and statements.count("INSERT serial_assignments") == 1
    assert statements.count("INSERT order_lines") == 3


def test_each_unit_of_a_bigger_order_than_one_statement_takes_gets_its_own_serial(ctx: Context, world: World) -> None:
    """More units than one multi-row INSERT holds (order_writer._ROWS): items and serials in order."""
    who = caller_of(ctx, world.a)
    created = order_service.submit_order(ctx, who, order_body("MANY-1", (1001, 18), (1003, 2)))
    serials = [item.serials[0] for line in created.lines for item in line.line_items]
    assert len(serials) == 20 and len(set(serials)) == 20
    assert sorted(serials[:18]) == sorted(world.serials[1001][:18]) and set(serials[18:]) <= set(world.serials[1003])
    assert created == order_service.get_order(ctx, who, "MANY-1")
