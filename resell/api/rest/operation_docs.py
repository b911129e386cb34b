"""What the OpenAPI document says about each operation besides its schemas: a summary, what it does
and when to call it, the table of codes it can answer with the advice for each (from the one table,
domain/code_guide.py), and realistic request and reply examples.

api/rest/openapi.py puts them into the document; tests/api/rest/test_openapi.py checks that every
operation has them and that every example is valid against its own schema. The reply examples are
built with the reply builders of api/shapes.py, so their keys are the replies' keys, in order.
"""

from __future__ import annotations

from typing import Any

from resell.api import shapes
from resell.domain import code_guide
from resell.domain import codes as c
from resell.domain.codes import Refusal
from resell.domain.order_request import ORDER_DATE_HINT
from resell.domain.request_fields import REASON_NOT_VALID
from resell.domain.webhooks import MERCHANT_EVENTS

# ---------------------------------------------------------------- the document's introduction

INTRODUCTION = """\
The reseller order API, wire-compatible with **Nexway Connect REST v3**: code written against Nexway
Connect works unchanged. Moving from Nexway? Read `docs/from-nexway.md` in the repository.

**Authentication.** Get an access token from `POST /iam/tokens` (`realmName`, `clientSecret`, both issued
by the operator) and send it as `Authorization: Bearer <access_token>` on every `/connect` call, with the
catalogue's `secret` header. A token lives 5 minutes; refresh it with `grantType: refresh_token`. Token
problems answer HTTP 401 whose `WWW-Authenticate` header says which (missing, `invalid_token` with an
`error_description`: malformed, expired, revoked).

**Replies.** Every business reply carries `responseCode` (0 = OK) and `responseMessage`; a refusal is HTTP
200 (a created order 201) and carries **every key** of the reply, unknown values `null`, lists empty.
Each operation below lists the codes it can answer and what to do about each. A body that is not a JSON
object answers HTTP 400 with code 1030.
"""

# ---------------------------------------------------------------- summaries and descriptions

