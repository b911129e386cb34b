"""The served OpenAPI document: FastAPI's paths, plus the request and reply schemas of /connect and /iam.

The handlers read raw JSON (`Depends(json_object)`) so that lenient input and code 1030 work; FastAPI
therefore knows nothing of their bodies. This module adds them, per operation (the route name), from
the Connect contract as the README's merchant flow and docs/limits.md describe it: a `requestBody` for
every operation that takes one, and for every status an operation answers with, the JSON schema of its
reply, written from that reply's model in api/shapes.py (the one description of each shape).

Reply schemas are strict (every key required, no other key, exact types) and honest about refusals:
a 200 reply is either the operation's success (`responseCode` 0, every value filled) or one of its
refusals (`responseCode` not 0, unknown values null, lists empty), as shapes.BLANK shapes them.
The key order, which a JSON schema cannot say, is held by tests/api/rest/test_openapi.py.
`make fuzz` (fuzz/run.py) holds the running server to this document with schemathesis.
"""

from __future__ import annotations

import copy
import re
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.routing import BaseRoute

from resell.api import shapes
from resell.api.rest import operation_docs
from resell.domain import code_guide
from resell.domain.webhooks import MERCHANT_EVENTS

Schema = dict[str, Any]

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


# ---------------------------------------------------------------- building blocks


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _null(schema: Schema) -> Schema:
    """The schema, or JSON null."""
    if set(schema) == {"type"} and isinstance(schema["type"], str):
        return {"type": [schema["type"], "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


def _obj(properties: dict[str, Schema], required: list[str] | None = None, *, closed: bool = True) -> Schema:
    """A reply object: every key required (unless told otherwise), no other key when `closed`."""
    schema: Schema = {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
    }
    if closed:
        schema["additionalProperties"] = False
    return schema


def _request(properties: dict[str, Schema], required: list[str], description: str = "") -> Schema:
    """A request object: unknown extra fields are ignored (contract 3), so it stays open."""
    schema: Schema = {"type": "object", "properties": properties, "required": required}
    if description:
        schema["description"] = description
    return schema


STR: Schema = {"type": "string"}
NUM: Schema = {"type": "number"}
NULL: Schema = {"type": "null"}
EMPTY_LIST: Schema = {"type": "array", "maxItems": 0}
# Contract 3: productRef, quantity, title, affiliateId may arrive as JSON strings of digits.
LENIENT_INT: Schema = {
    "anyOf": [{"type": "integer"}, {"type": "string", "pattern": r"^\s*-?[0-9]+\s*$"}],
    "description": "an integer, or a JSON string of digits",
}
PON: Schema = {"type": "string", "minLength": 1, "description": "the merchant's own order id"}


# ---------------------------------------------------------------- replies, from api/shapes.py

_TYPES: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}


def _strip(annotation: Any) -> tuple[Any, list[Any]]:
    """The type under `Annotated`, and its metadata."""
    metadata: list[Any] = []
    while get_origin(annotation) is Annotated:
        annotation, *more = get_args(annotation)
        metadata.extend(more)
    return annotation, metadata


def _schema(annotation: Any) -> Schema:
    """The JSON schema of a field's value in a success."""
    kind, metadata = _strip(annotation)
    origin, args = get_origin(kind), get_args(kind)
    if origin in (Union, UnionType) and type(None) in args:
        (inner,) = [a for a in args if a is not type(None)]
        schema = _null(_schema(inner))
    elif origin is Literal:
        values = list(args)
        schema = {"type": _TYPES[type(values[0])]}
        schema |= {"const": values[0]} if len(values) == 1 else {"enum": values}
    elif origin is list:
        schema = {"type": "array", "items": _schema(args[0])}
    elif isinstance(kind, type) and issubclass(kind, shapes.Shape):
        schema = _object(kind) if kind.inline else _ref(kind.__name__)
    else:
        schema = {"type": _TYPES[kind]}
    for mark in metadata:
        if isinstance(mark, shapes.Doc):
            schema |= mark.keywords
    return schema


def _refused(annotation: Any) -> Schema:
    """The JSON schema of a field's value in a refusal: an echoed request value or null, an empty list, null."""
    _, metadata = _strip(annotation)
    if shapes.Echoed in metadata:
        return _null(_schema(annotation))
    return EMPTY_LIST if shapes.is_list(annotation) else NULL


def _object(shape: type[shapes.Shape]) -> Schema:
    return _obj({name: _schema(annotation) for name, annotation in shapes.fields(shape).items()})


def _item_variants(shape: type[shapes.Shape]) -> Schema:
    """A list item found (its own responseCode 0) or refused (not 0, unknown values null)."""
    found: dict[str, Schema] = {}
    refused: dict[str, Schema] = {}
    for name, annotation in shapes.fields(shape).items():
        _, metadata = _strip(annotation)
        if shapes.ItemCode in metadata:
            found[name], refused[name] = {"type": "integer", "const": 0}, {"type": "integer", "not": {"const": 0}}
        elif shapes.ItemMessage in metadata:
            found[name] = refused[name] = _schema(annotation)
        else:
            found[name], refused[name] = _schema(annotation), _refused(annotation)
    return {"oneOf": [_obj(found), _obj(refused)]}


def _codes(ok: bool, status_keys: bool = False, refusals: list[int] | None = None) -> dict[str, Schema]:
    """responseCode/responseMessage (code/message for subscription status): 0 and OK, or a refusal, whose
    code is one of `refusals` (the operation's codes, domain/code_guide.py)."""
    code_key, message_key = ("code", "message") if status_keys else ("responseCode", "responseMessage")
    if ok:
        return {code_key: {"type": "integer", "const": 0}, message_key: {"type": "string", "const": "OK"}}
    return {code_key: {"type": "integer", "enum": refusals or []}, message_key: STR}


def _reply(operation: str) -> tuple[Schema, Schema]:
    """An operation's success and refusal, as api/shapes.py shapes them."""
    shape, status_keys = shapes.REPLIES[operation], operation in shapes.STATUS_REPLIES
    values = shapes.fields(shape)
    ok = {name: _schema(annotation) for name, annotation in values.items()}
    refused = {name: _refused(annotation) for name, annotation in values.items()}
    refusals = code_guide.refusal_codes(operation, operation in REQUESTS)
    return _obj(ok | _codes(True, status_keys)), _obj(refused | _codes(False, status_keys, refusals))


def _component(shape: type[shapes.Shape]) -> Schema:
    return _item_variants(shape) if shape.variants else _object(shape)


# The objects the replies refer to (#/components/schemas/<name>), and the /iam and 404 replies.
SHAPES: list[type[shapes.Shape]] = [
    shapes.Serial,
    shapes.File,
    shapes.DownloadFile,
    shapes.LineItem,
    shapes.OrderLine,
    shapes.DownloadManager,
    shapes.StockItem,
    shapes.Suggestion,
    shapes.Category,
    shapes.Webhook,
    shapes.WebhookDelivery,
    shapes.Error,
    shapes.NotFound,
    shapes.TokenReply,
]


# ---------------------------------------------------------------- requests, per operation

_LOCATION: Schema = _request(
    {
        "companyName": STR,
        "title": LENIENT_INT,
        "lastName": STR,
        "firstName": STR,
        "address1": STR,
        "address2": STR,
        "zipCode": STR,
        "city": STR,
        "province": {"type": "string", "description": "required when country is US, CA, BR or AU (1048)"},
        "country": {"type": "string", "description": "ISO 3166-1 alpha-2"},
        "phone": STR,
        "fax": STR,
    },
    [],
)
_DISCOUNT: Schema = _request(
    {
        "foreignRef": STR,
        "label": STR,
        "priceDelta": NUM,
        "operation": {"type": "string", "description": "PERCENT/Percents or AMOUNT/Amount, any case"},
        "operationValue": NUM,
    },
    [],
    "`[ {} ]` (a list holding an empty object) means no discount",
)
_DISCOUNTS: Schema = {"type": "array", "items": _ref("Discount")}

REQUESTS: dict[str, Schema] = {
    "getStockStatus": _request({"productRefs": {"type": "array", "items": LENIENT_INT}}, ["productRefs"]),
    "getCrossUpSell": _request(
        {
            "language": {"type": "string", "description": 'one code or a comma-separated list ("FR,EN,ES")'},
            "products": {
                "type": "array",
                "items": _request({"productRef": LENIENT_INT, "quantity": LENIENT_INT}, ["productRef", "quantity"]),
            },
        },
        ["language", "products"],
    ),
    "createOrder": _ref("CreateOrderRequest"),
    "cancelOrder": _request(
        {
            "partnerOrderNumber": PON,
            "reasonCode": {
                "type": "integer",
                "enum": [2, 3, 4, 5, 6, 16],
                "description": "2 order cancelled, 3 unsatisfied customer, 4 double order, 5 product order, "
                "6 incompatible product, 16 fraud / chargeback",
            },
            "comment": STR,
        },
        ["partnerOrderNumber", "reasonCode"],
    ),
    "updateDownloadTime": _request(
        {
            "partnerOrderNumber": PON,
            "value": {
                "type": "string",
                "description": "the new end date (YYYY-MM-DD) or an ISO 8601 period added to it (P7D, P1Y5M2D)",
            },
        },
        ["partnerOrderNumber", "value"],
    ),
    "getSubscriptionStatus": _ref("SubscriptionRequest"),
    "cancelSubscription": _ref("SubscriptionRequest"),
    "renewSubscription": _ref("SubscriptionRequest"),
    "addWebhook": _request(
        {
            "url": {"type": "string", "description": "an absolute http(s) URL"},
            "events": {"type": "array", "items": {"type": "string", "enum": list(MERCHANT_EVENTS)}, "minItems": 1},
        },
        ["url", "events"],
    ),
    "advanceTestClock": _request(
        {
            "advanceTo": {
                "type": "string",
                "description": "where the clock goes: ISO 8601 with offset, e.g. 2027-12-01T09:00:00+00:00",
            },
            "advanceBy": {
                "type": "string",
                "description": "how far the clock goes: a positive ISO 8601 duration (P1Y, P1M, P7D, PT12H)",
            },
        },
        [],
        "Exactly one of advanceTo and advanceBy.",
    ),
}

TOKEN_REQUEST: Schema = _request(
    {
        "clientSecret": STR,
        "realmName": {"type": "string", "description": "the merchant"},
        "grantType": {"type": "string", "enum": ["client_credentials", "refresh_token"]},
        "refreshToken": {"type": "string", "description": "with grantType refresh_token"},
    },
    ["clientSecret", "realmName"],
    "Form-encoded clients may spell the fields client_secret, realm_name, grant_type, refresh_token.",
)

CREATE_ORDER_REQUEST: Schema = _request(
    {
        "partnerOrderNumber": PON,
        "orderDate": {"type": "string", "description": "ISO 8601 with offset, e.g. 2004-02-12T15:19:21+00:00"},
        "currency": {"type": "string", "description": "ISO 4217; the catalogue's currency"},
        "marketingProgramId": STR,
        "affiliateId": LENIENT_INT,
        "orderLines": {
            "type": "array",
            "minItems": 1,
            "items": _request(
                {
                    "productRef": LENIENT_INT,
                    "quantity": LENIENT_INT,
                    "vatRate": NUM,
                    "amountDutyFree": NUM,
                    "amountTotal": NUM,
                    "discounts": _DISCOUNTS,
                    "endUserEmail": STR,
                },
                ["productRef", "quantity"],
            ),
        },
        "customer": _request(
            {
                "partnerId": STR,
                "email": STR,
                "language": {"type": "string", "description": "ll_CC, e.g. fr_FR, en_US, en_XE"},
                "locationInvoice": _ref("Location"),
                "locationDelivery": _ref("Location"),
                "ipV4": STR,
                "ipV6": STR,
            },
            ["email", "locationInvoice"],
        ),
        "payment": _request({"paymentMethod": STR, "transactionId": STR}, []),
        "discounts": _DISCOUNTS,
        "metadata": {"type": "array", "items": _request({"key": STR, "value": STR}, ["key"])},
    },
    ["partnerOrderNumber", "orderDate", "currency", "orderLines", "customer"],
)

# operation -> (success reply, refusal reply)
REPLIES: dict[str, tuple[Schema, Schema]] = {operation: _reply(operation) for operation in shapes.REPLIES}

COMPONENTS: dict[str, Schema] = {shape.__name__: _component(shape) for shape in SHAPES} | {
    "TokenRequest": TOKEN_REQUEST,
    "CreateOrderRequest": CREATE_ORDER_REQUEST,
    "Location": _LOCATION,
    "Discount": _DISCOUNT,
    "SubscriptionRequest": _request(
        {"partnerOrderNumber": PON, "subscriptionId": LENIENT_INT}, ["partnerOrderNumber", "subscriptionId"]
    ),
}
for _name, (_success, _refusal) in REPLIES.items():
    COMPONENTS[f"{_name[0].upper()}{_name[1:]}Reply"] = _success
    COMPONENTS[f"{_name[0].upper()}{_name[1:]}Refusal"] = _refusal

# Operations answered 201 on success, 200 on refusal.
CREATED = {"createOrder", "addWebhook"}


# ---------------------------------------------------------------- the document


def _json(description: str, schema: Schema) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _stem(operation: str) -> str:
    return operation[0].upper() + operation[1:]


def _bearer_401() -> dict[str, Any]:
    """The 401 of a bearer token: the contract's one body, the case in the RFC 6750 challenge."""
    return {
        **_json("Bearer token missing, malformed, expired or revoked", _ref("Error")),
        "headers": {
            "WWW-Authenticate": {
                "description": 'Which case: `Bearer realm="resell"` when the token is missing; otherwise '
                '`error="invalid_token"` with an `error_description` saying malformed, expired (get a new token) '
                "or revoked (sign in again)",
                "schema": {"type": "string"},
            }
        },
    }


def connect_responses(operation: str, has_body: bool, has_path_params: bool) -> dict[str, Any]:
    """Every status a /connect operation answers with, and its reply schema."""
    ok, refused = _ref(f"{_stem(operation)}Reply"), _ref(f"{_stem(operation)}Refusal")
    responses: dict[str, Any] = {}
    if operation in CREATED:
        responses["201"] = _json("Created", ok)
        responses["200"] = _json("Refused: responseCode says why, unknown values are null", refused)
    else:
        responses["200"] = _json(
            "Done (code 0), or refused (the code says why; unknown values are null)", {"oneOf": [ok, refused]}
        )
    if has_body:
        code_key = "code" if operation == "getSubscriptionStatus" else "responseCode"
        responses["400"] = _json(
            "Malformed body (not JSON, not an object): code 1030",
            {"allOf": [refused, {"properties": {code_key: {"const": 1030}}}]},
        )
        responses["413"] = _json(
            "Body larger than RESELL_MAX_REQUEST_BYTES (docs/limits.md): code 1030",
            {"allOf": [refused, {"properties": {code_key: {"const": 1030}}}]},
        )
    responses["401"] = _bearer_401()
    if has_path_params:
        responses["404"] = _json("Unknown path (a path parameter holding a slash names another path)", _ref("NotFound"))
    return responses


IAM_RESPONSES: dict[str, dict[str, Any]] = {
    "createToken": {
        "200": _json("Tokens issued", _ref("TokenReply")),
        "400": _json("Not a JSON (or form) object, or a field missing", _ref("Error")),
        "401": _json("Bad credentials or refresh token", _ref("Error")),
        "413": _json(
            "Body larger than RESELL_MAX_REQUEST_BYTES (docs/limits.md)",
            {
                "type": "object",
                "required": ["responseCode", "responseMessage"],
                "properties": {"responseCode": {"const": 1030}, "responseMessage": {"type": "string"}},
            },
        ),
        "429": {
            **_json("Too many attempts: wait Retry-After seconds", _ref("Error")),
            "headers": {"Retry-After": {"description": "seconds to wait", "schema": {"type": "string"}}},
        },
    },
    "resetTokens": {
        "204": {
            "description": "Every refresh token of the client revoked; access tokens already issued stay valid "
            "until they expire"
        },
        "401": _bearer_401(),
    },
}

BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}]


