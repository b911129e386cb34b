"""Hostile SOAP requests end in a Fault (soap:Client) or a business refusal, in bounded time and
memory, and the server goes on answering.

Billion laughs, XXE and the parser's own limits are in tests/api/soap/test_faults.py; here: a
50 MB document streamed to a separate server process (its resident memory read from /proc),
100,000 nested elements over HTTP, and wrong types in every field of every operation.
"""

from __future__ import annotations

import copy
import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from lxml import etree

from resell.api.soap import contract
from resell.config import Settings
from tests.api.soap.conftest import SOAP_ENV, envelope, post, soap_order
from tests.conftest import World, _free_port
from tests.security.soap_xml import Raw, xml_of

MB = 1024 * 1024
HUGE = 50 * MB


def fault_of(reply: httpx.Response) -> tuple[str, str]:
    assert reply.status_code == 500, reply.text[:500]
    root = etree.fromstring(reply.content)
    (fault,) = root.iter(f"{{{SOAP_ENV}}}Fault")
    return fault.findtext("faultcode") or "", fault.findtext("faultstring") or ""


def still_answers(server: str, world: World) -> None:
    inner = f"<o:secret>{world.a.secret}</o:secret><o:request><o:productRef>1001</o:productRef></o:request>"
    reply = post(server, "order", envelope("order", "getStockStatus", inner))
    assert reply.status_code == 200, reply.text


# ---------------------------------------------------------------- 50 MB, in a server process of its own


def vm(pid: int, field: str) -> int:
    """A /proc/<pid>/status figure in kB (VmRSS: resident now; VmHWM: the peak so far)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


@pytest.fixture
def server_process(settings: Settings, world: World, tmp_path: Path) -> Iterator[tuple[str, int]]:
    """`resell` served by uvicorn in a child process (so its memory is its own), on this test's database."""
    port = _free_port()
    env = {
        **os.environ,
        "RESELL_DATABASE_URL": settings.effective_database_url,
        "RESELL_VAR_DIR": str(settings.var_dir),
        "RESELL_JWT_SECRET": settings.jwt_secret,
        "RESELL_LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "resell.app:create_app", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning", "--no-access-log"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "server.log", "wb"),  # noqa: SIM115
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert process.poll() is None, (tmp_path / "server.log").read_text()
        assert time.monotonic() < deadline, "the server process did not start"
        time.sleep(0.1)
    yield base, process.pid
    process.terminate()
    process.wait(timeout=10)


def stream_huge(
    port: int, total: int, chunked: bool, path: str = "/global/order/v2.4/soap", head: bytes | None = None
) -> tuple[bytes, float, int]:
    """POST a `total`-byte document (a SOAP one unless `head` starts another), 64 kB at a time,
    stopping as soon as the server answers. Returns the raw reply, the seconds to its first byte,
    and the bytes sent by then."""
    closing = len("</o:cancel></soap:Body></soap:Envelope>")
    if head is None:
        head = envelope("order", "cancel", "<o:secret>s</o:secret><o:request><o:comment>")[:-closing]
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}"
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(2)
    reply = b""
    sent = 0
    started = time.perf_counter()
    answered = started
    try:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: text/xml; charset=utf-8\r\n"
                     f"{framing}\r\n\r\n".encode())
        block = b"x" * (64 * 1024)
        while sent < total:
            if select.select([sock], [], [], 0)[0]:
                break  # the reply is coming: stop sending
            data = head if sent == 0 else block[: total - sent]
            frame = b"%x\r\n%s\r\n" % (len(data), data) if chunked else data
            try:
                sock.sendall(frame)
            except (TimeoutError, BrokenPipeError, ConnectionResetError):
                break
            sent += len(data)
        sock.settimeout(10)
        while True:
            try:
                part = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not part:
                break
            if not reply:
                answered = time.perf_counter()
            reply += part
            if b"</soap:Envelope>" in reply:
                break
    finally:
        sock.close()
    return reply, answered - started, sent


