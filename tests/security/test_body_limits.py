"""One limit on every request body (api/body_limit.py, setting max_request_bytes), over real sockets.

A 200 MB POST to /connect/order/new or /iam/tokens used to be read whole (RSS 138 -> 512 MB), and a
declared 10 GB Content-Length made the server wait for it. Now: a declared length over the limit is
answered 413 at once, before any byte of the body is sent; a chunked body is cut with 413 as soon as
it passes the limit; neither makes the server hold more than the limit.
"""

from __future__ import annotations

import json
import socket
import time

import pytest
from lxml import etree

from resell.config import Settings
from tests.api.soap.conftest import SOAP_ENV
from tests.conftest import Merchant, World, order_body
from tests.security.test_hostile_soap import server_process, stream_huge, vm  # noqa: F401 - a fixture

MB = 1024 * 1024
PATHS = ["/connect/order/new", "/iam/tokens", "/global/order/v2.4/soap", "/connect/stock", "/no/such/path"]


def port_of(base: str) -> int:
    return int(base.rsplit(":", 1)[1])


def declare(port: int, path: str, length: int) -> tuple[bytes, float]:
    """Send only the head of a POST that declares `length` bytes; the raw reply and its delay."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        started = time.perf_counter()
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            f"Content-Length: {length}\r\n\r\n".encode()
        )
        reply = b""
        while chunk := sock.recv(65536):  # the server closes the connection after its reply
            reply += chunk
        return reply, time.perf_counter() - started


def head_and_body(reply: bytes) -> tuple[str, dict[str, str], bytes]:
    head, _, body = reply.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return status, headers, body


@pytest.mark.parametrize("path", PATHS)
def test_a_declared_10_gb_body_is_413_at_once_without_sending_it(server: str, settings: Settings, path: str) -> None:
    reply, seconds = declare(port_of(server), path, 10 * 1024**3)
    status, headers, body = head_and_body(reply)
    assert status == "HTTP/1.1 413 Request Entity Too Large", reply[:300]
    assert seconds < 2  # answered, not waiting for the body
    assert headers["connection"] == "close"
    text = f"the request is larger than {settings.max_request_bytes} bytes"
    if path.startswith("/global/"):
        (fault,) = etree.fromstring(body).iter(f"{{{SOAP_ENV}}}Fault")
        assert (fault.findtext("faultcode"), fault.findtext("faultstring")) == ("soap:Client", text)
    else:
        data = json.loads(body)
        assert (data["responseCode"], data["responseMessage"]) == (1030, text)
    if path == "/connect/order/new":  # a /connect refusal carries every key of its operation's reply
        assert set(data) == {"partnerOrderNumber", "orderNumber", "orderLines", "downloadManager",
                             "responseCode", "responseMessage"}


def test_a_body_of_exactly_the_limit_is_read(server: str, settings: Settings, shop_a: Merchant) -> None:
    body = json.dumps(order_body("AT-LIMIT", (1002, 1), pad="")).encode()
    body = body[:-2] + b"x" * (settings.max_request_bytes - len(body)) + body[-2:]  # inside the pad string
    assert len(body) == settings.max_request_bytes and body.endswith(b'"}')
    with socket.create_connection(("127.0.0.1", port_of(server)), timeout=10) as sock:
        sock.sendall(
            b"POST /connect/order/new HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nConnection: close\r\n"
            b"Authorization: Bearer %s\r\nsecret: %s\r\nContent-Length: %d\r\n\r\n%s"
            % (shop_a.token().encode(), shop_a.secret.encode(), len(body), body)
        )
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 201"), reply[:300]


@pytest.mark.parametrize("path", ["/connect/order/new", "/iam/tokens"])
def test_a_chunked_body_is_cut_with_413_once_over_the_limit(server: str, settings: Settings, path: str) -> None:
    reply, seconds, sent = stream_huge(port_of(server), 50 * MB, chunked=True, path=path, head=b'{"pad": "')
    status, _headers, body = head_and_body(reply)
    assert status == "HTTP/1.1 413 Request Entity Too Large", reply[:300]
    assert json.loads(body)["responseCode"] == 1030
    assert sent < 10 * MB  # cut long before the end (the kernel's socket buffers hold a few MB)
    assert seconds < 5


def test_a_chunked_body_under_the_limit_is_answered(server: str, world: World) -> None:
    body = json.dumps({"realmName": world.a.realm, "clientSecret": world.a.client_secret,
                       "grantType": "client_credentials"}).encode()
    with socket.create_connection(("127.0.0.1", port_of(server)), timeout=10) as sock:
        sock.sendall(b"POST /iam/tokens HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nConnection: close\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        for part in (body[:10], body[10:]):
            sock.sendall(b"%x\r\n%s\r\n" % (len(part), part))
        sock.sendall(b"0\r\n\r\n")
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 200"), reply[:300]
    assert b"access_token" in reply


@pytest.mark.parametrize("path", ["/connect/order/new", "/iam/tokens"])
def test_200_mb_bodies_leave_the_server_memory_as_it_was(server_process: tuple[str, int], path: str) -> None:  # noqa: F811
    """In a server process of its own, so that its resident memory is the server's alone."""
    base, pid = server_process
    for chunked in (True, False):
        peak_before = vm(pid, "VmHWM")
        reply, seconds, sent = stream_huge(port_of(base), 200 * MB, chunked, path=path, head=b'{"pad": "')
        peak_after = vm(pid, "VmHWM")
        print(f"\n200 MB to {path} ({'chunked' if chunked else 'Content-Length'}): 413 after {seconds * 1000:.0f} ms,"
              f" {sent / MB:.2f} MB sent, peak RSS {peak_before / 1024:.1f} -> {peak_after / 1024:.1f} MB")
        assert reply.startswith(b"HTTP/1.1 413"), reply[:300]
        assert sent < 10 * MB
        assert peak_after - peak_before < 20 * 1024  # kB: nothing near 200 MB was held


def test_a_small_content_length_beside_a_chunked_body_does_not_let_it_through(server: str) -> None:
    """Both framings at once (request smuggling): the server refuses the request itself (and were it
    let through, the middleware counts the chunks, never trusting the Content-Length beside them)."""
    with socket.create_connection(("127.0.0.1", port_of(server)), timeout=10) as sock:
        sock.sendall(b"POST /iam/tokens HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 10\r\nTransfer-Encoding: chunked\r\n\r\n")
        block = b"x" * 65536
        reply = b""
        for _ in range(40):  # 2.5 MB, stopping once the reply comes
            try:
                sock.sendall(b"%x\r\n%s\r\n" % (len(block), block))
            except (BrokenPipeError, ConnectionResetError):
                break
        try:
            while chunk := sock.recv(65536):
                reply += chunk
        except ConnectionResetError:
            pass
    assert reply.split(b"\r\n", 1)[0] == b"HTTP/1.1 400 Bad Request", reply[:300]


@pytest.mark.parametrize("path", ["/locker", "/download/token/1/signature"])
def test_a_body_over_the_limit_on_a_page_is_an_html_413(server: str, settings: Settings, path: str) -> None:
    """The end users' pages speak HTML, their 413 included (it used to be rendered as a 500 page)."""
    reply, _seconds = declare(port_of(server), path, 10 * 1024**3)
    status, headers, body = head_and_body(reply)
    assert status == "HTTP/1.1 413 Request Entity Too Large", reply[:300]
    assert headers["content-type"].startswith("text/html") and headers["connection"] == "close"
    assert b"Error 413" in body and b"responseCode" not in body
