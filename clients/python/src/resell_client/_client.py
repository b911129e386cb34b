"""`Client` and `AsyncClient`: the methods (declared once, in `_Operations`) and two transports.

Each method builds a `Call` of the operation table (_engine.py) and hands it to `_run`, which drives
the call's steps: `Client._run` with a blocking httpx.Client, `AsyncClient._run` with an
httpx.AsyncClient (it returns a coroutine, so every AsyncClient method is awaited).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
from collections.abc import Awaitable, Iterable, Mapping
from typing import Any, Generic, TypeVar, overload

import httpx

from resell_client import _engine as ops
from resell_client import models
from resell_client._engine import Action, Authorize, Call, Engine, Send, Sleep, Step
from resell_client._version import __version__

USER_AGENT = f"resell-client-python/{__version__}"


def _cart(products: Iterable[models.CartItem | tuple[int, int] | int]) -> list[dict[str, Any]]:
    items = []
    for product in products:
        if isinstance(product, models.CartItem):
            item = product
        elif isinstance(product, tuple):
            item = models.CartItem(product_ref=product[0], quantity=product[1])
        else:
            item = models.CartItem(product_ref=product)
        items.append(item.to_wire())
    return items


class _Sync:
    """The mode of `Client`: its methods return the replies."""


class _Async:
    """The mode of `AsyncClient`: its methods return awaitables of the replies."""


_Mode = TypeVar("_Mode", _Sync, _Async)


class _Operations(Generic[_Mode]):
    """The Connect operations, one method each (snake_case of the contract's names).

    In `Client` each returns its reply model; in `AsyncClient` each returns an awaitable of it. A
    refusal raises a `ConnectError` subclass carrying `response_code` (resell_client.errors). Each
    method's two overloads only tell type checkers so; its body is shared."""

    _engine: Engine

    def _run(self, step: Step[Any]) -> Any:
        raise NotImplementedError

    def _call(
        self,
        operation: ops.Operation[Any],
        body: dict[str, Any] | None = None,
        query: dict[str, str | int | None] | None = None,
        **params: str | int,
    ) -> Any:
        given = {k: v for k, v in (query or {}).items() if v is not None}
        return self._run(self._engine.run(Call(operation, params, body, given)))

    @overload
    def status(self: _Operations[_Sync]) -> models.Status: ...
    @overload
    def status(self: _Operations[_Async]) -> Awaitable[models.Status]: ...
    def status(self) -> Any:
        """GET /connect/status: the server is up (and the credentials work)."""
        return self._call(ops.STATUS)

    @overload
    def get_stock_status(self: _Operations[_Sync], product_refs: Iterable[int]) -> models.StockStatus: ...
    @overload
    def get_stock_status(self: _Operations[_Async], product_refs: Iterable[int]) -> Awaitable[models.StockStatus]: ...
    def get_stock_status(self, product_refs: Iterable[int]) -> Any:
        """getStockStatus: 100 enough, 200 almost out, 300 out of stock, per ref; an unknown ref is an
        item with its own response_code (1010), not an exception. Advisory: createOrder checks again."""
        return self._call(ops.GET_STOCK_STATUS, {"productRefs": list(product_refs)})

    @overload
    def get_cross_up_sell(
        self: _Operations[_Sync], products: Iterable[models.CartItem | tuple[int, int] | int], language: str = "EN"
    ) -> models.CrossUpSell: ...
    @overload
    def get_cross_up_sell(
        self: _Operations[_Async], products: Iterable[models.CartItem | tuple[int, int] | int], language: str = "EN"
    ) -> Awaitable[models.CrossUpSell]: ...
    def get_cross_up_sell(
        self, products: Iterable[models.CartItem | tuple[int, int] | int], language: str = "EN"
    ) -> Any:
        """getCrossUpSell: up-sells, cross-sells and options for a cart of (productRef, quantity) pairs,
        CartItem or bare refs; `language` one code or a list "FR,EN"."""
        body = {"language": language, "products": _cart(products)}
        return self._call(ops.GET_CROSS_UP_SELL, body)

    @overload
    def create_order(self: _Operations[_Sync], order: models.OrderRequest | Mapping[str, Any]) -> models.Order: ...
    @overload
    def create_order(
        self: _Operations[_Async], order: models.OrderRequest | Mapping[str, Any]
    ) -> Awaitable[models.Order]: ...
    def create_order(self, order: models.OrderRequest | Mapping[str, Any]) -> Any:
        """createOrder, once the payment is taken. Safe to retry: network failures and 5xx are retried with
        the same partnerOrderNumber, and if that attempt had in fact created the order (the server then
        answers 1010), the stored order is read back and returned. A 1010 on a number used before this
        call raises OrderAlreadyExists. Out of stock raises OutOfStock (1044): nothing is sold."""
        request = order if isinstance(order, models.OrderRequest) else models.OrderRequest.model_validate(order)
        return self._call(ops.CREATE_ORDER, request.to_wire())

    @overload
    def get_order(self: _Operations[_Sync], partner_order_number: str) -> models.Order: ...
    @overload
    def get_order(self: _Operations[_Async], partner_order_number: str) -> Awaitable[models.Order]: ...
    def get_order(self, partner_order_number: str) -> Any:
        """getOrderData: the order with its serials and download links (NotFound, 1010, if not the caller's)."""
        return self._call(ops.GET_ORDER, partnerOrderNumber=partner_order_number)

    @overload
    def cancel_order(
        self: _Operations[_Sync], partner_order_number: str, reason_code: int, comment: str | None = None
    ) -> models.CancelledOrder: ...
    @overload
    def cancel_order(
        self: _Operations[_Async], partner_order_number: str, reason_code: int, comment: str | None = None
    ) -> Awaitable[models.CancelledOrder]: ...
    def cancel_order(self, partner_order_number: str, reason_code: int, comment: str | None = None) -> Any:
        """cancelOrder: revokes the serials and stops the downloads at once; the refund is the merchant's.
        Reason codes: 2 cancelled, 3 unsatisfied customer, 4 double order, 5 product order,
        6 incompatible product, 16 fraud / chargeback. Not retried after a lost reply (see README)."""
        body: dict[str, Any] = {"partnerOrderNumber": partner_order_number, "reasonCode": reason_code}
        if comment is not None:
            body["comment"] = comment
        return self._call(ops.CANCEL_ORDER, body)

    @overload
    def get_download_info(self: _Operations[_Sync], partner_order_number: str) -> models.DownloadInfo: ...
    @overload
    def get_download_info(self: _Operations[_Async], partner_order_number: str) -> Awaitable[models.DownloadInfo]: ...
    def get_download_info(self, partner_order_number: str) -> Any:
        """getDownloadInfo: the files, their links and download counters, and the download end date."""
        return self._call(ops.GET_DOWNLOAD_INFO, partnerOrderNumber=partner_order_number)

    @overload
    def update_download_time(
        self: _Operations[_Sync], partner_order_number: str, value: str | dt.date
    ) -> models.DownloadTime: ...
    @overload
    def update_download_time(
        self: _Operations[_Async], partner_order_number: str, value: str | dt.date
    ) -> Awaitable[models.DownloadTime]: ...
    def update_download_time(self, partner_order_number: str, value: str | dt.date) -> Any:
        """updateDownloadTime: `value` a new end date, or an ISO 8601 period added to the current end
        date ("P7D", "P1Y5M2D"). Not retried after a lost reply: a period would be added twice."""
        if isinstance(value, dt.datetime):
            value = value.date()
        text = value.isoformat() if isinstance(value, dt.date) else value
        body = {"partnerOrderNumber": partner_order_number, "value": text}
        return self._call(ops.UPDATE_DOWNLOAD_TIME, body)

    @overload
    def get_subscription_status(
        self: _Operations[_Sync], partner_order_number: str, subscription_id: int
    ) -> models.SubscriptionStatus: ...
    @overload
    def get_subscription_status(
        self: _Operations[_Async], partner_order_number: str, subscription_id: int
    ) -> Awaitable[models.SubscriptionStatus]: ...
    def get_subscription_status(self, partner_order_number: str, subscription_id: int) -> Any:
        """getSubscriptionStatus (its wire code/message are read as response_code/response_message)."""
        body = {"partnerOrderNumber": partner_order_number, "subscriptionId": subscription_id}
        return self._call(ops.GET_SUBSCRIPTION_STATUS, body)

    @overload
    def cancel_subscription(
        self: _Operations[_Sync], partner_order_number: str, subscription_id: int
    ) -> models.SubscriptionChange: ...
    @overload
    def cancel_subscription(
        self: _Operations[_Async], partner_order_number: str, subscription_id: int
    ) -> Awaitable[models.SubscriptionChange]: ...
    def cancel_subscription(self, partner_order_number: str, subscription_id: int) -> Any:
        """cancelSubscription: stops renewing; the licence stays valid until the term ends."""
        body = {"partnerOrderNumber": partner_order_number, "subscriptionId": subscription_id}
        return self._call(ops.CANCEL_SUBSCRIPTION, body)

    @overload
    def renew_subscription(
        self: _Operations[_Sync], partner_order_number: str, subscription_id: int
    ) -> models.SubscriptionChange: ...
    @overload
    def renew_subscription(
        self: _Operations[_Async], partner_order_number: str, subscription_id: int
    ) -> Awaitable[models.SubscriptionChange]: ...
    def renew_subscription(self, partner_order_number: str, subscription_id: int) -> Any:
        """renewSubscription: renews now into a new order (`order_number` of the reply, `PON-<generation>`);
        not retried after a lost reply (it could renew twice): read getSubscriptionStatus first."""
        body = {"partnerOrderNumber": partner_order_number, "subscriptionId": subscription_id}
        return self._call(ops.RENEW_SUBSCRIPTION, body)

    @overload
    def get_categories(self: _Operations[_Sync], language: str = "en") -> models.Categories: ...
    @overload
    def get_categories(self: _Operations[_Async], language: str = "en") -> Awaitable[models.Categories]: ...
    def get_categories(self, language: str = "en") -> Any:
        """getCategories: the category tree, labels in `language`."""
        return self._call(ops.GET_CATEGORIES, language=language)

    @overload
    def get_operating_systems(self: _Operations[_Sync]) -> models.OperatingSystems: ...
    @overload
    def get_operating_systems(self: _Operations[_Async]) -> Awaitable[models.OperatingSystems]: ...
    def get_operating_systems(self) -> Any:
        """getOperatingSystems."""
        return self._call(ops.GET_OPERATING_SYSTEMS)

    @overload
    def list_webhooks(self: _Operations[_Sync]) -> models.Webhooks: ...
    @overload
    def list_webhooks(self: _Operations[_Async]) -> Awaitable[models.Webhooks]: ...
    def list_webhooks(self) -> Any:
        """GET /connect/webhooks: the merchant's endpoints (never their signing secrets)."""
        return self._call(ops.LIST_WEBHOOKS)

    @overload
    def create_webhook(self: _Operations[_Sync], url: str, events: Iterable[str]) -> models.CreatedWebhook: ...
    @overload
    def create_webhook(
        self: _Operations[_Async], url: str, events: Iterable[str]
    ) -> Awaitable[models.CreatedWebhook]: ...
    def create_webhook(self, url: str, events: Iterable[str]) -> Any:
        """POST /connect/webhooks: an endpoint for `events` (order.created, subscription.renewed, ...).
        Keep the reply's `signing_secret` (whsec_...): it is shown this once."""
        body = {"url": url, "events": list(events)}
        return self._call(ops.CREATE_WEBHOOK, body)

    @overload
    def delete_webhook(self: _Operations[_Sync], webhook_id: int) -> models.RemovedWebhook: ...
    @overload
    def delete_webhook(self: _Operations[_Async], webhook_id: int) -> Awaitable[models.RemovedWebhook]: ...
    def delete_webhook(self, webhook_id: int) -> Any:
        """DELETE /connect/webhooks/{id}: nothing more is sent to it."""
        return self._call(ops.DELETE_WEBHOOK, id=webhook_id)

    @overload
    def list_webhook_deliveries(
        self: _Operations[_Sync], webhook_id: int, limit: int | None = None, before: int | None = None
    ) -> models.WebhookDeliveries: ...
    @overload
    def list_webhook_deliveries(
        self: _Operations[_Async], webhook_id: int, limit: int | None = None, before: int | None = None
    ) -> Awaitable[models.WebhookDeliveries]: ...
    def list_webhook_deliveries(self, webhook_id: int, limit: int | None = None, before: int | None = None) -> Any:
        """GET /connect/webhooks/{id}/deliveries: the endpoint's delivery attempts, newest first, `limit`
        (1 to 200, default 50) per page; pass the reply's `next_before` as `before` for the older ones."""
        return self._call(ops.LIST_WEBHOOK_DELIVERIES, query={"limit": limit, "before": before}, id=webhook_id)

    @overload
    def redeliver_webhook_event(
        self: _Operations[_Sync], webhook_id: int, event_id: str
    ) -> models.RedeliveredEvent: ...
    @overload
    def redeliver_webhook_event(
        self: _Operations[_Async], webhook_id: int, event_id: str
    ) -> Awaitable[models.RedeliveredEvent]: ...
    def redeliver_webhook_event(self, webhook_id: int, event_id: str) -> Any:
        """POST /connect/webhooks/{id}/deliveries/{eventId}/redeliver: send the event to the endpoint
        again, with the same webhook-id (a receiver deduplicating on it sees it as the same event)."""
        return self._call(ops.REDELIVER_WEBHOOK_EVENT, id=webhook_id, event_id=event_id)

    @overload
    def get_test_clock(self: _Operations[_Sync]) -> models.TestClock: ...
    @overload
    def get_test_clock(self: _Operations[_Async]) -> Awaitable[models.TestClock]: ...
    def get_test_clock(self) -> Any:
        """GET /connect/sandbox/clock (a client made with the sandbox's `test_` secret): the time the
        sandbox's subscriptions live on. InvalidRequest (1070) with a live secret."""
        return self._call(ops.GET_TEST_CLOCK)

    @overload
    def advance_test_clock(
        self: _Operations[_Sync], advance_to: dt.datetime | str | None = None, advance_by: str | None = None
    ) -> models.AdvancedTestClock: ...
    @overload
    def advance_test_clock(
        self: _Operations[_Async], advance_to: dt.datetime | str | None = None, advance_by: str | None = None
    ) -> Awaitable[models.AdvancedTestClock]: ...
    def advance_test_clock(self, advance_to: dt.datetime | str | None = None, advance_by: str | None = None) -> Any:
        """POST /connect/sandbox/clock: moves the sandbox's clock to `advance_to` (an aware datetime, or
        ISO 8601 text with its offset) or by `advance_by` (an ISO 8601 duration: "P1Y", "P1M", "PT12H"),
        one of the two; returns once the renewals and expiries due by then have happened. InvalidRequest
        (1071) if that is before the clock's time. Not retried after a lost reply (advance_by would
        move it twice): read get_test_clock first."""
        if (advance_to is None) == (advance_by is None):
            raise ValueError("give advance_to or advance_by, one of them")
        if isinstance(advance_to, dt.datetime):
            if advance_to.tzinfo is None:
                raise ValueError("advance_to needs a time zone (an aware datetime)")
            advance_to = advance_to.isoformat()
        body = {"advanceTo": advance_to} if advance_to is not None else {"advanceBy": advance_by}
        return self._call(ops.ADVANCE_TEST_CLOCK, body)

    @overload
    def revoke_refresh_tokens(self: _Operations[_Sync]) -> None: ...
    @overload
    def revoke_refresh_tokens(self: _Operations[_Async]) -> Awaitable[None]: ...
    def revoke_refresh_tokens(self) -> Any:
        """DELETE /iam/tokens/reset: revokes the merchant's refresh tokens (access tokens live out their
        5 minutes); the client signs in afresh when its access token ends."""
        return self._call(ops.RESET_TOKENS)


def _engine(realm_name: str, client_secret: str, secret: str, max_retries: int, backoff_factor: float) -> Engine:
    if max_retries < 0:
        raise ValueError("max_retries must be 0 or more")
    return Engine(realm_name, client_secret, secret, max_retries, backoff_factor)


class Client(_Operations[_Sync]):
    """A merchant's client of the Connect API (blocking; thread-safe).

    `base_url`: the platform (https://connect.example); `realm_name` and `client_secret`: the merchant's
    API credentials; `secret`: the catalogue's secret (one per sales territory); `timeout`: seconds per
    request; `max_retries`: repeats of a call that may be repeated (see README, "Retries");
    `backoff_factor`: the first wait between attempts, doubled each time (at most 8 s); `transport`:
    an httpx transport (proxies, tests)."""

    def __init__(
        self,
        base_url: str,
        realm_name: str,
        client_secret: str,
        secret: str,
        timeout: float = 30.0,
        max_retries: int = 3,
        *,
        backoff_factor: float = 0.5,
        transport: httpx.BaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._engine = _engine(realm_name, client_secret, secret, max_retries, backoff_factor)
        self._http = httpx.Client(
            base_url=base_url,
            timeout=timeout,
            transport=transport,
            headers={"user-agent": USER_AGENT, **(headers or {})},
        )
        self._lock = threading.Lock()

    def _run(self, step: Step[Any]) -> Any:
        value: Any = None
        while True:
            try:
                action: Action = step.send(value)
            except StopIteration as done:
                return done.value
            value = self._do(action)

    def _do(self, action: Action) -> Any:
        if isinstance(action, Send):
            request = self._http.build_request(action.method, action.path, json=action.body, headers=action.headers)
            try:
                return self._http.send(request)
            except httpx.TransportError as exc:
                return exc
        if isinstance(action, Sleep):
            time.sleep(action.seconds)
            return None
        assert isinstance(action, Authorize)
        with self._lock:  # one sign-in or refresh at a time: a refresh token is good for one use
            return self._run(self._engine.authorize(action.force, action.stale))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncClient(_Operations[_Async]):
    """The same client for asyncio: every method returns an awaitable of the same reply (`await
    client.create_order(...)`); same arguments as `Client`, `transport` an httpx.AsyncBaseTransport."""

    def __init__(
        self,
        base_url: str,
        realm_name: str,
        client_secret: str,
        secret: str,
        timeout: float = 30.0,
        max_retries: int = 3,
        *,
        backoff_factor: float = 0.5,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._engine = _engine(realm_name, client_secret, secret, max_retries, backoff_factor)
        self._http = httpx.AsyncClient(
            base_url=base_url,
            timeout=timeout,
            transport=transport,
            headers={"user-agent": USER_AGENT, **(headers or {})},
        )
        self._lock: asyncio.Lock | None = None

    async def _run(self, step: Step[Any]) -> Any:
        value: Any = None
        while True:
            try:
                action: Action = step.send(value)
            except StopIteration as done:
                return done.value
            value = await self._do(action)

    async def _do(self, action: Action) -> Any:
        if isinstance(action, Send):
            request = self._http.build_request(action.method, action.path, json=action.body, headers=action.headers)
            try:
                return await self._http.send(request)
            except httpx.TransportError as exc:
                return exc
        if isinstance(action, Sleep):
            await asyncio.sleep(action.seconds)
            return None
        assert isinstance(action, Authorize)
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            return await self._run(self._engine.authorize(action.force, action.stale))

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
