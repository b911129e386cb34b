"""resell_client.AsyncClient against the real server: the same operations awaited, concurrent calls
sharing one sign-in, the refresh after expiry and the lost createOrder reply resolved."""

from __future__ import annotations

import asyncio
import json

import pytest
from resell_client import AsyncClient, NotFound, OutOfStock, models

from resell.services.context import Context
from tests.conftest import Clock, World
from tests.sdk.conftest import AsyncWire, async_client, first_n, order_request, orders_numbered


def test_the_operations_awaited(server: str, world: World) -> None:
    async def scenario() -> None:
        async with async_client(server, world.a) as client:
            assert (await client.status()).status == "UP"
            stock = await client.get_stock_status([1001])
            assert stock.of(1001) is not None
            assert (await client.get_cross_up_sell([1001])).products_return
            order = await client.create_order(order_request("ASYNC-1", (1001, 1)))
            assert isinstance(order, models.Order) and len(order.serials) == 1
            assert (await client.get_order("ASYNC-1")) == order
            assert (await client.get_download_info("ASYNC-1")).order_lines[0].files
            assert (await client.update_download_time("ASYNC-1", "P1D")).partner_order_number == "ASYNC-1"
            assert (await client.cancel_order("ASYNC-1", 2)).order_number == order.order_number
            sub = await client.create_order(order_request("ASYNC-SUB", (1005, 1)))
            sid = sub.order_lines[0].line_items[0].subscription_id
            assert sid is not None
            assert (await client.get_subscription_status("ASYNC-SUB", sid)).technical_status == "ACTIVE"
            assert (await client.renew_subscription("ASYNC-SUB", sid)).subscription_id == sid
            assert (await client.cancel_subscription("ASYNC-SUB", sid)).subscription_id == sid
            assert (await client.get_categories("en")).category_list
            assert (await client.get_operating_systems()).os_list
            made = await client.create_webhook("http://127.0.0.1:9/hooks", ["order.created"])
            assert [w.id for w in (await client.list_webhooks()).webhooks] == [made.id]
            assert (await client.delete_webhook(made.id)).id == made.id
            with pytest.raises(OutOfStock) as refused:
                await client.create_order(order_request("ASYNC-NO", (1003, 99)))
            assert refused.value.response_code == 1044
            with pytest.raises(NotFound):
                await client.get_order("ASYNC-NO")

    asyncio.run(scenario())


def test_concurrent_calls_share_one_sign_in_and_one_refresh(server: str, world: World, clock: Clock) -> None:
    wire = AsyncWire()

    async def scenario() -> None:
        async with async_client(server, world.a, transport=wire) as client:
            await asyncio.gather(*(client.get_stock_status([1001]) for _ in range(6)))
            clock.advance(seconds=301)
            await asyncio.gather(*(client.get_stock_status([1001]) for _ in range(6)))

    asyncio.run(scenario())
    grants = [json.loads(r.content)["grantType"] for r in wire.sent if r.url.path == "/iam/tokens"]
    assert grants == ["client_credentials", "refresh_token"]


def test_a_lost_create_order_reply_is_resolved(ctx: Context, server: str, world: World) -> None:
    wire = AsyncWire(first_n(1, "/connect/order/new", "lose"))

    async def scenario() -> models.Order:
        async with async_client(server, world.a, transport=wire) as client:
            return await client.create_order(order_request("ASYNC-LOST", (1003, 2)))

    order = asyncio.run(scenario())
    assert order.partner_order_number == "ASYNC-LOST" and len(order.serials) == 2
    assert orders_numbered(ctx, "ASYNC-LOST") == 1
    assert [f"{r.method} {r.url.path}" for r in wire.sent if r.url.path.startswith("/connect/order")] == [
        "POST /connect/order/new",
        "POST /connect/order/new",
        "GET /connect/order/ASYNC-LOST",
    ]


def test_both_clients_share_one_method_table() -> None:
    from resell_client import Client

    names = {n for n in vars(AsyncClient.__mro__[1]) if not n.startswith("_")}
    assert AsyncClient.__mro__[1] is Client.__mro__[1]
    assert {
        "get_stock_status", "get_cross_up_sell", "create_order", "get_order", "cancel_order", "update_download_time",
        "get_download_info", "get_subscription_status", "cancel_subscription", "renew_subscription",
        "list_webhooks", "create_webhook", "delete_webhook", "list_webhook_deliveries", "redeliver_webhook_event",
    } <= names  # fmt: skip