def test_a_50_mb_document_is_refused_early_in_bounded_memory(
    server_process: tuple[str, int], world: World, settings: Settings
) -> None:
    """Streamed without a length (the server counts as it reads) and with one that says 50 MB
    (refused before reading): one server process for both, its start being the slow part."""
    base, pid = server_process
    port = int(base.rsplit(":", 1)[1])
    still_answers(base, world)  # warm the SOAP path, so that the figures measure the big requests only
    for chunked in (True, False):
        rss_before, peak_before = vm(pid, "VmRSS"), vm(pid, "VmHWM")
        reply, seconds, sent = stream_huge(port, HUGE, chunked)
        rss_after, peak_after = vm(pid, "VmRSS"), vm(pid, "VmHWM")
        print(f"\n50 MB SOAP ({'chunked' if chunked else 'Content-Length'}): fault after {seconds * 1000:.0f} ms, "
              f"{sent / MB:.2f} MB sent, RSS {rss_before / 1024:.1f} -> {rss_after / 1024:.1f} MB, "
              f"peak {peak_before / 1024:.1f} -> {peak_after / 1024:.1f} MB")
        assert reply.startswith(b"HTTP/1.1 413"), reply[:300]
        assert b"soap:Client" in reply and f"larger than {settings.max_request_bytes} bytes".encode() in reply
        assert seconds < 5
        assert sent < 10 * MB  # refused long before the end (the kernel's socket buffers hold a few MB)
        assert peak_after - peak_before < 20 * 1024  # kB: nothing near 50 MB was held
        assert rss_after - rss_before < 20 * 1024
        still_answers(base, world)  # and the process goes on serving


# ---------------------------------------------------------------- deep nesting, over HTTP


@pytest.mark.parametrize("where", ["body", "request-field"])
def test_100000_nested_elements_are_a_client_fault(server: str, world: World, settings: Settings, where: str) -> None:
    deep = "<a>" * 100_000 + "</a>" * 100_000
    if where == "body":
        payload = f'<soap:Envelope xmlns:soap="{SOAP_ENV}"><soap:Body>{deep}</soap:Body></soap:Envelope>'.encode()
    else:
        inner = (f"<o:secret>{world.a.secret}</o:secret><o:request><o:partnerOrderNumber>{deep}"
                 "</o:partnerOrderNumber></o:request>")
        payload = envelope("order", "getData", inner)
    assert len(payload) < settings.max_request_bytes
    started = time.perf_counter()
    code, message = fault_of(post(server, "order", payload))
    assert time.perf_counter() - started < 5
    assert code == "soap:Client" and "well-formed" in message
    still_answers(server, world)


def test_nesting_under_the_parser_limit_is_read_without_recursion_trouble(server: str, world: World) -> None:
    """200 levels (libxml2 takes them) inside a text field and inside an unknown element: a refusal."""
    deep = "<a>" * 200 + "x" + "</a>" * 200
    inner = (f"<o:secret>{world.a.secret}</o:secret><o:request><o:partnerOrderNumber>{deep}</o:partnerOrderNumber>"
             f"<o:unknown>{deep}</o:unknown></o:request>")
    reply = post(server, "order", envelope("order", "getData", inner))
    assert reply.status_code == 200, reply.text
    assert b"<responseCode>100</responseCode>" in reply.content or b"<responseCode>1010</responseCode>" in (
        reply.content
    )


# ---------------------------------------------------------------- wrong types in every field

HOSTILE: dict[str, Raw] = {
    "text": Raw("abc"),
    "huge-number": Raw("-" + "9" * 40),
    "empty": Raw(""),
    "nil": Raw(nil=True),
    "element-in-a-value": Raw("<o:x>1</o:x><o:y/>"),
    "long-text": Raw("\u202ex\U0001f600" * 4000),
}


