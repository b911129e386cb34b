"""Secrets: made random, stored as hashes, compared in constant time.

API client secrets and catalogue secrets are 256-bit random tokens, so a plain SHA-256 is enough
to make a stolen database useless (no dictionary to try) while letting every request find its
catalogue by hash in one indexed lookup. No secret is ever stored or logged in clear.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_secret(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)
