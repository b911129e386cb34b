"""Webhook rules without I/O: the event types, who may receive them, signing secrets, endpoint URLs.

A signing secret is never stored: each endpoint keeps a random salt, and its secret is
`whsec_` + base64(HMAC-SHA256(platform webhook key, salt)), recomputed whenever a delivery is signed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from resell.domain import codes

# What a merchant's endpoint may subscribe to: changes of its own orders and subscriptions.
MERCHANT_EVENTS = (
    "order.created",
    "order.cancelled",
    "download.extended",
    "subscription.renewed",
    "subscription.cancelled",
    "subscription.expired",
    "subscription.renewal_failed",
)
# What the operator's and publishers' endpoints may subscribe to: stock crossing its thresholds.
STOCK_EVENTS = ("stock.low", "stock.out")
EVENT_TYPES = MERCHANT_EVENTS + STOCK_EVENTS

# The outbox kind of one delivery to one endpoint (the event itself keeps its own kind and id).
DELIVERY_KIND = "webhook.deliver"

MAX_URL_LENGTH = 1000


class InvalidEndpoint(ValueError):
    """A URL or an event list that cannot be registered; `code` is the API's responseCode."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


def new_salt() -> str:
    return secrets.token_hex(16)


def signing_secret(key: bytes, salt: str) -> str:
    """The endpoint's Standard Webhooks secret: 32 bytes derived from the platform key and the salt."""
    raw = hmac.new(key, f"webhook-endpoint:{salt}".encode(), hashlib.sha256).digest()
    return "whsec_" + base64.b64encode(raw).decode()


def check_url(value: object) -> str:
    """An absolute http(s) URL without credentials; 100 missing, 101 not valid."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InvalidEndpoint(codes.WEBHOOK_URL_MISSING, "url missing")
    if not isinstance(value, str) or len(value.strip()) > MAX_URL_LENGTH:
        raise InvalidEndpoint(codes.WEBHOOK_URL_NOT_VALID, "url not valid")
    url = value.strip()
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a malformed port
    except ValueError:
        raise InvalidEndpoint(codes.WEBHOOK_URL_NOT_VALID, "url not valid") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        raise InvalidEndpoint(codes.WEBHOOK_URL_NOT_VALID, "url not valid")
    if port == 0 or any(c.isspace() for c in url):
        raise InvalidEndpoint(codes.WEBHOOK_URL_NOT_VALID, "url not valid")
    return url


def check_events(value: object, allowed: tuple[str, ...]) -> list[str]:
    """A non-empty list of event types out of `allowed`, deduplicated, in the order given; 110 / 111."""
    if value is None or value == [] or value == "":
        raise InvalidEndpoint(codes.WEBHOOK_EVENTS_MISSING, "events missing")
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    # 111 names the events the caller may choose from: the list differs between merchants and the operator
    not_valid = f"events not valid (allowed: {', '.join(allowed)})"
    if not isinstance(value, list) or not value:
        raise InvalidEndpoint(codes.WEBHOOK_EVENTS_NOT_VALID, not_valid)
    events: list[str] = []
    for item in value:
        if not isinstance(item, str) or item.strip() not in allowed:
            raise InvalidEndpoint(codes.WEBHOOK_EVENTS_NOT_VALID, not_valid)
        if item.strip() not in events:
            events.append(item.strip())
    return events
