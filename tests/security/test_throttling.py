"""POST /iam/tokens is throttled (resell.api.rate_limits): every attempt per client IP, failed
attempts per (realm, client IP) with growing delays; HTTP 429 in the /iam error shape with
Retry-After. The clients below connect from distinct loopback addresses (127.0.0.x), so the server
sees distinct client IPs. The back-off itself, on memory and on Redis storage, is tested at the end."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from starlette.requests import Request

from resell.api import rate_limits
from resell.config import Settings
from resell.services.context import Context
from tests.conftest import MerchantCreds, World, _free_port, settings_for

PER_IP = 8
AFTER = 3  # failures from one address on one realm before its attempts wait
BASE = 5  # seconds: the first wait, doubled with each further attempt (long enough for a loaded machine)
CAP = 20  # seconds: the longest wait


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    """The suite's settings with token limits small enough to reach in a test."""
    return settings_for(
        tmp_path,
        db_url,
        iam_rate_limit_ip=f"{PER_IP}/minute",
        sign_in_backoff_after=AFTER,
        sign_in_backoff_seconds=BASE,
        sign_in_backoff_max_seconds=CAP,
    )


def credentials(creds: MerchantCreds, **extra: Any) -> dict[str, Any]:
    return {"clientSecret": creds.client_secret, "realmName": creds.realm, "grantType": "client_credentials", **extra}


def wrong(creds: MerchantCreds) -> dict[str, Any]:
    return credentials(creds, clientSecret="not-the-secret")


def assert_throttled(reply: httpx.Response, max_wait: int) -> int:
    assert reply.status_code == 429, reply.text
    data = reply.json()
    assert set(data) == {"status", "error", "message"}
    assert data["status"] == 429 and data["error"] == "Too Many Requests"
    assert isinstance(data["message"], str) and data["message"]
    assert "access_token" not in reply.text
    wait = int(reply.headers["retry-after"])
    assert 1 <= wait <= max_wait
    return wait


