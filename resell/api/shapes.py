"""The reply shapes of the JSON surfaces (/connect, /iam, the feed's errors), defined once here.

Clients test keys for presence, so a refusal carries the same keys as a success, with null (or an
empty list) where a value is unknown. The blank reply of each operation is defined here, once, and
so is every builder of a reply body. REST (api/rest/) renders them as JSON with `JSONReply`; SOAP
(api/soap/operations.py) reuses the same builders and writes them in the contract's element order
(api/soap/codec.py); the feed answers its errors with `JSONReply`. Neither imports api/rest/.
The OpenAPI schemas of these shapes are in api/rest/openapi.py.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import orjson
from starlette.responses import JSONResponse

from resell.domain.codes import Refusal, message_for
from resell.services.catalog import Suggestion
from resell.services.orders import FileView, OrderLineView, OrderView
from resell.services.subscriptions import SubscriptionView
from resell.services.webhooks import Endpoint

BLANK: dict[str, dict[str, Any]] = {
    "status": {"status": None, "version": None, "time": None},
    "getStockStatus": {"productStatus": []},
    "getCrossUpSell": {"productsReturn": []},
    "createOrder": {"partnerOrderNumber": None, "orderNumber": None, "orderLines": [], "downloadManager": None},
    "getOrderData": {"partnerOrderNumber": None, "orderNumber": None, "orderLines": [], "downloadManager": None},
    "cancelOrder": {"partnerOrderNumber": None, "orderNumber": None, "newDownloadEndDate": None},
    "getDownloadInfo": {"partnerOrderNumber": None, "downloadEndDate": None, "orderLines": []},
    "updateDownloadTime": {"partnerOrderNumber": None, "newDownloadEndDate": None},
    "getCategories": {"categoryList": []},
    "getOperatingSystems": {"osList": []},
    "getSubscriptionStatus": {
        "partnerOrderNumber": None,
        "subscriptionId": None,
        "productRef": None,
        "period": None,
        "generation": None,
        "technicalStatus": None,
        "creation_datetime": None,
        "update_datetime": None,
        "expiration_datetime": None,
        "next_status_change_datetime": None,
        "currency": None,
        "amount": None,
    },
    "cancelSubscription": {"partnerOrderNumber": None, "subscriptionId": None, "orderNumber": None},
    "renewSubscription": {"partnerOrderNumber": None, "subscriptionId": None, "orderNumber": None},
    "addWebhook": {"id": None, "url": None, "events": [], "signingSecret": None},
    "listWebhooks": {"webhooks": []},
    "removeWebhook": {"id": None},
}
# Contract 3: subscription status replies carry `code`/`message` instead of responseCode/responseMessage.
STATUS_REPLIES = {"getSubscriptionStatus"}


def _default(value: object) -> object:
    if isinstance(value, Decimal):  # as FastAPI's encoder renders them: Decimal("12") is 12, "12.00" is 12.0
        exponent = value.as_tuple().exponent
        return int(value) if isinstance(exponent, int) and exponent >= 0 else float(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


class JSONReply(JSONResponse):
    """orjson rendering: fast, and Decimal amounts become JSON numbers."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=_default)


def unauthorized(message: str = "Authentication Failed: JWT token is not valid") -> JSONReply:
    """The 401 of every JSON surface (a bad, expired or revoked bearer token; bad /iam credentials)."""
    return JSONReply({"status": 401, "error": "Unauthorized", "message": message}, status_code=401)


def body(operation: str, code: int = 0, message: str | None = None, **values: Any) -> dict[str, Any]:
    reply = {k: (list(v) if isinstance(v, list) else v) for k, v in BLANK[operation].items()}
    reply.update(values)
    code_key, message_key = ("code", "message") if operation in STATUS_REPLIES else ("responseCode", "responseMessage")
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


def suggestions(found: list[Suggestion]) -> list[dict[str, Any]]:
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