def _operation_name(op: dict[str, Any]) -> str | None:
    """The contract's operation name of a documented operation: its operationId, without the method
    that api/rest/dispatch.py: operation_id appends for a second method (`renewSubscriptionPut`)."""
    operation_id = op.get("operationId", "")
    for name in (operation_id, re.sub(r"(Get|Put|Post|Delete|Patch)$", "", operation_id)):
        if name in REPLIES or name in IAM_RESPONSES:
            return name
    return None


def document(app: FastAPI, routes: list[BaseRoute]) -> dict[str, Any]:
    """FastAPI's document of `routes` with the request and reply schemas of every /connect and /iam operation."""
    doc = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=routes,
        tags=app.openapi_tags,
        servers=app.servers,
    )
    components = doc.setdefault("components", {})
    components.setdefault("schemas", {}).update(COMPONENTS)
    components.setdefault("securitySchemes", {})["bearerAuth"] = {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "an access token from POST /iam/tokens",
    }
    for path, op in [(p, o) for p, ops in doc["paths"].items() for o in ops.values()]:
        name = _operation_name(op) if path.startswith(("/connect/", "/iam/")) else None
        if name is None:
            continue
        params = op.get("parameters", [])
        if path.startswith("/connect"):
            # the `caller` dependency reads this header itself (no per-call validation), so it is written here
            params = op["parameters"] = [p for p in params if not (p["in"] == "header" and p["name"] == "secret")]
            params.append(SECRET_HEADER)
            params.extend(copy.deepcopy(operation_docs.QUERY_PARAMETERS.get(name, [])))
            has_body = name in REQUESTS
            if has_body:
                op["requestBody"] = {"required": True, "content": {JSON: {"schema": REQUESTS[name]}}}
            op["responses"] = connect_responses(name, has_body, any(p["in"] == "path" for p in params))
            op["security"] = BEARER
            _explain(op, name, has_body)
        elif name in IAM_RESPONSES:
            op["responses"] = copy.deepcopy(IAM_RESPONSES[name])
            if name == "createToken":
                token = _ref("TokenRequest")
                op["requestBody"] = {"required": True, "content": {JSON: {"schema": token}, FORM: {"schema": token}}}
                op["responses"]["200"]["content"][JSON]["example"] = operation_docs.SUCCESSES[name]
            else:
                op["security"] = BEARER
            _explain(op, name, False)
    _drop_unused(doc)
    return doc


