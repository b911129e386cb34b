"""The served OpenAPI document: a request schema for every /connect body, a reply schema for every
documented status of every /connect and /iam operation, and real replies valid against them.

`make fuzz` (fuzz/run.py) holds the server to the same document with thousands of generated cases;
these tests keep the document and the replies in step on every `make test`.
"""

from __future__ import annotations

import datetime as dt
import re
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

import httpx
import jsonschema
import pytest
import schemathesis
from schemathesis.core.failures import FailureGroup

from resell.api import shapes
from resell.api.rest import operation_docs
from resell.domain import code_guide
from resell.domain.codes import message_for
from tests.conftest import Merchant, World, order_body

REST = ("/connect", "/iam")
# The contract's operation names (Nexway's docs name them so), the operationIds of the document.
NAMES = {*shapes.REPLIES, "createToken", "resetTokens"}


@pytest.fixture
def document(server: str) -> dict[str, Any]:
    reply = httpx.get(f"{server}/openapi.json")
    assert reply.status_code == 200
    return reply.json()


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, op)
        for path, ops in document["paths"].items()
        if path.startswith(REST)
        for method, op in ops.items()
    ]


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


# a POST that acts on what its path names and reads no body
BODILESS = {"redeliverWebhookEvent"}


def test_every_connect_body_operation_documents_its_request(document: dict[str, Any]) -> None:
    body_ops = [
        (p, m, op)
        for p, m, op in _operations(document)
        if p.startswith("/connect") and m in ("post", "put") and op["operationId"] not in BODILESS
    ]
    assert len(body_ops) >= 10
    bodiless = [op for p, m, op in _operations(document) if op["operationId"] in BODILESS]
    assert bodiless and all("requestBody" not in op for op in bodiless)
    for path, method, op in body_ops:
        schema = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
        assert schema, f"{method.upper()} {path} has no request schema"
        resolved = _resolve(document, schema)
        assert resolved["type"] == "object" and resolved["properties"], f"{method.upper()} {path}"


def test_every_documented_status_has_a_reply_schema(document: dict[str, Any]) -> None:
    operations = _operations(document)
    assert len(operations) >= 19
    for path, method, op in operations:
        label = f"{method.upper()} {path}"
        assert "422" not in op["responses"], label  # never sent: the app answers 400 with code 1030
        assert "401" in op["responses"] or path == "/iam/tokens", label
        for status, response in op["responses"].items():
            if status == "204":
                assert "content" not in response, label
                continue
            schema = response["content"]["application/json"]["schema"]
            assert schema, f"{label} {status}"
        if path.startswith("/connect"):
            assert op["security"] == [{"bearerAuth": []}], label
            ok = "201" if method == "post" and path in ("/connect/order/new", "/connect/webhooks") else "200"
            assert ok in op["responses"], label
            secret = [p for p in op["parameters"] if p["in"] == "header" and p["name"] == "secret"]
            assert secret and secret[0]["required"], label
    assert set(document["paths"]["/iam/tokens/reset"]["delete"]["responses"]) == {"204", "401"}
    assert document["paths"]["/iam/tokens"]["post"]["requestBody"]["content"]["application/json"]["schema"]


def _nested(annotation: Any) -> type[shapes.Shape] | None:
    """The shape a field holds (itself, in a list, or null), if it holds one."""
    while True:
        origin, args = get_origin(annotation), get_args(annotation)
        if origin is Annotated or origin is list:
            annotation = args[0]
        elif origin in (Union, UnionType):
            annotation = next(a for a in args if a is not type(None))
        else:
            break
    return annotation if isinstance(annotation, type) and issubclass(annotation, shapes.Shape) else None


def _assert_in_shape_order(value: dict[str, Any], shape: type[shapes.Shape], codes: tuple[str, ...] = ()) -> None:
    """The reply's keys, at every level, in the order of its shape's fields (api/shapes.py)."""
    names = shapes.fields(shape)
    assert list(value) == [*names, *codes], (shape.__name__, list(value))
    for name, annotation in names.items():
        inner, held = _nested(annotation), value[name]
        if inner is not None and held is not None:
            for item in held if isinstance(held, list) else [held]:
                _assert_in_shape_order(item, inner)


