"""Tenant isolation: merchant B, with its own valid credentials, reaches nothing of merchant A's.

Every REST route and every SOAP operation that names an order, a subscription, a customer or a
webhook is a row of the matrix below, called by B on A's objects: each is refused as "not found"
with its exact code and message, nothing of A's (email, name, customer id, serials, order number,
links) appears in B's reply, and A's order, subscription and webhook are exactly as before.
The coverage tests fail when a route or operation is added without a row (or an explicit
exemption saying why it names nothing of a merchant's).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from resell.api.rest import connect, test_clocks, webhooks
from resell.api.soap import contract
from tests.api.soap.conftest import envelope, out_of, post, soap_order
from tests.conftest import Merchant, World, order_body
from tests.security.soap_xml import xml_of

A_PON = "A-SECRET-1"
A_EMAIL = "alice.private@a-shop.example"
A_PARTNER_ID = "a-customer-77"
A_LAST_NAME = "Aardvarkovich"
A_HOOK = "https://a-shop.example/hooks/private"


@dataclass
class Facts:
    """What A has, and what must never show in B's replies."""

    pon: str
    order_number: int
    subscription_id: int
    webhook_id: int
    serials: list[str]
    line_tokens: list[str]
    b_subscription_id: int
    b_pon: str = "B-OWN-1"
    private: list[str] = field(default_factory=list)


def _a_customer() -> dict[str, Any]:
    return {
        "partnerId": A_PARTNER_ID,
        "email": A_EMAIL,
        "language": "en_US",
        "locationInvoice": {"firstName": "Alice", "lastName": A_LAST_NAME, "country": "FR", "city": "Lyon"},
        "ipV4": "192.0.2.77",
    }


@pytest.fixture
def facts(shop_a: Merchant, shop_b: Merchant, world: World) -> Facts:
    made = shop_a.call("POST", "/order/new", order_body(A_PON, (1001, 1), (1005, 1), customer=_a_customer()))
    assert made.status_code == 201, made.text
    order = made.json()
    hook = shop_a.call("POST", "/webhooks", {"url": A_HOOK, "events": ["order.created"]}).json()
    assert hook["responseCode"] == 0, hook
    # B has objects of its own, so that "nothing found" is not merely "B has nothing at all"
    own = shop_b.call("POST", "/order/new", order_body("B-OWN-1", (1005, 1)))
    assert own.status_code == 201, own.text
    assert shop_b.call("POST", "/webhooks", {"url": "https://b-shop.example/h", "events": ["order.created"]}).json()[
        "responseCode"
    ] == 0
    serials = [s["data"] for line in order["orderLines"] for item in line["lineItems"] for s in item["serials"]]
    tokens = [f["url"].split("/")[4] for line in order["orderLines"] for f in line["files"]]
    assert serials and tokens
    return Facts(
        pon=A_PON,
        order_number=order["orderNumber"],
        subscription_id=order["orderLines"][1]["lineItems"][0]["subscriptionId"],
        webhook_id=hook["id"],
        serials=serials,
        line_tokens=tokens,
        b_subscription_id=own.json()["orderLines"][0]["lineItems"][0]["subscriptionId"],
        private=[A_EMAIL, A_PARTNER_ID, A_LAST_NAME, A_HOOK, hook["signingSecret"], *serials, *tokens],
    )


def a_state(shop_a: Merchant, facts: Facts) -> list[Any]:
    """Everything A can read about its objects: must not change whatever B does."""
    sub = {"partnerOrderNumber": facts.pon, "subscriptionId": facts.subscription_id}
    state = [
        shop_a.call("GET", f"/order/{facts.pon}").json(),
        shop_a.call("GET", f"/order/{facts.pon}/download").json(),
        shop_a.call("POST", "/subscription", sub).json(),
        shop_a.call("GET", "/webhooks").json(),
    ]
    assert state[0]["responseCode"] == 0 and state[2]["code"] == 0
    return state


def assert_nothing_of_a(text: str, facts: Facts, sent: str = "") -> None:
    """`sent` is what B itself sent: a reply may echo it (getAllOrders echoes the email asked for)."""
    for secret in facts.private:
        if secret in sent:
            continue
        assert secret not in text, f"{secret!r} of merchant A in merchant B's reply: {text[:2000]}"


# ---------------------------------------------------------------- REST


@dataclass(frozen=True)
class Rest:
    operation: str  # the route name
    method: str
    path: str
    bodies: tuple[Callable[[Facts], Any], ...] = ()  # each is tried (none: a request without a body)
    code: int = 1010
    message: str = ""
    code_key: str = "responseCode"
    check: Callable[[httpx.Response, Facts], None] | None = None  # for rows whose answer is not a refusal


def _sub(pon: str | None, own_sub: bool = False) -> Callable[[Facts], Any]:
    return lambda f: {"partnerOrderNumber": pon or f.pon, "subscriptionId": f.b_subscription_id if own_sub else
                      f.subscription_id}


def _b_own_pon_a_sub(f: Facts) -> dict[str, Any]:
    return {"partnerOrderNumber": f.b_pon, "subscriptionId": f.subscription_id}


