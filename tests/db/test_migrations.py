"""The Alembic migrations build exactly the schema of resell.db.tables, on every database."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from resell.db.tables import metadata


def test_migrated_schema_matches_the_tables(ctx) -> None:
    with ctx.db.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    assert differences == []


def test_sqlite_runs_in_wal_with_full_sync(ctx) -> None:
    if not ctx.db.is_sqlite:
        return
    with ctx.db.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_0005_backfills_the_lines_of_earlier_orders_with_the_catalogue_price_at_the_upgrade(ctx, world) -> None:
    """Orders placed before 0005 had no recorded price: the upgrade gives their lines the catalogue's
    price in the order's currency as it stands then (the best there is), and none where there is none."""
    from alembic import command
    from sqlalchemy import select

    from resell.db.migrate import alembic_config, upgrade
    from resell.db.tables import order_lines, orders
    from resell.services import iam
    from resell.services import orders as order_service
    from tests.conftest import order_body

    eur = iam.caller_for_secret(ctx, world.a.secret)
    usd = iam.caller_for_secret(ctx, world.a.other_secret)
    order_service.submit_order(ctx, eur, order_body("OLD-EUR", (1001, 2), (1003, 1)))
    order_service.submit_order(ctx, usd, order_body("OLD-USD", (1002, 1), currency="USD"))  # sold unpriced
    try:
        config = alembic_config(ctx.db)
        with ctx.db.engine.connect() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0004")
            conn.commit()
    finally:
        upgrade(ctx.db)
    with ctx.db.read() as conn:
        got = conn.execute(
            select(orders.c.partner_order_number, order_lines.c.retailer_unit_price, order_lines.c.retailer_vat_rate)
            .join(orders, orders.c.id == order_lines.c.order_id)
            .order_by(order_lines.c.id)
        ).all()
    assert [tuple(r) for r in got] == [("OLD-EUR", 10, 20), ("OLD-EUR", 3, 0), ("OLD-USD", None, None)]