def _shape_of(document: dict[str, Any], path: str, method: str, status: int) -> tuple[Any, tuple[str, ...]] | None:
    """The shape of a reply, and its code keys (a /connect reply's responseCode/responseMessage)."""
    if status == 404:
        return shapes.NotFound, ()
    if status == 401 or (path.startswith("/iam") and status in (400, 429)):
        return shapes.Error, ()
    if path.startswith("/iam"):
        return (shapes.TokenReply, ()) if status == 200 else None  # 204, and the 413 {responseCode, responseMessage}
    name = _name(document["paths"][path][method.lower()]["operationId"])
    return shapes.REPLIES[name], shapes.code_keys(name)


def _name(operation_id: str) -> str:
    """The operation of an operationId (`renewSubscriptionPut` is renewSubscription by PUT)."""
    return operation_id if operation_id in NAMES else re.sub(r"(Get|Put|Post|Delete|Patch)$", "", operation_id)


class Checker:
    """Validates real replies against the served document, as schemathesis does under `make fuzz`, and
    their key order against api/shapes.py (the document cannot say it; the replies must keep it)."""

    def __init__(self, document: dict[str, Any]):
        self.document = document
        self.schema = schemathesis.openapi.from_dict(document)
        self.seen: set[tuple[str, str, int]] = set()

    def check(self, reply: httpx.Response, path: str, method: str) -> httpx.Response:
        operation = self.schema[path][method.upper()]
        assert str(reply.status_code) in operation.responses.status_codes, (path, method, reply.status_code)
        try:
            operation.validate_response(reply)
        except FailureGroup as failures:
            pytest.fail(f"{method} {path} {reply.status_code}: {failures}\n{reply.text}")
        shape = _shape_of(self.document, path, method, reply.status_code)
        if shape is not None:
            _assert_in_shape_order(reply.json(), *shape)
        self.seen.add((path, method.lower(), reply.status_code))
        return reply


