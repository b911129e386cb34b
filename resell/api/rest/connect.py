"""The /connect operations: parse, call one service, render. Each is declared once in OPERATIONS
(api/rest/dispatch.py runs them); the operation names are the route names."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from resell import __version__
from resell.api import shapes
from resell.api.rest.dispatch import Body, Call, Operation, add_routes
from resell.api.shapes import JSONReply
from resell.domain.codes import Refusal
from resell.domain.request_fields import lenient_int
from resell.services import catalog, orders, subscriptions


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else str(value) if isinstance(value, int) else None


def _whole(value: object) -> int | None:
    try:
        return lenient_int(value)
    except ValueError:
        return None


def status(call: Call) -> Body:
    now = call.ctx.now().replace(microsecond=0).isoformat()
    return shapes.body("status", status="UP", version=__version__, time=now)


def get_stock_status(call: Call) -> Body:
    try:
        items = catalog.stock_statuses(call.ctx, call.who, call.body.get("productRefs"))
    except Refusal as refusal:
        return shapes.refusal("getStockStatus", refusal)
    return shapes.body("getStockStatus", productStatus=shapes.stock_items(items))


def get_cross_up_sell(call: Call) -> Body:
    data = call.body
    try:
        found = catalog.cross_up_sell(call.ctx, call.who, data.get("language"), data.get("products"))
    except Refusal as refusal:
        return shapes.refusal("getCrossUpSell", refusal)
    return shapes.body("getCrossUpSell", productsReturn=shapes.suggestions(found))


def create_order(call: Call) -> Body | Response:
    try:
        view = orders.submit_order(call.ctx, call.who, call.body)
    except Refusal as refusal:  # a refusal is HTTP 200, a created order 201
        pon = _text(call.body.get("partnerOrderNumber"))
        return JSONReply(shapes.refusal("createOrder", refusal, partnerOrderNumber=pon), status_code=200)
    return shapes.order("createOrder", view)


def get_order_data(call: Call) -> Body:
    pon = call.params["partnerOrderNumber"]
    try:
        return shapes.order("getOrderData", orders.get_order(call.ctx, call.who, pon))
    except Refusal as refusal:
        return shapes.refusal("getOrderData", refusal, partnerOrderNumber=pon)


def cancel_order(call: Call) -> Body:
    data = call.body
    pon = _text(data.get("partnerOrderNumber"))
    try:
        done = orders.cancel_order(
            call.ctx, call.who, data.get("partnerOrderNumber"), data.get("reasonCode"), data.get("comment")
        )
    except Refusal as refusal:
        return shapes.refusal("cancelOrder", refusal, partnerOrderNumber=pon)
    return shapes.body(
        "cancelOrder",
        partnerOrderNumber=done.partner_order_number,
        orderNumber=done.order_number,
        newDownloadEndDate=done.new_download_end_date.isoformat(),
    )


def get_download_info(call: Call) -> Body:
    pon = call.params["partnerOrderNumber"]
    try:
        return shapes.download_info(orders.download_info(call.ctx, call.who, pon))
    except Refusal as refusal:
        return shapes.refusal("getDownloadInfo", refusal, partnerOrderNumber=pon)


def update_download_time(call: Call) -> Body:
    data = call.body
    pon = _text(data.get("partnerOrderNumber"))
    try:
        done = orders.update_download_time(call.ctx, call.who, data.get("partnerOrderNumber"), data.get("value"))
    except Refusal as refusal:
        return shapes.refusal("updateDownloadTime", refusal, partnerOrderNumber=pon)
    return shapes.body(
        "updateDownloadTime",
        partnerOrderNumber=done.partner_order_number,
        newDownloadEndDate=done.new_download_end_date.isoformat(),
    )


def get_subscription_status(call: Call) -> Body:
    data = call.body
    try:
        return shapes.subscription_status(
            subscriptions.get_status(call.ctx, call.who, data.get("partnerOrderNumber"), data.get("subscriptionId"))
        )
    except Refusal as refusal:
        return shapes.refusal(
            "getSubscriptionStatus",
            refusal,
            partnerOrderNumber=_text(data.get("partnerOrderNumber")),
            subscriptionId=_whole(data.get("subscriptionId")),
        )


def cancel_subscription(call: Call) -> Body:
    return _subscription_change("cancelSubscription", subscriptions.cancel_subscription, call)


def renew_subscription(call: Call) -> Body:
    return _subscription_change("renewSubscription", subscriptions.renew_subscription, call)


def _subscription_change(operation: str, change: Any, call: Call) -> Body:
    data = call.body
    try:
        done = change(call.ctx, call.who, data.get("partnerOrderNumber"), data.get("subscriptionId"))
    except Refusal as refusal:
        return shapes.refusal(
            operation,
            refusal,
            partnerOrderNumber=_text(data.get("partnerOrderNumber")),
            subscriptionId=_whole(data.get("subscriptionId")),
        )
    return shapes.body(
        operation,
        partnerOrderNumber=done.partner_order_number,
        subscriptionId=done.subscription_id,
        orderNumber=done.order_number,
    )


def get_categories(call: Call) -> Body:
    try:
        tree = catalog.list_categories(call.ctx, call.params["language"])
    except Refusal as refusal:
        return shapes.refusal("getCategories", refusal)

    return shapes.body("getCategories", categoryList=shapes.categories(tree))


def get_operating_systems(call: Call) -> Body:
    return shapes.body("getOperatingSystems", osList=shapes.operating_systems(catalog.list_operating_systems(call.ctx)))


# In route order (the router takes the first match). hot: the busiest five, answered by the fast
# path; on the event loop: cheap indexed reads only; the thread pool for writes and the rest.
OPERATIONS = [
    Operation("status", ("GET",), "/status", status, reads_body=False, in_thread_pool=True),
    Operation("getStockStatus", ("POST",), "/stock", get_stock_status, reads_body=True, in_thread_pool=False, hot=True),
    Operation(
        "getCrossUpSell", ("POST",), "/order/crossupsell", get_cross_up_sell, reads_body=True, in_thread_pool=False,
        hot=True,
    ),
    Operation(
        "createOrder", ("POST",), "/order/new", create_order, reads_body=True, in_thread_pool=True, hot=True,
        status_code=201,
    ),
    Operation(
        "getOrderData", ("GET",), "/order/{partnerOrderNumber}", get_order_data, reads_body=False,
        in_thread_pool=False, hot=True,
    ),
    Operation("cancelOrder", ("PUT",), "/order/cancel", cancel_order, reads_body=True, in_thread_pool=True),
    Operation(
        "getDownloadInfo", ("GET",), "/order/{partnerOrderNumber}/download", get_download_info, reads_body=False,
        in_thread_pool=False, hot=True,
    ),
    Operation(
        "updateDownloadTime", ("PUT",), "/order/download", update_download_time, reads_body=True, in_thread_pool=True
    ),
    Operation(
        "getSubscriptionStatus", ("POST",), "/subscription", get_subscription_status, reads_body=True,
        in_thread_pool=True,
    ),
    Operation(
        "cancelSubscription", ("PUT",), "/subscription", cancel_subscription, reads_body=True, in_thread_pool=True
    ),
    Operation(
        "renewSubscription", ("POST", "PUT"), "/subscription/renew", renew_subscription, reads_body=True,
        in_thread_pool=True,
    ),
    Operation(
        "getCategories", ("GET",), "/catalog/categories/{language}", get_categories, reads_body=False,
        in_thread_pool=True,
    ),
    Operation(
        "getOperatingSystems", ("GET",), "/catalog/oslist", get_operating_systems, reads_body=False,
        in_thread_pool=True,
    ),
]

router = APIRouter(prefix="/connect", default_response_class=JSONReply, tags=["connect"])
add_routes(router, OPERATIONS)
