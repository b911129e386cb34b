"""What every service needs: the database, the settings and the clock (tests move the clock)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from resell.config import Settings
from resell.db.engine import Database


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Context:
    db: Database
    settings: Settings
    clock: Callable[[], dt.datetime] = field(default=utc_now)

    def now(self) -> dt.datetime:
        return self.clock()

    @classmethod
    def from_settings(cls, settings: Settings) -> Context:
        db = Database(
            settings.effective_database_url,
            group_commit=settings.group_commit,
            server_prepare=settings.database_server_prepare,
        )
        return cls(db=db, settings=settings)


@dataclass(frozen=True)
class Caller:
    """The merchant and catalogue a /connect call acts for, resolved once by authentication."""

    merchant_id: int
    realm: str
    catalog_id: int
    currency: str
    cancel_period_days: int
    requires_amounts: bool
