"""Signed calls to publishers (key generator, revoked-serial callbacks), per Standard Webhooks.

Each publisher has its own key, derived from the platform's publisher key (RESELL_PUBLISHER_SIGNING_KEY,
default derived from the JWT secret) and the publisher's `key`: nothing is stored, in clear or
otherwise, and `resell publishers signing-key KEY` prints it (`whsec_...`) for the publisher, who
checks requests with any Standard Webhooks library: headers `webhook-id`, `webhook-timestamp`,
`webhook-signature` (`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from urllib.parse import urlsplit

from standardwebhooks import Webhook

from resell.domain.addresses import NotAnAddress, is_loopback_name, literal_address


def publisher_secret(platform_key: bytes, publisher_key: str) -> str:
    mac = hmac.new(platform_key, f"publisher:{publisher_key}".encode(), hashlib.sha256).digest()
    return "whsec_" + base64.b64encode(mac).decode()


def signed_headers(secret: str, message_id: str, at: dt.datetime, body: str) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, at.astimezone(dt.UTC), body),
    }


def check_publisher_url(url: str) -> str:
    """HTTPS, or plain HTTP to this machine only (serials must not cross a network in clear). Whether the
    address may be called at all is resell.outbound's question, asked at each call."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme == "https" and host:
        return url
    if parts.scheme == "http" and host:
        if is_loopback_name(host):
            return url
        try:
            address = literal_address(host)
        except NotAnAddress:
            address = None
        if address is not None and address.is_loopback:
            return url
    raise ValueError(f"{url!r}: publisher URLs must be https:// (http:// only to localhost)")
