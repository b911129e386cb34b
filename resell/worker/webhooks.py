"""Webhook deliveries to merchants (and to the operator and publishers), signed per Standard Webhooks.

Each `webhook.deliver` outbox row is one event for one endpoint. The body is the event's message
(`{"type", "timestamp", "data"}`); the headers are `webhook-id` (the event's stable id, the same on
every retry and redelivery: receivers deduplicate on it), `webhook-timestamp` and `webhook-signature`
(`v1,` + HMAC-SHA256 by the standardwebhooks library, keyed with the endpoint's `whsec_` secret).
The timestamp is the wall-clock time of the attempt, not the platform's (movable) clock: receivers
reject signatures older than a few minutes.

A 2xx answer delivers; anything else (another status, a refused connection, a timeout) is retried
with exponential backoff for about three days (resell.domain.retry.WEBHOOKS); HTTP 410 Gone
disables the endpoint at once. Every attempt is logged in webhook_deliveries. The same module runs the periodic stock
level check that produces stock.low and stock.out.
"""

from __future__ import annotations

import datetime as dt
import time

import httpx
import orjson
from standardwebhooks import Webhook

from resell import __version__
from resell.domain.retry import WEBHOOKS
from resell.domain.webhooks import DELIVERY_KIND
from resell.logs import get_logger
from resell.services import stock
from resell.services import webhooks as endpoints
from resell.services.context import Context
from resell.worker import http
from resell.worker.dispatcher import Event, GiveUp, handler, periodic

log = get_logger("resell.webhooks")

STOCK_CHECK_EVERY = dt.timedelta(seconds=60)
_last_stock_check: dict[str, dt.datetime] = {}


class DeliveryFailed(Exception):
    """The receiver did not take the event; the dispatcher retries it later."""


def wall_clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def signed_headers(secret: str, webhook_id: str, body: str, at: dt.datetime) -> dict[str, str]:
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(webhook_id, at, body),
        "content-type": "application/json",
        "user-agent": f"resell-webhooks/{__version__}",
    }


@handler(DELIVERY_KIND, WEBHOOKS, destination="owner")  # a share of the worker per endpoint owner
def deliver(ctx: Context, event: Event) -> None:
    endpoint_id = int(event.payload["endpointId"])
    webhook_id = str(event.payload["webhookId"])
    target = endpoints.target(ctx, endpoint_id)
    if target is None or target.removed or not target.active:
        reason = "endpoint removed" if target is None or target.removed else "endpoint disabled"
        if target is not None:
            endpoints.record_attempt(ctx, endpoint_id, webhook_id, None, f"not sent: {reason}", None)
        raise GiveUp(reason)
    body = orjson.dumps(event.payload["message"]).decode()
    headers = signed_headers(target.secret, webhook_id, body, wall_clock())
    started = time.perf_counter()
    try:
        reply = http.client(ctx.settings).post(
            target.url,
            content=body,
            headers=headers,
            timeout=ctx.settings.webhook_timeout_seconds,
            follow_redirects=False,
        )
    except httpx.TimeoutException:
        error = f"timed out after {ctx.settings.webhook_timeout_seconds:g} s"
        endpoints.record_attempt(ctx, endpoint_id, webhook_id, None, error, _ms(started))
        raise DeliveryFailed(error) from None
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"
        endpoints.record_attempt(ctx, endpoint_id, webhook_id, None, error, _ms(started))
        raise DeliveryFailed(error) from None
    code = reply.status_code
    if 200 <= code < 300:
        endpoints.record_attempt(ctx, endpoint_id, webhook_id, code, None, _ms(started))
        return
    if code == 410:
        endpoints.record_attempt(ctx, endpoint_id, webhook_id, code, "410 Gone", _ms(started), "410 Gone")
        log.warning("webhook_endpoint_disabled", endpoint_id=endpoint_id, status=code)
        raise GiveUp("410 Gone: endpoint disabled")
    endpoints.record_attempt(ctx, endpoint_id, webhook_id, code, f"HTTP {code}", _ms(started))
    raise DeliveryFailed(f"HTTP {code}")


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


@periodic
def check_stock_levels(ctx: Context) -> int:
    """stock.low / stock.out: at most once a minute per worker process (by the platform's clock)."""
    now = ctx.now()
    last = _last_stock_check.get(ctx.db.url)
    if last is not None and last <= now < last + STOCK_CHECK_EVERY:
        return 0
    _last_stock_check[ctx.db.url] = now
    return stock.check_levels(ctx)
