"""The sandbox over REST: the same token, a `test_` secret, the same replies and codes; TEST- serials
that leave the stock alone; every magic value of resell.domain.sandbox as docs/merchants.md shows it."""

from __future__ import annotations

import re

import pytest

from resell.domain.sandbox import MAGIC_VALUES
from tests.conftest import Merchant, World, order_body

TEST_SERIAL = re.compile(r"^TEST-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}$")


def stock_of(shop: Merchant, secret: str) -> list[dict[str, object]]:
    reply = shop.call("POST", "/stock", {"productRefs": [1001, 1003, 1004]}, secret=secret)
    assert reply.status_code == 200, reply.text
    return reply.json()["productStatus"]  # type: ignore[no-any-return]


def test_the_same_token_opens_the_live_catalogue_and_its_sandbox(shop_a: Merchant, world: World) -> None:
    sandbox = world.a.sandbox_secret
    live_stock = stock_of(shop_a, world.a.secret)
    created = shop_a.call("POST", "/order/new", order_body("SB-1", (1001, 2), (1003, 5), (1002, 1)), secret=sandbox)
    assert created.status_code == 201, created.text
    data = created.json()
    assert (data["responseCode"], data["responseMessage"], data["partnerOrderNumber"]) == (0, "OK", "SB-1")
    serials = [s["data"] for line in data["orderLines"] for item in line["lineItems"] for s in item["serials"]]
    assert len(serials) == 7 and all(TEST_SERIAL.match(s) for s in serials)
    assert data["orderLines"][0]["files"][0]["url"].startswith("http://resell.test/download/")
    # the live stock is what it was, seen from both sides
    assert stock_of(shop_a, world.a.secret) == live_stock == stock_of(shop_a, sandbox)
    # the same reads and the same codes, on test orders only
    read = shop_a.call("GET", "/order/SB-1", secret=sandbox).json()
    assert [s["data"] for line in read["orderLines"] for i in line["lineItems"] for s in i["serials"]] == serials
    assert shop_a.call("GET", "/order/SB-1").json()["responseCode"] == 1010  # not a live order
    again = shop_a.call("POST", "/order/new", order_body("SB-1", (1001, 1)), secret=sandbox)
    assert again.json()["responseCode"] == 1010
    assert shop_a.call("POST", "/order/new", order_body("SB-1", (1001, 1))).status_code == 201  # live: its own
    short = shop_a.call("POST", "/order/new", order_body("SB-2", (999999, 1)), secret=sandbox)
    assert short.json()["responseCode"] == 1020
    cancelled = shop_a.call("PUT", "/order/cancel", {"partnerOrderNumber": "SB-1", "reasonCode": 3}, secret=sandbox)
    assert cancelled.json()["responseCode"] == 0
    assert stock_of(shop_a, sandbox) == stock_of(shop_a, world.a.secret)


def test_another_merchants_sandbox_secret_is_71(shop_a: Merchant, world: World) -> None:
    reply = shop_a.call("POST", "/order/new", order_body("X", (1001, 1)), secret=world.b.sandbox_secret)
    assert reply.json()["responseCode"] == 71


@pytest.mark.parametrize("magic", MAGIC_VALUES, ids=[m.prefix for m in MAGIC_VALUES])
def test_every_magic_value_gives_its_code(shop_a: Merchant, world: World, magic) -> None:  # type: ignore[no-untyped-def]
    sandbox = world.a.sandbox_secret
    pon = f"{magic.prefix}-rest"
    created = shop_a.call("POST", "/order/new", order_body(pon, (1001, 1)), secret=sandbox)
    if magic.operation == "createOrder":
        assert created.json()["responseCode"] == magic.code
        assert created.json()["partnerOrderNumber"] == pon
        assert shop_a.call("GET", f"/order/{pon}", secret=sandbox).json()["responseCode"] == 1010
    else:
        assert created.json()["responseCode"] == 0
        if magic.operation == "cancelOrder":
            reply = shop_a.call("PUT", "/order/cancel", {"partnerOrderNumber": pon, "reasonCode": 3}, secret=sandbox)
        else:
            reply = shop_a.call("PUT", "/order/download", {"partnerOrderNumber": pon, "value": "P7D"}, secret=sandbox)
        assert reply.json()["responseCode"] == magic.code
    live = shop_a.call("POST", "/order/new", order_body(pon, (1002, 1)))
    assert live.json()["responseCode"] == 0  # live, a magic prefix is an ordinary number
