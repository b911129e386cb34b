"""The worker's HTTP clients: one per process (and per RESELL_WEBHOOK_ALLOW_PRIVATE value), shared by every
delivery (webhooks, publisher callbacks), guarded against SSRF by resell.outbound.

A fresh `httpx.post` per delivery builds a new client each time, and with it a TLS context (loading the
CA bundle) and a new connection: about 0.5 s of CPU per call on a busy two-core machine, against a few
milliseconds through a shared client that keeps connections alive. Timeouts are given per request.
"""

from __future__ import annotations

import threading

import httpx

from resell import outbound
from resell.config import Settings

_clients: dict[bool, httpx.Client] = {}
_lock = threading.Lock()


def client(settings: Settings) -> httpx.Client:
    allow_private = settings.webhook_allow_private
    found = _clients.get(allow_private)
    if found is None:
        with _lock:
            found = _clients.get(allow_private)
            if found is None:
                found = _clients[allow_private] = outbound.client(allow_private)
    return found
