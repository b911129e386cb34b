"""Signed download links: `/download/{line token}/{file id}/{signature}`.

The line token is random per order line (no database id can be guessed from a link); the HMAC
binds the file to the line, so a link cannot be edited to fetch another file. Checked in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets


def new_line_token() -> str:
    return secrets.token_urlsafe(16)


def signature(key: bytes, line_token: str, file_id: int) -> str:
    mac = hmac.new(key, f"{line_token}/{file_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:18]).decode().rstrip("=")


def download_path(key: bytes, line_token: str, file_id: int) -> str:
    return f"/download/{line_token}/{file_id}/{signature(key, line_token, file_id)}"


def verify(key: bytes, line_token: str, file_id: int, given: str) -> bool:
    return hmac.compare_digest(signature(key, line_token, file_id), given)