def test_real_replies_match_the_document(
    document: dict[str, Any], server: str, shop_a: Merchant, world: World, clock: Any
) -> None:
    c = Checker(document)

    def call(method: str, route: str, path: str, body: Any = None, **kw: Any) -> dict[str, Any]:
        reply = c.check(shop_a.call(method, path, body, **kw), "/connect" + route, method)
        return reply.json()

    # catalogue and stock
    assert call("GET", "/status", "/status")["responseCode"] == 0
    assert call("GET", "/status", "/status", secret="nope")["responseCode"] == 71
    items = call("POST", "/stock", "/stock", {"productRefs": [1001, "1003", 999999, "x", None]})["productStatus"]
    assert [i["responseCode"] for i in items] == [0, 0, 1010, 101, 100]
    assert call("POST", "/stock", "/stock", {})["responseCode"] == 100
    cross = call(
        "POST",
        "/order/crossupsell",
        "/order/crossupsell",
        {"language": "EN", "products": [{"productRef": 1001, "quantity": 1}]},
    )
    assert cross["responseCode"] == 0 and cross["productsReturn"]
    assert call("POST", "/order/crossupsell", "/order/crossupsell", {"products": []})["responseCode"] != 0
    assert call("GET", "/catalog/categories/{language}", "/catalog/categories/fr")["categoryList"]
    assert call("GET", "/catalog/categories/{language}", "/catalog/categories/zz-9")["responseCode"] != 0
    assert call("GET", "/catalog/oslist", "/catalog/oslist")["osList"]

    # orders: created (201), refused (200), malformed (400)
    created = call("POST", "/order/new", "/order/new", order_body("OA-1", (1001, 2), (1002, 1), (1005, 1)))
    assert created["responseCode"] == 0 and len(created["orderLines"]) == 3
    assert call("POST", "/order/new", "/order/new", order_body("OA-1", (1001, 1)))["responseCode"] == 1010
    assert call("POST", "/order/new", "/order/new", order_body("OA-2", (424242, 1)))["responseCode"] == 1020
    malformed = shop_a.call("POST", "/order/new", content=b"[1, 2", headers={"Content-Type": "application/json"})
    assert c.check(malformed, "/connect/order/new", "POST").status_code == 400
    too_large = shop_a.call("POST", "/order/new", content=b" " * 1_000_001)
    assert c.check(too_large, "/connect/order/new", "POST").status_code == 413
    assert call("GET", "/order/{partnerOrderNumber}", "/order/OA-1")["orderNumber"] == created["orderNumber"]
    assert call("GET", "/order/{partnerOrderNumber}", "/order/NOPE")["responseCode"] == 1010
    info = call("GET", "/order/{partnerOrderNumber}/download", "/order/OA-1/download")
    assert info["responseCode"] == 0 and info["orderLines"][0]["files"]
    assert call("GET", "/order/{partnerOrderNumber}/download", "/order/NOPE/download")["responseCode"] == 1010
    later = (clock.now.date() + dt.timedelta(days=60)).isoformat()
    assert (
        call("PUT", "/order/download", "/order/download", {"partnerOrderNumber": "OA-1", "value": later})[
            "responseCode"
        ]
        == 0
    )
    assert (
        call("PUT", "/order/download", "/order/download", {"partnerOrderNumber": "OA-1", "value": "soon"})[
            "responseCode"
        ]
        == 111
    )

    # subscriptions
    sub_id = created["orderLines"][2]["lineItems"][0]["subscriptionId"]
    sub = {"partnerOrderNumber": "OA-1", "subscriptionId": sub_id}
    assert call("POST", "/subscription", "/subscription", sub)["code"] == 0
    assert call("POST", "/subscription", "/subscription", {**sub, "subscriptionId": "x"})["code"] != 0
    bad = shop_a.call("POST", "/subscription", content=b"nope", headers={"Content-Type": "application/json"})
    assert c.check(bad, "/connect/subscription", "POST").json()["code"] == 1030
    assert call("POST", "/subscription/renew", "/subscription/renew", sub)["responseCode"] == 0
    assert call("PUT", "/subscription/renew", "/subscription/renew", {})["responseCode"] != 0
    assert call("PUT", "/subscription", "/subscription", sub)["responseCode"] == 0
    assert call("PUT", "/subscription", "/subscription", sub)["responseCode"] == 1011

    # cancel
    assert (
        call("PUT", "/order/cancel", "/order/cancel", {"partnerOrderNumber": "OA-1", "reasonCode": 3})["responseCode"]
        == 0
    )
    assert (
        call("PUT", "/order/cancel", "/order/cancel", {"partnerOrderNumber": "OA-1", "reasonCode": 3})["responseCode"]
        == 1011
    )

    # webhooks
    hook = {"url": "https://shop.example/hooks", "events": ["order.created"]}
    made = call("POST", "/webhooks", "/webhooks", hook)
    assert made["responseCode"] == 0 and made["signingSecret"].startswith("whsec_")
    assert call("POST", "/webhooks", "/webhooks", {"url": "ftp://x", "events": []})["responseCode"] != 0
    assert call("GET", "/webhooks", "/webhooks")["webhooks"][0]["id"] == made["id"]
    assert call("DELETE", "/webhooks/{endpoint_id}", f"/webhooks/{made['id']}")["id"] == made["id"]
    assert call("DELETE", "/webhooks/{endpoint_id}", "/webhooks/abc")["responseCode"] != 0

    # the sandbox's test clock
    sandbox = world.a.sandbox_secret
    assert call("GET", "/sandbox/clock", "/sandbox/clock", secret=sandbox)["frozen"] is False
    assert call("GET", "/sandbox/clock", "/sandbox/clock")["responseCode"] == 1070
    advanced = call("POST", "/sandbox/clock", "/sandbox/clock", {"advanceBy": "P1M"}, secret=sandbox)
    assert advanced["responseCode"] == 0 and advanced["frozen"] is True
    back = call("POST", "/sandbox/clock", "/sandbox/clock", {"advanceTo": "2001-01-01T00:00:00Z"}, secret=sandbox)
    assert back["responseCode"] == 1071

    # token problems and the IAM endpoints
    anonymous = httpx.post(f"{server}/connect/stock", json={"productRefs": [1001]}, headers={"secret": "s"})
    assert c.check(anonymous, "/connect/stock", "POST").status_code == 401
    iam = "/iam/tokens"
    creds = {"realmName": world.a.realm, "clientSecret": world.a.client_secret, "grantType": "client_credentials"}
    token = c.check(httpx.post(server + iam, json=creds), iam, "POST").json()
    c.check(httpx.post(server + iam, json={**creds, "clientSecret": "wrong"}), iam, "POST")
    c.check(httpx.post(server + iam, content=b"[]"), iam, "POST")
    c.check(httpx.post(server + iam, content=b" " * 1_000_001), iam, "POST")
    form = c.check(
        httpx.post(server + iam, data={"realm_name": world.a.realm, "client_secret": world.a.client_secret}),
        iam,
        "POST",
    )
    assert form.status_code == 200
    reset = httpx.delete(f"{server}/iam/tokens/reset", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert c.check(reset, "/iam/tokens/reset", "DELETE").status_code == 204
    forged = httpx.delete(f"{server}/iam/tokens/reset", headers={"Authorization": "Bearer not-a-jwt"})
    assert c.check(forged, "/iam/tokens/reset", "DELETE").status_code == 401

    statuses = {(path, status) for path, _, status in c.seen}
    for expected in [
        ("/connect/order/new", 201),
        ("/connect/order/new", 200),
        ("/connect/order/new", 400),
        ("/connect/order/new", 413),
        ("/connect/stock", 401),
        ("/iam/tokens", 200),
        ("/iam/tokens", 400),
        ("/iam/tokens", 401),
        ("/iam/tokens", 413),
        ("/connect/webhooks", 201),
        ("/iam/tokens/reset", 204),
    ]:
        assert expected in statuses


def test_a_wrong_reply_fails_the_document(document: dict[str, Any]) -> None:
    """The reply schemas are strict: a missing key, a wrong type, an extra key or a success with nulls fail."""
    operation = schemathesis.openapi.from_dict(document)["/connect/order/{partnerOrderNumber}"]["GET"]

    def valid(body: Any, status: int = 200) -> bool:
        request = httpx.Request("GET", "http://resell.test/connect/order/X")
        reply = httpx.Response(status, json=body, request=request)
        reply.read()
        reply.elapsed = dt.timedelta(0)  # schemathesis reads it; only a sent request sets it
        return operation.is_valid_response(reply)

    refused = {
        "partnerOrderNumber": "X",
        "orderNumber": None,
        "orderLines": [],
        "downloadManager": None,
        "responseCode": 1010,
        "responseMessage": "order not found",
    }
    assert valid(refused)
    assert not valid({k: v for k, v in refused.items() if k != "downloadManager"})
    assert not valid({**refused, "orderNumber": "12"})
    assert not valid({**refused, "surprise": 1})
    assert not valid({**refused, "responseCode": 0, "responseMessage": "OK"})  # a success must fill its values
    assert valid({"status": 401, "error": "Unauthorized", "message": "Authentication Failed"}, 401)
    assert not valid({"status": 401, "error": "Unauthorized"}, 401)


# ---------------------------------------------------------------- names, descriptions, examples, codes


def test_every_operation_has_its_contract_name_a_summary_and_a_description(document: dict[str, Any]) -> None:
    ids = [op["operationId"] for _, _, op in _operations(document)]
    assert len(ids) == len(set(ids))
    assert set(ids) == NAMES | {"renewSubscriptionPut"}
    assert document["paths"]["/connect/order/new"]["post"]["operationId"] == "createOrder"
    assert document["paths"]["/connect/stock"]["post"]["operationId"] == "getStockStatus"
    assert document["paths"]["/connect/subscription/renew"]["post"]["operationId"] == "renewSubscription"
    for path, method, op in _operations(document):
        name = _name(op["operationId"])
        assert op["summary"].startswith(operation_docs.DESCRIPTIONS[name][0]), (path, method)
        assert op["summary"].lower() != name.lower()  # not FastAPI's default, the name title-cased
        assert len(op["description"]) > 60, (path, method)
    assert "from-nexway.md" in document["info"]["description"]


def _validator(document: dict[str, Any], schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    """A validator of `schema` whose #/components/... references resolve in the document."""
    root = {**schema, "components": document["components"]}
    return jsonschema.Draft202012Validator(root, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def _examples(media: dict[str, Any]) -> list[Any]:
    return ([media["example"]] if "example" in media else []) + [e["value"] for e in media.get("examples", {}).values()]


def test_every_example_is_valid_against_its_own_schema(document: dict[str, Any]) -> None:
    counted = 0
    for path, method, op in _operations(document):
        name = _name(op["operationId"])
        body = op.get("requestBody", {}).get("content", {}).get("application/json")
        if body is not None:
            (request,) = _examples(body)  # every body has its example
            _validator(document, body["schema"]).validate(request)
            counted += 1
        for status, response in op["responses"].items():
            media = response.get("content", {}).get("application/json")
            if media is None or status not in ("200", "201"):
                continue
            examples = _examples(media)
            assert examples or name == "resetTokens", (path, method, status)
            for example in examples:
                errors = list(_validator(document, media["schema"]).iter_errors(example))
                assert not errors, (path, method, status, [e.message for e in errors])
                counted += 1
    assert counted > 40


def test_the_examples_look_real(document: dict[str, Any]) -> None:
    """Dates with their offset, a currency, a partnerOrderNumber and an orderNumber as a shop has them."""
    create = document["paths"]["/connect/order/new"]["post"]
    request = create["requestBody"]["content"]["application/json"]["example"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", request["orderDate"])
    assert request["currency"] == "EUR" and request["partnerOrderNumber"] == "WEB-2026-118734"
    done = create["responses"]["201"]["content"]["application/json"]["examples"]["done"]["value"]
    assert done["orderNumber"] == 12567642 and done["orderLines"][0]["lineItems"][0]["serials"][0]["data"]
    refusals = create["responses"]["200"]["content"]["application/json"]["examples"]
    assert "EUR" in refusals["wrong currency"]["value"]["responseMessage"]


def _table(description: str) -> dict[int, tuple[str, str]]:
    rows = re.findall(r"^\| (\d+) \| (.*?) \| (.*?) \|$", description, flags=re.M)
    return {int(code): (message, advice) for code, message, advice in rows}


def test_each_operation_documents_the_codes_it_can_answer_from_the_one_table(document: dict[str, Any]) -> None:
    """The description's table and the refusal schema's codes both come from domain/code_guide.py."""
    for path, method, op in _operations(document):
        if not path.startswith("/connect"):
            continue
        name = _name(op["operationId"])
        has_body = "requestBody" in op
        expected = code_guide.guide(name, has_body)
        assert _table(op["description"]) == expected, (path, method)
        assert {0, 70, 71, 1000} <= set(expected)
        assert (1030 in expected) == has_body or name == "getCategories" or name == "createOrder"
        for code, (message, advice) in expected.items():
            assert message == message_for(code, name) and message != "error", (name, code)
            assert advice, (name, code)
        refusal = _resolve(document, {"$ref": f"#/components/schemas/{name[0].upper()}{name[1:]}Refusal"})
        code_key = shapes.code_keys(name)[0]
        assert refusal["properties"][code_key]["enum"] == code_guide.refusal_codes(name, has_body), name
    assert set(code_guide.GUIDE) == set(shapes.REPLIES)


def test_a_refusal_with_a_code_the_operation_does_not_list_fails_the_document(document: dict[str, Any]) -> None:
    operation = schemathesis.openapi.from_dict(document)["/connect/order/{partnerOrderNumber}"]["GET"]
    refused = {
        "partnerOrderNumber": "X",
        "orderNumber": None,
        "orderLines": [],
        "downloadManager": None,
        "responseCode": 1010,
        "responseMessage": "order not found",
    }
    request = httpx.Request("GET", "http://resell.test/connect/order/X")
    for code, listed in ((1010, True), (1044, False)):
        reply = httpx.Response(200, json={**refused, "responseCode": code}, request=request)
        reply.read()
        reply.elapsed = dt.timedelta(0)
        assert operation.is_valid_response(reply) is listed
