"""Helpers for the delivery tests: stored product files, sold products, real HTTP and SMTP
receivers, waits, PNG pixels.

Plain functions and classes, no fixtures: each test module declares the fixtures it needs.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import random
import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from sqlalchemy import select

from resell.config import Settings
from resell.db.tables import catalog_products, catalogs, merchants, products
from resell.services import files
from resell.services.context import Context
from tests.conftest import settings_for


def mail_settings(tmp_path: Path, db_url: str, smtp_port: int, **overrides: Any) -> Settings:
    """Settings that send end users' emails to the test's SMTP sink on `smtp_port`, from a named
    sender, with a generous timeout (a loaded CI machine can starve the sink thread)."""
    values: dict[str, Any] = {
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp_port,
        "mail_from": "Resell Shop <orders@shop.test>",
        "smtp_timeout_seconds": 30,
    }
    return settings_for(tmp_path, db_url, **(values | overrides))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def payload(name: str, size: int) -> bytes:
    """Deterministic test bytes."""
    return random.Random(name).randbytes(size)


def attach(ctx: Context, ref: int, file_name: str, size: int, content_type: str | None = None) -> bytes:
    """Store `size` bytes as the product's file `file_name` (updating the catalogue's entry) and return them."""
    data = payload(file_name, size)
    chunks = [data[i : i + 1_000_000] for i in range(0, len(data), 1_000_000)] or [b""]
    files.add_stream(ctx, ref, iter(chunks), file_name, content_type=content_type)
    return data


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sell(ctx: Context, realm: str, ref: int) -> None:
    """Put product `ref` (imported after the merchant's catalogues were made) into all its catalogues."""
    with ctx.db.write() as conn:
        product_id = conn.execute(select(products.c.id).where(products.c.ref == ref)).scalar_one()
        ids = conn.execute(
            select(catalogs.c.id)
            .join(merchants, merchants.c.id == catalogs.c.merchant_id)
            .where(merchants.c.realm == realm)
        ).scalars()
        conn.execute(catalog_products.insert(), [{"catalog_id": i, "product_id": product_id} for i in ids])


def wait_until(check: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll `check` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


# ---------------------------------------------------------------- an HTTP receiver on 127.0.0.1


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class HttpReceiver:
    """A real threaded HTTP server. `respond(request) -> (status, body)`, or "hang" to never answer in time."""

    respond: Callable[[Received], tuple[int, bytes] | str]
    requests: list[Received] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                request = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                receiver.requests.append(request)
                answer = receiver.respond(request)
                if answer == "hang":
                    receiver.release.wait(30)  # released when the test ends
                    return
                status, content = answer  # type: ignore[misc]
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


# ---------------------------------------------------------------- an SMTP server (aiosmtpd)


class _Collect:
    def __init__(self, sink: SmtpSink):
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        self.sink.messages.append(message)  # type: ignore[arg-type]
        self.sink.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"


class SmtpSink:
    """A real SMTP server on 127.0.0.1 that keeps every message it accepts."""

    def __init__(self, port: int | None = None, **smtp_options: Any):
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.port = port or free_port()
        self.controller = Controller(_Collect(self), hostname="127.0.0.1", port=self.port, **smtp_options)
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()


# ---------------------------------------------------------------- PNG pixels (no imaging library needed)


def png_pixels(data: bytes) -> tuple[int, int, int, list[bytes]]:
    """(width, height, bytes per pixel, unfiltered rows) of an 8-bit, non-interlaced RGB or RGBA PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        chunk = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    assert header is not None
    width, height, depth, color, _, _, interlace = header
    assert depth == 8 and color in (2, 6) and interlace == 0, header
    bpp = 3 if color == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up = previous[i]
            corner = previous[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                predictor = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + predictor) & 0xFF
        rows.append(bytes(line))
        previous = line
    return width, height, bpp, rows