# operation -> (summary, what it does and when to call it)
DESCRIPTIONS: dict[str, tuple[str, str]] = {
    "status": (
        "Check the service and your credentials",
        "Answers `UP`, the version and the server's time. Call it to check that the token and the catalogue "
        "secret work (a health check for your integration); it reads nothing else.",
    ),
    "getStockStatus": (
        "Stock levels of some products",
        "For each product reference: 100 enough stock, 200 almost out, 300 out of stock. An unknown reference "
        "gets an item with its own code (1010), not a refusal of the call. Call it before showing a product "
        "page or a cart; it is advisory: createOrder checks the stock again when it takes the licences.",
    ),
    "getCrossUpSell": (
        "Up-sells, cross-sells and options for a cart",
        "What to offer with the products of a cart: better editions (`up`), related products (`cross`) and "
        "the options (`option`: download extension, backup DVD). Call it on the cart page; an option may be "
        "ordered only with its base product and when every product of the order is eligible for it. `name` and "
        "`shortDescription` are in `language` (the first one listed) when the catalogue has them in it.",
    ),
    "createOrder": (
        "Submit a paid order and get the licences",
        "Call it once the end user has paid you. Answers HTTP 201 with the platform's `orderNumber`, a "
        "line item per unit with its serials, the download links and instructions (`remark`): give the end "
        "user all three. The whole order is refused (HTTP 200, a code) if any line is wrong or short of stock; "
        "nothing is then created or taken, and the partnerOrderNumber stays free. `partnerOrderNumber` makes it "
        "idempotent: after a lost reply, send the same order again; 1010 means it was created, read it with "
        "getOrderData.",
    ),
    "getOrderData": (
        "Read an order",
        "The order as createOrder answered it (serials, files, remark), by your partnerOrderNumber. Call it to "
        "show an order again, after a 1010 on createOrder, or to read a subscription's renewal order "
        "(`<partnerOrderNumber>-<generation>`).",
    ),
    "cancelOrder": (
        "Cancel an order and revoke its licences",
        "Revokes the order's serials at once, stops its downloads and terminates its subscriptions; you owe the "
        "end user the refund. Allowed within your catalogue's cancel period. `reasonCode`: 2 order cancelled, "
        "3 unsatisfied customer, 4 double order, 5 product order, 6 incompatible product, 16 fraud / chargeback.",
    ),
    "getDownloadInfo": (
        "Download links and their use",
        "The order's files with the download end date and how often each file was downloaded. Call it when the "
        "end user says the download does not work, or to decide on a download extension.",
    ),
    "updateDownloadTime": (
        "Move the download end date",
        "`value` is the new end date (`YYYY-MM-DD`) or an ISO 8601 period added to the current one (`P7D`, "
        "`P1Y5M2D`). Call it when the end user needs more time to download (the download window is 21 days "
        "by default).",
    ),
    "getSubscriptionStatus": (
        "State of a subscription",
        "Its period, `generation` (0 for the first term, +1 per renewal), `technicalStatus` and dates. Call it "
        "to learn of renewals if you do not take webhooks. This reply says `code`/`message`, not "
        "`responseCode`/`responseMessage`.",
    ),
    "cancelSubscription": (
        "Stop a subscription's renewals",
        "The order stands and the licence stays active until the expiration date; no renewal follows. To end "
        "the licence now, cancel the order (cancelOrder).",
    ),
    "renewSubscription": (
        "Renew a subscription now",
        "Creates the renewal order `<partnerOrderNumber>-<generation>` at once instead of at the end of the "
        "period (subscriptions renew by themselves). Read the new order with getOrderData. Also accepted as PUT.",
    ),
    "getCategories": (
        "The category tree, in a language",
        "Categories and their subcategories, labelled in the path's language (ISO 639-1). Call it to build "
        "your shop's navigation; cache it, it changes rarely.",
    ),
    "getOperatingSystems": (
        "The operating systems products name",
        "The ids and labels the product feed's system requirements refer to. Cache it, it changes rarely.",
    ),
    "addWebhook": (
        "Register a webhook endpoint",
        "The platform POSTs the chosen events (order.created, subscription.renewed, ...) to the URL, signed "
        "with Standard Webhooks headers. The signing secret is in this reply only: store it. Answers HTTP 201.",
    ),
    "listWebhooks": (
        "Your webhook endpoints",
        "Every endpoint with its events and whether it is active (an endpoint that keeps failing is disabled, "
        "with the reason). The signing secrets are never shown again.",
    ),
    "removeWebhook": (
        "Remove a webhook endpoint",
        "Nothing more is delivered to it; its delivery log is kept.",
    ),
    "listWebhookDeliveries": (
        "The delivery log of a webhook endpoint",
        "Every attempt to deliver an event to the endpoint, newest first: the event's id and type, the attempt's "
        "number (counted per event, redeliveries included), when, the HTTP status your endpoint answered (null "
        "when none: a timeout, a refused connection; `error` says which) and how long it took. A page holds "
        "`limit` attempts (1 to 200, default 50); pass `nextBefore` as `before` for the next, older page "
        "(null: the last page). Call it to see why an endpoint was disabled or whether an event reached you.",
    ),
    "redeliverWebhookEvent": (
        "Send an event to a webhook endpoint again",
        "Queues the event (an `eventId` of the delivery log) to this endpoint once more, with the same "
        "`webhook-id` header, so a receiver that saw it before can deduplicate it. The event must be yours and "
        "of a type the endpoint takes; a disabled endpoint gets nothing (1012: add it again). The attempt shows "
        "in the delivery log once sent.",
    ),
    "getTestClock": (
        "Read your sandbox's test clock",
        "With your sandbox (`test_`) secret: the time the sandbox's subscriptions live on. Until you first "
        "advance it, the clock follows real time (`frozen: false`); from then on it stands still where you "
        "put it.",
    ),
    "advanceTestClock": (
        "Move your sandbox's test clock forward",
        "With your sandbox (`test_`) secret: moves the clock to `advanceTo` (ISO 8601 with offset) or by "
        "`advanceBy` (an ISO 8601 duration: P1Y, P1M, PT12H), never back. Before answering, every renewal, "
        "retry and expiry of the sandbox's subscriptions due by then happens, at its own moment, as the "
        "renewal worker does it live: renewal orders `<partnerOrderNumber>-<generation>`, "
        "subscription.* webhooks (marked as tests). Use it to test a yearly renewal in a second.",
    ),
    "createToken": (
        "Sign in: get an access token",
        "`grantType: client_credentials` with your `realmName` and `clientSecret` (issued by the operator), or "
        "`refresh_token` with the `refreshToken` of the previous reply. The access token lives 5 minutes, the "
        "refresh token 30 and is used once. JSON or form-encoded. Bad credentials: HTTP 401; repeated failures "
        "slow down (HTTP 429, `Retry-After`).",
    ),
    "resetTokens": (
        "Revoke your refresh tokens",
        "Every refresh token of your client stops working; access tokens already issued stay valid until they "
        "expire (5 minutes), as with Nexway.",
    ),
}


