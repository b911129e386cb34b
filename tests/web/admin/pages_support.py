"""What the back-office page tests share: a second publisher, and a month of shop-a orders."""

from __future__ import annotations

import copy
import datetime as dt

import pytest

from resell.services import orders as order_service
from resell.services.catalog_import import import_catalog
from resell.services.context import Context
from tests.conftest import TEST_CATALOG, Clock, World, order_body
from tests.renewal_support import caller_of

NOV = "2026-11"


def at(month: int, day: int, hour: int = 10) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, tzinfo=dt.UTC)


def other_publisher(ctx: Context) -> None:
    """A second publisher with one product: a publisher member of "pub" must never see it."""
    catalog = copy.deepcopy(TEST_CATALOG)
    catalog["publishers"].append({"key": "other", "name": "Other Publisher"})
    catalog["products"].append(
        {
            "ref": 2001,
            "name": "Someone else's tool",
            "publisher": "other",
            "serialSource": "none",
            "deliveryMode": "download",
            "prices": [{"currency": "EUR", "amountDutyFree": 4}],
        }
    )
    import_catalog(ctx, catalog)


@pytest.fixture
def november(ctx: Context, world: World, clock: Clock) -> None:
    """shop-a orders in November 2026 (one cancelled the same month), and the clock in December."""
    other_publisher(ctx)
    a = caller_of(ctx, world.a)
    clock.now = at(11, 5)
    order_service.submit_order(ctx, a, order_body("NOV-1", (1001, 3), (1002, 2)))  # 30.00 + 10.00
    clock.now = at(11, 6)
    order_service.submit_order(ctx, a, order_body("NOV-2", (1003, 1)))  # 3.00
    clock.now = at(11, 7)
    order_service.cancel_order(ctx, a, "NOV-2", 2, "test")
    clock.now = at(12, 1, 9)  # last month is November
