"""The reply shapes of the JSON surfaces (/connect, /iam, the feed's errors), defined once here.

Clients test keys for presence, so a refusal carries the same keys as a success, with null (or an
empty list) where a value is unknown. The blank reply of each operation is defined here, once, and
so is every builder of a reply body. REST (api/rest/) renders them as JSON with `JSONReply`; SOAP
(api/soap/operations.py) reuses the same builders and writes them in the contract's element order
(api/soap/codec.py); the feed answers its errors with `JSONReply`. Neither imports api/rest/.
api/rest/openapi.py writes the document's reply schemas from the models below.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal, get_args, get_origin, get_type_hints

import orjson
from pydantic import BaseModel, ConfigDict
from starlette.responses import JSONResponse

from resell.domain.codes import Refusal, message_for
from resell.domain.webhooks import MERCHANT_EVENTS
from resell.services import catalog, iam
from resell.services.orders import FileView, OrderLineView, OrderView
from resell.services.subscriptions import SubscriptionView
from resell.services.webhooks import Endpoint, LoggedDelivery

# ---------------------------------------------------------------- the shapes
#
# One model per reply shape, its fields in the order the reply writes its keys. The models are the
# description, not the hot path: a reply is a plain dict built in that order (`body` and the
# builders below) and rendered by orjson; BLANK, the refusal's every key, comes from the models, and
# so does every reply schema of the OpenAPI document (api/rest/openapi.py). A field's type is its
# value in a success; in a refusal a list is empty and any other value null, but for the request
# values a refusal echoes back (`Echoed`), which may be null. responseCode/responseMessage (code/
# message for getSubscriptionStatus) follow the fields of every reply.


class Doc:
    """JSON schema keywords a field's schema adds to its type's (format, pattern, enum, ...)."""

    def __init__(self, **keywords: Any) -> None:
        self.keywords = keywords


class Echoed:
    """A request value a refusal echoes back (null when the request had none)."""


class ItemCode:
    """An item's own responseCode: 0 in an item found, not 0 in an item refused."""


class ItemMessage:
    """An item's own responseMessage: a string either way."""


Date = Annotated[str, Doc(format="date")]
Timestamp = Annotated[str, Doc(format="date-time")]


class Shape(BaseModel):
    """A reply object: every key present, no other key."""

    model_config = ConfigDict(extra="forbid")
    # a component schema of its own (#/components/schemas/<class name>), or written where it is used
    inline: ClassVar[bool] = False
    # a list item that is either found or refused (getStockStatus): its schema is oneOf the two
    variants: ClassVar[bool] = False


class Serial(Shape):
    data: str
    encoding: Literal["text"]
    charset: Literal["utf-8"]
    fileName: str


class File(Shape):
    label: str
    type: str
    url: str
    size: int
    group: str


class DownloadFile(File):
    dateFirstDownload: Timestamp | None
    dateLastDownload: Timestamp | None
    countStartDownload: int
    countCompleteDownload: int


class LineItem(Shape):
    serials: list[Serial]
    subscriptionId: int | None
    responseCode: int
    responseMessage: str


class OrderLine(Shape):
    productRef: int
    lineItems: list[LineItem]
    files: list[File]
    dateEndDownload: Date
    digitalLockerLink: str | None
    remark: str
    responseCode: int
    responseMessage: str


class DownloadManager(Shape):
    pc: str
    mac: str


class StockItem(Shape):
    variants = True
    productRef: Annotated[int, Echoed]
    status: Literal[100, 200, 300]
    responseCode: Annotated[int, ItemCode]
    responseMessage: Annotated[str, ItemMessage]


class Suggestion(Shape):
    ref: int
    type: Literal["option", "up", "cross"]
    name: str
    amountDutyFree: float | None
    currency: str
    shortDescription: str
    language: str
    imageSmall: str | None


class Subcategory(Shape):
    inline = True
    id: int
    label: str


class Category(Shape):
    id: int
    label: str
    subcategories: list[Subcategory]


class OperatingSystem(Shape):
    inline = True
    id: int
    label: str


class DownloadInfoLine(Shape):
    inline = True
    productRef: int
    files: list[DownloadFile]


class Webhook(Shape):
    id: int
    url: str
    events: list[str]
    active: bool
    createdAt: Timestamp
    disabledAt: Timestamp | None
    disabledReason: str | None


class Error(Shape):
    """The /iam errors and every 401: `{"status", "error", "message"}`."""

    status: int
    error: str
    message: str


class NotFound(Shape):
    """FastAPI's own 404."""

    detail: str


