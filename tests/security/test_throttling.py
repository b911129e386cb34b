"""POST /iam/tokens is throttled (resell.api.rate_limits): every attempt per client IP, failed
attempts per realm; HTTP 429 in the /iam error shape with Retry-After. The clients below connect
from distinct loopback addresses (127.0.0.x), so the server sees distinct client IPs."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from resell.api import rate_limits
from resell.config import Settings
from tests.conftest import MerchantCreds, World, settings_for

PER_IP = 8
PER_ACCOUNT = 3
WINDOW = 2  # seconds: the per-account window is short enough to see it end


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    """The suite's settings with token limits small enough to reach in a test."""
    return settings_for(
        tmp_path,
        db_url,
        iam_rate_limit_ip=f"{PER_IP}/minute",
        iam_rate_limit_account=f"{PER_ACCOUNT} per {WINDOW} seconds",
    )


@pytest.fixture
def from_ip(server: str) -> Iterator[Callable[[str], httpx.Client]]:
    """`from_ip("127.0.0.7")`: an HTTP client whose connections come from that address."""
    made: dict[str, httpx.Client] = {}

    def client(address: str) -> httpx.Client:
        if address not in made:
            transport = httpx.HTTPTransport(local_address=address)
            made[address] = httpx.Client(base_url=server, transport=transport, timeout=30)
        return made[address]

    yield client
    for c in made.values():
        c.close()


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


def test_failures_count_per_realm_whatever_the_ip_and_then_even_the_right_secret_waits(from_ip, world: World) -> None:  # type: ignore[no-untyped-def]
    for i in range(PER_ACCOUNT):
        assert from_ip(f"127.0.0.{10 + i}").post("/iam/tokens", json=wrong(world.a)).status_code == 401
    fresh = from_ip("127.0.0.20")
    wait = assert_throttled(fresh.post("/iam/tokens", json=credentials(world.a)), WINDOW)
    assert_throttled(fresh.post("/iam/tokens", json=wrong(world.a)), WINDOW)
    # the other merchant is not concerned, from the same address
    assert fresh.post("/iam/tokens", json=credentials(world.b)).status_code == 200
    time.sleep(wait + 0.2)
    reply = fresh.post("/iam/tokens", json=credentials(world.a))
    assert reply.status_code == 200, reply.text


def test_refresh_failures_count_per_realm_too(from_ip, world: World) -> None:  # type: ignore[no-untyped-def]
    http = from_ip("127.0.0.30")
    for _ in range(PER_ACCOUNT):
        body = credentials(world.a, grantType="refresh_token", refreshToken="not.a.token")
        assert http.post("/iam/tokens", json=body).status_code == 401
    assert_throttled(from_ip("127.0.0.31").post("/iam/tokens", json=credentials(world.a)), WINDOW)


def test_a_merchants_correct_sign_ins_and_refreshes_never_use_up_its_realm(from_ip, world: World) -> None:  # type: ignore[no-untyped-def]
    """Many more successful requests than the per-realm limit, spread over addresses (each under
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
    assert done > 5 * PER_ACCOUNT


def test_another_ips_failures_block_a_merchant_only_through_the_per_realm_rule(from_ip, world: World) -> None:  # type: ignore[no-untyped-def]
    attacker, merchant = from_ip("127.0.0.50"), from_ip("127.0.0.51")
    # the attacker spends its address's whole allowance: unknown realms, then shop-b's secret guessed
    for i in range(PER_IP - PER_ACCOUNT):
        assert attacker.post("/iam/tokens", json=credentials(world.b, realmName=f"shop-{i}")).status_code == 401
    for _ in range(PER_ACCOUNT):
        assert attacker.post("/iam/tokens", json=wrong(world.b)).status_code == 401
    assert_throttled(attacker.post("/iam/tokens", json=wrong(world.a)), 60)
    # shop-b, whose realm had the failures, waits for the end of its window ...
    wait = assert_throttled(merchant.post("/iam/tokens", json=credentials(world.b)), WINDOW)
    # ... shop-a is not concerned (the attempt refused by the address rule was not counted against it)
    for _ in range(PER_ACCOUNT + 2):
        assert merchant.post("/iam/tokens", json=credentials(world.a)).status_code == 200
    time.sleep(wait + 0.2)
    assert merchant.post("/iam/tokens", json=credentials(world.b)).status_code == 200


def test_defaults_leave_a_busy_merchant_alone() -> None:
    defaults = Settings()
    assert defaults.iam_rate_limit_ip == "120/minute"
    assert defaults.iam_rate_limit_account == "20/minute"


def test_the_limits_can_be_relaxed_or_turned_off_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESELL_IAM_RATE_LIMIT_IP", "100000/second")
    monkeypatch.setenv("RESELL_IAM_RATE_LIMIT_ACCOUNT", "")
    settings = Settings()
    assert settings.iam_rate_limit_ip == "100000/second" and settings.iam_rate_limit_account == ""
    monkeypatch.setenv("RESELL_IAM_RATE_LIMIT_ACCOUNT", "lots")
    with pytest.raises(ValidationError, match="iam_rate_limit_account"):
        Settings()


def test_an_empty_limit_never_refuses() -> None:
    limiter = rate_limits.RateLimiter("memory://")
    rule = rate_limits.rule("iam-ip", "")
    assert all(limiter.hit(rule, "k") is None for _ in range(1000))
    assert limiter.check(rule, "k") is None
