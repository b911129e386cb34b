"""Signed download links: `/download/{line token}/{file id}/{signature}`.

The line token is random per order line (no database id can be guessed from a link); the HMAC
binds the file to the line, so a link cannot be edited to fetch another file. Checked in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from resell.domain.request_fields import decimal_id


def new_line_token() -> str:
    return secrets.token_urlsafe(16)


def signature(key: bytes, line_token: str, file_id: int) -> str:
    mac = hmac.new(key, f"{line_token}/{file_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:18]).decode().rstrip("=")


def download_path(key: bytes, line_token: str, file_id: int) -> str:
    return f"/download/{line_token}/{file_id}/{signature(key, line_token, file_id)}"


def verify(key: bytes, line_token: str, file_id: int, given: str) -> bool:
    return hmac.compare_digest(signature(key, line_token, file_id), given)


def _mac(key: bytes, message: str) -> str:
    mac = hmac.new(key, message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:18]).decode().rstrip("=")


def metalink_path(key: bytes, order_id: int) -> str:
    """The order's Metalink document (every file of the order), signed like the file links."""
    return f"/metalink/{order_id}/{_mac(key, f'metalink/{order_id}')}.meta4"


def verify_metalink(key: bytes, order_id: int, given: str) -> bool:
    return hmac.compare_digest(_mac(key, f"metalink/{order_id}"), given)


def locker_session(key: bytes, order_id: int, expires: int) -> str:
    """The digital locker's session cookie: the order it opens and until when (Unix seconds), signed."""
    return f"{order_id}.{expires}.{_mac(key, f'locker/{order_id}/{expires}')}"


def read_locker_session(key: bytes, value: str, now: int) -> int | None:
    """The order id a locker session cookie opens, or None when it is forged, malformed or expired."""
    parts = value.split(".")
    if len(parts) != 3:
        return None
    order_id, expires = decimal_id(parts[0]), decimal_id(parts[1])
    if order_id is None or expires is None:
        return None
    if not hmac.compare_digest(_mac(key, f"locker/{order_id}/{expires}"), parts[2]) or expires < now:
        return None
    return order_id
