"""RESELL_DATABASE_SERVER_PREPARE=false (docs/deployment.md, pgbouncer before 1.21): psycopg prepares
nothing on the server, however often a statement runs, and the queries still answer."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from resell.config import Settings
from resell.services.context import Context
from tests.conftest import only_on


@only_on("postgres")  # a psycopg setting
@pytest.mark.parametrize("server_prepare", [True, False])
def test_server_side_preparation_follows_the_setting(db_url: str, server_prepare: bool, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(database_url=db_url, var_dir=tmp_path, database_server_prepare=server_prepare)
    ctx = Context.from_settings(settings)
    try:
        with ctx.db.read() as conn:
            for _ in range(8):  # past psycopg's prepare_threshold of 5
                assert conn.execute(text("SELECT 1")).scalar_one() == 1
            prepared = conn.execute(text("SELECT count(*) FROM pg_prepared_statements")).scalar_one()
            assert conn.connection.driver_connection.prepare_threshold == (5 if server_prepare else None)  # type: ignore[union-attr]
        assert (prepared > 0) is server_prepare
    finally:
        ctx.db.dispose()
