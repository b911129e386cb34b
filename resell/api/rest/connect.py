"""The /connect operations: parse, call one service, render. Route names are the operation names."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from resell import __version__
from resell.api.rest import replies
from resell.api.rest.deps import caller, context, json_object
from resell.api.rest.replies import JSONReply
from resell.domain.codes import Refusal
from resell.domain.request_fields import lenient_int
from resell.services import catalog, orders, subscriptions
from resell.services.context import Caller, Context

router = APIRouter(prefix="/connect", default_response_class=JSONReply, tags=["connect"])

Body = dict[str, Any]


def plain_reply(status_code: int = 200) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Send a handler's reply dict as a JSONReply: it is plain JSON data already, and FastAPI would
    otherwise walk it through jsonable_encoder first (a large share of a read's cost)."""

    def wrap(handler: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(handler)
        def send(*args: Any, **kwargs: Any) -> Any:
            reply = handler(*args, **kwargs)
            return reply if isinstance(reply, Response) else JSONReply(reply, status_code=status_code)

        return send

    return wrap


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else str(value) if isinstance(value, int) else None


@router.get("/status", name="status", response_model=None)
@plain_reply()
def status(ctx: Context = Depends(context), who: Caller = Depends(caller)) -> Body:
    return replies.body("status", status="UP", version=__version__, time=ctx.now().replace(microsecond=0).isoformat())


@router.post("/stock", name="getStockStatus", response_model=None)
@plain_reply()
def get_stock_status(
    who: Caller = Depends(caller), data: Body = Depends(json_object), ctx: Context = Depends(context)
) -> Body:
    try:
        items = catalog.stock_statuses(ctx, who, data.get("productRefs"))
    except Refusal as refusal:
        return replies.refusal("getStockStatus", refusal)
    return replies.body(
        "getStockStatus",
        productStatus=[
            {
                "productRef": i.product_ref,
                "status": i.status,
                "responseCode": i.code,
                "responseMessage": replies.message_for(i.code, "getStockStatus"),
            }
            for i in items
        ],
    )


@router.post("/order/crossupsell", name="getCrossUpSell", response_model=None)
@plain_reply()
def get_cross_up_sell(
    who: Caller = Depends(caller), data: Body = Depends(json_object), ctx: Context = Depends(context)
) -> Body:
    try:
        found = catalog.cross_up_sell(ctx, who, data.get("language"), data.get("products"))
    except Refusal as refusal:
        return replies.refusal("getCrossUpSell", refusal)
    return replies.body(
        "getCrossUpSell",
        productsReturn=replies.suggestions(found),
    )


@router.post("/order/new", name="createOrder", status_code=201, response_model=None)
@plain_reply(201)
def create_order(
    who: Caller = Depends(caller), data: Body = Depends(json_object), ctx: Context = Depends(context)
) -> Any:
    try:
        view = orders.submit_order(ctx, who, data)
    except Refusal as refusal:
        pon = _text(data.get("partnerOrderNumber"))
        return JSONReply(replies.refusal("createOrder", refusal, partnerOrderNumber=pon), status_code=200)
    return replies.order("createOrder", view)


@router.get("/order/{partnerOrderNumber}", name="getOrderData", response_model=None)
@plain_reply()
def get_order_data(
    partnerOrderNumber: str,
    who: Caller = Depends(caller),  # noqa: N803
    ctx: Context = Depends(context),
) -> Body:
    try:
        return replies.order("getOrderData", orders.get_order(ctx, who, partnerOrderNumber))
    except Refusal as refusal:
        return replies.refusal("getOrderData", refusal, partnerOrderNumber=partnerOrderNumber)


@router.put("/order/cancel", name="cancelOrder", response_model=None)
@plain_reply()
def cancel_order(
    who: Caller = Depends(caller), data: Body = Depends(json_object), ctx: Context = Depends(context)
) -> Body:
    pon = _text(data.get("partnerOrderNumber"))
    try:
        done = orders.cancel_order(
            ctx, who, data.get("partnerOrderNumber"), data.get("reasonCode"), data.get("comment")
        )
    except Refusal as refusal:
        return replies.refusal("cancelOrder", refusal, partnerOrderNumber=pon)
    return replies.body(
        "cancelOrder",
        partnerOrderNumber=done.partner_order_number,
        orderNumber=done.order_number,
        newDownloadEndDate=done.new_download_end_date.isoformat(),
    )


@router.get("/order/{partnerOrderNumber}/download", name="getDownloadInfo", response_model=None)
@plain_reply()
def get_download_info(
    partnerOrderNumber: str,
    who: Caller = Depends(caller),  # noqa: N803
    ctx: Context = Depends(context),
) -> Body:
    try:
        return replies.download_info(orders.download_info(ctx, who, partnerOrderNumber))
    except Refusal as refusal:
        return replies.refusal("getDownloadInfo", refusal, partnerOrderNumber=partnerOrderNumber)


@router.put("/order/download", name="updateDownloadTime", response_model=None)
@plain_reply()
def update_download_time(
    who: Caller = Depends(caller), data: Body = Depends(json_object), ctx: Context = Depends(context)
) -> Body:
    pon = _text(data.get("partnerOrderNumber"))
    try:
        done = orders.update_download_time(ctx, who, data.get("partnerOrderNumber"), data.get("value"))
    except Refusal as refusal:
        return replies.refusal("updateDownloadTime", refusal, partnerOrderNumber=pon)
    return replies.body(
        "updateDownloadTime",
        partnerOrderNumber=done.partner_order_number,
        newDownloadEndDate=done.new_download_end_date.isoformat(),
    )


@router.post("/subscription", name="getSubscriptionStatus", response_model=None)
@plain_reply()
def get_subscription_status(
    request: Request, who: Caller = Depends(caller), data: Body = Depends(json_object), ctx: Context = Depends(context)
) -> Body:
    try:
        reply = replies.subscription_status(
            subscriptions.get_status(ctx, who, data.get("partnerOrderNumber"), data.get("subscriptionId"))
        )
    except Refusal as refusal:
        reply = replies.refusal(
            "getSubscriptionStatus",
            refusal,
            partnerOrderNumber=_text(data.get("partnerOrderNumber")),
            subscriptionId=_whole(data.get("subscriptionId")),
        )
    request.state.response_code = reply["code"]  # the request log reads responseCode; this reply says code
    return reply


@router.put("/subscription", name="cancelSubscription", response_model=None)
@plain_reply()
def cancel_subscription(
    who: Caller = Depends(caller), data: Body = Depends(json_object), ctx: Context = Depends(context)
) -> Body:
    return _subscription_change("cancelSubscription", subscriptions.cancel_subscription, ctx, who, data)


@router.post("/subscription/renew", name="renewSubscription", response_model=None)
@router.put("/subscription/renew", name="renewSubscription", response_model=None)
@plain_reply()
def renew_subscription(
    who: Caller = Depends(caller), data: Body = Depends(json_object), ctx: Context = Depends(context)
) -> Body:
    return _subscription_change("renewSubscription", subscriptions.renew_subscription, ctx, who, data)


def _whole(value: object) -> int | None:
    try:
        return lenient_int(value)
    except ValueError:
        return None


def _subscription_change(operation: str, change: Any, ctx: Context, who: Caller, data: Body) -> Body:
    try:
        done = change(ctx, who, data.get("partnerOrderNumber"), data.get("subscriptionId"))
    except Refusal as refusal:
        return replies.refusal(
            operation,
            refusal,
            partnerOrderNumber=_text(data.get("partnerOrderNumber")),
            subscriptionId=_whole(data.get("subscriptionId")),
        )
    return replies.body(
        operation,
        partnerOrderNumber=done.partner_order_number,
        subscriptionId=done.subscription_id,
        orderNumber=done.order_number,
    )


@router.get("/catalog/categories/{language}", name="getCategories", response_model=None)
@plain_reply()
def get_categories(language: str, who: Caller = Depends(caller), ctx: Context = Depends(context)) -> Body:
    try:
        tree = catalog.list_categories(ctx, language)
    except Refusal as refusal:
        return replies.refusal("getCategories", refusal)

    def render(cat: catalog.Category) -> dict[str, Any]:
        return {
            "id": cat.id,
            "label": cat.label,
            "subcategories": [{"id": sub.id, "label": sub.label} for sub in cat.subcategories],
        }

    return replies.body("getCategories", categoryList=[render(c) for c in tree])


@router.get("/catalog/oslist", name="getOperatingSystems", response_model=None)
@plain_reply()
def get_operating_systems(who: Caller = Depends(caller), ctx: Context = Depends(context)) -> Body:
    return replies.body(
        "getOperatingSystems",
        osList=[{"id": os_id, "label": label} for os_id, label in catalog.list_operating_systems(ctx)],
    )
