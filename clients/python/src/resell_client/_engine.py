"""The operation table and everything a call does, written once for both clients, without I/O.

Each Connect operation is declared once in OPERATIONS (method, path, reply model, retry policy). A call
is a generator (`Engine.run`) that yields what it needs done: `Send` a request, `Sleep`, `Authorize`
(a valid access token); the synchronous client (`Client`) and the asynchronous one (`AsyncClient`) each
drive it with their own transport, so the rules below exist in one place:

- tokens: signed in on first use, refreshed shortly before they expire (grantType refresh_token, else
  client_credentials again); a 401 signs in again once and repeats the call;
- retries, with exponential backoff (or the server's Retry-After): a READ is repeated after a network
  error, a 5xx or a 429; a WRITE only when the request surely never reached the server (the connection
  failed) or was refused with 429, since repeating it could act twice (an extension of the download
  time added twice, a second renewal); CREATE (createOrder) is repeated with the same body, hence the
  same partnerOrderNumber, which the server refuses to use twice: when a repeat is refused with 1010
  after an attempt whose outcome was unknown, the order that attempt created is read back with
  getOrderData and returned, after checking that it holds the lines asked for.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import quote, urlencode

import httpx
from pydantic import BaseModel

from resell_client import models
from resell_client.errors import (
    AuthenticationError,
    ConnectError,
    NotFound,
    RateLimited,
    ServerError,
    TransportError,
    error_for,
)

R = TypeVar("R")

READ = "read"
WRITE = "write"
CREATE = "create"

MAX_BACKOFF = 8.0  # seconds between two attempts, at most
MAX_RETRY_AFTER = 30.0  # a longer Retry-After is not waited for: RateLimited is raised at once


@dataclass(frozen=True)
class Operation(Generic[R]):
    """A Connect operation: `name` is the contract's (createOrder), `path` under the base URL."""

    name: str
    method: str
    path: str
    reply: type[R] | None  # None: the reply has no body (HTTP 204)
    retry: str  # READ, WRITE or CREATE


def _op(name: str, method: str, path: str, reply: Any, retry: str) -> Operation[Any]:
    return Operation(name, method, path, reply, retry)


# The operation table: every call the clients make, once.
STATUS = _op("status", "GET", "/connect/status", models.Status, READ)
GET_STOCK_STATUS = _op("getStockStatus", "POST", "/connect/stock", models.StockStatus, READ)
GET_CROSS_UP_SELL = _op("getCrossUpSell", "POST", "/connect/order/crossupsell", models.CrossUpSell, READ)
CREATE_ORDER = _op("createOrder", "POST", "/connect/order/new", models.Order, CREATE)
GET_ORDER = _op("getOrderData", "GET", "/connect/order/{partnerOrderNumber}", models.Order, READ)
CANCEL_ORDER = _op("cancelOrder", "PUT", "/connect/order/cancel", models.CancelledOrder, WRITE)
GET_DOWNLOAD_INFO = _op(
    "getDownloadInfo", "GET", "/connect/order/{partnerOrderNumber}/download", models.DownloadInfo, READ
)
UPDATE_DOWNLOAD_TIME = _op("updateDownloadTime", "PUT", "/connect/order/download", models.DownloadTime, WRITE)
GET_SUBSCRIPTION_STATUS = _op(
    "getSubscriptionStatus", "POST", "/connect/subscription", models.SubscriptionStatus, READ
)
CANCEL_SUBSCRIPTION = _op("cancelSubscription", "PUT", "/connect/subscription", models.SubscriptionChange, WRITE)
RENEW_SUBSCRIPTION = _op("renewSubscription", "POST", "/connect/subscription/renew", models.SubscriptionChange, WRITE)
GET_CATEGORIES = _op("getCategories", "GET", "/connect/catalog/categories/{language}", models.Categories, READ)
GET_OPERATING_SYSTEMS = _op("getOperatingSystems", "GET", "/connect/catalog/oslist", models.OperatingSystems, READ)
LIST_WEBHOOKS = _op("listWebhooks", "GET", "/connect/webhooks", models.Webhooks, READ)
CREATE_WEBHOOK = _op("addWebhook", "POST", "/connect/webhooks", models.CreatedWebhook, WRITE)
DELETE_WEBHOOK = _op("removeWebhook", "DELETE", "/connect/webhooks/{id}", models.RemovedWebhook, WRITE)
LIST_WEBHOOK_DELIVERIES = _op(
    "listWebhookDeliveries", "GET", "/connect/webhooks/{id}/deliveries", models.WebhookDeliveries, READ
)
REDELIVER_WEBHOOK_EVENT = _op(
    "redeliverWebhookEvent",
    "POST",
    "/connect/webhooks/{id}/deliveries/{event_id}/redeliver",
    models.RedeliveredEvent,
    WRITE,
)