def codes_table(operation: str, has_body: bool) -> str:
    """The Markdown table of the codes `operation` can answer, from domain/code_guide.py."""
    rows = [
        f"| {code} | {message} | {advice} |"
        for code, (message, advice) in code_guide.guide(operation, has_body).items()
    ]
    code_key, message_key = shapes.code_keys(operation)
    return "\n".join([f"| {code_key} | {message_key} | what to do |", "| --- | --- | --- |", *rows])


def description(operation: str, has_body: bool) -> str:
    text = DESCRIPTIONS[operation][1]
    if operation in code_guide.GUIDE:
        text += "\n\n**Codes**\n\n" + codes_table(operation, has_body)
    return text


# ---------------------------------------------------------------- examples

PON = "WEB-2026-118734"
SUB_PON = "WEB-2026-118790"
ORDER_NUMBER = 12567642
SUBSCRIPTION_ID = 40211

LOCATION = {
    "lastName": "Dupont",
    "firstName": "Marie",
    "address1": "12 rue des Lilas",
    "zipCode": "69003",
    "city": "Lyon",
    "country": "FR",
    "phone": "+33 4 78 00 00 00",
}

REQUESTS: dict[str, dict[str, Any]] = {
    "getStockStatus": {"productRefs": [734876, 712506, 716598]},
    "getCrossUpSell": {"language": "EN", "products": [{"productRef": 734876, "quantity": 1}]},
    "createOrder": {
        "partnerOrderNumber": PON,
        "orderDate": "2026-11-30T14:03:00+01:00",
        "currency": "EUR",
        "orderLines": [
            {"productRef": 734876, "quantity": 1, "vatRate": 20, "amountDutyFree": 16.66, "amountTotal": 19.99}
        ],
        "customer": {
            "partnerId": "C-88412",
            "email": "marie.dupont@example.fr",
            "language": "fr_FR",
            "locationInvoice": LOCATION,
            "ipV4": "203.0.113.24",
        },
        "payment": {"paymentMethod": "External Payment", "transactionId": "PSP-7F3K2Q9M"},
        "metadata": [{"key": "channel", "value": "web"}],
    },
    "cancelOrder": {"partnerOrderNumber": PON, "reasonCode": 3, "comment": "The customer changed their mind"},
    "updateDownloadTime": {"partnerOrderNumber": PON, "value": "P30D"},
    "getSubscriptionStatus": {"partnerOrderNumber": SUB_PON, "subscriptionId": SUBSCRIPTION_ID},
    "cancelSubscription": {"partnerOrderNumber": SUB_PON, "subscriptionId": SUBSCRIPTION_ID},
    "renewSubscription": {"partnerOrderNumber": SUB_PON, "subscriptionId": SUBSCRIPTION_ID},
    "addWebhook": {
        "url": "https://shop.example.com/hooks/resell",
        "events": ["order.created", "order.cancelled", "subscription.renewed"],
    },
    "advanceTestClock": {"advanceBy": "P1Y"},
    "createToken": {
        "realmName": "shop-fr",
        "clientSecret": "cs_4Qe9...issued-by-the-operator",
        "grantType": "client_credentials",
    },
}