class TokenReply(Shape):
    access_token: str
    refresh_token: str
    expires_in: int
    refresh_expires_in: int
    token_type: Literal["Bearer"]
    session_state: str


# ---- the /connect replies

Event = Annotated[str, Doc(enum=list(MERCHANT_EVENTS))]


class StatusReply(Shape):
    status: Literal["UP"]
    version: str
    time: Timestamp


class StockStatusReply(Shape):
    productStatus: list[StockItem]


class CrossUpSellReply(Shape):
    productsReturn: list[Suggestion]


class OrderReply(Shape):
    """createOrder and getOrderData."""

    partnerOrderNumber: Annotated[str, Echoed]
    orderNumber: int
    orderLines: list[OrderLine]
    downloadManager: DownloadManager | None


class CancelOrderReply(Shape):
    partnerOrderNumber: Annotated[str, Echoed]
    orderNumber: int
    newDownloadEndDate: Date


class DownloadInfoReply(Shape):
    partnerOrderNumber: Annotated[str, Echoed]
    downloadEndDate: Date
    orderLines: list[DownloadInfoLine]


class UpdateDownloadTimeReply(Shape):
    partnerOrderNumber: Annotated[str, Echoed]
    newDownloadEndDate: Date


class SubscriptionStatusReply(Shape):
    partnerOrderNumber: Annotated[str, Echoed]
    subscriptionId: Annotated[int, Echoed]
    productRef: int
    period: Annotated[str, Doc(description="ISO 8601 period, e.g. P1Y")]
    generation: Annotated[int, Doc(minimum=0)]
    technicalStatus: Literal["ACTIVE", "CANCELLED", "TERMINATED", "EXPIRED", "RENEWAL_PENDING"]
    creation_datetime: Timestamp
    update_datetime: Timestamp
    expiration_datetime: Timestamp
    next_status_change_datetime: Timestamp | None
    currency: str
    amount: float | None


class SubscriptionChangeReply(Shape):
    """cancelSubscription and renewSubscription."""

    partnerOrderNumber: Annotated[str, Echoed]
    subscriptionId: Annotated[int, Echoed]
    orderNumber: int


class CategoriesReply(Shape):
    categoryList: list[Category]


class OperatingSystemsReply(Shape):
    osList: list[OperatingSystem]


class AddWebhookReply(Shape):
    id: int
    url: str
    events: Annotated[list[Event], Doc(minItems=1)]
    signingSecret: Annotated[str, Doc(pattern="^whsec_")]


class ListWebhooksReply(Shape):
    webhooks: list[Webhook]


class RemoveWebhookReply(Shape):
    id: Annotated[int, Echoed]


class WebhookDelivery(Shape):
    id: int
    eventId: str
    eventType: str | None
    attempt: int
    at: Timestamp
    statusCode: int | None
    error: str | None
    durationMs: int | None


class ListWebhookDeliveriesReply(Shape):
    id: Annotated[int, Echoed]
    deliveries: list[WebhookDelivery]
    nextBefore: int | None


class RedeliverWebhookEventReply(Shape):
    id: Annotated[int, Echoed]
    eventId: Annotated[str, Echoed]
    eventType: Event


class ClockReply(Shape):
    """getTestClock: a sandbox catalogue's clock (resell.services.test_clocks)."""

    clockTime: Timestamp
    frozen: Annotated[bool, Doc(description="false: the clock still follows real time (never advanced)")]


class AdvanceClockReply(Shape):
    """advanceTestClock: the clock moved, and what happened to the sandbox's subscriptions meanwhile."""

    clockTime: Timestamp
    frozen: bool
    renewed: Annotated[int, Doc(minimum=0)]
    expired: Annotated[int, Doc(minimum=0)]
    failed: Annotated[int, Doc(minimum=0)]


# operation (the route name) -> the shape of its reply
REPLIES: dict[str, type[Shape]] = {
    "status": StatusReply,
    "getStockStatus": StockStatusReply,
    "getCrossUpSell": CrossUpSellReply,
    "createOrder": OrderReply,
    "getOrderData": OrderReply,
    "cancelOrder": CancelOrderReply,
    "getDownloadInfo": DownloadInfoReply,
    "updateDownloadTime": UpdateDownloadTimeReply,
    "getSubscriptionStatus": SubscriptionStatusReply,
    "cancelSubscription": SubscriptionChangeReply,
    "renewSubscription": SubscriptionChangeReply,
    "getCategories": CategoriesReply,
    "getOperatingSystems": OperatingSystemsReply,
    "addWebhook": AddWebhookReply,
    "listWebhooks": ListWebhooksReply,
    "removeWebhook": RemoveWebhookReply,
    "listWebhookDeliveries": ListWebhookDeliveriesReply,
    "redeliverWebhookEvent": RedeliverWebhookEventReply,
    "getTestClock": ClockReply,
    "advanceTestClock": AdvanceClockReply,
}
# Contract 3: subscription status replies carry `code`/`message` instead of responseCode/responseMessage.
STATUS_REPLIES = {"getSubscriptionStatus"}


