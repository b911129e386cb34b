"""What time it is for a catalogue's subscriptions: the wall clock, or its test clock's frozen time.

A sandbox catalogue may have a test clock (table test_clocks, moved by the merchant through
resell.services.test_clocks). The subscriptions of its orders then live on the clock's time: they
start, renew and expire when the clock passes their moment, never by the wall clock. Everything that
dates a subscription asks here (order_writer when an order starts one, the subscription use cases),
and the wall-clock renewal pass leaves clocked ones alone with `on_wall_clock`.

Kept apart from test_clocks.py, which drives the renewals: the order writer needs the time without
importing the renewal code that itself uses the order writer.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ColumnElement, Connection, exists, select

from resell.db.tables import orders, subscriptions, test_clocks


def frozen_time(conn: Connection, catalog_id: int) -> dt.datetime | None:
    """The clock's time of a catalogue that has a test clock, else None."""
    return conn.execute(
        select(test_clocks.c.frozen_time).where(test_clocks.c.catalog_id == catalog_id)
    ).scalar_one_or_none()


def time_of(conn: Connection, catalog_id: int, wall: dt.datetime) -> dt.datetime:
    """Now, for the subscriptions of the catalogue: its test clock's time, or `wall`."""
    frozen = frozen_time(conn, catalog_id)
    return wall if frozen is None else frozen


def on_wall_clock() -> ColumnElement[bool]:
    """A condition on `subscriptions` rows: bought in a catalogue without a test clock (a correlated
    lookup of the order and its catalogue's clock, both by primary key)."""
    clocked = (
        select(orders.c.id)
        .join(test_clocks, test_clocks.c.catalog_id == orders.c.catalog_id)
        .where(orders.c.id == subscriptions.c.order_id)
    )
    return ~exists(clocked)


def on_clock_of(catalog_id: int) -> ColumnElement[bool]:
    """A condition on `subscriptions` rows: bought in the catalogue `catalog_id`."""
    return subscriptions.c.order_id.in_(select(orders.c.id).where(orders.c.catalog_id == catalog_id))