GET_TEST_CLOCK = _op("getTestClock", "GET", "/connect/sandbox/clock", models.TestClock, READ)
ADVANCE_TEST_CLOCK = _op("advanceTestClock", "POST", "/connect/sandbox/clock", models.AdvancedTestClock, WRITE)
RESET_TOKENS = _op("resetTokens", "DELETE", "/iam/tokens/reset", None, WRITE)

OPERATIONS: tuple[Operation[Any], ...] = (
    STATUS, GET_STOCK_STATUS, GET_CROSS_UP_SELL, CREATE_ORDER, GET_ORDER, CANCEL_ORDER, GET_DOWNLOAD_INFO,
    UPDATE_DOWNLOAD_TIME, GET_SUBSCRIPTION_STATUS, CANCEL_SUBSCRIPTION, RENEW_SUBSCRIPTION, GET_CATEGORIES,
    GET_OPERATING_SYSTEMS, LIST_WEBHOOKS, CREATE_WEBHOOK, DELETE_WEBHOOK, LIST_WEBHOOK_DELIVERIES,
    REDELIVER_WEBHOOK_EVENT, RESET_TOKENS,
)  # fmt: skip


@dataclass(frozen=True)
class Call(Generic[R]):
    operation: Operation[R]
    params: dict[str, str | int] = field(default_factory=dict)
    body: dict[str, Any] | None = None
    query: dict[str, str | int] = field(default_factory=dict)  # the query string (None values left out)


# ---------------------------------------------------------------- what a call asks its driver to do


@dataclass(frozen=True)
class Send:
    """Send this request; the driver answers the httpx.Response, or the httpx.TransportError it raised."""

    method: str
    path: str
    body: dict[str, Any] | None
    headers: dict[str, str]


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class Authorize:
    """An access token: the driver runs `Engine.authorize` under its lock (one sign-in at a time) and
    answers the token. `force`: the server refused `stale`; get another unless someone already did."""

    force: bool
    stale: str | None = None


Action = Send | Sleep | Authorize
Step = Generator[Action, Any, R]


def _not_sent(exc: Exception) -> bool:
    """The request surely never reached the server: no connection was made."""
    return isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)


def _retry_after(reply: httpx.Response) -> float | None:
    try:
        return max(0.0, float(reply.headers["retry-after"]))
    except (KeyError, ValueError):
        return None


def _json(reply: httpx.Response) -> Any:
    try:
        return reply.json()
    except ValueError:
        return None


def _lines(body: dict[str, Any] | None) -> Counter[int]:
    wanted: Counter[int] = Counter()
    for line in (body or {}).get("orderLines") or []:
        wanted[int(line["productRef"])] += int(line.get("quantity", 1))
    return wanted


def _holds(order: models.Order, body: dict[str, Any] | None) -> bool:
    """Whether a stored order holds the lines of a createOrder body (it was this request's)."""
    stored: Counter[int] = Counter()
    for line in order.order_lines:
        stored[line.product_ref] += len(line.line_items)
    return stored == _lines(body)


