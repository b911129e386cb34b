"""Row locks, in one place: `for_update` adds FOR UPDATE [SKIP LOCKED] / FOR KEY SHARE to a query,
`try_advisory_lock` takes a transaction-scoped advisory lock.

Both are written once for both databases. On PostgreSQL (READ COMMITTED) they are real row and
advisory locks, held until the transaction ends. On SQLite they compile to nothing and succeed:
every write transaction starts with BEGIN IMMEDIATE (resell/db/engine.py), so the database's one
write lock already serializes writers and no two transactions can deadlock. Locks mean something
only inside `db.write()` (or `write_grouped`): never lock in a read transaction.

The rules (PostgreSQL), so that no two use cases wait for each other in a cycle:

1. An order before its subscriptions. cancelOrder and updateDownloadTime lock the order
   (`tenancy.order_of(lock=True)`, FOR UPDATE), then cancelOrder updates its serials and its
   subscriptions. renewSubscription takes the order that bought the subscription FOR KEY SHARE,
   then the subscription FOR UPDATE (`tenancy.subscription_of(lock=True)`).
2. Whoever must take them the other way round never waits: the renewal worker claims due
   subscriptions FOR UPDATE SKIP LOCKED, then holds their orders FOR KEY SHARE SKIP LOCKED
   (`subscriptions._hold_roots`) and leaves the subscriptions of an order being cancelled for its
   next pass. (Inserting a renewal order takes FOR KEY SHARE on its parent order through the foreign
   key: before that rule a renewal and a cancelOrder of the same order deadlocked.)
3. Serials last, SKIP LOCKED, products in id order (`stock.allocate`): an order never waits for
   another order's serials, it takes the next free ones; a cancel only touches assigned serials,
   which allocation never selects.
4. Claims of work queues are SKIP LOCKED (due subscriptions, outbox events): concurrent workers take
   disjoint batches and never wait for each other.
5. One row per counter or quota, locked alone: the merchant's row while its webhook endpoints are
   counted (`webhooks._check_room`), a download's stats row while its served ranges are merged
   (`downloads.record_served`). Nothing else is locked in those transactions.
6. At most one stock-level check at a time: an advisory lock tried without waiting
   (`stock.check_levels`).

A unique constraint backs up every one of these (a serial's assignment, a merchant's
partnerOrderNumber): should a rule be broken, a transaction fails, nothing is written twice.
"""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import Connection, Select, text

Q = TypeVar("Q", bound=Select)  # type: ignore[type-arg]

_TRY_ADVISORY = text("SELECT pg_try_advisory_xact_lock(:key)")


def for_update(query: Q, *, skip_locked: bool = False, key_share: bool = False) -> Q:
    """The query locking the rows it reads until the transaction ends: FOR UPDATE, or FOR KEY SHARE
    (enough to keep a row from being deleted or its key changed, as a foreign key to it needs);
    `skip_locked` passes over rows another transaction holds instead of waiting for them.
    Compiled per dialect, so it also suits a Prepared statement (nothing is added on SQLite)."""
    return query.with_for_update(skip_locked=skip_locked, read=key_share, key_share=key_share)


def try_advisory_lock(conn: Connection, key: int) -> bool:
    """Take the transaction-scoped advisory lock `key` if nobody holds it (PostgreSQL); True on SQLite,
    where the write transaction already excludes every other writer."""
    if conn.dialect.name != "postgresql":
        return True
    return bool(conn.execute(_TRY_ADVISORY, {"key": key}).scalar())
