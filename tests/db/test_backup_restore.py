"""Backups (docs/deployment.md): a `pg_dump` of the database restores with `pg_restore` into a fresh
database that resell accepts as it is, and an order reads back there as it did before."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from resell.db.engine import Database
from resell.db.migrate import current_revision
from resell.services import orders
from resell.services.context import Context
from tests.conftest import World, only_on, order_body
from tests.renewal_support import caller_of


def libpq(url: str) -> str:
    """The SQLAlchemy URL as the PostgreSQL tools take it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _has_statistics(ctx: Context, table: str) -> bool:
    with ctx.db.read() as conn:
        return bool(conn.execute(text("SELECT count(*) FROM pg_stats WHERE tablename = :t"), {"t": table}).scalar())


@only_on("postgres")
def test_a_pg_dump_restores_into_a_fresh_database_where_the_order_reads_back(
    ctx: Context, db_url: str, world: World, tmp_path: Path
) -> None:
    assert all(shutil.which(tool) for tool in ("pg_dump", "pg_restore", "vacuumdb")), "PostgreSQL's tools are needed"
    who = caller_of(ctx, world.a)
    made = orders.submit_order(ctx, who, order_body("BACKUP-1", (1001, 2), (1002, 1)))
    before = orders.get_order(ctx, who, "BACKUP-1")

    dump = tmp_path / "resell.dump"
    subprocess.run(["pg_dump", "--format=custom", "--no-owner", "--file", str(dump), libpq(db_url)], check=True)

    fresh_url = make_url(db_url).set(database=f"resell_restore_{uuid.uuid4().hex[:8]}")
    admin = create_engine(db_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{fresh_url.database}"'))
    fresh = fresh_url.render_as_string(hide_password=False)
    restored = Context(db=Database(fresh, pool_size=1), settings=ctx.settings, clock=ctx.clock)
    try:
        subprocess.run(["pg_restore", "--no-owner", "--exit-on-error", "--dbname", libpq(fresh), str(dump)], check=True)
        assert not _has_statistics(restored, "orders")  # a dump holds none: the guide analyzes next
        subprocess.run(["vacuumdb", "--analyze-only", "--quiet", "--dbname", libpq(fresh)], check=True)
        assert _has_statistics(restored, "orders")
        assert current_revision(restored.db) == current_revision(ctx.db)  # `resell serve` accepts it
        after = orders.get_order(restored, caller_of(restored, world.a), "BACKUP-1")
        assert after == before
        assert sorted(s for line in after.lines for item in line.line_items for s in item.serials) == sorted(
            s for line in made.lines for item in line.line_items for s in item.serials
        )
        # the sequences came along: the next order continues the numbering, its serials are fresh
        following = orders.submit_order(restored, caller_of(restored, world.a), order_body("BACKUP-2", (1001, 1)))
        assert following.order_number > made.order_number
    finally:
        restored.db.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{fresh_url.database}" WITH (FORCE)'))
        admin.dispose()
