"""One structured log line per request, and Prometheus metrics; never a secret in either."""

from __future__ import annotations

import json
import re
import time

import httpx
import pytest

from tests.conftest import Merchant, World, order_body


def _request_lines(captured: str) -> list[dict]:
    lines = []
    for raw in captured.splitlines():
        try:
            entry = json.loads(raw)
        except ValueError:
            continue
        if entry.get("event") == "request":
            lines.append(entry)
    return lines


def _read_until(capsys: pytest.CaptureFixture, operation: str) -> str:
    """The log line is written just after the reply is sent: read stderr until it is there."""
    captured = ""
    deadline = time.monotonic() + 10
    while not any(e["operation"] == operation for e in _request_lines(captured)):
        assert time.monotonic() < deadline, f"no log line for {operation}"
        captured += capsys.readouterr().err
        time.sleep(0.01)
    return captured


def test_each_request_logs_one_line_without_secrets(
    shop_a: Merchant, world: World, capsys: pytest.CaptureFixture
) -> None:
    created = shop_a.call("POST", "/order/new", order_body("LOG-1", (1001, 1)), headers={"X-Request-ID": "abc-123"})
    assert created.headers["x-request-id"] == "abc-123"
    shop_a.call("GET", "/order/LOG-1")
    shop_a.call("PUT", "/order/cancel", {"partnerOrderNumber": "LOG-1"})  # refused: 100
    captured = _read_until(capsys, "cancelOrder")
    lines = _request_lines(captured)
    by_operation = {entry["operation"]: entry for entry in lines}
    create = by_operation["createOrder"]
    assert create["request_id"] == "abc-123"
    assert create["merchant"] == "shop-a"
    assert create["status"] == 201 and create["response_code"] == 0
    assert isinstance(create["duration_ms"], float)
    assert by_operation["cancelOrder"]["response_code"] == 100
    assert by_operation["getOrderData"]["path"] == "/connect/order/{partnerOrderNumber}"
    serial = created.json()["orderLines"][0]["lineItems"][0]["serials"][0]["data"]
    for secret in (world.a.secret, world.a.client_secret, shop_a.token(), serial, "LOG-1"):
        assert secret not in captured



def test_a_request_without_an_id_gets_a_new_one(shop_a: Merchant) -> None:
    """32 hex digits, new for each request; an empty X-Request-ID counts as none."""

    def request_id(**headers: str) -> str:
        return shop_a.call("POST", "/stock", {"productRefs": [1001]}, headers=headers).headers["x-request-id"]

    ids = [request_id() for _ in range(3)] + [request_id(**{"X-Request-ID": ""})]
    assert all(re.fullmatch("[0-9a-f]{32}", each) for each in ids)
    assert len(set(ids)) == 4
    assert request_id(**{"X-Request-ID": "r" * 100}) == "r" * 64


def test_metrics_count_requests_orders_and_stock(server: str, shop_a: Merchant) -> None:
    shop_a.call("POST", "/order/new", order_body("MET-1", (1003, 2)))
    shop_a.call("POST", "/order/new", order_body("MET-1", (1003, 1)))  # 1010
    text = httpx.get(f"{server}/metrics").text
    assert 'resell_requests_total{operation="createOrder",response_code="1010",status="200"}' in text
    assert 'resell_serials_available{product_ref="1003"} 3.0' in text
    assert "resell_orders_created_total" in text
    assert 'resell_request_seconds_bucket{le="0.001",operation="createOrder"}' in text
