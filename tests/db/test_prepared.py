"""Prepared statements read and write exactly what Core's conn.execute would, on both databases."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import bindparam, event, exc, select

from resell.db import prepared
from resell.db.prepared import Prepared
from resell.db.tables import audit_events, outbox, product_prices
from resell.services import stock
from resell.services.context import Context
from tests.conftest import Merchant, World, only_on, order_body

_OUTBOX_BY_EVENT = Prepared(select(outbox).where(outbox.c.event_id == bindparam("event_id")))
_INSERT_OUTBOX = prepared.insert(outbox)


def test_a_row_reads_back_as_core_reads_it(ctx: Context, world: World) -> None:
    """Timestamps tz-aware, JSON decoded, Decimals exact, Python-side defaults applied on insert."""
    at = dt.datetime(2026, 11, 28, 10, 30, 15, 123456, tzinfo=dt.UTC)
    with ctx.db.write() as conn:
        key = _INSERT_OUTBOX.scalar(
            conn, event_id="e-1", kind="k", payload={"a": [1, "é"]}, created_at=at, available_at=at
        )
    with ctx.db.read() as conn:
        fast = _OUTBOX_BY_EVENT.first(conn, event_id="e-1")
        core = conn.execute(select(outbox).where(outbox.c.event_id == "e-1")).one()
        price = Prepared(select(product_prices.c.amount_duty_free).limit(1)).scalar(conn)
        core_price = conn.execute(select(product_prices.c.amount_duty_free).limit(1)).scalar()
    assert tuple(fast) == tuple(core)
    assert fast.id == key and fast.payload == {"a": [1, "é"]} and fast.attempts == 0
    assert fast.created_at == at and fast.created_at.tzinfo is not None
    assert fast._asdict()["kind"] == "k"
    assert isinstance(price, Decimal) and price == core_price


def test_a_rows_columns_are_its_attributes_and_nothing_else_is() -> None:
    """Every column by name, as Core's Row reads it; an unknown name is an AttributeError; the tuple's
    own methods stay the tuple's."""
    row = prepared._row_class(["id", "count", "label"])((7, 3, "x"))
    assert (row.id, row.label, row[1]) == (7, "x", 3)
    assert row.count(7) == 1  # tuple.count, as on Core's Row
    assert row._asdict() == {"id": 7, "count": 3, "label": "x"}
    with pytest.raises(AttributeError):
        row.other  # noqa: B018
    assert getattr(row, "other", None) is None


def test_an_insert_takes_a_value_for_a_column_that_has_a_default(ctx: Context) -> None:
    at = dt.datetime.now(dt.UTC)
    with ctx.db.write() as conn:
        _INSERT_OUTBOX.execute(
            conn, event_id="e-2", kind="k", payload={}, created_at=at, available_at=at, attempts=3, last_error="boom"
        )
    with ctx.db.read() as conn:
        row = _OUTBOX_BY_EVENT.first(conn, event_id="e-2")
    assert (row.attempts, row.last_error, row.delivered_at) == (3, "boom", None)


def test_no_row_is_none_and_an_empty_list(ctx: Context) -> None:
    with ctx.db.read() as conn:
        assert _OUTBOX_BY_EVENT.first(conn, event_id="none") is None
        assert _OUTBOX_BY_EVENT.all(conn, event_id="none") == []


def test_a_constraint_violation_is_sqlalchemys_integrity_error(ctx: Context) -> None:
    """createOrder tells a racing duplicate by IntegrityError, whichever way the INSERT was run."""
    at = dt.datetime.now(dt.UTC)
    with ctx.db.write() as conn:
        _INSERT_OUTBOX.execute(conn, event_id="dup", kind="k", payload={}, created_at=at, available_at=at)
    with pytest.raises(exc.IntegrityError), ctx.db.write() as conn:
        _INSERT_OUTBOX.execute(conn, event_id="dup", kind="k", payload={}, created_at=at, available_at=at)


def test_a_missing_or_unknown_parameter_is_refused_before_the_database(ctx: Context) -> None:
    with ctx.db.read() as conn:
        with pytest.raises(KeyError, match="missing"):
            _OUTBOX_BY_EVENT.first(conn)
        with pytest.raises(KeyError, match="unknown"):
            _OUTBOX_BY_EVENT.first(conn, event_id="x", evnt_id="typo")


def test_a_naive_timestamp_is_refused_as_in_core(ctx: Context) -> None:
    with pytest.raises(ValueError, match="naive"), ctx.db.write() as conn:
        prepared.insert(audit_events).execute(
            conn, at=dt.datetime(2026, 1, 1), actor="a", entity="e", entity_id="1", action="x"
        )


def test_reads_inside_a_shared_read_join_it_and_others_do_not(ctx: Context) -> None:
    with ctx.db.shared_read() as shared:
        with ctx.db.read() as inner:
            assert inner is shared
    with ctx.db.read() as first, ctx.db.read() as second:
        assert first is not second


@only_on("postgres")
def test_no_statement_of_the_hot_path_is_planned_again_on_every_call(ctx: Context, shop_a: Merchant) -> None:
    """PostgreSQL plans a prepared statement for its values five times, then keeps one plan for any
    values, unless that plan is priced higher than the ones made for the values. A statement whose
    kept plan is priced high is planned again on every call: the claim of serials was, until its
    count was written into its SQL, and cost each order more server CPU than the claim itself."""
    stock.import_serials(ctx, 1001, [f"H-{i:05d}" for i in range(20_000)])  # a launch's pool
    drivers: dict[int, Any] = {}
    event.listen(ctx.db.engine, "checkout", lambda driver, *_: drivers.setdefault(id(driver), driver))
    for i in range(12):  # psycopg prepares a statement on the server once a connection has run it 5 times
        pon = f"PLANNED-{i}"
        assert shop_a.call("POST", "/order/new", order_body(pon, (1001, 1))).json()["responseCode"] == 0
        assert shop_a.call("POST", "/stock", {"productRefs": [1001, 1002]}).json()["responseCode"] == 0
        assert shop_a.call("GET", f"/order/{pon}").json()["responseCode"] == 0
    for kept in ctx.db._kept_idle:  # the hot reads' connections, taken from the pool once
        drivers.setdefault(id(kept.connection.dbapi_connection), kept.connection.dbapi_connection)
    prepared_statements = 0
    for driver in drivers.values():
        rows = driver.execute("SELECT custom_plans, statement FROM pg_prepared_statements").fetchall()
        driver.rollback()
        prepared_statements += len(rows)
        assert [statement for custom_plans, statement in rows if custom_plans > 5] == []
    assert prepared_statements >= 5  # the claim, the order's inserts, the reads: all looked at