_FILE = {
    "label": "Adam's Venture - Part 1",
    "type": "install",
    "url": "https://dl.resell.example/download/12567642/1/9f2c41d7e0b3a6c8/AdamsVenture1_Setup.exe",
    "size": 734003200,
    "group": "",
}
_ORDER_LINE = {
    "productRef": 734876,
    "lineItems": [
        {
            "serials": [
                {"data": "KX7Q2-9HD4M-TT3WB-P8C6R-YV2JF", "encoding": "text", "charset": "utf-8", "fileName": ""}
            ],
            "subscriptionId": None,
            "responseCode": 0,
            "responseMessage": "",
        }
    ],
    "files": [_FILE],
    "dateEndDownload": "2026-12-21",
    "digitalLockerLink": "https://resell.example/locker?order=12567642",
    "remark": "<p>Hello Marie! Enter the key above when the game asks for it.</p>",
    "responseCode": 0,
    "responseMessage": "",
}
_ORDER: dict[str, Any] = {
    "partnerOrderNumber": PON,
    "orderNumber": ORDER_NUMBER,
    "orderLines": [_ORDER_LINE],
    "downloadManager": None,
}
_STAMP = "2026-11-30T13:03:00Z"

SUCCESSES: dict[str, dict[str, Any]] = {
    "status": shapes.body("status", status="UP", version="1.0.0", time="2026-11-30T13:03:00+00:00"),
    "getStockStatus": shapes.body(
        "getStockStatus",
        productStatus=[
            {"productRef": 734876, "status": 100, "responseCode": 0, "responseMessage": "OK"},
            {"productRef": 712506, "status": 200, "responseCode": 0, "responseMessage": "OK"},
            {"productRef": 716598, "status": None, "responseCode": 1010, "responseMessage": "product doesn't exist"},
        ],
    ),
    "getCrossUpSell": shapes.body(
        "getCrossUpSell",
        productsReturn=[
            {
                "ref": 740492,
                "type": "option",
                "name": "Download extension (1 year)",
                "amountDutyFree": 4.99,
                "currency": "EUR",
                "shortDescription": "Download the game again, as often as needed, for a year.",
                "language": "EN",
                "imageSmall": None,
            },
            {
                "ref": 724648,
                "type": "cross",
                "name": "Adam's Venture - Part 2",
                "amountDutyFree": 8.32,
                "currency": "EUR",
                "shortDescription": "The second episode of the Adam's Venture series.",
                "language": "EN",
                "imageSmall": "https://resell.example/media/724648/small.jpg",
            },
        ],
    ),
    "createOrder": shapes.body("createOrder", **_ORDER),
    "getOrderData": shapes.body("getOrderData", **_ORDER),
    "cancelOrder": shapes.body(
        "cancelOrder", partnerOrderNumber=PON, orderNumber=ORDER_NUMBER, newDownloadEndDate="2026-12-02"
    ),
    "getDownloadInfo": shapes.body(
        "getDownloadInfo",
        partnerOrderNumber=PON,
        downloadEndDate="2026-12-21",
        orderLines=[
            {
                "productRef": 734876,
                "files": [
                    _FILE
                    | {
                        "dateFirstDownload": "2026-11-30T13:10:42Z",
                        "dateLastDownload": "2026-12-01T08:55:10Z",
                        "countStartDownload": 2,
                        "countCompleteDownload": 1,
                    }
                ],
            }
        ],
    ),
    "updateDownloadTime": shapes.body("updateDownloadTime", partnerOrderNumber=PON, newDownloadEndDate="2027-01-20"),
    "getSubscriptionStatus": shapes.body(
        "getSubscriptionStatus",
        partnerOrderNumber=SUB_PON,
        subscriptionId=SUBSCRIPTION_ID,
        productRef=724906,
        period="P1Y",
        generation=0,
        technicalStatus="ACTIVE",
        creation_datetime=_STAMP,
        update_datetime=_STAMP,
        expiration_datetime="2027-11-30T13:03:00Z",
        next_status_change_datetime="2027-11-30T13:03:00Z",
        currency="EUR",
        amount=49.99,
    ),
    "cancelSubscription": shapes.body(
        "cancelSubscription", partnerOrderNumber=SUB_PON, subscriptionId=SUBSCRIPTION_ID, orderNumber=12567650
    ),
    "renewSubscription": shapes.body(
        "renewSubscription", partnerOrderNumber=f"{SUB_PON}-1", subscriptionId=SUBSCRIPTION_ID, orderNumber=12601177
    ),
    "getCategories": shapes.body(
        "getCategories",
        categoryList=[
            {
                "id": 24,
                "label": "Games",
                "subcategories": [{"id": 13, "label": "Adventure"}, {"id": 4, "label": "Strategy"}],
            },
            {"id": 40, "label": "Security", "subcategories": [{"id": 33, "label": "Antivirus"}]},
        ],
    ),
    "getOperatingSystems": shapes.body(
        "getOperatingSystems", osList=[{"id": 22, "label": "Windows 11"}, {"id": 13, "label": "macOS 14"}]
    ),
    "addWebhook": shapes.body(
        "addWebhook",
        id=7,
        url="https://shop.example.com/hooks/resell",
        events=["order.created", "order.cancelled", "subscription.renewed"],
        signingSecret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    ),
    "listWebhooks": shapes.body(
        "listWebhooks",
        webhooks=[
            {
                "id": 7,
                "url": "https://shop.example.com/hooks/resell",
                "events": ["order.created", "order.cancelled", "subscription.renewed"],
                "active": True,
                "createdAt": _STAMP,
                "disabledAt": None,
                "disabledReason": None,
            }
        ],
    ),
    "removeWebhook": shapes.body("removeWebhook", id=7),
    "listWebhookDeliveries": shapes.body(
        "listWebhookDeliveries",
        id=7,
        deliveries=[
            {
                "id": 1042,
                "eventId": "3f1c9a52-8d7e-4b1a-9c2f-6e5d4a3b2c10",
                "eventType": "order.created",
                "attempt": 2,
                "at": _STAMP,
                "statusCode": 200,
                "error": None,
                "durationMs": 84,
            },
            {
                "id": 1017,
                "eventId": "3f1c9a52-8d7e-4b1a-9c2f-6e5d4a3b2c10",
                "eventType": "order.created",
                "attempt": 1,
                "at": _STAMP,
                "statusCode": 503,
                "error": "HTTP 503",
                "durationMs": 131,
            },
        ],
        nextBefore=1017,
    ),
    "redeliverWebhookEvent": shapes.body(
        "redeliverWebhookEvent", id=7, eventId="3f1c9a52-8d7e-4b1a-9c2f-6e5d4a3b2c10", eventType="order.created"
    ),
    "getTestClock": shapes.body("getTestClock", clockTime="2027-11-30T13:03:00Z", frozen=True),
    "advanceTestClock": shapes.body(
        "advanceTestClock", clockTime="2028-11-30T13:03:00Z", frozen=True, renewed=1, expired=0, failed=0
    ),
    "createToken": {
        "access_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI0MiIsInR5cCI6ImFjY2VzcyJ9.Xb2...",
        "refresh_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI0MiIsInR5cCI6InJlZnJlc2gifQ.q7W...",
        "expires_in": 300,
        "refresh_expires_in": 1800,
        "token_type": "Bearer",
        "session_state": "0b6f3c1e-5d7a-4f58-9a3e-2c41d0e8b7aa",
    },
}

