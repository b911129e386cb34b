"""Attempt limits for the sign-in doors: the digital locker (POST /locker) and POST /iam/tokens.

One rule, one place: moving windows from the `limits` library, counted in the storage named by
RESELL_RATE_LIMIT_STORAGE (`memory://` for one process, `redis://...` when several serve), one
limiter per application. A refused attempt gets the seconds to wait, which each door renders as
HTTP 429 with `Retry-After` in its own body shape.

- `hit(rule, key)` counts an attempt and says whether it may go ahead;
- `check(rule, key)` says whether the limit is already reached without counting (used to count
  failed attempts only: check before, `hit` after a failure).

A rule whose limit is empty (`RESELL_..._RATE_LIMIT_...=""`) never refuses.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from functools import lru_cache

from limits import RateLimitItem, parse, storage, strategies
from starlette.requests import Request

_lock = threading.Lock()
MAX_KEY_CHARS = 200  # keys come from the client: bound what the storage keeps per attempt


@dataclass(frozen=True)
class Rule:
    """`limit` attempts (limits notation, e.g. "20/minute") per key within `namespace`."""

    namespace: str
    limit: RateLimitItem | None


@lru_cache(maxsize=64)
def rule(namespace: str, notation: str) -> Rule:
    """The rule for a setting's notation; an empty notation never refuses."""
    return Rule(namespace, parse(notation) if notation.strip() else None)


class RateLimiter:
    """Moving-window counters in one storage."""

    def __init__(self, storage_uri: str):
        self._windows = strategies.MovingWindowRateLimiter(storage.storage_from_string(storage_uri))

    def _retry_after(self, rule: Rule, key: str) -> int:
        assert rule.limit is not None
        reset = self._windows.get_window_stats(rule.limit, rule.namespace, key).reset_time
        return max(1, math.ceil(reset - time.time()))

    def hit(self, rule: Rule, key: str) -> int | None:
        """Count an attempt: None when it may go ahead, else the seconds to wait."""
        if rule.limit is None:
            return None
        key = key[:MAX_KEY_CHARS]
        if self._windows.hit(rule.limit, rule.namespace, key):
            return None
        return self._retry_after(rule, key)

    def check(self, rule: Rule, key: str) -> int | None:
        """Like `hit` without counting: None while the limit is not reached."""
        if rule.limit is None:
            return None
        key = key[:MAX_KEY_CHARS]
        if self._windows.test(rule.limit, rule.namespace, key):
            return None
        return self._retry_after(rule, key)


def limiter(request: Request) -> RateLimiter:
    """The application's limiter (made on first use from its settings)."""
    state = request.app.state
    with _lock:
        if getattr(state, "rate_limiter", None) is None:
            state.rate_limiter = RateLimiter(state.ctx.settings.rate_limit_storage)
    return state.rate_limiter  # type: ignore[no-any-return]


def client_ip(request: Request) -> str:
    """The peer address (uvicorn's --proxy-headers puts the forwarded client here behind a proxy)."""
    return request.client.host if request.client else "unknown"