def test_every_attempt_counts_per_ip_and_other_ips_go_on(from_ip, world: World) -> None:  # type: ignore[no-untyped-def]
    noisy = from_ip("127.0.0.2")
    kinds = [credentials(world.a), wrong(world.b), {"realmName": "shop-x"}, credentials(world.b)]
    codes = [noisy.post("/iam/tokens", json=kinds[i % len(kinds)]).status_code for i in range(PER_IP)]
    assert codes == [200, 401, 400, 200] * (PER_IP // 4)  # successes and bad requests count too
    assert_throttled(noisy.post("/iam/tokens", json=credentials(world.a)), 60)
    assert_throttled(noisy.post("/iam/tokens", content=b"junk"), 60)  # refused before the body is read
    # another address is not concerned; nor are the realms (successes never count per realm)
    assert from_ip("127.0.0.3").post("/iam/tokens", json=credentials(world.a)).status_code == 200
    assert from_ip("127.0.0.3").post("/iam/tokens", json=credentials(world.b)).status_code == 200


def test_an_attackers_failures_delay_its_own_address_only(from_ip, world: World) -> None:  # type: ignore[no-untyped-def]
    """Someone failing on shop-a's realm from their address does not lock shop-a out: the right
    secret from another address goes ahead; the attacker's own attempts on that realm, the right
    secret included, wait longer each time (2, 4, 8 seconds, capped at 8)."""
    attacker, merchant = from_ip("127.0.0.10"), from_ip("127.0.0.11")
    for _ in range(AFTER):
        assert attacker.post("/iam/tokens", json=wrong(world.a)).status_code == 401
    waits = [assert_throttled(attacker.post("/iam/tokens", json=body), CAP)
             for body in (credentials(world.a), wrong(world.a), wrong(world.a))]
    assert waits == [2 * BASE, 4 * BASE, CAP]
    for _ in range(3):
        reply = merchant.post("/iam/tokens", json=credentials(world.a))
        assert reply.status_code == 200, reply.text
    # the attacker's address is not barred from other realms (there the address limit is what holds)
    for _ in range(PER_IP - 2 * AFTER):
        assert attacker.post("/iam/tokens", json=credentials(world.b)).status_code == 200
    assert_throttled(attacker.post("/iam/tokens", json=credentials(world.b)), 60)  # PER_IP attempts used


def test_failures_from_many_addresses_do_not_lock_the_realm(from_ip, world: World) -> None:  # type: ignore[no-untyped-def]
    """More failures on one realm than the old per-realm limit (20 a minute) allowed, from seven
    addresses: each of them waits, the merchant from its own address does not."""
    for i in range(7):
        attacker = from_ip(f"127.0.0.{20 + i}")
        for _ in range(AFTER):
            assert attacker.post("/iam/tokens", json=wrong(world.a)).status_code == 401
        assert_throttled(attacker.post("/iam/tokens", json=credentials(world.a)), CAP)
    reply = from_ip("127.0.0.29").post("/iam/tokens", json=credentials(world.a))
    assert reply.status_code == 200, reply.text


def test_the_wait_ends_then_one_more_failure_waits_twice_as_long(from_ip, world: World) -> None:  # type: ignore[no-untyped-def]
    http = from_ip("127.0.0.12")
    for _ in range(AFTER):
        assert http.post("/iam/tokens", json=wrong(world.a)).status_code == 401
    time.sleep(BASE + 0.2)  # the first wait is over: one attempt goes ahead
    assert http.post("/iam/tokens", json=wrong(world.a)).status_code == 401
    assert assert_throttled(http.post("/iam/tokens", json=credentials(world.a)), CAP) == 4 * BASE


def test_a_success_forgets_the_failures_of_its_address(from_ip, world: World) -> None:  # type: ignore[no-untyped-def]
    """A merchant that mistyped its secret, then got it right, starts again from zero."""
    http = from_ip("127.0.0.13")
    for _ in range(AFTER - 1):
        assert http.post("/iam/tokens", json=wrong(world.a)).status_code == 401
    assert http.post("/iam/tokens", json=credentials(world.a)).status_code == 200
    for _ in range(AFTER - 1):
        assert http.post("/iam/tokens", json=wrong(world.a)).status_code == 401
    assert http.post("/iam/tokens", json=credentials(world.a)).status_code == 200


def test_refresh_failures_count_per_realm_and_address_too(from_ip, world: World) -> None:  # type: ignore[no-untyped-def]
    http = from_ip("127.0.0.30")
    for _ in range(AFTER):
        body = credentials(world.a, grantType="refresh_token", refreshToken="not.a.token")
        assert http.post("/iam/tokens", json=body).status_code == 401
    assert_throttled(http.post("/iam/tokens", json=credentials(world.a)), CAP)
    assert from_ip("127.0.0.31").post("/iam/tokens", json=credentials(world.a)).status_code == 200


def test_a_merchants_correct_sign_ins_and_refreshes_never_add_up(from_ip, world: World) -> None:  # type: ignore[no-untyped-def]
    """Many more successful requests than the failures allowed, spread over addresses (each under
    its own limit): none is refused."""
    done = 0
    for i in range(4):
        http = from_ip(f"127.0.0.{40 + i}")
        pair = http.post("/iam/tokens", json=credentials(world.a)).json()
        for _ in range(PER_IP - 2):
            reply = http.post(
                "/iam/tokens", json=credentials(world.a, grantType="refresh_token", refreshToken=pair["refresh_token"])
            )
            assert reply.status_code == 200, reply.text
            pair = reply.json()
            done += 1
    assert done > 5 * AFTER


def test_defaults_leave_a_busy_merchant_alone() -> None:
    defaults = Settings()
    assert defaults.iam_rate_limit_ip == "120/minute"
    assert (defaults.sign_in_backoff_after, defaults.sign_in_backoff_seconds, defaults.sign_in_backoff_max_seconds) \
        == (5, 2, 900)


def test_the_limits_can_be_relaxed_or_turned_off_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESELL_IAM_RATE_LIMIT_IP", "100000/second")
    monkeypatch.setenv("RESELL_SIGN_IN_BACKOFF_AFTER", "0")
    settings = Settings()
    assert settings.iam_rate_limit_ip == "100000/second" and settings.sign_in_backoff_after == 0
    monkeypatch.setenv("RESELL_IAM_RATE_LIMIT_IP", "lots")
    with pytest.raises(ValidationError, match="iam_rate_limit_ip"):
        Settings()
    monkeypatch.setenv("RESELL_IAM_RATE_LIMIT_IP", "")
    monkeypatch.setenv("RESELL_SIGN_IN_BACKOFF_SECONDS", "0")
    with pytest.raises(ValidationError, match="sign_in_backoff_seconds"):
        Settings()


def test_an_empty_limit_or_no_backoff_never_refuses() -> None:
    limiter = rate_limits.RateLimiter("memory://")
    rule = rate_limits.rule("iam-ip", "")
    assert all(limiter.hit(rule, "k") is None for _ in range(1000))
    off = rate_limits.Backoff("iam", after=0, base=1, cap=1)
    assert all(limiter.failed(off, "realm", "ip") is None for _ in range(100))
    assert limiter.delayed(off, "realm", "ip") is None


@pytest.mark.parametrize(
    ("peer", "counted_as"),
    [
        ("203.0.113.5", "203.0.113.5"),
        ("::ffff:203.0.113.5", "203.0.113.5"),  # an IPv4 client on a dual-stack socket
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),  # same subscriber, another address
        ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
    ],
)
def test_throttling_counts_an_ipv6_client_by_its_slash_64(peer: str, counted_as: str) -> None:
    """One subscriber usually holds a whole /64: counting each address would give them 2**64 fresh
    allowances."""
    request = Request({"type": "http", "client": (peer, 4000), "headers": []})
    assert rate_limits.client_ip(request) == counted_as


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """A real Redis server of this module's own, on a free loopback port, nothing written to disk."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server is needed (apt-get install redis-server)"
    port = _free_port()
    process = subprocess.Popen([binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                                "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}"
    import redis

    deadline = time.monotonic() + 10
    while True:
        try:
            redis.Redis.from_url(url).ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    yield url
    process.terminate()
    process.wait(timeout=10)


@pytest.mark.parametrize("storage", ["memory", "redis"])
def test_one_backoff_for_every_node_sharing_the_storage(storage: str, request: pytest.FixtureRequest) -> None:
    """Two limiters on one storage stand for two API nodes: failures counted by one delay attempts
    made on the other, per (account, address); other accounts and addresses are not concerned."""
    if storage == "memory":
        shared = rate_limits.RateLimiter("memory://")
        nodes = [shared, shared]  # memory storage is one process's: one limiter
    else:
        url = request.getfixturevalue("redis_url")
        nodes = [rate_limits.RateLimiter(url), rate_limits.RateLimiter(url)]
    backoff = rate_limits.Backoff("locker", after=2, base=3, cap=20)
    account = "order 7 with spaces"
    assert nodes[0].failed(backoff, account, "203.0.113.9") is None
    assert nodes[1].failed(backoff, account, "203.0.113.9") == 3
    assert [nodes[i % 2].delayed(backoff, account, "203.0.113.9") for i in range(4)] == [6, 12, 20, 20]
    assert nodes[1].delayed(backoff, account, "203.0.113.10") is None  # another address
    assert nodes[1].delayed(backoff, "order 8", "203.0.113.9") is None  # another account
    nodes[0].succeeded(backoff, account, "203.0.113.9")
    assert nodes[1].delayed(backoff, account, "203.0.113.9") is None


@pytest.mark.parametrize("storage", ["memory", "redis"])
def test_one_attempt_counted_by_every_rule_or_by_none(storage: str, request: pytest.FixtureRequest) -> None:
    """`hit_all`, as the locker's "email again" uses it: an attempt one rule refuses (the order's cap)
    is not counted by the others (the address's own allowance on that order)."""
    url = "memory://" if storage == "memory" else request.getfixturevalue("redis_url")
    limiter = rate_limits.RateLimiter(url)
    own = rate_limits.rule(f"test-own-{storage}", "2/day")  # per (address, order)
    cap = rate_limits.rule(f"test-cap-{storage}", "1/day")  # per order
    assert limiter.hit_all((own, "203.0.113.9 7"), (cap, "7")) is None
    refused = limiter.hit_all((own, "203.0.113.9 7"), (cap, "7"))
    assert refused is not None and 86_000 < refused <= 86_400
    assert limiter.hit_all((own, "203.0.113.9 7"), (cap, "8")) is None  # the refusal cost `own` nothing
    assert limiter.hit_all((own, "203.0.113.9 7"), (cap, "9")) is not None  # now `own` is spent (2/day)
    assert limiter.hit(cap, "9") is None  # ...and `cap` did not count that refused attempt for order 9
    assert limiter.hit_all((rate_limits.rule("test-off", ""), "k"), (own, "203.0.113.10 7")) is None


# ---------------------------------------------------------------- X-Forwarded-For, through `resell serve`


@pytest.fixture
def serve(ctx: Context, tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """`serve(allowed)`: a real `resell serve` process with RESELL_FORWARDED_ALLOW_IPS=allowed (unset
    when empty) and 3 token requests a minute per client address; its base URL."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(allowed: str) -> str:
        port = _free_port()
        env = {
            **os.environ,
            "RESELL_DATABASE_URL": ctx.settings.effective_database_url,
            "RESELL_VAR_DIR": str(ctx.settings.var_dir),
            "RESELL_JWT_SECRET": ctx.settings.jwt_secret,
            "RESELL_PORT": str(port),
            "RESELL_LOG_LEVEL": "WARNING",
            "RESELL_IAM_RATE_LIMIT_IP": "3/minute",
        }
        env.pop("RESELL_FORWARDED_ALLOW_IPS", None)
        env.pop("FORWARDED_ALLOW_IPS", None)  # uvicorn's own variable: not what decides
        if allowed:
            env["RESELL_FORWARDED_ALLOW_IPS"] = allowed
        log = open(tmp_path / f"serve-{port}.log", "wb")  # noqa: SIM115
        process = subprocess.Popen([sys.executable, "-m", "resell.cli", "serve"], env=env,
                                   stdout=subprocess.DEVNULL, stderr=log)
        processes.append(process)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    return base
            except httpx.TransportError:
                pass
            assert process.poll() is None, (tmp_path / f"serve-{port}.log").read_text()
            assert time.monotonic() < deadline, "resell serve did not start"
            time.sleep(0.1)

    yield start
    for process in processes:
        process.terminate()
        process.wait(timeout=10)


def token_codes(base: str, peer: str, forwarded_for: list[str]) -> list[int]:
    """POST /iam/tokens (an empty body: 400, but every attempt counts per address) from `peer`, one
    request per X-Forwarded-For value given."""
    with httpx.Client(base_url=base, transport=httpx.HTTPTransport(local_address=peer), timeout=30) as http:
        return [http.post("/iam/tokens", json={}, headers={"X-Forwarded-For": xff}).status_code
                for xff in forwarded_for]


def test_forwarded_for_is_ignored_by_default_even_from_loopback(serve) -> None:  # type: ignore[no-untyped-def]
    """uvicorn's default believes X-Forwarded-For from 127.0.0.1: a client there could choose a new
    address for each attempt and never meet the per-IP limit. Not with `resell serve`'s default."""
    base = serve("")
    spoofed = [f"203.0.113.{i}" for i in range(1, 6)]
    assert token_codes(base, "127.0.0.1", spoofed) == [400, 400, 400, 429, 429]


def test_forwarded_for_is_believed_from_allowed_proxies_only(serve) -> None:  # type: ignore[no-untyped-def]
    base = serve("127.0.0.3")  # the proxy's address (anything but uvicorn's default 127.0.0.1)
    # through the allowed proxy, each forwarded client has its own allowance ...
    assert token_codes(base, "127.0.0.3", [f"203.0.113.{i}" for i in range(1, 6)]) == [400] * 5
    # ... and one forwarded client meets its limit, wherever the proxy itself is counted
    assert token_codes(base, "127.0.0.3", ["198.51.100.7"] * 4) == [400, 400, 400, 429]
    # other peers on the machine, 127.0.0.1 included, are not proxies: their header is ignored
    for peer in ("127.0.0.1", "127.0.0.2"):
        assert token_codes(base, peer, [f"203.0.113.{i}" for i in range(10, 15)]) == [400, 400, 400, 429, 429]