def _created_its_own_order(reply: httpx.Response, facts: Facts) -> None:
    """B may use the same partnerOrderNumber (it is unique per merchant): a new order of B's."""
    assert reply.status_code == 201, reply.text
    data = reply.json()
    assert data["responseCode"] == 0 and data["partnerOrderNumber"] == facts.pon
    assert data["orderNumber"] != facts.order_number


def _lists_only_its_own(reply: httpx.Response, facts: Facts) -> None:
    data = reply.json()
    assert data["responseCode"] == 0
    assert [w["url"] for w in data["webhooks"]] == ["https://b-shop.example/h"]
    assert facts.webhook_id not in [w["id"] for w in data["webhooks"]]


SUB_NOT_FOUND = "subscription not found for this order"
ANY_EVENT = "3f1c9a52-8d7e-4b1a-9c2f-6e5d4a3b2c10"  # the endpoint is checked first: A's is not found for B
BOTH_SUBS = (_sub(None), _b_own_pon_a_sub)  # A's order and subscription; B's own order with A's subscription
REST_ROWS = [
    Rest("getOrderData", "GET", "/order/{pon}", message="order not found"),
    Rest("getDownloadInfo", "GET", "/order/{pon}/download", message="order not found"),
    Rest("cancelOrder", "PUT", "/order/cancel", (lambda f: {"partnerOrderNumber": f.pon, "reasonCode": 2},),
         message="order not found"),
    Rest("updateDownloadTime", "PUT", "/order/download", (lambda f: {"partnerOrderNumber": f.pon, "value": "P1Y"},),
         message="order not found"),
    Rest("getSubscriptionStatus", "POST", "/subscription", BOTH_SUBS, code_key="code", message=SUB_NOT_FOUND),
    Rest("cancelSubscription", "PUT", "/subscription", BOTH_SUBS, message=SUB_NOT_FOUND),
    Rest("renewSubscription", "POST", "/subscription/renew", BOTH_SUBS, message=SUB_NOT_FOUND),
    Rest("renewSubscription", "PUT", "/subscription/renew", BOTH_SUBS, message=SUB_NOT_FOUND),
    Rest("removeWebhook", "DELETE", "/webhooks/{webhook}", message="webhook not found"),
    Rest("listWebhooks", "GET", "/webhooks", check=_lists_only_its_own),
    Rest("listWebhookDeliveries", "GET", "/webhooks/{webhook}/deliveries", message="webhook not found"),
    Rest("redeliverWebhookEvent", "POST", "/webhooks/{webhook}/deliveries/" + ANY_EVENT + "/redeliver",
         message="webhook not found"),
    Rest("createOrder", "POST", "/order/new", (lambda f: order_body(f.pon, (1003, 1)),), check=_created_its_own_order),
]

# Routes that name no object of a merchant's: nothing of another merchant's to reach.
REST_EXEMPT = {
    "status": "platform status",
    "getStockStatus": "the shared catalogue",
    "getCrossUpSell": "the shared catalogue",
    "getCategories": "the shared catalogue",
    "getOperatingSystems": "the shared catalogue",
    "addWebhook": "creates an object of the caller's own",
    "getTestClock": "the clock of the caller's own sandbox (the secret names it)",
    "advanceTestClock": "the clock of the caller's own sandbox (the secret names it)",
}


def _rest_id(row: Rest) -> str:
    return f"{row.operation}-{row.method}"


def test_the_rest_matrix_covers_every_route_and_method() -> None:
    routes = {(r.name, m) for router in (connect.router, webhooks.router, test_clocks.router) for r in router.routes
              for m in r.methods}  # type: ignore[attr-defined]
    covered = {(row.operation, row.method) for row in REST_ROWS}
    exempt = {(name, method) for name, method in routes if name in REST_EXEMPT}
    assert covered | exempt == routes, f"routes without a row: {sorted(routes - covered - exempt)}"
    assert not covered & exempt
    assert set(REST_EXEMPT) <= {name for name, _ in routes}


@pytest.mark.parametrize("row", REST_ROWS, ids=_rest_id)
def test_merchant_b_reaches_nothing_of_merchant_a_over_rest(
    row: Rest, facts: Facts, shop_a: Merchant, shop_b: Merchant
) -> None:
    before = a_state(shop_a, facts)
    path = row.path.format(pon=facts.pon, webhook=facts.webhook_id)
    for body in row.bodies or (None,):
        reply = shop_b.call(row.method, path, body(facts) if body else None)
        if row.check is not None:
            row.check(reply, facts)
        else:
            assert reply.status_code == 200, reply.text
            data = reply.json()
            message_key = "message" if row.code_key == "code" else "responseMessage"
            assert (data[row.code_key], data[message_key]) == (row.code, row.message), data
            assert data.get("orderNumber") is None
        assert_nothing_of_a(reply.text, facts)
    assert a_state(shop_a, facts) == before


