"""Rows a process keeps for a moment instead of reading them again on every call.

For what the /connect hot path reads on every call yet rarely changes (the catalogue a secret opens,
services/iam.py; the products' files of an order, services/orders.py): on PostgreSQL each such read
was a round trip of its own. The rules, the same for every use:

- a value is kept `seconds` (RESELL_CACHE_SECONDS, 1 by default; 0 keeps nothing) per process and
  database URL (every Context of the process on one database shares them, as the tests' do);
- a change made through this process's services calls `forget(db)` once committed, and the next
  call reads again; a read that was under way when the forgetting came is not kept (it may have
  seen the state before the change);
- or, for what many writes change (`until_write`: the stock statuses, services/catalog.py), no
  value outlives the next write transaction this process commits on that database, whatever it
  wrote (`Database.commits`): no use case has to remember to forget it;
- a change made by another process or node shows within `seconds`: the caller decides what that
  may cost (authentication reads a kept row again before it refuses, so that it never refuses what
  the database would let in; a stock status is advisory, createOrder counts again under its lock).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

from resell.db.engine import Database

V = TypeVar("V")

_MAX = 10_000  # values per database: cleared when full rather than evicted one by one
_clock = time.monotonic  # when values expire (tests move it instead of sleeping)


class _Rows(Generic[V]):
    """One database's kept values, each with the moment it expires."""

    def __init__(self) -> None:
        # key: (when it expires, the database's commits when it was read, the value)
        self.values: dict[Hashable, tuple[float, int, V]] = {}
        self.generation = 0  # moved on by forget: a read begun before it is not kept
        self.lock = threading.Lock()  # the generation's check and the keeping, against a forgetting


class KeptRows(Generic[V]):
    """Values read by key, kept a few seconds per database (the module says the rules)."""

    def __init__(self, until_write: bool = False) -> None:
        self._by_url: dict[str, _Rows[V]] = {}
        self._until_write = until_write
        _EVERY.append(self)

    def get(
        self,
        db: Database,
        key: Hashable,
        seconds: float,
        read: Callable[[], V],
        keep: Callable[[V], bool] | None = None,
        fresh: bool = False,
    ) -> tuple[V, bool]:
        """The value of `key`, and whether it was a kept one (False: `read()` now, whatever is kept
        when `fresh`, then kept unless `keep` says not to)."""
        rows = self._rows(db)
        now = _clock()
        commits = db.commits if self._until_write else 0  # counted before the read: a commit after it is seen
        found = None if fresh else rows.values.get(key)
        if found is not None and found[0] > now and found[1] == commits:
            return found[2], True
        generation = rows.generation
        value = read()
        if seconds > 0 and (keep is None or keep(value)):
            with rows.lock:
                if generation == rows.generation:
                    if len(rows.values) >= _MAX:
                        rows.values.clear()
                    rows.values[key] = (now + seconds, commits, value)
        return value, False

    def forget(self, db: Database) -> None:
        """Call once a change to what is kept has committed: this process's next calls on `db` read again."""
        rows = self._by_url.get(db.url)
        if rows is not None:
            with rows.lock:
                rows.generation += 1
                rows.values.clear()

    def _rows(self, db: Database) -> _Rows[V]:
        rows = self._by_url.get(db.url)
        if rows is None:
            rows = self._by_url.setdefault(db.url, _Rows())
        return rows


def only_found(value: object) -> bool:
    """`keep=only_found`: keep what was found, read again what was not (so a row created anywhere shows at once)."""
    return value is not None


_EVERY: list[KeptRows[Any]] = []  # every KeptRows made, for forget_all


def forget_all(db: Database) -> None:
    """Forget everything kept of `db`: its rows were changed behind every service's back (the tests
    put a database's rows back between tests)."""
    for kept in _EVERY:
        kept.forget(db)
