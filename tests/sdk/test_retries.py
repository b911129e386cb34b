"""resell_client's tokens and retries against the real server: sign-in on first use, refresh before and
after expiry (the server's clock moved), the lost reply of createOrder resolved into the one order it
created, reads repeated after failures and writes not repeated when they may have been carried out."""

from __future__ import annotations

import json

import pytest
from resell_client import (
    AuthenticationError,
    Client,
    OrderAlreadyExists,
    OutOfStock,
    RateLimited,
    ServerError,
    TransportError,
)

from resell.services import stock
from resell.services.context import Context
from tests.conftest import Clock, World
from tests.sdk.conftest import Wire, first_n, order_request, orders_numbered, sdk_client


def grants(wire: Wire) -> list[str]:
    return [json.loads(r.content)["grantType"] for r in wire.sent if r.url.path == "/iam/tokens"]


def test_one_sign_in_serves_many_calls(server: str, world: World) -> None:
    wire = Wire()
    with sdk_client(server, world.a, transport=wire) as client:
        for _ in range(3):
            client.get_stock_status([1001])
    assert grants(wire) == ["client_credentials"]
    assert wire.paths().count("POST /connect/stock") == 3
    assert all(r.headers["secret"] == world.a.secret for r in wire.sent if r.url.path.startswith("/connect"))


def test_an_access_token_the_server_finds_expired_is_refreshed_and_the_call_repeated(
    server: str, world: World, clock: Clock
) -> None:
    wire = Wire()
    with sdk_client(server, world.a, transport=wire) as client:
        client.get_stock_status([1001])
        clock.advance(seconds=301)  # the server's clock: the 5-minute access token is dead, the refresh token not
        assert client.get_stock_status([1001]).of(1001) is not None
    assert grants(wire) == ["client_credentials", "refresh_token"]
    assert [s for s in wire.paths() if s.endswith("/stock")] == ["POST /connect/stock"] * 3  # 200, 401, 200


def test_a_refresh_token_that_died_too_leads_to_a_new_sign_in(server: str, world: World, clock: Clock) -> None:
    wire = Wire()
    with sdk_client(server, world.a, transport=wire) as client:
        client.get_stock_status([1001])
        clock.advance(seconds=1801)  # both tokens dead on the server
        client.get_stock_status([1001])
    assert grants(wire) == ["client_credentials", "refresh_token", "client_credentials"]


def test_the_client_refreshes_before_its_token_ends(server: str, world: World, clock: Clock) -> None:
    wire = Wire()
    now = [1000.0]
    with sdk_client(server, world.a, transport=wire) as client:
        client._engine.clock = lambda: now[0]
        client.get_stock_status([1001])
        now[0] += 280  # 20 s left of 300: under the client's margin
        clock.advance(seconds=280)
        client.get_stock_status([1001])
    assert grants(wire) == ["client_credentials", "refresh_token"]
    assert wire.paths().count("POST /connect/stock") == 2  # no 401 on the way


def test_revoked_refresh_tokens_do_not_stop_the_client(server: str, world: World, clock: Clock) -> None:
    wire = Wire()
    with sdk_client(server, world.a, transport=wire) as client:
        client.get_stock_status([1001])
        client.revoke_refresh_tokens()
        clock.advance(seconds=301)
        client.get_stock_status([1001])
    assert grants(wire) == ["client_credentials", "client_credentials"]


def test_bad_credentials_are_not_retried(server: str, world: World) -> None:
    wire = Wire()
    with sdk_client(server, world.a, client_secret="wrong", transport=wire) as client:
        with pytest.raises(AuthenticationError):
            client.status()
    assert grants(wire) == ["client_credentials"]


def test_a_lost_create_order_reply_resolves_into_the_one_order_created(
    ctx: Context, server: str, world: World
) -> None:
    wire = Wire(first_n(1, "/connect/order/new", "lose"))  # the server creates the order, the reply is lost
    with sdk_client(server, world.a, transport=wire) as client:
        order = client.create_order(order_request("SDK-LOST", (1001, 2)))
        assert order.partner_order_number == "SDK-LOST" and len(order.serials) == 2
        assert client.get_order("SDK-LOST") == order
    assert orders_numbered(ctx, "SDK-LOST") == 1
    bodies = [json.loads(r.content) for r in wire.sent if r.url.path == "/connect/order/new"]
    assert len(bodies) == 2 and bodies[0] == bodies[1]  # the same partnerOrderNumber, the same order
    assert "GET /connect/order/SDK-LOST" in wire.paths()  # the 1010 of the repeat, resolved by getOrderData
    (pool,) = [line for line in stock.report(ctx) if line.ref == 1001]
    assert (pool.assigned, pool.available) == (2, 18)  # only that order's two serials left the pool


def test_a_lost_reply_of_an_order_with_an_option_resolves_too(ctx: Context, server: str, world: World) -> None:
    wire = Wire(first_n(1, "/connect/order/new", "lose"))
    with sdk_client(server, world.a, transport=wire) as client:
        order = client.create_order(order_request("SDK-OPT", (1001, 2), (1090, 1)))  # + download extension
    assert sorted(line.product_ref for line in order.order_lines) == [1001, 1090]
    assert orders_numbered(ctx, "SDK-OPT") == 1


