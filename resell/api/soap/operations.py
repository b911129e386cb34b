"""Each SOAP operation: the same service call as its REST twin, its result as the `out` dictionary.

The dictionaries use the contract's element names; `codec.reply` writes them in the contract's
order (and leaves out what the contract does not have, such as REST's `digitalLockerLink`).
Where REST has the same shape (orders, download information, stock items, suggestions, categories,
operating systems) the builder of api/shapes.py is reused, with the SOAP differences: `files[].size`
in megabytes with two decimals, and in order replies the `files` of a digital-locker product that
lists none `xsi:nil` (its files are in the locker), as in Nexway's own replies, where a product
that has no files at all (a Steam key) gets `<files/>`.
A refusal becomes `out.responseCode`/`responseMessage` with the same code and message as REST.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from resell.api import shapes
from resell.api.legacy_values import megabytes
from resell.api.soap.contract import Operation
from resell.domain.codes import Refusal, message_for
from resell.services import catalog, history, iam, orders, subscriptions
from resell.services.context import Caller, Context
from resell.services.orders import OrderView

Out = dict[str, Any]

# The REST operation whose code messages a SOAP operation shares.
MESSAGES_OF = {
    "create": "createOrder",
    "getData": "getOrderData",
    "cancel": "cancelOrder",
}

# Request values a refused reply echoes back, as REST does (partnerOrderNumber and the like).
ECHOED = {
    "create": ("partnerOrderNumber",),
    "getData": ("partnerOrderNumber",),
    "cancel": ("partnerOrderNumber",),
    "updateDownloadTime": ("partnerOrderNumber",),
    "getDownloadInfo": ("partnerOrderNumber",),
    "getAllOrders": ("email",),
    "getOrderHistory": ("partnerId",),
}


@dataclass(frozen=True)
class Result:
    out: Out
    realm: str | None  # the merchant the secret named, for the request log


def _sizes_in_megabytes(reply: Out) -> Out:
    for line in reply["orderLines"]:
        for file in line["files"] or ():
            file["size"] = megabytes(file["size"])
    return reply


def _order(operation: str, view: OrderView) -> Out:
    reply = shapes.order(operation, view)
    for line, seen in zip(reply["orderLines"], view.lines, strict=True):
        if seen.delivery_mode == "locker" and not seen.files:
            line["files"] = None
    return _sizes_in_megabytes(reply)


# ---------------------------------------------------------------- catalog service


def get_categories(ctx: Context, caller: Caller, request: Out) -> Out:
    tree = catalog.list_categories(ctx, request.get("productDescriptionLanguage"))
    return {"categories": shapes.categories(tree)}


def get_operating_systems(ctx: Context, caller: Caller, request: Out) -> Out:
    return {"osList": shapes.operating_systems(catalog.list_operating_systems(ctx))}


# ---------------------------------------------------------------- order service


def get_stock_status(ctx: Context, caller: Caller, request: Out) -> Out:
    items = catalog.stock_statuses(ctx, caller, request.get("productRef"))
    return {"productStatus": shapes.stock_items(items)}


def get_cross_up_sell(ctx: Context, caller: Caller, request: Out) -> Out:
    found = catalog.cross_up_sell(ctx, caller, request.get("language"), request.get("products"))
    return {"productsReturn": shapes.suggestions(found)}


def create(ctx: Context, caller: Caller, request: Out) -> Out:
    return _order("createOrder", orders.submit_order(ctx, caller, request))


def get_data(ctx: Context, caller: Caller, request: Out) -> Out:
    return _order("getOrderData", orders.get_order(ctx, caller, request.get("partnerOrderNumber")))


def cancel(ctx: Context, caller: Caller, request: Out) -> Out:
    done = orders.cancel_order(
        ctx, caller, request.get("partnerOrderNumber"), request.get("reasonCode"), request.get("comment")
    )
    return {"partnerOrderNumber": done.partner_order_number, "orderNumber": done.order_number}


def update_download_time(ctx: Context, caller: Caller, request: Out) -> Out:
    done = orders.update_download_time(ctx, caller, request.get("partnerOrderNumber"), request.get("value"))
    return {"partnerOrderNumber": done.partner_order_number, "newDownloadEndDate": done.new_download_end_date}


def get_download_info(ctx: Context, caller: Caller, request: Out) -> Out:
    view = orders.download_info(ctx, caller, request.get("partnerOrderNumber"))
    return _sizes_in_megabytes(shapes.download_info(view))


def cancel_subscription(ctx: Context, caller: Caller, request: Out) -> Out:
    subscriptions.cancel_subscription(ctx, caller, request.get("partnerOrderNumber"), request.get("subscriptionId"))
    return {}


def _history(found: history.History) -> list[Out]:
    return [
        {
            "partnerOrderNumber": o.partner_order_number,
            "orderNumber": o.order_number,
            "statusCode": o.status_code,
            "statusDescription": o.status_description,
            "dateOrder": o.date_order,
            "dateInvoice": o.date_invoice,
        }
        for o in found.orders
    ]


def get_all_orders(ctx: Context, caller: Caller, request: Out) -> Out:
    found = history.by_email(ctx, caller, request.get("email"))
    return {"email": found.email, "orders": _history(found)}


# ---------------------------------------------------------------- customer service


def get_order_history(ctx: Context, caller: Caller, request: Out) -> Out:
    found = history.by_partner_id(ctx, caller, request.get("partnerId"))
    return {"partnerId": found.partner_id, "email": found.email, "ordersHistory": _history(found)}


HANDLERS: dict[str, Callable[[Context, Caller, Out], Out]] = {
    "getCategories": get_categories,
    "getOperatingSystems": get_operating_systems,
    "getStockStatus": get_stock_status,
    "getCrossUpSell": get_cross_up_sell,
    "create": create,
    "getData": get_data,
    "cancel": cancel,
    "updateDownloadTime": update_download_time,
    "getDownloadInfo": get_download_info,
    "cancelSubscription": cancel_subscription,
    "getAllOrders": get_all_orders,
    "getOrderHistory": get_order_history,
}


def _echo(value: object) -> str | None:
    return value if isinstance(value, str) else None


def run(ctx: Context, operation: Operation, secret: str | None, request: Out) -> Result:
    """Authenticate by the secret alone, call the service, and always answer with an `out`."""
    messages = MESSAGES_OF.get(operation.name, operation.name)
    realm = None
    try:
        caller = iam.caller_for_secret(ctx, secret)
        realm = caller.realm
        out = HANDLERS[operation.name](ctx, caller, request)
    except Refusal as refusal:
        out = {key: _echo(request.get(key)) for key in ECHOED.get(operation.name, ())}
        out |= {"responseCode": refusal.code, "responseMessage": refusal.message_in(messages)}
        return Result(out, realm)
    out |= {"responseCode": 0, "responseMessage": message_for(0, messages)}
    return Result(out, realm)
