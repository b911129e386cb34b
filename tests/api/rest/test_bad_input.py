"""Bad input over real HTTP: malformed bodies, createOrder field codes, lenient input, fuzzing.

The contract (README, "The merchant flow"; docs/limits.md): a body that is not JSON or not an object
is HTTP 400 with responseCode 1030, a refusal carries every key of its operation's reply, and bad
input is never a 500.
"""

from __future__ import annotations

import copy
import json
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resell.domain.codes import MESSAGES
from resell.domain.order_request import ORDER_DATE_HINT
from tests.conftest import HTTP_EXAMPLES, Merchant, order_body

ORDER_KEYS = {"partnerOrderNumber", "orderNumber", "orderLines", "downloadManager", "responseCode",
              "responseMessage"}

SUBSCRIPTION_STATUS_KEYS = {
    "partnerOrderNumber", "subscriptionId", "productRef", "period", "generation", "technicalStatus",
    "creation_datetime", "update_datetime", "expiration_datetime", "next_status_change_datetime", "currency",
    "amount", "code", "message",
}
SUBSCRIPTION_CHANGE_KEYS = {"partnerOrderNumber", "subscriptionId", "orderNumber", "responseCode",
                            "responseMessage"}
SUBSCRIPTION = {"partnerOrderNumber": "SUBT", "subscriptionId": 1}

# Every POST/PUT /connect operation: method, path, the operation's reply keys (contract 4), a valid body.
OPERATIONS: dict[str, tuple[str, str, set[str], dict[str, Any]]] = {
    "createOrder": ("POST", "/order/new", ORDER_KEYS, order_body("FUZZ", (1001, 1), (1002, 1))),
    "cancelOrder": ("PUT", "/order/cancel",
                    {"partnerOrderNumber", "orderNumber", "newDownloadEndDate", "responseCode",
                     "responseMessage"},
                    {"partnerOrderNumber": "TARGET", "reasonCode": 2, "comment": "why"}),
    "updateDownloadTime": ("PUT", "/order/download",
                           {"partnerOrderNumber", "newDownloadEndDate", "responseCode", "responseMessage"},
                           {"partnerOrderNumber": "TARGET", "value": "P7D"}),
    "getStockStatus": ("POST", "/stock", {"productStatus", "responseCode", "responseMessage"},
                       {"productRefs": [1001, 1002]}),
    "getCrossUpSell": ("POST", "/order/crossupsell", {"productsReturn", "responseCode", "responseMessage"},
                       {"language": "EN", "products": [{"productRef": 1001, "quantity": 1}]}),
    "getSubscriptionStatus": ("POST", "/subscription", SUBSCRIPTION_STATUS_KEYS, SUBSCRIPTION),
    "cancelSubscription": ("PUT", "/subscription", SUBSCRIPTION_CHANGE_KEYS, SUBSCRIPTION),
    "renewSubscription": ("POST", "/subscription/renew", SUBSCRIPTION_CHANGE_KEYS, SUBSCRIPTION),
    "renewSubscription-put": ("PUT", "/subscription/renew", SUBSCRIPTION_CHANGE_KEYS, SUBSCRIPTION),
}
LIST_KEYS = {"orderLines", "productStatus", "productsReturn"}

MALFORMED_BODIES = {
    "not-json": b"this is not JSON",
    "truncated": b'{"partnerOrderNumber": "X", ',
    "array": b'[{"partnerOrderNumber": "X"}]',
    "empty-array": b"[]",
    "string": b'"partnerOrderNumber"',
    "number": b"42",
    "null": b"null",
    "true": b"true",
    "empty": b"",
    "whitespace": b"  \n ",
    "nan": b'{"productRefs": [NaN]}',
    "latin-1": '{"comment": "\xe9t\xe9"}'.encode("latin-1"),
    "lone-surrogate": b'{"partnerOrderNumber": "\\ud800"}',
    "too-deep": b'{"a": ' + b"[" * 5000 + b"]" * 5000 + b"}",
}


def send_raw(shop: Merchant, method: str, path: str, raw: bytes):  # type: ignore[no-untyped-def]
    return shop.call(method, path, content=raw, headers={"Content-Type": "application/json"})


def code_keys(keys: set[str]) -> tuple[str, str]:
    """Subscription status replies say code/message; every other reply responseCode/responseMessage."""
    return ("code", "message") if "code" in keys else ("responseCode", "responseMessage")