def test_lost_replies_and_5xx_on_create_order_are_repeated_until_an_answer(
    ctx: Context, server: str, world: World
) -> None:
    answers = iter(["lose", 503, "lose"])

    def plan(request):  # type: ignore[no-untyped-def]
        return next(answers, "forward") if request.url.path == "/connect/order/new" else "forward"

    wire = Wire(plan)
    with sdk_client(server, world.a, transport=wire, max_retries=3) as client:
        order = client.create_order(order_request("SDK-FLAKY", (1003, 1)))
    assert len(order.serials) == 1 and orders_numbered(ctx, "SDK-FLAKY") == 1
    assert wire.paths().count("POST /connect/order/new") == 4


def test_a_lost_reply_on_a_number_taken_by_another_order_is_not_mistaken_for_it(
    ctx: Context, server: str, world: World
) -> None:
    with sdk_client(server, world.a) as plain:
        plain.create_order(order_request("SDK-TAKEN", (1003, 1)))
    wire = Wire(first_n(1, "/connect/order/new", "lose"))
    with sdk_client(server, world.a, transport=wire) as client, pytest.raises(OrderAlreadyExists) as refused:
        client.create_order(order_request("SDK-TAKEN", (1001, 1)))  # other lines: not the order it asked for
    assert refused.value.response_code == 1010
    assert orders_numbered(ctx, "SDK-TAKEN") == 1


def test_a_refused_create_order_is_not_repeated(server: str, world: World) -> None:
    wire = Wire()
    with sdk_client(server, world.a, transport=wire) as client, pytest.raises(OutOfStock):
        client.create_order(order_request("SDK-SHORT", (1003, 6)))
    assert wire.paths().count("POST /connect/order/new") == 1


def test_create_order_gives_up_after_max_retries(ctx: Context, server: str, world: World) -> None:
    wire = Wire(first_n(99, "/connect/order/new", "refuse"))
    with sdk_client(server, world.a, transport=wire, max_retries=2) as client, pytest.raises(TransportError) as lost:
        client.create_order(order_request("SDK-DOWN", (1003, 1)))
    assert lost.value.response_code is None and lost.value.operation == "createOrder"
    assert wire.paths().count("POST /connect/order/new") == 3 and orders_numbered(ctx, "SDK-DOWN") == 0


def test_reads_are_repeated_after_network_errors_5xx_and_429(server: str, world: World) -> None:
    answers = iter(["refuse", 502, 429, "lose"])

    def plan(request):  # type: ignore[no-untyped-def]
        return next(answers, "forward") if request.url.path == "/connect/stock" else "forward"

    wire = Wire(plan)
    with sdk_client(server, world.a, transport=wire, max_retries=4) as client:
        assert client.get_stock_status([1001]).of(1001) is not None
    assert wire.paths().count("POST /connect/stock") == 5


def test_reads_give_up_with_the_last_failure(server: str, world: World) -> None:
    with sdk_client(server, world.a, transport=Wire(first_n(9, "/connect/stock", 503)), max_retries=1) as client:
        with pytest.raises(ServerError) as failed:
            client.get_stock_status([1001])
    assert failed.value.http_status == 503
    with sdk_client(server, world.a, transport=Wire(first_n(9, "/connect/stock", 429)), max_retries=1) as client:
        with pytest.raises(RateLimited):
            client.get_stock_status([1001])


@pytest.mark.parametrize("what", ["lose", 503])
def test_writes_that_may_have_been_done_are_not_repeated(server: str, world: World, what: str | int) -> None:
    with sdk_client(server, world.a) as plain:
        plain.create_order(order_request("SDK-W", (1002, 1)))
        before = plain.get_order("SDK-W").order_lines[0].date_end_download
    wire = Wire(first_n(1, "/connect/order/download", what))
    with sdk_client(server, world.a, transport=wire) as client, pytest.raises((TransportError, ServerError)):
        client.update_download_time("SDK-W", "P7D")
    assert wire.paths().count("PUT /connect/order/download") == 1  # a period added once, at most
    with sdk_client(server, world.a) as plain:
        after = plain.get_order("SDK-W").order_lines[0].date_end_download
    assert after is not None and before is not None and (after - before).days in (0, 7)


def test_writes_are_repeated_when_the_connection_failed(server: str, world: World) -> None:
    with sdk_client(server, world.a) as plain:
        plain.create_order(order_request("SDK-C", (1002, 1)))
    wire = Wire(first_n(1, "/connect/order/cancel", "refuse"))
    with sdk_client(server, world.a, transport=wire) as client:
        assert client.cancel_order("SDK-C", 3).partner_order_number == "SDK-C"
    assert wire.paths().count("PUT /connect/order/cancel") == 2


def test_a_client_is_safe_to_share_between_threads(ctx: Context, server: str, world: World) -> None:
    from concurrent.futures import ThreadPoolExecutor

    wire = Wire()
    with sdk_client(server, world.a, transport=wire) as client, ThreadPoolExecutor(8) as pool:
        made = list(pool.map(lambda i: client.create_order(order_request(f"SDK-T{i}", (1002, 1))), range(8)))
    assert sorted(o.partner_order_number for o in made) == sorted(f"SDK-T{i}" for i in range(8))
    assert grants(wire) == ["client_credentials"]  # one sign-in, shared


def test_client_rejects_a_negative_retry_count(server: str, world: World) -> None:
    with pytest.raises(ValueError):
        Client(base_url=server, realm_name="x", client_secret="y", secret="z", max_retries=-1)