class Engine:
    """One client's state (credentials, tokens, retry settings) and the logic of every call."""

    def __init__(
        self,
        realm_name: str,
        client_secret: str,
        secret: str,
        max_retries: int,
        backoff_factor: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.realm_name = realm_name
        self.client_secret = client_secret
        self.secret = secret
        self.max_retries = max_retries
        self.backoff_factor = backoff_factor
        self.clock = clock
        self.access_token: str | None = None
        self.refresh_token: str | None = None
        self.access_until = 0.0
        self.refresh_until = 0.0

    def backoff(self, attempt: int) -> float:
        delay: float = min(MAX_BACKOFF, self.backoff_factor * 2.0 ** (attempt - 1))
        return delay * random.uniform(0.5, 1.0)

    # ------------------------------------------------------------ a call

    def run(self, call: Call[R]) -> Step[R]:
        op = call.operation
        path = op.path.format(**{k: quote(str(v), safe="") for k, v in call.params.items()})
        if call.query:
            path += "?" + urlencode(call.query)
        attempt = 0
        uncertain = False  # an earlier attempt may have reached the server and done its work
        signed_in_again = False
        while True:
            token = yield Authorize(False)
            headers = {"authorization": f"Bearer {token}", "secret": self.secret}
            outcome = yield Send(op.method, path, call.body, headers)
            if isinstance(outcome, Exception):
                not_sent = _not_sent(outcome)
                uncertain = uncertain or (op.retry == CREATE and not not_sent)
                if (op.retry != WRITE or not_sent) and attempt < self.max_retries:
                    attempt += 1
                    yield Sleep(self.backoff(attempt))
                    continue
                message = f"no reply ({type(outcome).__name__}: {outcome})"
                if op.retry != READ and not not_sent:
                    message += "; the request may have been carried out"
                raise TransportError(message, operation=op.name) from outcome
            status = outcome.status_code
            if status == 401:
                if not signed_in_again:
                    signed_in_again = True
                    yield Authorize(True, token)
                    continue
                raise AuthenticationError(
                    "the access token was refused", operation=op.name, http_status=401, reply=_json(outcome)
                )
            if status == 429 or status >= 500:
                uncertain = uncertain or (op.retry == CREATE and status >= 500)
                wait = _retry_after(outcome)
                may_repeat = status == 429 or op.retry != WRITE
                if may_repeat and attempt < self.max_retries and (wait is None or wait <= MAX_RETRY_AFTER):
                    attempt += 1
                    yield Sleep(wait if wait is not None else self.backoff(attempt))
                    continue
            reply = _json(outcome)
            if op.reply is None and 200 <= status < 300:
                if op is RESET_TOKENS:
                    self.refresh_token = None
                return None  # type: ignore[return-value]
            code_key, message_key = ("code", "message") if op.name == "getSubscriptionStatus" else (
                "responseCode", "responseMessage"
            )
            code = reply.get(code_key) if isinstance(reply, dict) else None
            if code == 0 and op.reply is not None:
                return op.reply.model_validate(reply) if issubclass(op.reply, BaseModel) else reply
            if not isinstance(code, int):
                raise self._http_error(op.name, outcome, reply)
            message = str(reply.get(message_key) or "")
            if op.retry == CREATE and code == 1010 and uncertain:
                # An earlier attempt created the order and its reply was lost: return that order.
                pon = str((call.body or {}).get("partnerOrderNumber"))
                order = yield from self.run(Call(GET_ORDER, {"partnerOrderNumber": pon}))
                if isinstance(order, models.Order) and _holds(order, call.body):
                    return order  # type: ignore[return-value]
            raise error_for(op.name, code, message, status, reply)

    def _http_error(self, operation: str, reply: httpx.Response, body: Any) -> ConnectError:
        status = reply.status_code
        text = ""
        if isinstance(body, dict):
            text = str(body.get("message") or body.get("detail") or body.get("responseMessage") or "")
        text = text or reply.reason_phrase or f"HTTP {status}"
        if status == 404:
            return NotFound(text, operation=operation, http_status=status, reply=body)
        if status == 429:
            error = RateLimited(text, operation=operation, http_status=status, reply=body)
            error.retry_after = _retry_after(reply)
            return error
        if status >= 500:
            return ServerError(text, operation=operation, http_status=status, reply=body)
        return ConnectError(text, operation=operation, http_status=status, reply=body)

    # ------------------------------------------------------------ tokens

    def authorize(self, force: bool, stale: str | None) -> Step[str]:
        """A valid access token: the one held, a refreshed one, or a new sign-in."""
        now = self.clock()
        if self.access_token and now < self.access_until and (not force or self.access_token != stale):
            return self.access_token
        if self.refresh_token and now < self.refresh_until:
            token = yield from self._grant({"grantType": "refresh_token", "refreshToken": self.refresh_token})
            if token is not None:
                return token
        token = yield from self._grant({"grantType": "client_credentials"})
        assert token is not None
        return token

    def _grant(self, fields: dict[str, str]) -> Step[str | None]:
        """POST /iam/tokens. A refresh that fails in any way gives None (sign in afresh instead: a refresh
        token is used up once sent, so it is never sent twice)."""
        refreshing = fields["grantType"] == "refresh_token"
        body = {"realmName": self.realm_name, "clientSecret": self.client_secret, **fields}
        attempt = 0
        while True:
            started = self.clock()
            outcome = yield Send("POST", "/iam/tokens", body, {})
            if isinstance(outcome, Exception):
                if refreshing and not _not_sent(outcome):
                    self.refresh_token = None
                    return None
                if attempt < self.max_retries:
                    attempt += 1
                    yield Sleep(self.backoff(attempt))
                    continue
                raise TransportError(f"no reply ({type(outcome).__name__}: {outcome})", operation="createToken")
            status = outcome.status_code
            if status == 200:
                token = models.Token.model_validate(outcome.json())
                margin = min(30.0, token.expires_in / 10)
                self.access_token = token.access_token
                self.access_until = started + token.expires_in - margin
                self.refresh_token = token.refresh_token
                self.refresh_until = started + token.refresh_expires_in - min(30.0, token.refresh_expires_in / 10)
                return token.access_token
            if refreshing and (status == 401 or status >= 500):
                self.refresh_token = None
                return None
            if status == 401:
                raise AuthenticationError(
                    "bad realm name or client secret", operation="createToken", http_status=401, reply=_json(outcome)
                )
            wait = _retry_after(outcome)
            if (status == 429 or status >= 500) and attempt < self.max_retries and (wait or 0) <= MAX_RETRY_AFTER:
                attempt += 1
                yield Sleep(wait if wait is not None else self.backoff(attempt))
                continue
            raise self._http_error("createToken", outcome, _json(outcome))