def assert_operation_reply(data: Any, keys: set[str]) -> None:
    assert isinstance(data, dict), data
    assert keys <= set(data), (keys - set(data), data)
    code, message = code_keys(keys)
    assert isinstance(data[code], int) and isinstance(data[message], str), data


# ---------------------------------------------------------------- malformed bodies


@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_malformed_body_is_400_1030_with_every_key(shop_a: Merchant, operation: str) -> None:
    method, path, keys, _valid = OPERATIONS[operation]
    code, message = code_keys(keys)
    blank = {key: [] if key in LIST_KEYS else None for key in keys - {code, message}}
    expected = {**blank, code: 1030, message: "malformed document"}
    wrong = {}
    for name, raw in MALFORMED_BODIES.items():
        reply = send_raw(shop_a, method, path, raw)
        got = (reply.status_code, reply.json() if reply.headers.get("content-type", "").startswith(
            "application/json") else reply.text[:200])
        if got != (400, expected):
            wrong[name] = got
    assert wrong == {}


@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_body_over_the_limit_is_413_1030_with_every_key(shop_a: Merchant, operation: str) -> None:
    method, path, keys, _valid = OPERATIONS[operation]
    code, message = code_keys(keys)
    reply = send_raw(shop_a, method, path, b'{"pad": "' + b"x" * 2_000_000 + b'"}')
    assert reply.status_code == 413
    data = reply.json()
    assert_operation_reply(data, keys)
    assert data[code] == 1030 and data[message] == "the request is larger than 1000000 bytes"


def test_malformed_create_creates_nothing(shop_a: Merchant) -> None:
    raw = json.dumps([order_body("ARR", (1003, 1))]).encode()
    assert send_raw(shop_a, "POST", "/order/new", raw).status_code == 400
    assert shop_a.call("GET", "/order/ARR").json()["responseCode"] == 1010


def test_body_just_under_the_limit_is_read(shop_a: Merchant) -> None:
    body = order_body("BIG", (1002, 1), pad="x" * 900_000)
    reply = shop_a.call("POST", "/order/new", body)
    assert reply.status_code == 201, reply.text[:300]
    assert reply.json()["partnerOrderNumber"] == "BIG"


def test_empty_object_is_a_business_refusal_not_malformed(shop_a: Merchant) -> None:
    reply = shop_a.call("POST", "/order/new", {})
    assert reply.status_code == 200
    assert reply.json() == {"partnerOrderNumber": None, "orderNumber": None, "orderLines": [],
                            "downloadManager": None, "responseCode": 100, "responseMessage": "order missing"}


# ---------------------------------------------------------------- createOrder field codes over HTTP


