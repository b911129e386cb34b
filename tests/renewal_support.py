"""Helpers for the subscription, renewal, webhook and audit tests: callers, orders, a real HTTP
receiver that verifies Standard Webhooks signatures, and a few readers of the database."""

from __future__ import annotations

import datetime as dt
import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from standardwebhooks import Webhook, WebhookVerificationError

from resell.config import Settings
from resell.db.tables import audit_events, orders, outbox, subscriptions
from resell.services import iam
from resell.services import orders as order_service
from resell.services.context import Caller, Context
from resell.worker import webhooks as webhook_worker
from tests.conftest import MerchantCreds, order_body

SUBSCRIPTION_REF = 1005  # P1Y, 10 serials in the test world


def caller_of(ctx: Context, creds: MerchantCreds) -> Caller:
    return iam.caller_for_secret(ctx, creds.secret)


def buy(ctx: Context, who: Caller, pon: str, quantity: int = 1, ref: int = SUBSCRIPTION_REF) -> list[int]:
    """Order `quantity` of a subscription product; returns the subscription ids."""
    view = order_service.submit_order(ctx, who, order_body(pon, (ref, quantity)))
    return [item.subscription_id for line in view.lines for item in line.line_items if item.subscription_id]


def subscription(ctx: Context, subscription_id: int) -> Any:
    with ctx.db.read() as conn:
        return conn.execute(select(subscriptions).where(subscriptions.c.id == subscription_id)).one()


def outbox_events(ctx: Context, kind: str) -> list[Any]:
    with ctx.db.read() as conn:
        return conn.execute(select(outbox).where(outbox.c.kind == kind).order_by(outbox.c.id)).all()


def audit_trail(ctx: Context, entity: str, entity_id: object) -> list[tuple[str, Any, Any]]:
    with ctx.db.read() as conn:
        rows = conn.execute(
            select(audit_events.c.action, audit_events.c.before, audit_events.c.after)
            .where(audit_events.c.entity == entity, audit_events.c.entity_id == str(entity_id))
            .order_by(audit_events.c.id)
        ).all()
    return [(r.action, r.before, r.after) for r in rows]


def order_count(ctx: Context) -> int:
    with ctx.db.read() as conn:
        return conn.execute(select(func.count()).select_from(orders)).scalar_one()


@pytest.fixture(autouse=True)
def fresh_stock_check() -> Iterator[None]:
    """The worker looks at stock levels at most once a minute per database: each test starts afresh."""
    webhook_worker._last_stock_check.clear()
    yield
    webhook_worker._last_stock_check.clear()


# ---------------------------------------------------------------- a webhook receiver on loopback


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: Any  # the verified JSON message, or None when the signature did not verify
    error: str | None


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1. `mode` decides the answer: "ok" (204), "fail" (503), "gone" (410),
    "hang" (answers only when released, long after any client timeout). Every request is recorded
    before it is answered, with the outcome of verifying its signature against `secret`."""

    url: str
    mode: str = "ok"
    secret: str | None = None
    received: list[Received] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def by_type(self, kind: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.verified is not None and r.verified.get("type") == kind]

    def all(self) -> list[Received]:
        with self.lock:
            return list(self.received)


def _handler_for(receiver: Receiver) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            verified, error = None, None
            try:
                assert receiver.secret, "the test did not give the receiver its secret"
                verified = Webhook(receiver.secret).verify(body, headers)
            except (WebhookVerificationError, AssertionError, ValueError) as exc:
                error = str(exc)
            with receiver.lock:
                receiver.received.append(Received(self.path, headers, body, verified, error))
            mode = receiver.mode
            if mode == "hang":
                receiver.release.wait(30)
            status = {"ok": 204, "fail": 503, "gone": 410, "hang": 204}[mode]
            try:
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()
            except OSError:  # the client gave up waiting (the timeout test)
                pass

    return Handler


@pytest.fixture(name="receiver")
def receiver_fixture() -> Iterator[Receiver]:
    """Import `receiver_fixture` into a test module to use the `receiver` fixture there."""
    with serve_receiver() as rec:
        yield rec


@contextmanager
def serve_receiver() -> Iterator[Receiver]:
    """A Receiver listening until the block ends: the `receiver` fixture, or more for a test that needs several."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    server.daemon_threads = True
    rec = Receiver(url=f"http://127.0.0.1:{server.server_address[1]}/hooks")
    server.RequestHandlerClass = _handler_for(rec)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield rec
    rec.release.set()
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


# ---------------------------------------------------------------- a `resell worker --once --now` process

ROOT = Path(__file__).resolve().parents[1]


def worker_process(settings: Settings, now: dt.datetime, **env_extra: str) -> subprocess.Popen[str]:
    """A real worker process running one pass as if at `now`, on the test's database (`env_extra`:
    more RESELL_* settings)."""
    env = {
        **os.environ,
        "RESELL_DATABASE_URL": settings.effective_database_url,
        "RESELL_VAR_DIR": str(settings.var_dir),
        "RESELL_JWT_SECRET": settings.jwt_secret,  # webhook secrets derive from it: the same as the API's
        "RESELL_LOG_JSON": "true",
        "RESELL_WEBHOOK_ALLOW_PRIVATE": "true",  # the receivers listen on loopback
        **env_extra,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "resell.cli", "worker", "--once", "--now", now.isoformat()],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str]) -> str:
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    return out
