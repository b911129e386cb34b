"""GET /connect/webhooks/{id}/deliveries and POST /connect/webhooks/{id}/deliveries/{eventId}/redeliver
over real HTTP: the delivery log a page at a time, redelivery with the same event id, and scoping (another
merchant's endpoint is "not found")."""

from __future__ import annotations

import jsonschema

from resell.services import orders as order_service
from resell.services.context import Context
from resell.worker import dispatcher
from tests.conftest import Merchant, World, order_body
from tests.renewal_support import (  # noqa: F401 - fixtures: fresh_stock_check (autouse), receiver
    Receiver,
    caller_of,
    fresh_stock_check,
    outbox_events,
    receiver_fixture,
)

LOG_KEYS = {"id", "deliveries", "nextBefore", "responseCode", "responseMessage"}
ENTRY_KEYS = {"id", "eventId", "eventType", "attempt", "at", "statusCode", "error", "durationMs"}


def add(shop: Merchant, url: str, events: list[str]) -> int:
    reply = shop.call("POST", "/webhooks", {"url": url, "events": events}).json()
    assert reply["responseCode"] == 0, reply
    return int(reply["id"])


def test_the_log_pages_newest_first_and_redeliver_sends_the_same_id(
    ctx: Context, world: World, shop_a: Merchant, shop_b: Merchant, receiver: Receiver
) -> None:
    mine = add(shop_a, receiver.url, ["order.created"])
    who = caller_of(ctx, world.a)
    for pon in ("R-1", "R-2", "R-3"):
        order_service.submit_order(ctx, who, order_body(pon, (1003, 1)))
    dispatcher.run_pass(ctx)
    events = [e.event_id for e in outbox_events(ctx, "order.created")]

    page = shop_a.call("GET", f"/webhooks/{mine}/deliveries?limit=2")
    assert page.status_code == 200
    data = page.json()
    assert set(data) == LOG_KEYS and (data["id"], data["responseCode"], data["responseMessage"]) == (mine, 0, "OK")
    assert [set(d) for d in data["deliveries"]] == [ENTRY_KEYS, ENTRY_KEYS]
    assert [(d["eventType"], d["attempt"], d["statusCode"], d["error"]) for d in data["deliveries"]] == [
        ("order.created", 1, 204, None)
    ] * 2
    assert data["deliveries"][0]["at"].endswith("Z") and data["nextBefore"] == data["deliveries"][1]["id"]
    older = shop_a.call("GET", f"/webhooks/{mine}/deliveries?limit=2&before={data['nextBefore']}").json()
    assert len(older["deliveries"]) == 1 and older["nextBefore"] is None
    every = data["deliveries"] + older["deliveries"]
    assert [d["id"] for d in every] == sorted((d["id"] for d in every), reverse=True)  # newest first
    assert sorted(d["eventId"] for d in every) == sorted(events)

    again = shop_a.call("POST", f"/webhooks/{mine}/deliveries/{events[0]}/redeliver")
    assert again.status_code == 200
    assert again.json() == {
        "id": mine,
        "eventId": events[0],
        "eventType": "order.created",
        "responseCode": 0,
        "responseMessage": "OK",
    }
    assert dispatcher.run_pass(ctx).delivered == 1
    assert receiver.all()[-1].headers["webhook-id"] == events[0]
    newest = shop_a.call("GET", f"/webhooks/{mine}/deliveries").json()["deliveries"][0]
    assert (newest["eventId"], newest["attempt"], newest["statusCode"]) == (events[0], 2, 204)

    # another merchant: the same answer as for an endpoint that does not exist
    assert shop_b.call("GET", f"/webhooks/{mine}/deliveries").json() == {
        "id": mine,
        "deliveries": [],
        "nextBefore": None,
        "responseCode": 1010,
        "responseMessage": "webhook not found",
    }
    assert shop_b.call("POST", f"/webhooks/{mine}/deliveries/{events[0]}/redeliver").json() == {
        "id": mine,
        "eventId": events[0],
        "eventType": None,
        "responseCode": 1010,
        "responseMessage": "webhook not found",
    }
    theirs = add(shop_b, receiver.url, ["order.created"])
    not_theirs = shop_b.call("POST", f"/webhooks/{theirs}/deliveries/{events[0]}/redeliver").json()
    assert (not_theirs["responseCode"], not_theirs["responseMessage"]) == (1011, "event not found for this webhook")


def test_bad_paging_values_get_their_codes(shop_a: Merchant, receiver: Receiver) -> None:
    mine = add(shop_a, receiver.url, ["order.created"])
    for query, code, message in (
        ("limit=0", 111, "limit not valid"),
        ("limit=abc", 111, "limit not valid"),
        ("before=-1", 121, "before not valid"),
    ):
        reply = shop_a.call("GET", f"/webhooks/{mine}/deliveries?{query}").json()
        assert (reply["responseCode"], reply["responseMessage"], reply["id"]) == (code, message, mine), query
    bad_id = shop_a.call("GET", "/webhooks/x/deliveries").json()
    assert (bad_id["responseCode"], bad_id["id"]) == (101, None)
    assert shop_a.call("GET", f"/webhooks/{mine}/deliveries").json()["deliveries"] == []


def test_blank_ids_in_the_path_get_the_codes_the_openapi_document_lists(shop_a: Merchant, receiver: Receiver) -> None:
    """A blank endpoint id or event id (a tab, escaped in the path) is 100 or 110, and the reply is one
    the served OpenAPI document allows (its refusal schema lists the operation's codes)."""
    document = shop_a.http.get("/openapi.json").json()
    mine = add(shop_a, receiver.url, ["order.created"])
    for method, path, operation_path, code in (
        ("GET", "/webhooks/%09/deliveries", "/connect/webhooks/{endpoint_id}/deliveries", 100),
        ("POST", "/webhooks/%09/deliveries/e1/redeliver", REDELIVER, 100),
        ("POST", f"/webhooks/{mine}/deliveries/%09/redeliver", REDELIVER, 110),
    ):
        reply = shop_a.call(method, path).json()
        assert reply["responseCode"] == code, (path, reply)
        schema = document["paths"][operation_path][method.lower()]["responses"]["200"]["content"]["application/json"]
        root = {**schema["schema"], "components": document["components"]}
        jsonschema.Draft202012Validator(root).validate(reply)


REDELIVER = "/connect/webhooks/{endpoint_id}/deliveries/{event_id}/redeliver"
