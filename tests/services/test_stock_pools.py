"""Serial pools for the back office: the three counts after orders and cancellations, thresholds (audited),
the publisher filter, and the `resell stock threshold` / `resell stock pools` commands."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from resell.db.tables import audit_events, products, publishers
from resell.services import orders as order_service
from resell.services import stock_pools
from resell.services.catalog_import import import_catalog
from resell.services.context import Context
from tests.conftest import World, order_body
from tests.renewal_support import caller_of

OTHER = {
    "publishers": [{"key": "other", "name": "Other Publisher"}],
    "products": [
        {
            "ref": 1402,
            "name": "Other pool",
            "publisher": "other",
            "serialSource": "pool",
            "deliveryMode": "serial",
            "almostOutThreshold": 0,
            "prices": [{"currency": "EUR", "amountDutyFree": 1}],
        }
    ],
}


def by_ref(found: list[stock_pools.Pool]) -> dict[int, stock_pools.Pool]:
    return {p.ref: p for p in found}


def test_counts_after_assign_and_revoke(ctx: Context, world: World) -> None:
    shop = caller_of(ctx, world.a)
    order_service.submit_order(ctx, shop, order_body("POOL-1", (1001, 2), (1003, 1)))
    order_service.submit_order(ctx, shop, order_body("POOL-2", (1001, 1), (1005, 1)))
    order_service.cancel_order(ctx, shop, "POOL-2", 3, None)
    pools = by_ref(stock_pools.pools(ctx))
    assert sorted(pools) == [1001, 1003, 1005]  # the pooled products only
    p = pools[1001]
    assert (p.available, p.assigned, p.revoked, p.threshold, p.level, p.status) == (17, 2, 1, 3, "enough", 100)
    assert (pools[1003].available, pools[1003].assigned, pools[1003].level) == (4, 1, "low")
    assert (pools[1005].available, pools[1005].assigned, pools[1005].revoked) == (9, 0, 1)
    assert pools[1005].publisher == "Test Publisher" and pools[1005].on_sale


def test_a_threshold_is_set_audited_and_moves_the_level(ctx: Context, world: World) -> None:
    assert by_ref(stock_pools.pools(ctx))[1001].level == "enough"
    assert stock_pools.set_threshold(ctx, 1001, 20, actor="admin:ann") == (3, 20)
    pool = by_ref(stock_pools.pools(ctx))[1001]
    assert (pool.threshold, pool.level, pool.status) == (20, "low", 200)
    assert [p.ref for p in stock_pools.low_pools(ctx)] == [1003, 1005, 1001]  # emptiest first (5, 10, 20)
    with ctx.db.read() as conn:
        (row,) = conn.execute(select(audit_events).where(audit_events.c.action == "threshold_changed")).all()
        assert conn.execute(select(products.c.almost_out_threshold).where(products.c.ref == 1001)).scalar() == 20
    assert (row.actor, row.entity, row.entity_id) == ("admin:ann", "stock", "1001")
    assert (row.before, row.after) == ({"almostOutThreshold": 3}, {"almostOutThreshold": 20})
    assert stock_pools.set_threshold(ctx, 1001, 20) == (20, 20)  # no change, no audit row
    for ref, n in ((1002, 5), (9999, 5), (1001, -1)):
        with pytest.raises(stock_pools.PoolError):
            stock_pools.set_threshold(ctx, ref, n)


def test_a_publisher_sees_its_pools_only(ctx: Context, world: World) -> None:
    import_catalog(ctx, OTHER)
    with ctx.db.read() as conn:
        other = conn.execute(select(publishers.c.id).where(publishers.c.key == "other")).scalar_one()
    (theirs,) = stock_pools.pools(ctx, publisher_id=other)
    assert (theirs.ref, theirs.available, theirs.level) == (1402, 0, "out")
    assert [p.ref for p in stock_pools.low_pools(ctx, publisher_id=other)] == [1402]
    assert 1402 in by_ref(stock_pools.pools(ctx))


def test_the_threshold_and_pools_commands(cli, ctx: Context, world: World) -> None:  # type: ignore[no-untyped-def]
    result = cli("stock", "threshold", "1003", "2")
    assert result.exit_code == 0, result.output
    assert "1003" in result.stdout and "10 -> 2" in result.stdout
    listed = cli("stock", "pools", "--json")
    assert listed.exit_code == 0, listed.output
    rows = {row["ref"]: row for row in json.loads(listed.stdout)}
    assert (rows[1003]["threshold"], rows[1003]["level"], rows[1003]["available"]) == (2, "enough", 5)
    table = cli("stock", "pools")
    assert table.exit_code == 0 and "threshold" in table.stdout
    assert cli("stock", "threshold", "1002", "2").exit_code == 1  # no pool
    assert cli("stock", "pools", "--publisher", "nobody").exit_code == 1