def _explain(op: dict[str, Any], name: str, has_body: bool) -> None:
    """The summary, the description with the codes table, and the examples of an operation (operation_docs)."""
    op["summary"], _ = operation_docs.DESCRIPTIONS[name]
    op["description"] = operation_docs.description(name, has_body)
    if op["operationId"] != name:  # the same operation on its second method
        op["summary"] += " (the same, by " + op["operationId"][len(name) :].upper() + ")"
    example = operation_docs.REQUESTS.get(name)
    if example is not None and "requestBody" in op:
        op["requestBody"]["content"][JSON]["example"] = example
    if name in shapes.REPLIES:
        for status, examples in operation_docs.reply_examples(name).items():
            op["responses"][status]["content"][JSON]["examples"] = examples


SECRET_HEADER = {
    "name": "secret",
    "in": "header",
    "required": True,
    "schema": {"type": "string"},
    "description": "The catalogue secret (missing: responseCode 70; not valid: 71)",
}


def _drop_unused(doc: dict[str, Any]) -> None:
    """FastAPI's 422 schemas describe replies this app never sends (it answers 400 with code 1030)."""
    schemas = doc["components"]["schemas"]
    for name in ("HTTPValidationError", "ValidationError"):
        others = repr(doc["paths"]) + repr([s for k, s in schemas.items() if k != name])
        if name in schemas and f"#/components/schemas/{name}'" not in others:
            del schemas[name]


def build_openapi(app: FastAPI, routes: list[BaseRoute]) -> dict[str, Any]:
    """`app.openapi`: the document of `routes` (the REST surface's and the feed's), built once per application."""
    if app.openapi_schema is None:
        app.openapi_schema = document(app, routes)
    return app.openapi_schema
