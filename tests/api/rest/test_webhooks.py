"""POST, GET, DELETE /connect/webhooks over real HTTP: registration, the secret shown once, scoping."""

from __future__ import annotations

import base64

import pytest
from sqlalchemy import select

from resell.db.tables import audit_events, webhook_endpoints
from resell.services.context import Context
from tests.conftest import Merchant

ADD_KEYS = {"id", "url", "events", "signingSecret", "responseCode", "responseMessage"}
URL = "https://shop.example/hooks/resell"
# 111 names the events a merchant may choose from
EVENTS_NOT_VALID = (
    "events not valid (allowed: order.created, order.cancelled, download.extended, subscription.renewed, "
    "subscription.cancelled, subscription.expired, subscription.renewal_failed)"
)


def add(shop: Merchant, url: object = URL, events: object = ("order.created",)) -> dict:  # type: ignore[type-arg]
    body = {"url": url, "events": list(events) if isinstance(events, tuple) else events}
    return shop.call("POST", "/webhooks", body).json()


def test_register_answers_the_endpoint_and_its_secret_once(shop_a: Merchant, ctx: Context) -> None:
    reply = shop_a.call("POST", "/webhooks", {"url": URL, "events": ["order.created", "subscription.renewed"]})
    assert reply.status_code == 201
    data = reply.json()
    assert set(data) == ADD_KEYS
    assert (data["url"], data["events"], data["responseCode"], data["responseMessage"]) == (
        URL,
        ["order.created", "subscription.renewed"],
        0,
        "OK",
    )
    secret = data["signingSecret"]
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
    with ctx.db.read() as conn:
        row = conn.execute(select(webhook_endpoints).where(webhook_endpoints.c.id == data["id"])).one()
        audited = conn.execute(select(audit_events.c.after).where(audit_events.c.entity == "webhook")).scalars().all()
    assert secret not in str(tuple(row)) and secret[6:] not in str(tuple(row))  # never stored in clear
    assert secret not in str(audited)
    listed = shop_a.call("GET", "/webhooks").json()
    assert "signingSecret" not in str(listed) and secret not in str(listed)  # shown once


def test_each_endpoint_has_its_own_secret(shop_a: Merchant) -> None:
    assert add(shop_a)["signingSecret"] != add(shop_a, URL + "/2")["signingSecret"]


def test_list_shows_only_the_callers_endpoints(shop_a: Merchant, shop_b: Merchant) -> None:
    first = add(shop_a)
    second = add(shop_a, "http://127.0.0.1:9/x", ["subscription.renewal_failed", "order.cancelled"])
    add(shop_b, "https://b.example/h")
    listed = shop_a.call("GET", "/webhooks").json()
    assert (listed["responseCode"], listed["responseMessage"]) == (0, "OK")
    assert [(w["id"], w["url"], w["events"], w["active"]) for w in listed["webhooks"]] == [
        (first["id"], URL, ["order.created"], True),
        (second["id"], "http://127.0.0.1:9/x", ["subscription.renewal_failed", "order.cancelled"], True),
    ]
    assert set(listed["webhooks"][0]) == {"id", "url", "events", "active", "createdAt", "disabledAt", "disabledReason"}
    assert [w["url"] for w in shop_b.call("GET", "/webhooks").json()["webhooks"]] == ["https://b.example/h"]


def test_delete_removes_only_the_callers_own_endpoint(shop_a: Merchant, shop_b: Merchant) -> None:
    mine, theirs = add(shop_a), add(shop_b)
    assert shop_a.call("DELETE", f"/webhooks/{theirs['id']}").json() == {
        "id": theirs["id"],
        "responseCode": 1010,
        "responseMessage": "webhook not found",
    }
    assert len(shop_b.call("GET", "/webhooks").json()["webhooks"]) == 1
    assert shop_a.call("DELETE", f"/webhooks/{mine['id']}").json() == {
        "id": mine["id"],
        "responseCode": 0,
        "responseMessage": "OK",
    }
    assert shop_a.call("GET", "/webhooks").json()["webhooks"] == []
    assert shop_a.call("DELETE", f"/webhooks/{mine['id']}").json()["responseCode"] == 1010
    assert shop_a.call("DELETE", "/webhooks/abc").json() == {
        "id": None,
        "responseCode": 101,
        "responseMessage": "id not valid",
    }


@pytest.mark.parametrize(
    ("url", "events", "code", "message"),
    [
        (None, ["order.created"], 100, "url missing"),
        ("  ", ["order.created"], 100, "url missing"),
        ("ftp://shop.example/h", ["order.created"], 101, "url not valid"),
        ("https://", ["order.created"], 101, "url not valid"),
        ("https://user:pw@shop.example/h", ["order.created"], 101, "url not valid"),
        ("https://shop.example:99999/h", ["order.created"], 101, "url not valid"),
        ("https://shop.example/" + "x" * 1000, ["order.created"], 101, "url not valid"),
        (42, ["order.created"], 101, "url not valid"),
        (URL, None, 110, "events missing"),
        (URL, [], 110, "events missing"),
        (URL, ["order.shipped"], 111, EVENTS_NOT_VALID),
        (URL, ["stock.low"], 111, EVENTS_NOT_VALID),  # the operator's and publishers' only
        (URL, [7], 111, EVENTS_NOT_VALID),
        (URL, {"order.created": True}, 111, EVENTS_NOT_VALID),
    ],
)
def test_invalid_registrations_are_refused_with_every_key(shop_a: Merchant, url, events, code, message) -> None:  # type: ignore[no-untyped-def]
    reply = shop_a.call("POST", "/webhooks", {"url": url, "events": events})
    assert reply.status_code == 200
    assert reply.json() == {
        "id": None,
        "url": None,
        "events": [],
        "signingSecret": None,
        "responseCode": code,
        "responseMessage": message,
    }
    assert shop_a.call("GET", "/webhooks").json()["webhooks"] == []


def test_events_are_deduplicated(shop_a: Merchant) -> None:
    assert add(shop_a, events=["order.created", "order.created", "download.extended"])["events"] == [
        "order.created",
        "download.extended",
    ]


def test_webhooks_need_the_token_and_the_secret(shop_a: Merchant) -> None:
    no_secret = shop_a.call("GET", "/webhooks", headers={"secret": ""})
    assert no_secret.json() == {"webhooks": [], "responseCode": 70, "responseMessage": "secret is missing"}
    anonymous = shop_a.http.post("/connect/webhooks", json={"url": URL, "events": ["order.created"]})
    assert anonymous.status_code == 401
    broken = shop_a.call("POST", "/webhooks", content=b"[1]", headers={"content-type": "application/json"})
    assert broken.status_code == 400 and set(broken.json()) == ADD_KEYS and broken.json()["responseCode"] == 1030
