"""`resell serve`'s HTTP protocol (resell/api/one_write.py): a reply's headers and body reach the
socket in one write, and HTTP behaves as under uvicorn's own protocol: HEAD, empty and streamed
bodies, keep-alive, pipelined requests, a malformed request, a closed connection.

A real uvicorn server on a real socket; the writes are counted by a recorder between the protocol
and uvicorn's real transport."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from resell.api.one_write import OneWriteHttpToolsProtocol
from tests.conftest import _free_port

WRITES: list[bytes] = []  # what reached the real transport, one item per write


class _Recorder:
    """The real transport, its writes noted."""

    def __init__(self, transport: asyncio.Transport):
        self._transport = transport

    def write(self, data: bytes) -> None:
        WRITES.append(bytes(data))
        self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _RecordedProtocol(OneWriteHttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_Recorder(transport))  # type: ignore[arg-type]


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """/json: a reply in two messages; /stream: three chunks sent a turn of the loop apart; /empty: no body."""
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        for chunk in (b"one,", b"two,", b"three"):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await asyncio.sleep(0.01)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return
    body = b"" if path == "/empty" else b'{"responseCode":0}'
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    port = _free_port()
    config = uvicorn.Config(
        _app, host="127.0.0.1", port=port, http=_RecordedProtocol, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def _raw(url: str, request: bytes) -> bytes:
    """Send `request` as it is on a socket of its own; everything received until the server closes."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


def test_a_reply_leaves_in_one_write(url: str) -> None:
    WRITES.clear()
    reply = httpx.get(f"{url}/json")
    assert reply.status_code == 200 and reply.json() == {"responseCode": 0}
    assert len(WRITES) == 1, WRITES
    assert WRITES[0].startswith(b"HTTP/1.1 200 OK\r\n") and WRITES[0].endswith(b'\r\n\r\n{"responseCode":0}')


def test_head_and_empty_replies_are_sent(url: str) -> None:
    WRITES.clear()
    head = httpx.head(f"{url}/json")
    assert head.status_code == 200 and head.headers["content-length"] == "18" and head.content == b""
    empty = httpx.get(f"{url}/empty")
    assert empty.status_code == 200 and empty.content == b""
    assert len(WRITES) == 2, WRITES  # each its headers, in one write


def test_a_streamed_body_streams(url: str) -> None:
    """Chunks sent a turn apart leave a turn apart: the first before the app has sent the last."""
    WRITES.clear()
    with httpx.stream("GET", f"{url}/stream") as reply:
        chunks = reply.iter_raw()
        first = next(chunks)
        assert b"one," in first and b"three" not in first
        rest = b"".join(chunks)
    assert first + rest == b"one,two,three"
    assert len(WRITES) >= 3, WRITES


def test_keep_alive_and_pipelined_requests_each_get_their_reply(url: str) -> None:
    with httpx.Client(base_url=url) as client:
        assert [client.get("/json").json()["responseCode"] for _ in range(5)] == [0] * 5
    # four requests in one packet, the last closing the connection: four replies, in order, then the close
    pipelined = b"GET /json HTTP/1.1\r\nHost: x\r\n\r\n" * 3
    replies = _raw(url, pipelined + b"GET /json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert replies.count(b"HTTP/1.1 200 OK") == 4 and replies.count(b'{"responseCode":0}') == 4, replies


def test_a_malformed_request_gets_400_and_the_connection_closes(url: str) -> None:
    received = _raw(url, b"NOT HTTP AT ALL\r\n\r\n")
    assert received.startswith(b"HTTP/1.1 400 Bad Request\r\n"), received


def test_connection_close_sends_the_reply_before_closing(url: str) -> None:
    WRITES.clear()
    received = _raw(url, b"GET /json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert received.startswith(b"HTTP/1.1 200 OK\r\n") and received.endswith(b'{"responseCode":0}'), received
    assert len(WRITES) == 1, WRITES