def _set(body: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    body = copy.deepcopy(body)
    target = body
    for step in path[:-1]:
        target = target[step]
    if value is DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return body


DELETE = object()
INVOICE = ("customer", "locationInvoice")

FIELD_CASES = [
    (("partnerOrderNumber",), DELETE, 130),
    (("partnerOrderNumber",), "   ", 130),
    (("orderDate",), DELETE, 140),
    (("orderDate",), "yesterday", 141),
    (("orderDate",), "2026-13-45T10:00:00+00:00", 141),
    (("orderDate",), "2026-11-28T10:00:00", 141),  # contract 3: with its UTC offset
    (("orderDate",), "2026-11-28", 141),
    (("currency",), DELETE, 120),
    (("currency",), "EURO", 121),
    (("currency",), "XYZ", 121),
    (("orderLines",), [], 200),
    (("orderLines",), DELETE, 200),
    (("orderLines",), ["1001"], 200),
    (("orderLines", 0, "productRef"), DELETE, 210),
    (("orderLines", 0, "productRef"), "abc", 211),
    (("orderLines", 0, "productRef"), -1, 211),
    (("orderLines", 0, "quantity"), DELETE, 220),
    (("orderLines", 0, "quantity"), 0, 221),
    (("orderLines", 0, "quantity"), 2.5, 221),
    (("orderLines", 0, "vatRate"), "twenty", 231),
    (("orderLines", 0, "amountDutyFree"), -3, 241),
    (("customer",), DELETE, 320),
    (("customer", "email"), DELETE, 320),
    (("customer", "email"), "not-an-email", 321),
    (("customer", "language"), "french", 331),
    (("customer", "language"), "zz_ZZ", 1022),
    (("customer", "ipV4"), "999.1.1.1", 341),
    (("customer", "locationInvoice"), DELETE, 420),
    ((*INVOICE, "country"), DELETE, 500),
    ((*INVOICE, "country"), "FRA", 501),
    ((*INVOICE, "country"), "ZZ", 1023),
    ((*INVOICE, "country"), "US", 1048),
    ((*INVOICE, "title"), "Mr", 431),
    ((*INVOICE, "lastName"), {"x": 1}, 441),
    ((*INVOICE, "firstName"), "a\u0000b", 451),
    ((*INVOICE, "city"), "x" * 201, 491),
    (("customer", "ipV4"), DELETE, 1046),
    (("payment",), "card", 700),
    (("payment", "paymentMethod"), DELETE, 710),
    (("discounts",), 5, 600),
    (("discounts",), [{"label": "x", "priceDelta": 1, "operation": "AMOUNT", "operationValue": 1}], 610),
    (("discounts",), [{"foreignRef": "D", "label": "x", "priceDelta": 1, "operation": "half",
                       "operationValue": 1}], 641),
    (("metadata",), "x", 750),
    (("metadata",), [{"value": "v"}], 751),
    (("affiliateId",), "abc", 1035),
]


def test_create_order_field_codes(shop_a: Merchant) -> None:
    wrong = {}
    for path, value, code in FIELD_CASES:
        body = _set(order_body("FIELD", (1001, 1)), path, value)
        reply = shop_a.call("POST", "/order/new", body)
        expected = {"partnerOrderNumber": body.get("partnerOrderNumber"), "orderNumber": None, "orderLines": [],
                    "downloadManager": None, "responseCode": code,
                    "responseMessage": ORDER_DATE_HINT if code == 141 else MESSAGES[code]}
        if (reply.status_code, reply.json()) != (200, expected):
            wrong[f"{'.'.join(map(str, path))}={'DELETE' if value is DELETE else repr(value)[:40]}"] = (
                reply.status_code, reply.json())
    assert wrong == {}
    # nothing was created by any of them
    assert shop_a.call("GET", "/order/FIELD").json()["responseCode"] == 1010
    assert shop_a.call("POST", "/stock", {"productRefs": [1001]}).json()["productStatus"][0]["status"] == 100
    assert shop_a.call("POST", "/order/new", order_body("FIELD", (1001, 20))).status_code == 201


def test_refusal_echoes_a_numeric_partner_order_number_as_text(shop_a: Merchant) -> None:
    body = order_body("X", (1001, 1), partnerOrderNumber=12345, currency="EURO")
    data = shop_a.call("POST", "/order/new", body).json()
    assert data["responseCode"] == 121 and data["partnerOrderNumber"] == "12345"


def test_province_required_for_us_but_not_for_france(shop_a: Merchant) -> None:
    us = _set(order_body("US-1", (1002, 1)), (*INVOICE, "country"), "US")
    us["customer"]["locationInvoice"]["province"] = ""
    assert shop_a.call("POST", "/order/new", us).json()["responseCode"] == 1048
    us["customer"]["locationInvoice"]["province"] = "ZZ"
    assert shop_a.call("POST", "/order/new", us).json()["responseCode"] == 1049
    us["customer"]["locationInvoice"]["province"] = "CA"
    assert shop_a.call("POST", "/order/new", us).status_code == 201


# ---------------------------------------------------------------- lenient input


def test_lenient_input_is_accepted(shop_a: Merchant, world) -> None:  # type: ignore[no-untyped-def]
    body = order_body("LENIENT", (1001, 1))
    body["orderLines"] = [
        {"productRef": "1001", "quantity": "2", "vatRate": 20.0, "discounts": [{}], "lineColour": "blue"},
        {"productRef": 1002, "quantity": 1, "vatRate": 5.5, "amountDutyFree": "10.00", "amountTotal": 10.55,
         "discounts": [{"foreignRef": "D1", "label": "Spring", "priceDelta": -1, "operation": "percents",
                        "operationValue": 10}]},
    ]
    body["discounts"] = [{}]
    body["affiliateId"] = "42"
    body["someFutureField"] = {"nested": [1, 2, 3]}
    body["customer"]["locationInvoice"].update({"province": "", "title": "1", "zipCode": 75002, "fax": ""})
    body["customer"]["locationDelivery"] = []  # PHP clients send an empty array for "no address"
    body["customer"]["unknown"] = True
    body["payment"]["extra"] = "ignored"
    reply = shop_a.call("POST", "/order/new", body)
    assert reply.status_code == 201, reply.text
    data = reply.json()
    assert data["responseCode"] == 0 and data["partnerOrderNumber"] == "LENIENT"
    first, second = data["orderLines"]
    assert first["productRef"] == 1001 and len(first["lineItems"]) == 2
    assert all(item["serials"][0]["data"] in world.serials[1001] for item in first["lineItems"])
    assert second["productRef"] == 1002 and len(second["lineItems"]) == 1
    assert "someFutureField" not in data


@pytest.mark.parametrize("empty", [None, "", {}, []], ids=["null", "empty-string", "empty-object", "empty-array"])
def test_empty_optional_structures_are_absent_and_the_order_is_created(shop_a: Merchant, empty: Any) -> None:
    """Contract 3: an empty object, empty string or null for an optional structure means absent."""
    body = order_body(f"EMPTY-{len(str(empty))}-{type(empty).__name__}", (1001, 1))
    body.update(payment=empty, discounts=empty, metadata=empty, marketingProgramId=empty)
    body["orderLines"][0]["discounts"] = empty
    body["customer"]["locationDelivery"] = empty
    del body["customer"]["ipV4"]  # without a payment no IP address is needed
    reply = shop_a.call("POST", "/order/new", body)
    assert reply.status_code == 201, reply.text
    assert reply.json()["responseCode"] == 0


@pytest.mark.parametrize(
    ("where", "value", "code"),
    [
        ("locationDelivery", {"city": "Paris"}, 500),
        ("locationDelivery", {"country": "ZZ"}, 1023),
        ("locationDelivery", "somewhere", 410),
        ("payment", {"transactionId": "T-1"}, 710),
        ("locationInvoice", {}, 420),
    ],
)
def test_a_structure_that_is_there_but_not_valid_gets_its_code(
    shop_a: Merchant, where: str, value: Any, code: int
) -> None:
    body = order_body("PRESENT", (1001, 1))
    (body if where == "payment" else body["customer"])[where] = value
    reply = shop_a.call("POST", "/order/new", body)
    assert (reply.status_code, reply.json()["responseCode"]) == (200, code), reply.text
    assert reply.json()["responseMessage"] == MESSAGES[code]


def test_lenient_cancel_and_download_fields(shop_a: Merchant) -> None:
    assert shop_a.call("POST", "/order/new", order_body("12345", (1002, 1))).status_code == 201
    extended = shop_a.call("PUT", "/order/download", {"partnerOrderNumber": 12345, "value": " P7D ", "x": 1})
    assert extended.json()["responseCode"] == 0, extended.text
    assert extended.json()["partnerOrderNumber"] == "12345"
    cancelled = shop_a.call("PUT", "/order/cancel",
                            {"partnerOrderNumber": " 12345 ", "reasonCode": "3", "y": []})
    assert cancelled.json()["responseCode"] == 0, cancelled.text


# ---------------------------------------------------------------- text the database cannot store


@pytest.mark.parametrize("pon", ["A\u0000B", "\u0000"])
def test_nul_in_partner_order_number_is_never_a_500(shop_a: Merchant, pon: str) -> None:
    wrong = {}
    for method, path, body in [
        ("PUT", "/order/cancel", {"partnerOrderNumber": pon, "reasonCode": 2}),
        ("PUT", "/order/download", {"partnerOrderNumber": pon, "value": "P1D"}),
        ("POST", "/order/new", order_body(pon, (1002, 1))),
        ("GET", f"/order/{quote(pon)}", None),
        ("GET", f"/order/{quote(pon)}/download", None),
    ]:
        reply = shop_a.call(method, path, body, headers={"Connection": "close"})
        if reply.status_code >= 500 or reply.json()["responseCode"] in {0, 1000}:
            wrong[f"{method} {path!r}"] = (reply.status_code, reply.text[:200])
    assert wrong == {}


def test_nul_in_cancel_comment_is_never_a_500(shop_a: Merchant) -> None:
    assert shop_a.call("POST", "/order/new", order_body("NUL-C", (1002, 1))).status_code == 201
    reply = shop_a.call("PUT", "/order/cancel", {"partnerOrderNumber": "NUL-C", "reasonCode": 2,
                                                 "comment": "bad\u0000comment"}, headers={"Connection": "close"})
    assert reply.status_code < 500, reply.text
    assert reply.json()["responseCode"] != 1000


# ---------------------------------------------------------------- numbers beyond 64 bits


@pytest.mark.parametrize("operation", ["getSubscriptionStatus", "cancelSubscription", "renewSubscription"])
def test_subscription_id_beyond_64_bits_is_refused_not_a_500(shop_a: Merchant, operation: str) -> None:
    method, path, keys, _valid = OPERATIONS[operation]
    code, _message = code_keys(keys)
    wrong = {}
    for huge in [2**64, -(2**63) - 1, 10**30]:
        for pon in ["SUBT", None]:
            reply = shop_a.call(method, path, {"partnerOrderNumber": pon, "subscriptionId": huge},
                                headers={"Connection": "close"})
            if reply.status_code != 200 or reply.json()[code] in {0, 1000}:
                wrong[f"{pon}/{huge}"] = (reply.status_code, reply.text[:200])
    assert wrong == {}


# ---------------------------------------------------------------- unknown paths


@pytest.mark.parametrize("path", ["/connect/nope", "/connect/order", "/connect/stock/extra", "/nope"])
def test_unknown_path_is_404(shop_a: Merchant, path: str) -> None:
    reply = shop_a.http.post(path, json={}, headers={"Authorization": f"Bearer {shop_a.token()}",
                                                     "secret": shop_a.secret})
    assert reply.status_code == 404


def test_unknown_order_path_is_404(shop_a: Merchant) -> None:
    assert shop_a.call("GET", "/order/X/download/more").status_code == 404


# ---------------------------------------------------------------- fuzzing


def json_values(max_leaves: int = 12) -> st.SearchStrategy[Any]:
    scalars = (st.none() | st.booleans() | st.integers() | st.integers(-(2**70), 2**70)
               | st.sampled_from([2**31, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**30, 1e20])
               | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30)
               | st.sampled_from(["", " ", "1001", "1002", "0", "-1", "P7D", "2030-01-31", "EN", "FR,EN",
                                  "EUR", "TARGET", "US", "\u0000", "9223372036854775808"]))
    return st.recursive(
        scalars,
        lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children,
                                                                          max_size=4),
        max_leaves=max_leaves,
    )


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


