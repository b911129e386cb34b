"""Races with real concurrent connections: the last serials, and duplicate partnerOrderNumbers.

Each racer is a thread with its own HTTP connection to the live server, which serves them from its
thread pool on separate database connections: the database's locking is what is tested.
"""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy import func, select

from resell.db.tables import orders, serial_assignments, serials
from tests.conftest import Merchant, World, order_body


def _race(server: str, token: str, secret: str, bodies: list[dict]) -> list[httpx.Response]:
    barrier = threading.Barrier(len(bodies))

    def one(body: dict) -> httpx.Response:
        with httpx.Client(base_url=server, timeout=60) as client:
            client.get("/healthz")  # connect before the start line, so all requests leave together
            barrier.wait()
            return client.post("/connect/order/new", json=body,
                               headers={"Authorization": f"Bearer {token}", "secret": secret})

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        return list(pool.map(one, bodies))


def test_32_racers_for_the_last_5_serials(server: str, shop_a: Merchant, world: World, ctx) -> None:
    bodies = [order_body(f"RACE-{i}", (1003, 1)) for i in range(32)]
    replies = _race(server, shop_a.token(), world.a.secret, bodies)

    statuses = Counter(r.status_code for r in replies)
    codes = Counter(r.json()["responseCode"] for r in replies)
    assert statuses == {201: 5, 200: 27}, statuses
    assert codes == {0: 5, 1044: 27}, codes
    sold = [r.json()["orderLines"][0]["lineItems"][0]["serials"][0]["data"] for r in replies if r.status_code == 201]
    assert len(set(sold)) == 5 and set(sold) == set(world.serials[1003])
    with ctx.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(orders)).scalar_one() == 5
        assert conn.execute(select(func.count()).select_from(serial_assignments)).scalar_one() == 5
        assert conn.execute(
            select(func.count()).select_from(serials).where(serials.c.status == "available",
                                                            serials.c.value.like("S1003-%"))
        ).scalar_one() == 0


def test_16_racing_duplicates_make_exactly_one_order(server: str, shop_a: Merchant, world: World, ctx) -> None:
    bodies = [order_body("SAME-PON", (1001, 1)) for _ in range(16)]
    replies = _race(server, shop_a.token(), world.a.secret, bodies)

    codes = Counter(r.json()["responseCode"] for r in replies)
    assert codes == {0: 1, 1010: 15}, codes
    assert all(r.status_code < 500 for r in replies)
    with ctx.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(orders)).scalar_one() == 1
        # the losers' serials went back to the pool: exactly one serial is out
        assert conn.execute(select(func.count()).select_from(serial_assignments)).scalar_one() == 1
        assert conn.execute(
            select(func.count()).select_from(serials).where(serials.c.status == "assigned")
        ).scalar_one() == 1
