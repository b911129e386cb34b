"""What both chaos phases need: a private database, a seeded catalogue, `resell serve` and `resell worker`
as real processes that can be SIGKILLed and restarted, merchant HTTP clients, and a webhook receiver."""

from __future__ import annotations

import http.server
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
# One TLS context for every client the suite makes: httpx builds one per Client otherwise (loading the CA
# bundle costs tens of milliseconds, far more on a busy machine), though every URL here is plain http.
TLS = ssl.create_default_context()
PG_ADMIN = os.environ.get("RESELL_CHAOS_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def log(message: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------- databases


@dataclass
class PrivateDatabase:
    """A SQLite file in the work directory, or a PostgreSQL database of our own, dropped by close()."""

    kind: str
    workdir: Path
    url: str = ""
    _pg_name: str = ""

    def __post_init__(self) -> None:
        if self.kind == "sqlite":
            self.url = f"sqlite:///{self.workdir / 'chaos.db'}"
            return
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        self._pg_name = f"resell_chaos_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self._pg_name}"'))
        admin.dispose()
        self.url = make_url(PG_ADMIN).set(database=self._pg_name).render_as_string(hide_password=False)

    def close(self) -> None:
        if not self._pg_name:
            return
        from sqlalchemy import create_engine, text

        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self._pg_name}" WITH (FORCE)'))
        admin.dispose()


