"""/metrics is not for everyone (issue: safe to put on the internet): RESELL_METRICS_TOKEN asks a scrape
for `Authorization: Bearer <token>`, and RESELL_METRICS_BIND moves /metrics off the public address to one
of its own. Checked on the real app, and on a real `resell serve` with one and with two uvicorn workers,
and with one granian worker, whose numbers a scrape of the metrics address sums."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from resell.config import Settings
from tests.conftest import Merchant, World, _free_port, order_body, settings_for

TOKEN = "scrape-" + "t" * 40


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return settings_for(tmp_path, db_url, metrics_token=TOKEN)


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", f"Basic {TOKEN}", f"Bearer {TOKEN[:-1]}", f"Bearer {TOKEN}x", f"Bearer {TOKEN.upper()}"],
)
def test_metrics_without_the_token_are_refused(server: str, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    reply = httpx.get(f"{server}/metrics", headers=headers)
    assert reply.status_code == 401
    assert reply.headers["www-authenticate"] == 'Bearer realm="metrics"'
    assert "resell_" not in reply.text


def test_metrics_with_the_token(server: str, shop_a: Merchant) -> None:
    shop_a.call("POST", "/order/new", order_body("MTOK-1", (1003, 1)))
    reply = httpx.get(f"{server}/metrics", headers={"Authorization": f"bearer  {TOKEN}"})
    assert reply.status_code == 200
    assert 'resell_requests_total{operation="createOrder",response_code="0",status="201"}' in reply.text
    assert 'resell_serials_available{product_ref="1003"} 4.0' in reply.text


# ---------------------------------------------------------------- a real `resell serve`


def sample(text: str, name: str) -> float:
    """The value of one sample line of a Prometheus text page (0 when it is not there yet)."""
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


@contextmanager
def resell_serve(settings: Settings, tmp_path: Path, workers: int, **env: str) -> Iterator[str]:
    """A real `resell serve --workers N` on the test's database, with RESELL_METRICS_TOKEN and `env`;
    yields its public base URL once a worker answers."""
    port = _free_port()
    environment = {
        **os.environ,
        "RESELL_DATABASE_URL": settings.effective_database_url,
        "RESELL_VAR_DIR": str(tmp_path / "serve-var"),
        "RESELL_JWT_SECRET": settings.jwt_secret,
        "RESELL_PORT": str(port),
        "RESELL_METRICS_TOKEN": TOKEN,
        **env,
    }
    environment.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with open(tmp_path / "serve.log", "wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "resell.cli", "serve", "--workers", str(workers)],
            env=environment,
            cwd=tmp_path,
            stdout=log,
            stderr=log,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60  # two workers start slowly on a busy machine
            while True:
                try:
                    httpx.get(f"{base}/healthz", timeout=2)
                    break
                except httpx.TransportError:
                    assert server.poll() is None, (tmp_path / "serve.log").read_text()
                    assert time.monotonic() < deadline, "resell serve did not come up"
                    time.sleep(0.1)
            yield base
        finally:
            server.terminate()
            server.wait(timeout=30)


@pytest.fixture(
    params=[(1, "uvicorn"), (2, "uvicorn"), (1, "granian")], ids=["1-worker", "2-workers", "granian-1-worker"]
)
def served(
    request: pytest.FixtureRequest, settings: Settings, world: World, tmp_path: Path
) -> Iterator[tuple[str, str]]:
    """`resell serve` with RESELL_METRICS_BIND; yields (public base URL, metrics base URL). Under granian
    even one worker is a process apart from the one serving the metrics address."""
    metrics = _free_port()
    workers, server = request.param
    with resell_serve(
        settings, tmp_path, workers, RESELL_METRICS_BIND=f"127.0.0.1:{metrics}", RESELL_SERVER=server
    ) as public:
        yield public, f"http://127.0.0.1:{metrics}"


def test_resell_serve_serves_metrics_on_their_own_address_only(
    served: tuple[str, str], world: World, settings: Settings
) -> None:
    public, metrics = served
    scrape = {"Authorization": f"Bearer {TOKEN}"}
    assert httpx.get(f"{public}/metrics", headers=scrape).status_code == 404  # not on the public address
    assert httpx.get(f"{metrics}/metrics").status_code == 401  # the token is asked there too
    assert httpx.get(f"{metrics}/healthz", headers=scrape).status_code == 404  # nothing else there
    assert httpx.get(f"{metrics}/connect/status", headers=scrape).status_code == 404

    before = httpx.get(f"{metrics}/metrics", headers=scrape)
    assert before.status_code == 200
    healthz = 'resell_requests_total{operation="healthz",response_code="None",status="200"}'
    for _ in range(12):  # a new connection each: with two workers, both take some
        assert httpx.get(f"{public}/healthz").status_code == 200
    shop = Merchant(public, world.a)
    for n in range(3):
        assert shop.call("POST", "/order/new", order_body(f"MBIND-{n}", (1003, 1))).status_code == 201
    shop.http.close()

    after = httpx.get(f"{metrics}/metrics", headers=scrape).text
    assert sample(after, healthz) - sample(before.text, healthz) == 12  # every worker's requests, summed
    assert sample(after, "resell_orders_created_total") - sample(before.text, "resell_orders_created_total") == 3
    assert sample(after, 'resell_serials_available{product_ref="1003"}') == 2  # 5 in stock, 3 sold
    writes = sample(after, "resell_writer_jobs_total") - sample(before.text, "resell_writer_jobs_total")
    busy = sample(after, "resell_writer_busy_seconds_total") - sample(before.text, "resell_writer_busy_seconds_total")
    if settings.effective_database_url.startswith("sqlite"):  # the group commits of every worker, summed
        assert writes == 3 and 0 < busy < 10
    else:  # PostgreSQL: each createOrder a transaction of its own, no group commit
        assert writes == 0 and busy == 0


def test_two_workers_without_a_metrics_address_sum_their_numbers_on_the_public_one(
    settings: Settings, world: World, tmp_path: Path
) -> None:
    stale = tmp_path / "serve-var" / "metrics" / "counter_1.db"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"left by an earlier run")
    with resell_serve(settings, tmp_path, 2) as public:
        assert not stale.exists()  # the values of an earlier run are not added to this one's
        scrape = {"Authorization": f"Bearer {TOKEN}"}
        healthz = 'resell_requests_total{operation="healthz",response_code="None",status="200"}'
        before = httpx.get(f"{public}/metrics", headers=scrape)
        assert before.status_code == 200
        for _ in range(12):
            assert httpx.get(f"{public}/healthz").status_code == 200
        for _ in range(4):  # whichever worker answers the scrape reports every worker's requests
            after = httpx.get(f"{public}/metrics", headers=scrape).text
            assert sample(after, healthz) - sample(before.text, healthz) == 12


def test_a_busy_metrics_address_stops_serve_in_one_line(settings: Settings, tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        busy = f"127.0.0.1:{taken.getsockname()[1]}"
        env = {**os.environ, "RESELL_DATABASE_URL": settings.effective_database_url, "RESELL_METRICS_BIND": busy}
        env["RESELL_VAR_DIR"], env["RESELL_PORT"], env["COLUMNS"] = str(tmp_path / "v"), str(_free_port()), "300"
        run = subprocess.run(
            [sys.executable, "-m", "resell.cli", "serve"], env=env, capture_output=True, text=True, timeout=60
        )
    assert run.returncode == 1
    assert run.stderr == f"error: cannot listen on RESELL_METRICS_BIND={busy}: Address already in use\n"
