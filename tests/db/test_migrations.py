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