def code_keys(operation: str) -> tuple[str, str]:
    """The names of an operation's responseCode and responseMessage."""
    return ("code", "message") if operation in STATUS_REPLIES else ("responseCode", "responseMessage")


def fields(shape: type[Shape]) -> dict[str, Any]:
    """A shape's fields and their annotations (with their Annotated metadata), in key order."""
    hints = get_type_hints(shape, include_extras=True)
    return {name: hints[name] for name in shape.model_fields}


def is_list(annotation: Any) -> bool:
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return get_origin(annotation) is list


# The refusal of each operation: every key, a list empty, any other value null.
BLANK: dict[str, dict[str, Any]] = {
    operation: {name: [] if is_list(annotation) else None for name, annotation in fields(shape).items()}
    for operation, shape in REPLIES.items()
}


def _default(value: object) -> object:
    if isinstance(value, Decimal):  # as FastAPI's encoder renders them: Decimal("12") is 12, "12.00" is 12.0
        exponent = value.as_tuple().exponent
        return int(value) if isinstance(exponent, int) and exponent >= 0 else float(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


class JSONReply(JSONResponse):
    """orjson rendering: fast, and Decimal amounts become JSON numbers."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=_default)


def error(status: int, error: str, message: str, headers: dict[str, str] | None = None) -> JSONReply:
    """An `Error` reply: the /iam errors, and the 401 of every JSON surface."""
    return JSONReply({"status": status, "error": error, "message": message}, status_code=status, headers=headers)


# RFC 6750 3.1: what the 401 of a bearer token says in WWW-Authenticate, by Unauthorized.kind. A request
# without a token gets the bare challenge (no error code, as the RFC asks); the others say what went
# wrong and what to do, since the body's message is the contract's fixed text for every kind.
REALM = 'Bearer realm="resell"'
CHALLENGES: dict[str, str] = {
    iam.MISSING: REALM,
    iam.MALFORMED: f'{REALM}, error="invalid_token", error_description="The access token is malformed or not '
    'signed by this server: send the access_token of POST /iam/tokens"',
    iam.EXPIRED: f'{REALM}, error="invalid_token", error_description="The access token expired: get a new one '
    'from POST /iam/tokens (grantType refresh_token or client_credentials)"',
    iam.REVOKED: f'{REALM}, error="invalid_token", error_description="The access token was revoked: sign in '
    'again with POST /iam/tokens"',
}
TOKEN_NOT_VALID = "Authentication Failed: JWT token is not valid"  # the contract's text, for every kind


def unauthorized(message: str = TOKEN_NOT_VALID, kind: str | None = None) -> JSONReply:
    """The 401 of every JSON surface (a missing, malformed, expired or revoked bearer token: `kind`, which
    sets the WWW-Authenticate challenge; bad /iam credentials: no kind, no bearer challenge)."""
    challenge = CHALLENGES.get(kind) if kind is not None else None
    return error(401, "Unauthorized", message, {"WWW-Authenticate": challenge} if challenge else None)


def body(operation: str, code: int = 0, message: str | None = None, **values: Any) -> dict[str, Any]:
    reply = {k: (list(v) if isinstance(v, list) else v) for k, v in BLANK[operation].items()}
    reply.update(values)
    code_key, message_key = code_keys(operation)
    reply[code_key] = code
    reply[message_key] = message if message is not None else message_for(code, operation)
    return reply


def refusal(operation: str, refusal: Refusal, **values: Any) -> dict[str, Any]:
    return body(operation, refusal.code, refusal.message_in(operation), **values)


def _date(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None


def _timestamp(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _file(f: FileView) -> dict[str, Any]:
    return {"label": f.label, "type": f.type, "url": f.url, "size": f.size, "group": f.group}


def _order_line(line: OrderLineView) -> dict[str, Any]:
    return {
        "productRef": line.product_ref,
        "lineItems": [
            {
                "serials": [{"data": s, "encoding": "text", "charset": "utf-8", "fileName": ""} for s in item.serials],
                "subscriptionId": item.subscription_id,
                "responseCode": 0,
                "responseMessage": "",
            }
            for item in line.line_items
        ],
        "files": [_file(f) for f in line.files],
        "dateEndDownload": _date(line.date_end_download),
        "digitalLockerLink": line.digital_locker_link,
        "remark": line.remark,
        "responseCode": 0,
        "responseMessage": "",
    }


def order(operation: str, view: OrderView) -> dict[str, Any]:
    return body(
        operation,
        partnerOrderNumber=view.partner_order_number,
        orderNumber=view.order_number,
        orderLines=[_order_line(line) for line in view.lines],
        downloadManager=view.download_manager,
    )


def download_info(view: OrderView) -> dict[str, Any]:
    return body(
        "getDownloadInfo",
        partnerOrderNumber=view.partner_order_number,
        downloadEndDate=_date(view.download_end_date),
        orderLines=[
            {
                "productRef": line.product_ref,
                "files": [
                    _file(f)
                    | {
                        "dateFirstDownload": _timestamp(f.date_first_download),
                        "dateLastDownload": _timestamp(f.date_last_download),
                        "countStartDownload": f.count_start_download,
                        "countCompleteDownload": f.count_complete_download,
                    }
                    for f in line.files
                ],
            }
            for line in view.lines
        ],
    )


def subscription_status(view: SubscriptionView) -> dict[str, Any]:
    return body(
        "getSubscriptionStatus",
        partnerOrderNumber=view.partner_order_number,
        subscriptionId=view.subscription_id,
        productRef=view.product_ref,
        period=view.period,
        generation=view.generation,
        technicalStatus=view.status,
        creation_datetime=_timestamp(view.created_at),
        update_datetime=_timestamp(view.updated_at),
        expiration_datetime=_timestamp(view.expires_at),
        next_status_change_datetime=_timestamp(view.next_change_at),
        currency=view.currency,
        amount=None if view.amount is None else float(view.amount),  # a JSON number, as the contract's amounts
    )


def webhook_endpoint(e: Endpoint) -> dict[str, Any]:
    """An endpoint as GET /connect/webhooks lists it (never with its signing secret)."""
    return {
        "id": e.id,
        "url": e.url,
        "events": e.events,
        "active": e.active,
        "createdAt": _timestamp(e.created_at),
        "disabledAt": _timestamp(e.disabled_at),
        "disabledReason": e.disabled_reason,
    }


def webhook_delivery(d: LoggedDelivery) -> dict[str, Any]:
    """One attempt of an endpoint's delivery log, as GET /connect/webhooks/{id}/deliveries lists it."""
    return {
        "id": d.id,
        "eventId": d.event_id,
        "eventType": d.event_type,
        "attempt": d.attempt,
        "at": _timestamp(d.at),
        "statusCode": d.status_code,
        "error": d.error,
        "durationMs": d.duration_ms,
    }


def stock_items(items: list[catalog.StockItem]) -> list[dict[str, Any]]:
    """getStockStatus's productStatus items (REST and SOAP name them alike)."""
    return [
        {
            "productRef": i.product_ref,
            "status": i.status,
            "responseCode": i.code,
            "responseMessage": message_for(i.code, "getStockStatus"),
        }
        for i in items
    ]


def categories(tree: list[catalog.Category]) -> list[dict[str, Any]]:
    """getCategories' items (REST's categoryList, SOAP's categories)."""
    return [
        {"id": c.id, "label": c.label, "subcategories": [{"id": s.id, "label": s.label} for s in c.subcategories]}
        for c in tree
    ]


def operating_systems(found: list[tuple[int, str]]) -> list[dict[str, Any]]:
    """getOperatingSystems' osList items (REST and SOAP name them alike)."""
    return [{"id": os_id, "label": label} for os_id, label in found]


def suggestions(found: list[catalog.Suggestion]) -> list[dict[str, Any]]:
    """getCrossUpSell's productsReturn items (REST and SOAP name them alike)."""
    return [
        {
            "ref": s.ref,
            "type": s.type,
            "name": s.name,
            "amountDutyFree": s.amount_duty_free,
            "currency": s.currency,
            "shortDescription": s.short_description,
            "language": s.language,
            "imageSmall": s.image_small,
        }
        for s in found
    ]


def test_clock(operation: str, view: Any) -> dict[str, Any]:
    """getTestClock's and advanceTestClock's reply (a resell.services.test_clocks.ClockView)."""
    if operation == "getTestClock":
        return body(operation, clockTime=_timestamp(view.time), frozen=view.frozen)
    return body(
        operation,
        clockTime=_timestamp(view.time),
        frozen=view.frozen,
        renewed=view.renewed,
        expired=view.expired,
        failed=view.failed,
    )