def test_a_pon_of_merchant_a_created_again_by_b_is_b_s_and_a_s_stays_a_s(
    facts: Facts, shop_a: Merchant, shop_b: Merchant
) -> None:
    """After B's createOrder with A's number, each reads its own order under that number."""
    before = a_state(shop_a, facts)
    reply = shop_b.call("POST", "/order/new", order_body(facts.pon, (1003, 1)))
    _created_its_own_order(reply, facts)
    b_view = shop_b.call("GET", f"/order/{facts.pon}").json()
    assert b_view["orderNumber"] == reply.json()["orderNumber"]
    assert [line["productRef"] for line in b_view["orderLines"]] == [1003]
    assert_nothing_of_a(json.dumps(b_view), facts)
    # a second create by B now answers B's 1010 "already created", still with nothing of A's
    again = shop_b.call("POST", "/order/new", order_body(facts.pon, (1003, 1)))
    assert again.json()["responseCode"] == 1010
    assert_nothing_of_a(again.text, facts)
    assert a_state(shop_a, facts) == before


# ---------------------------------------------------------------- SOAP


@dataclass(frozen=True)
class Soap:
    service: str
    operation: str
    request: Callable[[Facts], dict[str, Any]]
    code: int = 1010
    message: str = ""


SOAP_ROWS = [
    Soap("order", "getData", lambda f: {"partnerOrderNumber": f.pon}, message="order not found"),
    Soap("order", "getDownloadInfo", lambda f: {"partnerOrderNumber": f.pon}, message="order not found"),
    Soap("order", "cancel", lambda f: {"partnerOrderNumber": f.pon, "reasonCode": 2}, message="order not found"),
    Soap("order", "updateDownloadTime", lambda f: {"partnerOrderNumber": f.pon, "value": "P1Y"},
         message="order not found"),
    Soap("order", "cancelSubscription", lambda f: {"partnerOrderNumber": f.pon, "subscriptionId": f.subscription_id},
         message=SUB_NOT_FOUND),
    Soap("order", "getAllOrders", lambda f: {"email": A_EMAIL}, message="customer not found"),
    Soap("customer", "getOrderHistory", lambda f: {"partnerId": A_PARTNER_ID}, message="partner not found"),
    Soap("order", "create", lambda f: soap_order(f.pon, (1003, 1)), code=0, message="OK"),
]

# Operations whose request names no object of a merchant's.
SOAP_EXEMPT = {"getCategories", "getOperatingSystems", "getStockStatus", "getCrossUpSell"}
IDENTIFIERS = {"partnerOrderNumber", "subscriptionId", "email", "partnerId"}


def test_the_soap_matrix_covers_every_operation_that_names_an_object() -> None:
    naming = {
        op.name
        for op in contract.OPERATIONS
        if IDENTIFIERS & {f.name for f in contract.TYPES[op.service][op.request_type]}
    }
    rows = {row.operation for row in SOAP_ROWS}
    assert rows == naming, f"operations without a row: {sorted(naming - rows)}"
    assert rows | SOAP_EXEMPT == {op.name for op in contract.OPERATIONS}
    assert not rows & SOAP_EXEMPT


@pytest.mark.parametrize("row", SOAP_ROWS, ids=lambda row: row.operation)
def test_merchant_b_reaches_nothing_of_merchant_a_over_soap(
    row: Soap, facts: Facts, shop_a: Merchant, server: str, world: World
) -> None:
    before = a_state(shop_a, facts)
    sent = xml_of(row.request(facts), "request")
    inner = f"<o:secret>{world.b.secret}</o:secret>" + sent
    reply = post(server, row.service, envelope(row.service, row.operation, inner))
    assert reply.status_code == 200, reply.text
    out = out_of(reply)
    code = out.xpath("string(*[local-name()='responseCode'])")
    message = out.xpath("string(*[local-name()='responseMessage'])")
    assert (int(code), message) == (row.code, row.message), reply.text
    order_number = out.xpath("string(*[local-name()='orderNumber'])")
    assert order_number != str(facts.order_number)
    assert_nothing_of_a(reply.text, facts, sent)
    assert out.xpath("count(.//*[local-name()='orders' or local-name()='ordersHistory']/*)") == 0
    assert a_state(shop_a, facts) == before


# ---------------------------------------------------------------- the digital locker


def test_the_locker_opens_no_order_of_a_with_b_s_customer_details(
    facts: Facts, shop_b: Merchant, server: str
) -> None:
    b_order = shop_b.call("GET", f"/order/{facts.b_pon}").json()
    with httpx.Client(base_url=server, timeout=30) as http:
        for number, email in (
            (facts.order_number, "buyer@example.com"),  # A's order, B's customer's email
            (b_order["orderNumber"], A_EMAIL),  # B's order, A's customer's email
        ):
            reply = http.post("/locker", data={"orderNumber": str(number), "email": email})
            assert reply.status_code == 401, reply.text
            assert "We could not find an order" in reply.text
            assert "resell_locker" not in reply.headers.get("set-cookie", "")
            assert_nothing_of_a(reply.text, facts, sent=email)  # the form shows the email typed
