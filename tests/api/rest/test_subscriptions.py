"""getSubscriptionStatus, cancelSubscription and renewSubscription over real HTTP (contract 4.3, 5)."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.conftest import Merchant, order_body

STATUS_KEYS = {
    "partnerOrderNumber",
    "subscriptionId",
    "productRef",
    "period",
    "generation",
    "technicalStatus",
    "creation_datetime",
    "update_datetime",
    "expiration_datetime",
    "next_status_change_datetime",
    "currency",
    "amount",
    "code",
    "message",
}
CHANGE_KEYS = {"partnerOrderNumber", "subscriptionId", "orderNumber", "responseCode", "responseMessage"}


def z(moment: dt.datetime) -> str:
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def subscribe(shop: Merchant, pon: str, quantity: int = 1) -> list[int]:
    reply = shop.call("POST", "/order/new", order_body(pon, (1005, quantity)))
    assert reply.status_code == 201, reply.text
    return [item["subscriptionId"] for item in reply.json()["orderLines"][0]["lineItems"]]


def test_get_subscription_status_answers_every_field_with_code_and_message(shop_a: Merchant, clock) -> None:
    (sub_id,) = subscribe(shop_a, "PON")
    reply = shop_a.call("POST", "/subscription", {"partnerOrderNumber": "PON", "subscriptionId": sub_id})
    assert reply.status_code == 200
    data = reply.json()
    assert set(data) == STATUS_KEYS  # code/message instead of responseCode/responseMessage
    ends = clock.now.replace(year=clock.now.year + 1)
    assert data == {
        "partnerOrderNumber": "PON",
        "subscriptionId": sub_id,
        "productRef": 1005,
        "period": "P1Y",
        "generation": 0,
        "technicalStatus": "ACTIVE",
        "creation_datetime": z(clock.now),
        "update_datetime": z(clock.now),
        "expiration_datetime": z(ends),
        "next_status_change_datetime": z(ends),
        "currency": "EUR",
        "amount": 30.0,
        "code": 0,
        "message": "OK",
    }


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        ({"subscriptionId": 1}, 100, "partnerOrderNumber missing"),
        ({"partnerOrderNumber": "PON"}, 110, "subscriptionId missing"),
        ({"partnerOrderNumber": "PON", "subscriptionId": "x1"}, 111, "subscriptionId not valid"),
        ({"partnerOrderNumber": "PON", "subscriptionId": 424242}, 1010, "subscription not found for this order"),
        ({"partnerOrderNumber": "GHOST", "subscriptionId": 1}, 1010, "subscription not found for this order"),
    ],
)
def test_status_refusals_keep_every_key(shop_a: Merchant, body, code, message) -> None:  # type: ignore[no-untyped-def]
    subscribe(shop_a, "PON")
    reply = shop_a.call("POST", "/subscription", body)
    assert reply.status_code == 200
    data = reply.json()
    assert set(data) == STATUS_KEYS
    assert (data["code"], data["message"]) == (code, message)
    assert data["technicalStatus"] is None and data["generation"] is None


def test_status_without_secret_or_with_a_broken_body_still_has_code_and_message(shop_a: Merchant) -> None:
    subscribe(shop_a, "PON")
    no_secret = shop_a.call(
        "POST", "/subscription", {"partnerOrderNumber": "PON", "subscriptionId": 1}, headers={"secret": ""}
    )
    assert set(no_secret.json()) == STATUS_KEYS and no_secret.json()["code"] == 70
    broken = shop_a.call("POST", "/subscription", content=b"{not json", headers={"content-type": "application/json"})
    assert broken.status_code == 400
    assert set(broken.json()) == STATUS_KEYS and broken.json()["code"] == 1030


def test_another_merchants_subscription_is_not_found(shop_a: Merchant, shop_b: Merchant) -> None:
    (sub_id,) = subscribe(shop_a, "PON")
    subscribe(shop_b, "PON")  # b has a PON of its own
    body = {"partnerOrderNumber": "PON", "subscriptionId": sub_id}
    assert shop_b.call("POST", "/subscription", body).json()["code"] == 1010
    assert shop_b.call("PUT", "/subscription", body).json()["responseCode"] == 1010
    assert shop_b.call("POST", "/subscription/renew", body).json()["responseCode"] == 1010
    assert shop_a.call("POST", "/subscription", body).json()["technicalStatus"] == "ACTIVE"


def test_cancel_subscription_stops_renewal_and_keeps_the_licence(shop_a: Merchant) -> None:
    (sub_id,) = subscribe(shop_a, "PON")
    order = shop_a.call("GET", "/order/PON").json()
    body = {"partnerOrderNumber": "PON", "subscriptionId": str(sub_id)}
    reply = shop_a.call("PUT", "/subscription", body)
    assert reply.json() == {
        "partnerOrderNumber": "PON",
        "subscriptionId": sub_id,
        "orderNumber": order["orderNumber"],
        "responseCode": 0,
        "responseMessage": "OK",
    }
    status = shop_a.call("POST", "/subscription", body).json()
    assert status["technicalStatus"] == "CANCELLED"
    assert status["next_status_change_datetime"] == status["expiration_datetime"]
    assert shop_a.call("GET", "/order/PON").json()["orderLines"] == order["orderLines"]  # the licence stays
    again = shop_a.call("PUT", "/subscription", body).json()
    assert set(again) == CHANGE_KEYS
    assert (again["responseCode"], again["responseMessage"]) == (1011, "subscription already cancelled or terminated")
    assert again["orderNumber"] is None and again["subscriptionId"] == sub_id


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_renew_subscription_creates_the_next_order(shop_a: Merchant, method: str) -> None:
    (sub_id,) = subscribe(shop_a, "PON")
    reply = shop_a.call(method, "/subscription/renew", {"partnerOrderNumber": "PON", "subscriptionId": sub_id})
    data = reply.json()
    assert reply.status_code == 200 and set(data) == CHANGE_KEYS
    assert (data["responseCode"], data["partnerOrderNumber"], data["subscriptionId"]) == (0, "PON-1", sub_id)
    renewal = shop_a.call("GET", "/order/PON-1").json()
    assert renewal["orderNumber"] == data["orderNumber"]
    (item,) = renewal["orderLines"][0]["lineItems"]
    assert item["subscriptionId"] == sub_id and len(item["serials"]) == 1
    first = shop_a.call("GET", "/order/PON").json()["orderLines"][0]["lineItems"][0]
    assert item["serials"] != first["serials"]
    status = shop_a.call("POST", "/subscription", {"partnerOrderNumber": "PON-1", "subscriptionId": sub_id}).json()
    assert status["generation"] == 1 and status["partnerOrderNumber"] == "PON-1"


def test_renew_without_stock_is_1044(shop_a: Merchant) -> None:
    (sub_id,) = subscribe(shop_a, "PON")
    subscribe(shop_a, "ALL", quantity=9)  # the last nine serials of 1005
    reply = shop_a.call("POST", "/subscription/renew", {"partnerOrderNumber": "PON", "subscriptionId": sub_id})
    assert (reply.json()["responseCode"], reply.json()["responseMessage"]) == (1044, "no stock to renew")
    assert shop_a.call("GET", "/order/PON-1").json()["responseCode"] == 1010


def test_cancelled_order_terminates_its_subscription(shop_a: Merchant) -> None:
    (sub_id,) = subscribe(shop_a, "PON")
    cancel = shop_a.call("PUT", "/order/cancel", {"partnerOrderNumber": "PON", "reasonCode": 2})
    assert cancel.json()["responseCode"] == 0
    body = {"partnerOrderNumber": "PON", "subscriptionId": sub_id}
    status = shop_a.call("POST", "/subscription", body).json()
    assert status["technicalStatus"] == "TERMINATED" and status["next_status_change_datetime"] is None
    assert shop_a.call("PUT", "/subscription", body).json()["responseCode"] == 1011
    assert shop_a.call("PUT", "/subscription/renew", body).json()["responseCode"] == 1011
