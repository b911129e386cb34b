"""Attempt limits for the sign-in doors: the digital locker (POST /locker) and POST /iam/tokens; the
locker's "getting back in" forms (POST /locker/resend, /locker/forgot) use the same moving windows.

One rule, one place: counters from the `limits` library, kept in the storage named by
RESELL_RATE_LIMIT_STORAGE (`memory://` for one process, `redis://...` when several serve), one
limiter per application. A refused attempt gets the seconds to wait, which each door renders as
HTTP 429 with `Retry-After` in its own body shape. Two kinds of limit:

- per client address, every attempt counted (`hit(rule, ip)`, moving windows): bounds what one
  address may try, whatever it names; `hit_all` counts one attempt against several rules (per
  (order, address) and per order, say) only when every one has room, so that a refusal by one never
  uses up another's quota;
- per (account, client address), failures counted (`Backoff`): after `after` failures from one
  address on one account (a realm, a locker order), each further attempt from that address on that
  account is refused for a delay that doubles with every attempt, up to `cap`. Keyed by the address
  too, so that someone else's failures never lock an account's owner out (the old per-account
  limit let anyone lock a realm or an order by failing on purpose). A success forgets the failures
  of that address on that account. `delayed` before an attempt, `failed` or `succeeded` after it.

A rule whose limit is empty (`RESELL_..._RATE_LIMIT_...=""`) never refuses. Throttling sees IPv6
clients by their /64 network, the block one subscriber usually holds whole.
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import cast

from limits import RateLimitItem, parse, storage, strategies
from starlette.requests import Request

from resell.config import Settings

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


@dataclass(frozen=True)
class Backoff:
    """After `after` failures from one address on one account, each further attempt waits `base`
    seconds, doubled per attempt, at most `cap` (`after` 0 turns it off)."""

    namespace: str
    after: int
    base: int
    cap: int


STRIKES_KEPT_SECONDS = 86_400  # the failures of an address on an account are forgotten a day after the first


class RateLimiter:
    """Moving-window counters and failure back-offs in one storage."""

    def __init__(self, storage_uri: str):
        self._storage = cast(storage.Storage, storage.storage_from_string(storage_uri))  # not an async:// one
        self._windows = strategies.MovingWindowRateLimiter(self._storage)

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

    def hit_all(self, *counted: tuple[Rule, str]) -> int | None:
        """Count one attempt against several (rule, key) pairs: None, counted by each, when every one
        has room; else the seconds to wait, counted by none. Tested then counted, not atomically: two
        racing attempts may pass the test together, and the later counts may then refuse one of them."""
        live = [(rule, key[:MAX_KEY_CHARS]) for rule, key in counted if rule.limit is not None]
        for rule, key in live:
            assert rule.limit is not None
            if not self._windows.test(rule.limit, rule.namespace, key):
                return self._retry_after(rule, key)
        for rule, key in live:
            assert rule.limit is not None
            if not self._windows.hit(rule.limit, rule.namespace, key):
                return self._retry_after(rule, key)
        return None

    # Back-off: the storage's plain counters (incr with an expiry, get, clear), which every `limits`
    # storage has. `strikes` counts the failures (and refused attempts) of an address on an account;
    # the wait after the n-th is a key of its own that expires with it, so no clock is compared here
    # and every node sharing the storage agrees.

    @staticmethod
    def _strikes_key(backoff: Backoff, account: str, ip: str) -> str:
        # the address first: it holds no space, so the account (any text) cannot pass for another pair
        return f"backoff/{backoff.namespace} {ip} {account[:MAX_KEY_CHARS]}"

    def delayed(self, backoff: Backoff, account: str, ip: str) -> int | None:
        """Before an attempt: None when it may go ahead; else it counts as one more failure and the
        answer is the seconds to wait (doubled from the last refusal)."""
        if backoff.after <= 0:
            return None
        key = self._strikes_key(backoff, account, ip)
        strikes = int(self._storage.get(key))
        if strikes < backoff.after or not self._storage.get(f"{key} wait {strikes}"):
            return None
        return self.failed(backoff, account, ip)

    def failed(self, backoff: Backoff, account: str, ip: str) -> int | None:
        """After a failed attempt: count it; the seconds the next attempt must wait, or None."""
        if backoff.after <= 0:
            return None
        key = self._strikes_key(backoff, account, ip)
        strikes = self._storage.incr(key, STRIKES_KEPT_SECONDS)
        if strikes < backoff.after:
            return None
        delay = min(backoff.base * 2 ** min(strikes - backoff.after, 32), backoff.cap)
        self._storage.incr(f"{key} wait {strikes}", delay)
        return max(1, delay)

    def succeeded(self, backoff: Backoff, account: str, ip: str) -> None:
        """After a successful attempt: forget the failures of this address on this account."""
        if backoff.after > 0:
            self._storage.clear(self._strikes_key(backoff, account, ip))


def sign_in_backoff(namespace: str, settings: Settings) -> Backoff:
    """The back-off of a sign-in door, from the RESELL_SIGN_IN_BACKOFF_* settings (one for both doors)."""
    return Backoff(
        namespace,
        settings.sign_in_backoff_after,
        settings.sign_in_backoff_seconds,
        settings.sign_in_backoff_max_seconds,
    )


def limiter(request: Request) -> RateLimiter:
    """The application's limiter (made on first use from its settings)."""
    state = request.app.state
    with _lock:
        if getattr(state, "rate_limiter", None) is None:
            state.rate_limiter = RateLimiter(state.ctx.settings.rate_limit_storage)
    return state.rate_limiter  # type: ignore[no-any-return]


def client_ip(request: Request) -> str:
    """The client address as throttling counts it: the peer, or the client a trusted proxy forwarded
    (RESELL_FORWARDED_ALLOW_IPS); an IPv6 client by its /64 network, which one subscriber gets whole."""
    host = request.client.host if request.client else "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)