# operation -> (a typical refusal's code, the request values it echoes back, its message if not the usual one)
_REFUSALS: dict[str, tuple[int, dict[str, Any], str | None]] = {
    "status": (c.SECRET_NOT_VALID, {}, None),
    "getStockStatus": (c.STOCK_REFS_MISSING, {}, None),
    "getCrossUpSell": (c.SUGGESTION_LANGUAGE_NOT_VALID, {}, None),
    "createOrder": (c.OUT_OF_STOCK, {"partnerOrderNumber": PON}, None),
    "getOrderData": (c.ORDER_NOT_FOUND, {"partnerOrderNumber": PON}, None),
    "cancelOrder": (c.ORDER_ALREADY_CANCELLED, {"partnerOrderNumber": PON}, None),
    "getDownloadInfo": (c.ORDER_NOT_FOUND, {"partnerOrderNumber": PON}, None),
    "updateDownloadTime": (c.DOWNLOAD_TIME_NOT_VALID, {"partnerOrderNumber": PON}, None),
    "getSubscriptionStatus": (
        c.SUBSCRIPTION_NOT_FOUND,
        {"partnerOrderNumber": SUB_PON, "subscriptionId": SUBSCRIPTION_ID},
        None,
    ),
    "cancelSubscription": (
        c.SUBSCRIPTION_ENDED,
        {"partnerOrderNumber": SUB_PON, "subscriptionId": SUBSCRIPTION_ID},
        None,
    ),
    "renewSubscription": (
        c.OUT_OF_STOCK,
        {"partnerOrderNumber": SUB_PON, "subscriptionId": SUBSCRIPTION_ID},
        None,
    ),
    "getCategories": (c.LANGUAGE_UNKNOWN, {}, None),
    "getOperatingSystems": (c.SECRET_MISSING, {}, None),
    "addWebhook": (c.WEBHOOK_EVENTS_NOT_VALID, {}, f"events not valid (allowed: {', '.join(MERCHANT_EVENTS)})"),
    "listWebhooks": (c.SECRET_MISSING, {}, None),
    "removeWebhook": (c.WEBHOOK_NOT_FOUND, {"id": 7}, None),
    "listWebhookDeliveries": (c.WEBHOOK_NOT_FOUND, {"id": 7}, None),
    "redeliverWebhookEvent": (
        c.WEBHOOK_EVENT_NOT_FOUND,
        {"id": 7, "eventId": "3f1c9a52-8d7e-4b1a-9c2f-6e5d4a3b2c10"},
        None,
    ),
    "getTestClock": (c.CLOCK_NOT_SANDBOX, {}, None),
    "advanceTestClock": (
        c.CLOCK_BACKWARDS,
        {},
        f"{c.message_for(c.CLOCK_BACKWARDS, 'advanceTestClock')}: it is at 2027-11-30T13:03:00+00:00",
    ),
}