def base_request(service: str, operation: str, world: World) -> dict[str, Any]:
    """A plausible request of each operation, which the variants then spoil one field at a time."""
    return {
        "getCategories": {"productDescriptionLanguage": "en"},
        "getOperatingSystems": {},
        "getStockStatus": {"productRef": [1001, 1003]},
        "getCrossUpSell": {"products": {"getCrossUpSellProductType": [{"productRef": 1001, "quantity": 1}]},
                           "language": "EN"},
        "create": {**soap_order("HOSTILE-1", (1001, 1), (1091, 1)),
                   "discounts": {"createDiscountType": [{"foreignRef": "d", "label": "l", "priceDelta": 1,
                                                         "operation": "amount", "operationValue": 1}]},
                   "metaData": {"createMetaDataType": [{"key": "k", "value": "v"}]},
                   "marketingProgramId": "m", "affiliateId": 1},
        "getData": {"partnerOrderNumber": "P"},
        "cancel": {"partnerOrderNumber": "P", "reasonCode": 2, "comment": "c"},
        "updateDownloadTime": {"partnerOrderNumber": "P", "value": "P1D"},
        "getDownloadInfo": {"partnerOrderNumber": "P"},
        "cancelSubscription": {"partnerOrderNumber": "P", "subscriptionId": 1},
        "getAllOrders": {"email": "buyer@example.com"},
        "getOrderHistory": {"partnerId": "cust-1"},
    }[operation]


def leaf_paths(types: dict[str, tuple[contract.Field, ...]], type_name: str, prefix: tuple = ()) -> Iterator[tuple]:
    """Every element of a request type, as paths into the SOAP-shaped dictionary (lists: the first item)."""
    for f in types[type_name]:
        here = (*prefix, f.name)
        yield here
        if f.list_of:
            if f.list_of in types:
                yield from leaf_paths(types, f.list_of, (*here, f.list_of, 0))
        elif f.type not in contract.SIMPLE:
            yield from leaf_paths(types, f.type, here)


def spoiled(request: dict[str, Any], path: tuple, value: Raw) -> dict[str, Any]:
    copied = copy.deepcopy(request)
    node: Any = copied
    for i, step in enumerate(path[:-1]):
        if isinstance(step, int):
            node = node[step]
        else:
            if step not in node or not isinstance(node[step], dict | list):
                node[step] = [{}] if isinstance(path[i + 1], int) else {}
            node = node[step]
    node[path[-1]] = value
    return copied


OPERATIONS = list(contract.OPERATIONS)


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: op.name)
def test_wrong_types_in_every_field_are_a_refusal_or_a_client_fault(
    server: str, world: World, op: contract.Operation
) -> None:
    types = contract.TYPES[op.service]
    base = base_request(op.service, op.name, world)
    paths = list(leaf_paths(types, op.request_type))
    outcomes: dict[str, int] = {}
    with httpx.Client(timeout=30) as http:
        url = f"{server}/global/{op.service}/v2.4/soap"
        for path in paths or [()]:
            for label, value in HOSTILE.items():
                request = spoiled(base, path, value) if path else value
                inner = f"<o:secret>{world.a.secret}</o:secret>" + xml_of(request, "request")
                reply = http.post(url, content=envelope(op.service, op.name, inner),
                                  headers={"Content-Type": "text/xml; charset=utf-8"})
                where = f"{op.name} {'/'.join(map(str, path))} = {label}"
                if reply.status_code == 500:
                    code, message = fault_of(reply)
                    assert code == "soap:Client", (where, message)
                    outcomes["fault"] = outcomes.get("fault", 0) + 1
                    continue
                assert reply.status_code == 200, (where, reply.status_code, reply.text[:300])
                root = etree.fromstring(reply.content)
                found = root.xpath("//*[local-name()='out']/*[local-name()='responseCode']/text()")
                assert found, (where, reply.text[:300])
                assert int(found[0]) != 1000, (where, "Internal error")
                outcomes[found[0]] = outcomes.get(found[0], 0) + 1
    assert sum(outcomes.values()) == max(len(paths), 1) * len(HOSTILE)
    still_answers(server, world)
