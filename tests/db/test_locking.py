"""The locking helper: one way to lock rows, real locks on PostgreSQL, nothing on SQLite."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from resell.db.locking import for_update, try_advisory_lock
from resell.db.tables import orders


def test_for_update_is_a_row_lock_on_postgresql_and_nothing_on_sqlite() -> None:
    query = select(orders.c.id)
    pg = postgresql.dialect()
    assert str(for_update(query).compile(dialect=pg)).endswith("FOR UPDATE")
    assert str(for_update(query, skip_locked=True).compile(dialect=pg)).endswith("FOR UPDATE SKIP LOCKED")
    assert str(for_update(query, key_share=True, skip_locked=True).compile(dialect=pg)).endswith(
        "FOR KEY SHARE SKIP LOCKED"
    )
    assert str(for_update(query, skip_locked=True).compile(dialect=sqlite.dialect())) == str(
        query.compile(dialect=sqlite.dialect())
    )


def test_an_advisory_lock_is_taken_once(ctx) -> None:
    """PostgreSQL: a second transaction does not get the lock the first holds; SQLite: always (one writer)."""
    with ctx.db.write() as first:
        assert try_advisory_lock(first, 42)
        if ctx.db.is_postgres:
            with ctx.db.write() as second:
                assert not try_advisory_lock(second, 42)
    with ctx.db.write() as again:
        assert try_advisory_lock(again, 42)
