"""Fixtures of the back-office tests: staff accounts and HTTP clients signed in to /admin.

def test_something(staff_client):
    http = staff_client("support")          # an httpx client with a session of a support account
    page = http.get("/admin/orders")
    http.post("/admin/x", data={"csrf_token": csrf_of(page.text), ...})
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher

from resell.config import Settings
from resell.services import staff
from resell.services.context import Context
from tests.conftest import settings_for

PASSWORD = "correct horse battery staple"
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id still, at its lowest cost: a production-strength hash takes a second on a busy test machine."""
    monkeypatch.setattr(staff, "_hasher", CHEAP_HASHER)


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    """The suite's settings, with sign-in limits small enough to reach in a test."""
    return settings_for(
        tmp_path,
        db_url,
        admin_rate_limit_ip="8/minute",
        sign_in_backoff_after=3,
        sign_in_backoff_seconds=2,
        sign_in_backoff_max_seconds=8,
    )


def csrf_of(html: str) -> str:
    """The csrf_token of the first form of a page."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def make_staff(
    ctx: Context,
    email: str,
    role: str = "admin",
    *,
    publisher: str | None = None,
    merchant: str | None = None,
    totp: str | None = None,
) -> staff.StaffMember:
    """An active account with PASSWORD (no password change pending), TOTP on when `totp` is a secret."""
    member, _ = staff.create_account(
        ctx,
        email,
        role,
        actor="test",
        publisher=publisher,
        merchant=merchant,
        password=PASSWORD,
        must_change_password=False,
    )
    if totp:
        staff.set_totp(ctx, email, totp, actor="test")
    return member


def sign_in(http: httpx.Client, email: str, password: str = PASSWORD, next_path: str = "") -> httpx.Response:
    """The sign-in form's GET (pre-session cookie, CSRF token), then its POST."""
    form = http.get("/admin/login", params={"next": next_path} if next_path else None)
    assert form.status_code == 200, form.text
    data = {"csrf_token": csrf_of(form.text), "email": email, "password": password, "next": next_path}
    return http.post("/admin/login", data=data)


@pytest.fixture
def staff_client(ctx: Context, server: str) -> Iterator[Callable[[str], httpx.Client]]:
    """`staff_client("finance")`: a new account of that role (publisher ones for the world's "pub",
    merchant ones for "shop-a"), signed in, as an httpx client (redirects not followed)."""
    made: list[httpx.Client] = []

    def client(role: str) -> httpx.Client:
        email = f"{role}{len(made)}@staff.test"
        make_staff(
            ctx,
            email,
            role,
            publisher="pub" if role == "publisher" else None,
            merchant="shop-a" if role == "merchant" else None,
        )
        http = httpx.Client(base_url=server, timeout=30)
        made.append(http)
        reply = sign_in(http, email)
        assert reply.status_code == 303, reply.text
        return http

    yield client
    for http in made:
        http.close()
