"""Fixtures of the SDK tests: resell_client clients of the suite's merchants on the session server,
and httpx transports that count, fail or lose replies in front of it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from resell_client import AsyncClient, Client
from sqlalchemy import func, select

from resell.db.tables import orders
from resell.services.context import Context
from tests.conftest import MerchantCreds, World


def sdk_client(server: str, creds: MerchantCreds, **kw: Any) -> Client:
    return Client(
        base_url=server,
        realm_name=creds.realm,
        client_secret=kw.pop("client_secret", creds.client_secret),
        secret=kw.pop("secret", creds.secret),
        timeout=30,
        backoff_factor=kw.pop("backoff_factor", 0),
        **kw,
    )


def async_client(server: str, creds: MerchantCreds, **kw: Any) -> AsyncClient:
    return AsyncClient(
        base_url=server,
        realm_name=creds.realm,
        client_secret=creds.client_secret,
        secret=kw.pop("secret", creds.secret),
        timeout=30,
        backoff_factor=kw.pop("backoff_factor", 0),
        **kw,
    )


@pytest.fixture
def sdk(server: str, world: World) -> Iterator[Client]:
    """shop-a's SDK client (no wait between retries)."""
    with sdk_client(server, world.a) as client:
        yield client


# What a transport does with one request: "forward", "lose" (forwarded, then the reply is lost: a
# ReadError), "refuse" (a ConnectError, nothing sent) or an int (that status, nothing forwarded).
Plan = Callable[[httpx.Request], "str | int"]


class Wire(httpx.BaseTransport):
    """In front of the real server: records every request and does what `plan` says with it."""

    def __init__(self, plan: Plan | None = None) -> None:
        self.real = httpx.HTTPTransport()
        self.plan = plan or (lambda request: "forward")
        self.sent: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        what = self.plan(request)
        if what == "refuse":
            raise httpx.ConnectError("connection refused (simulated)", request=request)
        if isinstance(what, int):
            return httpx.Response(what, json={"status": what}, request=request)
        reply = self.real.handle_request(request)
        reply.read()
        if what == "lose":
            raise httpx.ReadError("connection reset while reading the reply (simulated)", request=request)
        return reply

    def paths(self) -> list[str]:
        return [f"{r.method} {r.url.path}" for r in self.sent]

    def close(self) -> None:
        self.real.close()


class AsyncWire(httpx.AsyncBaseTransport):
    """Wire for AsyncClient."""

    def __init__(self, plan: Plan | None = None) -> None:
        self.real = httpx.AsyncHTTPTransport()
        self.plan = plan or (lambda request: "forward")
        self.sent: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        what = self.plan(request)
        if what == "refuse":
            raise httpx.ConnectError("connection refused (simulated)", request=request)
        if isinstance(what, int):
            return httpx.Response(what, json={"status": what}, request=request)
        reply = await self.real.handle_async_request(request)
        await reply.aread()
        if what == "lose":
            raise httpx.ReadError("connection reset while reading the reply (simulated)", request=request)
        return reply

    async def aclose(self) -> None:
        await self.real.aclose()


def first_n(n: int, path: str, what: str | int) -> Plan:
    """A plan: the first `n` requests to `path` get `what`, everything else is forwarded."""
    seen = {"n": 0}

    def plan(request: httpx.Request) -> str | int:
        if request.url.path == path and seen["n"] < n:
            seen["n"] += 1
            return what
        return "forward"

    return plan


def orders_numbered(ctx: Context, pon: str) -> int:
    with ctx.db.read() as conn:
        query = select(func.count()).select_from(orders).where(orders.c.partner_order_number == pon)
        return int(conn.execute(query).scalar_one())


def order_request(pon: str, *lines: tuple[int, int]) -> dict[str, Any]:
    """A createOrder request as the SDK takes it (snake_case attributes)."""
    return {
        "partner_order_number": pon,
        "currency": "EUR",
        "order_lines": [{"product_ref": ref, "quantity": qty, "vat_rate": 20} for ref, qty in lines],
        "customer": {
            "partner_id": "cust-1",
            "email": "buyer@example.com",
            "language": "en_US",
            "ip_v4": "192.0.2.10",
            "location_invoice": {"first_name": "Ada", "last_name": "Lovelace", "country": "FR", "city": "Paris"},
        },
        "payment": {"payment_method": "External Payment", "transaction_id": "T-1"},
    }
