"""64 clients race for small stocks across two real API processes: zero oversell.

Unlike tests/services/test_stock_races.py (one server in this process), the racers here talk to two
separately started `resell serve` processes on the test database, so the serials are fought over by
two processes' connection pools: only the database's locking (FOR UPDATE SKIP LOCKED on PostgreSQL,
BEGIN IMMEDIATE on SQLite) and the unique assignment can keep them apart. The stocks are the test
world's 5 (1003), 10 (1005, a subscription) and 20 (1001) serials, then as many again for a second round.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from resell.config import Settings
from resell.db.tables import products, serial_assignments, serials
from resell.services import stock
from resell.services.context import Context
from tests.conftest import World, order_body

STOCKS = {1003: 5, 1005: 10, 1001: 20}
RACERS = 64
# one TLS context for all 64 clients (httpx would load the CA bundle for each; the URLs are plain http)
TLS = ssl.create_default_context()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def two_servers(settings: Settings, world: World, tmp_path: Path) -> Iterator[list[str]]:
    env = {
        **os.environ,
        "RESELL_DATABASE_URL": settings.effective_database_url,
        "RESELL_VAR_DIR": str(settings.var_dir),
        "RESELL_JWT_SECRET": settings.jwt_secret,
        "RESELL_LOG_LEVEL": "WARNING",
    }
    procs, urls = [], []
    for n in range(2):
        port = _free_port()
        log = (tmp_path / f"api-{n}.log").open("wb")
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "resell.cli", "serve", "--port", str(port), "--workers", "1"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,
            )
        )
        urls.append(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 40
        for proc, url in zip(procs, urls, strict=True):
            while True:
                assert proc.poll() is None, f"resell serve exited: see {tmp_path}"
                try:
                    if httpx.get(url + "/healthz", timeout=2, verify=TLS).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "resell serve did not come up"
                time.sleep(0.1)
        yield urls
    finally:
        for proc in procs:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=15)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(proc.pid, signal.SIGKILL)


def _race(urls: list[str], token: str, secret: str, plans: list[list[tuple[int, int]]], tag: str) -> list:
    barrier = threading.Barrier(len(plans))

    def one(i: int) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}", "secret": secret}
        with httpx.Client(base_url=urls[i % len(urls)], timeout=60, headers=headers, verify=TLS) as client:
            client.get("/healthz")  # connected before the start line
            barrier.wait()
            return client.post("/connect/order/new", json=order_body(f"{tag}-{i}", *plans[i]))

    with ThreadPoolExecutor(max_workers=len(plans)) as pool:
        return list(pool.map(one, range(len(plans))))


def _plans(rng: random.Random) -> list[list[tuple[int, int]]]:
    refs = list(STOCKS)
    plans = []
    for _ in range(RACERS):
        if rng.random() < 0.25:  # one unit of two products, in either order
            plans.append([(ref, 1) for ref in rng.sample(refs, 2)])
        else:
            plans.append([(rng.choice(refs), rng.choice([1, 2]))])
    return plans


def test_64_racers_on_two_api_processes_never_oversell(
    two_servers: list[str], world: World, ctx: Context, settings: Settings
) -> None:
    token = httpx.post(
        two_servers[0] + "/iam/tokens",
        verify=TLS,
        json={"realmName": world.a.realm, "clientSecret": world.a.client_secret, "grantType": "client_credentials"},
        timeout=30,
    ).json()["access_token"]
    rng = random.Random(64)
    sold: dict[int, list[str]] = defaultdict(list)
    stocked = dict(STOCKS)
    statuses: Counter[int] = Counter()
    for round_no in range(2):
        if round_no:  # as much stock again, for a second start line
            for ref, n in STOCKS.items():
                stock.import_serials(ctx, ref, [f"R{round_no}-{ref}-{i}" for i in range(n)])
                stocked[ref] += n
        replies = _race(two_servers, token, world.a.secret, _plans(rng), f"MP{round_no}")
        statuses.update(r.status_code for r in replies)
        for reply in replies:
            assert reply.status_code in (200, 201), reply.text
            body = reply.json()
            if reply.status_code == 200:
                assert body["responseCode"] == 1044, body
                continue
            for line in body["orderLines"]:
                for item in line["lineItems"]:
                    sold[line["productRef"]].extend(s["data"] for s in item["serials"])

    assert statuses[201] > 0 and statuses[200] > 0, statuses  # some won, some lost: it was a race
    with ctx.db.read() as conn:
        taken = Counter(
            conn.execute(
                select(products.c.ref)
                .join(serials, serials.c.product_id == products.c.id)
                .where(serials.c.status != "available")
            ).scalars()
        )
        taken_values = set(conn.execute(select(serials.c.value).where(serials.c.status != "available")).scalars())
        n_assign = conn.execute(select(func.count()).select_from(serial_assignments)).scalar_one()
        n_distinct = conn.execute(select(func.count(func.distinct(serial_assignments.c.serial_id)))).scalar_one()
    for ref, n in stocked.items():
        assert len(sold[ref]) <= n, f"{ref}: {len(sold[ref])} sold of {n}"  # zero oversell
        assert len(set(sold[ref])) == len(sold[ref]), f"{ref}: a serial sold twice"
        assert taken[ref] == len(sold[ref]), f"{ref}: {taken[ref]} taken in the database, {len(sold[ref])} sold"
    assert taken_values == {value for values in sold.values() for value in values}
    assert n_assign == n_distinct == sum(len(v) for v in sold.values())