def environment(workdir: Path, db_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "RESELL_VAR_DIR": str(workdir / "var"),
        "RESELL_DATABASE_URL": db_url,
        "RESELL_JWT_SECRET": "chaos-jwt-secret-" + "x" * 32,  # the same on every restart
        "RESELL_ACCESS_TOKEN_TTL_SECONDS": "86400",
        "RESELL_WEBHOOK_TIMEOUT_SECONDS": "5",
        "RESELL_WEBHOOK_ALLOW_PRIVATE": "true",  # the webhook receiver listens on loopback
        "RESELL_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }


def resell(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([PY, "-m", "resell.cli", *args], env=env, text=True, capture_output=True)
    if done.returncode != 0:
        raise SystemExit(f"resell {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


@dataclass
class Credentials:
    realm: str
    client_secret: str
    secret: str


def seed(
    env: dict[str, str], workdir: Path, catalog: dict[str, Any], serials: dict[int, int], realm: str
) -> Credentials:
    """Schema, catalogue and serials through the operator's CLI, and one merchant with a EUR catalogue."""
    resell(env, "db", "upgrade")
    path = workdir / "catalog.json"
    path.write_text(json.dumps(catalog))
    resell(env, "catalog", "import", str(path))
    if len(serials) <= 3:  # one `resell stock import` per product
        for ref, count in serials.items():
            serial_file = workdir / f"serials-{ref}.txt"
            serial_file.write_text("".join(f"CHAOS-{ref}-{i:07d}\n" for i in range(count)))
            resell(env, "stock", "import", str(ref), str(serial_file))
            serial_file.unlink()
    else:  # many small pools: the service `resell stock import` calls, in one process (saves a start each)
        code = (
            "import json, sys\n"
            "from resell.config import Settings\n"
            "from resell.services import stock\n"
            "from resell.services.context import Context\n"
            "ctx = Context.from_settings(Settings())\n"
            "for ref, count in json.loads(sys.argv[1]).items():\n"
            "    stock.import_serials(ctx, int(ref), [f'CHAOS-{ref}-{i:07d}' for i in range(count)])\n"
        )
        subprocess.run([PY, "-c", code, json.dumps(serials)], env=env, check=True)
    printed = resell(env, "merchant", "create", realm, "--currency", "EUR")
    client_secret = re.search(r"clientSecret\s+(\S+)", printed)
    secret = re.search(r"catalogue EUR secret\s+(\S+)", printed)
    if not client_secret or not secret:
        raise SystemExit(f"could not read the merchant's secrets from:\n{printed}")
    return Credentials(realm, client_secret.group(1), secret.group(1))


# ---------------------------------------------------------------- processes


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


@dataclass
class Service:
    """A `resell ...` process in a session (process group) of its own, so that it and its children can be
    SIGKILLed together."""

    name: str
    args: list[str]
    env: dict[str, str]
    log_path: Path
    health_url: str | None = None
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self, wait: bool = True) -> None:
        handle = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [PY, "-m", "resell.cli", *self.args],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=handle,
            start_new_session=True,
        )
        handle.close()
        self.starts += 1
        if wait and self.health_url:
            self.wait_healthy()

    def wait_healthy(self, timeout: float = 90) -> None:
        assert self.health_url
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.health_url, timeout=2, verify=TLS).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc is not None and self.proc.poll() is not None:
                raise SystemExit(f"{self.name} exited with {self.proc.returncode}; see {self.log_path}")
            time.sleep(0.1)
        raise SystemExit(f"{self.name} did not come up in {timeout:.0f} s; see {self.log_path}")

    def restart(self, attempts: int = 5) -> None:
        """Start again after a kill; the port may take a moment to be free of the dead processes."""
        for attempt in range(attempts):
            try:
                self.start(wait=True)
                return
            except SystemExit:
                if attempt == attempts - 1:
                    raise
                self.kill_group()
                time.sleep(0.5)

    def children(self) -> list[int]:
        return _children(self.proc.pid) if self.proc else []

    def kill_group(self) -> None:
        """SIGKILL the process and every child, at once (the whole session)."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()

    def kill_child(self) -> int | None:
        """SIGKILL one child process (a uvicorn worker); the master is left to replace it."""
        kids = self.children()
        if not kids:
            return None
        import random

        victim = random.choice(kids)
        try:
            os.kill(victim, signal.SIGKILL)
        except ProcessLookupError:
            return None
        return victim

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=20)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            self.kill_group()


def api_service(env: dict[str, str], workdir: Path, port: int, workers: int, name: str = "api") -> Service:
    return Service(
        name,
        ["serve", "--port", str(port), "--workers", str(workers)],
        env,
        workdir / f"{name}.log",
        health_url=f"http://127.0.0.1:{port}/healthz",
    )


# ---------------------------------------------------------------- merchant clients


def token(base_url: str, creds: Credentials, attempts: int = 50) -> str:
    for _ in range(attempts):
        try:
            reply = httpx.post(
                f"{base_url}/iam/tokens",
                verify=TLS,
                json={"realmName": creds.realm, "clientSecret": creds.client_secret, "grantType": "client_credentials"},
                timeout=10,
            )
            if reply.status_code == 200:
                return str(reply.json()["access_token"])
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"no token from {base_url}")


def order_body(pon: str, lines: list[tuple[int, int]]) -> dict[str, Any]:
    return {
        "partnerOrderNumber": pon,
        "orderDate": "2026-11-28T10:00:00+00:00",
        "currency": "EUR",
        "orderLines": [{"productRef": ref, "quantity": qty, "vatRate": 20} for ref, qty in lines],
        "customer": {
            "partnerId": "chaos",
            "email": "chaos@example.com",
            "language": "en_US",
            "locationInvoice": {"firstName": "Ada", "lastName": "Lovelace", "country": "FR", "city": "Paris"},
            "ipV4": "192.0.2.10",
        },
        "payment": {"paymentMethod": "External Payment", "transactionId": pon},
    }


def reply_serials(reply: dict[str, Any]) -> list[list[list[str]]]:
    """Serials per line, per line item, as a createOrder / getOrderData reply gives them."""
    out = []
    for line in reply.get("orderLines") or []:
        items = []
        for item in line.get("lineItems") or []:
            items.append(sorted(s["data"] for s in item.get("serials") or []))
        out.append(items)
    return out


# ---------------------------------------------------------------- the webhook receiver


@dataclass
class Delivery:
    webhook_id: str
    body: bytes
    verified: bool
    status: int


@dataclass
class WebhookReceiver:
    """A loopback HTTP server that records every delivery (webhook-id, raw body, signature check) and answers
    2xx, or 503 for a share `fail_rate` of attempts (to exercise the worker's retries)."""

    fail_rate: float = 0.0
    answer_delay: float = 0.0  # up to this long between recording a delivery and answering it
    secret: str | None = None
    deliveries: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0
    _server: http.server.ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def start(self) -> None:
        import random

        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                webhook_id = self.headers.get("webhook-id") or ""
                verified = False
                if receiver.secret:
                    from standardwebhooks import Webhook

                    try:
                        Webhook(receiver.secret).verify(body, {k.lower(): v for k, v in self.headers.items()})
                        verified = True
                    except Exception:  # noqa: BLE001 - any failure means "not genuine"
                        verified = False
                status = 503 if random.random() < receiver.fail_rate else 204
                with receiver.lock:
                    receiver.deliveries.append(Delivery(webhook_id, body, verified, status))
                if receiver.answer_delay:  # a worker killed now has delivered but not recorded it: a repeat
                    time.sleep(random.uniform(0, receiver.answer_delay))
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def accepted(self) -> list[Delivery]:
        with self.lock:
            return [d for d in self.deliveries if 200 <= d.status < 300]
