"""The fast path and FastAPI's routes answer every /connect call alike (api/rest/dispatch.py).

The same requests go to the app built with the fast path (api/rest/hot_path.py) and without it,
on the same database and server; the replies must be the same bytes: status, the headers a client
reads, body. The requests cover each /connect operation, refusals, bad bodies, bad tokens, a wrong
method and an unknown path.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from resell.app import create_app
from resell.services.context import Context
from tests.conftest import AppSlot, Merchant, World, order_body

IGNORED_HEADERS = {"date", "server", "x-request-id"}  # differ per request whatever the path
Reply = tuple[int, dict[str, str], bytes]


@pytest.fixture
def apps(ctx: Context, _session_server: tuple[AppSlot, str]) -> Iterator[tuple[AppSlot, str, Any, Any]]:
    slot, url = _session_server
    fast, routed = create_app(ctx.settings, ctx), create_app(ctx.settings, ctx, fast_path=False)
    slot.app = fast
    yield slot, url, fast, routed
    slot.app = None


def _reply(response: httpx.Response) -> Reply:
    headers = {k: v for k, v in response.headers.items() if k not in IGNORED_HEADERS}
    return response.status_code, headers, response.content


def _both(apps: tuple[AppSlot, str, Any, Any], method: str, path: str, **kw: Any) -> tuple[Reply, Reply]:
    slot, url, fast, routed = apps
    replies = []
    for app in (fast, routed):
        slot.app = app
        with httpx.Client(base_url=url, timeout=30) as client:  # a connection per app
            replies.append(_reply(client.request(method, "/connect" + path, **kw)))
    slot.app = fast
    return replies[0], replies[1]


def _requests(shop: Merchant, world: World) -> list[tuple[str, str, dict[str, Any]]]:
    good = {"Authorization": f"Bearer {shop.token()}", "secret": shop.secret}
    bad_token = {"Authorization": "Bearer not.a.token", "secret": shop.secret}
    no_token = {"secret": shop.secret}
    no_secret = {"Authorization": f"Bearer {shop.token()}"}
    wrong_secret = {"Authorization": f"Bearer {shop.token()}", "secret": "wrong"}
    json_ = {**good, "Content-Type": "application/json"}
    calls: list[tuple[str, str, dict[str, Any]]] = []
    for headers in (good, bad_token, no_token, no_secret, wrong_secret):
        calls += [
            ("POST", "/stock", {"json": {"productRefs": [1001, 1002, 1003, 999]}, "headers": headers}),
            ("POST", "/order/crossupsell",
             {"json": {"language": "EN", "products": [{"productRef": 1001, "quantity": 1}]}, "headers": headers}),
            ("POST", "/order/new", {"json": order_body("EQ-DONE", (1001, 1)), "headers": headers}),  # 1010
            ("GET", "/order/EQ-DONE", {"headers": headers}),
            ("GET", "/order/EQ-DONE/download", {"headers": headers}),
        ]
    for body in (b"not json", b"[1, 2]", b"", b'{"productRefs": "x"}', b'{"productRefs": [' + b"1," * 5000 + b"1]}"):
        for path in ("/stock", "/order/crossupsell", "/order/new"):
            calls.append(("POST", path, {"content": body, "headers": json_}))
    calls += [
        ("POST", "/order/new", {"json": order_body("EQ-NEW", (424242, 1)), "headers": good}),  # unknown product
        ("POST", "/order/new", {"json": {**order_body("EQ-NEW", (1001, 1)), "currency": None}, "headers": good}),
        ("POST", "/order/new", {"json": order_body("EQ-NEW", (1001, 10_000)), "headers": good}),  # out of stock
        ("GET", "/order/NOT-THERE", {"headers": good}),
        ("GET", "/order/NOT-THERE/download", {"headers": good}),
        ("GET", "/order/%E2%9C%93%20x", {"headers": good}),
        ("PUT", "/stock", {"json": {}, "headers": good}),  # 405
        ("GET", "/order/new/more/parts", {"headers": good}),  # 404
        ("GET", "/status", {"headers": good}),
        ("PUT", "/order/cancel", {"json": {"partnerOrderNumber": "NOT-THERE", "reasonCode": 2}, "headers": good}),
        ("PUT", "/order/download", {"json": {"partnerOrderNumber": "NOT-THERE", "value": "P7D"}, "headers": good}),
        ("POST", "/subscription", {"json": {"partnerOrderNumber": "NOT-THERE", "subscriptionId": 1},
                                   "headers": good}),
        ("GET", "/catalog/categories/EN", {"headers": good}),
        ("GET", "/catalog/oslist", {"headers": good}),
        ("GET", "/webhooks", {"headers": good}),
        ("DELETE", "/webhooks/123456", {"headers": good}),
    ]
    return calls


def test_every_reply_is_the_same_with_and_without_the_fast_path(apps, shop_a: Merchant, world: World) -> None:  # type: ignore[no-untyped-def]
    assert shop_a.call("POST", "/order/new", order_body("EQ-DONE", (1001, 1))).status_code == 201
    calls = _requests(shop_a, world)
    statuses = set()
    for method, path, kw in calls:
        fast, routed = _both(apps, method, path, **kw)
        assert fast == routed, (method, path, kw.get("headers"), fast, routed)
        statuses.add(fast[0])
    assert statuses >= {200, 400, 401, 404, 405}


def _comparable(reply: Reply, pon: str) -> tuple[int, dict[str, str], Any]:
    """A created order's reply without what two orders never share (numbers, serials, links)."""
    status, headers, body = reply
    data = json.loads(body)
    assert data["partnerOrderNumber"] == pon
    number = str(data["orderNumber"])
    for key in ("partnerOrderNumber", "orderNumber", "downloadManager"):
        data[key] = "-"
    for line in data["orderLines"]:
        line["digitalLockerLink"] = "-"
        line["remark"] = line["remark"].replace(number, "-")
        line["files"] = [{**f, "url": "-"} for f in line["files"]]
        for item in line["lineItems"]:
            item["serials"] = [{**s, "data": "-"} for s in item["serials"]]
    return status, {k: v for k, v in headers.items() if k != "content-length"}, data


def test_a_created_order_is_answered_alike_on_both_paths(apps, shop_a: Merchant) -> None:  # type: ignore[no-untyped-def]
    slot, url, fast, routed = apps
    headers = {"Authorization": f"Bearer {shop_a.token()}", "secret": shop_a.secret}
    replies = []
    for app, pon in ((fast, "EQ-FAST"), (routed, "EQ-ROUTED")):
        slot.app = app
        with httpx.Client(base_url=url, timeout=30) as client:
            replies.append(_reply(client.post("/connect/order/new", json=order_body(pon, (1001, 2)), headers=headers)))
    assert replies[0][0] == 201
    assert _comparable(replies[0], "EQ-FAST") == _comparable(replies[1], "EQ-ROUTED")