# operation -> its query parameters (api/rest/openapi.py adds them to the document)
QUERY_PARAMETERS: dict[str, list[dict[str, Any]]] = {
    "listWebhookDeliveries": [
        {
            "name": "limit",
            "in": "query",
            "required": False,
            "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
            "description": "How many attempts per page (not valid: responseCode 111)",
        },
        {
            "name": "before",
            "in": "query",
            "required": False,
            "schema": {"type": "integer", "minimum": 1},
            "description": "The previous page's `nextBefore`: older attempts only (not valid: responseCode 121)",
        },
    ],
}


# More refusals worth showing: name -> (operation, code, echoed values, message)
_MORE_REFUSALS: dict[str, tuple[str, int, dict[str, Any], str | None]] = {
    "already created": ("createOrder", c.ORDER_ALREADY_CREATED, {"partnerOrderNumber": PON}, None),
    "wrong currency": (
        "createOrder",
        c.CURRENCY_UNKNOWN,
        {"partnerOrderNumber": PON},
        c.CURRENCY_NOT_THE_CATALOGUES.format(currency="EUR"),
    ),
    "orderDate without offset": (
        "createOrder",
        c.ORDER_DATE_NOT_VALID,
        {"partnerOrderNumber": PON},
        ORDER_DATE_HINT,
    ),
    "bad reasonCode": (
        "cancelOrder",
        c.CANCEL_REASON_NOT_VALID,
        {"partnerOrderNumber": PON},
        REASON_NOT_VALID,
    ),
}


def _refused(operation: str, code: int, echoed: dict[str, Any], message: str | None) -> dict[str, Any]:
    """A refusal of `operation`, built as the operation builds it (every key, its code)."""
    return {
        "summary": f"Refused: {code} {c.message_for(code, operation)}",
        "value": shapes.refusal(operation, Refusal(code, message), **echoed),
    }


def reply_examples(operation: str) -> dict[str, dict[str, Any]]:
    """The named examples of an operation's replies, by status (a created order or webhook is 201)."""
    done = {"summary": "Done", "value": SUCCESSES[operation]}
    refused = {"refused": _refused(operation, *_REFUSALS[operation])}
    refused |= {name: _refused(op, code, echoed, text) for name, (op, code, echoed, text) in _MORE_REFUSALS.items()
                if op == operation}  # fmt: skip
    if operation in ("createOrder", "addWebhook"):
        return {"201": {"done": done}, "200": refused}
    return {"200": {"done": done, **refused}}
