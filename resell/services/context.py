"""What every service needs: the database, the settings and the clock (tests move the clock)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

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
    """The merchant and catalogue a /connect call acts for, resolved once by authentication.

    With a sandbox secret (`test_...`), `catalog_id` and its settings are still the LIVE catalogue's
    (the sandbox sells what it sells, at its prices), and `sandbox_catalog_id` names the sandbox
    catalogue: the call then acts on test orders only (resell.services.sandbox)."""

    merchant_id: int
    realm: str
    catalog_id: int
    currency: str
    cancel_period_days: int
    requires_amounts: bool
    delivery_email: bool  # the catalogue emails every line's end user (services/delivery_mail.py)
    sandbox_catalog_id: int | None = None

    @classmethod
    def of_catalog(cls, live: Any, merchant_id: int, realm: str, sandbox_catalog_id: int | None) -> Caller:
        """The caller acting on the live catalogue row `live` (its terms: currency, cancel period,
        amounts, delivery email), through the sandbox `sandbox_catalog_id` if any: the one place a
        catalogue's columns become a Caller (authentication, the support desk)."""
        return cls(
            merchant_id=merchant_id,
            realm=realm,
            catalog_id=live.id,
            currency=live.currency,
            cancel_period_days=live.cancel_period_days,
            requires_amounts=live.requires_amounts,
            delivery_email=live.delivery_email,
            sandbox_catalog_id=sandbox_catalog_id,
        )

    @property
    def test(self) -> bool:
        """A sandbox call: its orders are test orders."""
        return self.sandbox_catalog_id is not None

    @property
    def order_catalog_id(self) -> int:
        """The catalogue its new orders are recorded in: the sandbox one for a sandbox call."""
        return self.sandbox_catalog_id if self.sandbox_catalog_id is not None else self.catalog_id