@st.composite
def mutated(draw: st.DrawFn, valid: dict[str, Any]) -> dict[str, Any]:
    """The valid body with a few values replaced by random JSON, or removed."""
    body = copy.deepcopy(valid)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(body)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        target = body
        for step in path[:-1]:
            target = target[step]
        if draw(st.booleans()) and isinstance(target, dict):
            del target[path[-1]]
        else:
            target[path[-1]] = draw(json_values(6))
    return body


def bodies(operation: str) -> st.SearchStrategy[Any]:
    _method, _path, keys, valid = OPERATIONS[operation]
    known = sorted(keys | set(valid))
    return st.one_of(
        json_values(),
        st.dictionaries(st.sampled_from(known), json_values(8), max_size=len(known)),
        mutated(valid),
    )


# a few documents per operation in `make test`, 150 in `make fuzz` (HYPOTHESIS_PROFILE=thorough)
FUZZ = settings(max_examples=HTTP_EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])


# A fresh connection per fuzzing request: after an internal error the server drops the
# connection, and the next example must not fail on a stale keep-alive socket instead.
FRESH = {"Content-Type": "application/json", "Connection": "close"}


@pytest.mark.parametrize("operation", list(OPERATIONS))
@FUZZ
@given(data=st.data())
def test_random_documents_never_crash(shop_a: Merchant, operation: str, data: st.DataObject) -> None:
    method, path, keys, _valid = OPERATIONS[operation]
    body = data.draw(bodies(operation), label="body")
    if not getattr(shop_a, "fuzz_targets", False):
        # an order and a subscription (id 1) that the mutated bodies can reach
        assert shop_a.call("POST", "/order/new", order_body("TARGET", (1002, 1))).status_code == 201
        assert shop_a.call("POST", "/order/new", order_body("SUBT", (1005, 1))).status_code == 201
        shop_a.fuzz_targets = True  # type: ignore[attr-defined]
    reply = shop_a.call(method, path, content=json.dumps(body).encode(), headers=FRESH)
    assert reply.status_code < 500, (reply.status_code, reply.text[:500])
    reply_body = reply.json()
    code, _message = code_keys(keys)
    assert code in reply_body, reply_body
    assert_operation_reply(reply_body, keys)
    if reply.status_code == 400:
        assert reply_body[code] == 1030
    else:
        assert reply.status_code in {200, 201}, reply.status_code


@pytest.mark.parametrize("operation", list(OPERATIONS))
@FUZZ
@given(raw=st.binary(max_size=200))
def test_random_bytes_never_crash(shop_a: Merchant, operation: str, raw: bytes) -> None:
    method, path, keys, _valid = OPERATIONS[operation]
    reply = shop_a.call(method, path, content=raw, headers=FRESH)
    assert reply.status_code < 500, (reply.status_code, reply.text[:500])
    assert_operation_reply(reply.json(), keys)
