"""Checking that a webhook came from resell: the Standard Webhooks scheme, as the server signs.

Each delivery carries `webhook-id` (the event's id, the same on every retry: deduplicate on it),
`webhook-timestamp` (Unix seconds of the attempt) and `webhook-signature`: one or more
space-separated `v1,<base64 HMAC-SHA256>` of `"{id}.{timestamp}.{body}"`, keyed with the bytes of the
endpoint's secret (`whsec_<base64>`, shown once by create_webhook). `verify` checks the signature
over the raw body bytes (verify before parsing: re-serialised JSON would not match) and that the
timestamp is within `tolerance` seconds of now, which bounds replays.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from resell_client.models import WebhookEvent

DEFAULT_TOLERANCE = 300  # seconds, either way


class WebhookVerificationError(ValueError):
    """The request is not a genuine resell webhook: missing headers, a bad signature, or too old."""


def _key(secret: str) -> bytes:
    try:
        return base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the secret must be the whsec_... value create_webhook returned") from None


def _body(payload: bytes | str) -> bytes:
    return payload.encode() if isinstance(payload, str) else bytes(payload)


def sign(payload: bytes | str, secret: str, webhook_id: str, timestamp: int) -> str:
    """The `webhook-signature` value the server sends for this body (for tests of a receiver)."""
    signed = f"{webhook_id}.{timestamp}.".encode() + _body(payload)
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(
    payload: bytes | str,
    headers: Mapping[str, str],
    secret: str,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> WebhookEvent:
    """The event, if `payload` (the raw body) and `headers` are a genuine delivery signed with `secret`;
    else WebhookVerificationError. Header names are matched in any case."""
    lower = {str(k).lower(): v for k, v in headers.items()}
    webhook_id = lower.get("webhook-id")
    stamp = lower.get("webhook-timestamp")
    signatures = lower.get("webhook-signature")
    if not webhook_id or not stamp or not signatures:
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature header")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not a number of seconds") from None
    current = time.time() if now is None else now
    if timestamp < current - tolerance:
        raise WebhookVerificationError("webhook-timestamp too old")
    if timestamp > current + tolerance:
        raise WebhookVerificationError("webhook-timestamp too far in the future")
    expected = sign(payload, secret, webhook_id, timestamp).split(",", 1)[1]
    for candidate in signatures.split():
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode(), expected.encode()):
            break
    else:
        raise WebhookVerificationError("no matching signature")
    try:
        message: Any = json.loads(_body(payload))
    except ValueError:
        raise WebhookVerificationError("the body is not JSON") from None
    if not isinstance(message, dict):
        raise WebhookVerificationError("the body is not a JSON object")
    return WebhookEvent.model_validate({**message, "id": webhook_id})
