"""What gets a SOAP Fault (HTTP 500): documents that cannot be read, hostile XML, unknown operations
(and a body over the size limit, with HTTP 413).
Business refusals never do: they are out.responseCode (see test_zeep, test_wsdl)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator

import pytest
from lxml import etree
from starlette.types import Message, Receive, Scope, Send

from resell.api.body_limit import BodyLimit
from resell.api.soap.surface import too_large
from resell.config import Settings
from tests.api.soap.conftest import SOAP_ENV, envelope, out_of, post
from tests.conftest import World

BILLION_LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + "".join(f' <!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n' for i in range(1, 10))
    + "]>\n"
    f'<soap:Envelope xmlns:soap="{SOAP_ENV}"><soap:Body><getData xmlns="urn:resell:connect:order:v2.4">'
    "<secret>&lol9;</secret></getData></soap:Body></soap:Envelope>"
)

XXE = (
    '<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
    f'<soap:Envelope xmlns:soap="{SOAP_ENV}"><soap:Body><getData xmlns="urn:resell:connect:order:v2.4">'
    "<secret>&xxe;</secret><request><partnerOrderNumber>&xxe;</partnerOrderNumber></request>"
    "</getData></soap:Body></soap:Envelope>"
)


def refused_for_entities(message: str) -> bool:
    """Our own DTD check, or libxml2's entity amplification guard, which may stop billion laughs first."""
    return "DTDs and entity declarations are not accepted" in message or "entity amplification" in message


def fault_of(reply, status: int = 500) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"].startswith("text/xml")
    root = etree.fromstring(reply.content)
    (fault,) = root.iter(f"{{{SOAP_ENV}}}Fault")
    return fault.findtext("faultcode"), fault.findtext("faultstring")


def test_not_well_formed_xml_is_a_client_fault(server: str) -> None:
    for payload in (b"", b"<soap:Envelope", b"not xml at all", "<a>\u00e9</b>".encode()):
        code, message = fault_of(post(server, "order", payload))
        assert code == "soap:Client" and "well-formed" in message


def test_unknown_operation_is_a_fault(server: str, world: World) -> None:
    code, message = fault_of(post(server, "order", envelope("order", "deleteEverything", "")))
    assert code == "soap:Client" and "deleteEverything" in message
    # an operation of another service, or of a later version, is unknown here too
    assert "getCategories" in fault_of(post(server, "order", envelope("order", "getCategories", "")))[1]
    hand_made = envelope("order", "getAllOrders", f"<o:secret>{world.a.secret}</o:secret>", version="2.2")
    assert "getAllOrders" in fault_of(post(server, "order", hand_made, version="2.2"))[1]


def test_envelopes_that_are_not_soap_11_requests_are_faults(server: str) -> None:
    soap12 = b'<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body><getData/></e:Body></e:Envelope>'
    assert fault_of(post(server, "order", soap12))[0] == "soap:VersionMismatch"
    assert "not a SOAP 1.1 Envelope" in fault_of(post(server, "order", b"<getData/>"))[1]
    no_body = f'<s:Envelope xmlns:s="{SOAP_ENV}"><s:Header/></s:Envelope>'.encode()
    assert "no Body" in fault_of(post(server, "order", no_body))[1]
    two = f'<s:Envelope xmlns:s="{SOAP_ENV}"><s:Body><getData/><getData/></s:Body></s:Envelope>'.encode()
    assert "exactly one" in fault_of(post(server, "order", two))[1]


def test_billion_laughs_is_a_fault(server: str) -> None:
    # refused for its DTD before any entity is expanded; the time and memory that costs are held by
    # test_hostile_documents_are_parsed_in_bounded_memory_and_time (a wall-clock bound here failed
    # only on a loaded machine)
    code, message = fault_of(post(server, "order", BILLION_LAUGHS.encode()))
    assert code == "soap:Client" and refused_for_entities(message)


def test_xxe_is_a_fault_and_reads_no_file(server: str) -> None:
    reply = post(server, "order", XXE.encode())
    code, message = fault_of(reply)
    assert code == "soap:Client" and "DTD" in message
    assert b"root:" not in reply.content


def test_hostile_documents_are_parsed_in_bounded_memory_and_time() -> None:
    """In a fresh interpreter: the parser's peak resident memory grows by a few MB at most
    (expanding billion laughs would take about 3 GB), and it is done in well under a second."""
    probe = (
        "import json, resource, sys, time\n"
        "from resell.api.soap import codec\n"
        "documents = json.load(sys.stdin)\n"
        "results = []\n"
        "for doc in documents:\n"
        "    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "    started = time.perf_counter()\n"
        "    try:\n"
        "        codec.parse_envelope(doc.encode())\n"
        "        outcome = 'parsed'\n"
        "    except codec.Fault as fault:\n"
        "        outcome = fault.message\n"
        "    results.append([outcome, time.perf_counter() - started,\n"
        "                    resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before])\n"
        "print(json.dumps(results))\n"
    )
    deep = "<a>" * 100_000 + "</a>" * 100_000
    done = subprocess.run(
        [sys.executable, "-c", probe],
        input=json.dumps([BILLION_LAUGHS, XXE, deep]),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    results = json.loads(done.stdout)
    for outcome, seconds, grown_kb in results:
        assert outcome != "parsed"
        assert seconds < 1.0
        assert grown_kb < 20_000  # ru_maxrss is in kB on Linux
    assert refused_for_entities(results[0][0]) and refused_for_entities(results[1][0])
    assert "well-formed" in results[2][0]  # deeper than libxml2's default limit


def test_a_request_over_the_size_limit_is_a_fault_with_http_413(server: str, settings: Settings) -> None:
    limit = settings.max_request_bytes
    padding = "<o:comment>" + "x" * (limit + 10) + "</o:comment>"
    code, message = fault_of(post(server, "order", envelope("order", "cancel", padding)), status=413)
    assert code == "soap:Client" and f"larger than {limit} bytes" in message

    def chunked() -> Iterator[bytes]:  # no Content-Length: the server counts as it reads
        yield envelope("order", "cancel", "")[:-40]
        for _ in range(40):
            yield b"<o:comment>" + b"y" * 65536 + b"</o:comment>"

    code, message = fault_of(post(server, "order", chunked()), status=413)
    assert "larger than" in message


def test_a_chunked_body_is_read_no_further_than_the_limit() -> None:
    consumed = 0
    sent: list[Message] = []

    async def receive() -> Message:
        nonlocal consumed
        consumed += 1
        return {"type": "http.request", "body": b"x" * 1000, "more_body": consumed < 1000}

    async def send(message: Message) -> None:
        sent.append(message)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise AssertionError("the app must not be called")

    scope = {"type": "http", "path": "/global/order/v2.4/soap", "headers": [(b"transfer-encoding", b"chunked")]}
    asyncio.run(BodyLimit(app, 10_000, refuse=too_large)(scope, receive, send))
    assert consumed == 11
    assert sent[0]["status"] == 413 and b"larger than 10000 bytes" in sent[1]["body"]


def test_a_request_just_under_the_limit_is_answered(server: str, world: World, settings: Settings) -> None:
    inner = (
        f"<o:secret>{world.a.secret}</o:secret><o:request><o:partnerOrderNumber>none</o:partnerOrderNumber>"
        f"<o:comment>{'z' * (settings.max_request_bytes - 2000)}</o:comment></o:request>"
    )
    reply = post(server, "order", envelope("order", "getData", inner))
    assert reply.status_code == 200
    assert out_of(reply).xpath("string(*[local-name()='responseCode'])") == "1010"


@pytest.mark.parametrize("prefix", ["", "o:"])
def test_unqualified_or_qualified_request_elements_are_both_read(server: str, world: World, prefix: str) -> None:
    inner = (
        f"<{prefix}secret>{world.a.secret}</{prefix}secret><{prefix}request>"
        f"<{prefix}productRef>1001</{prefix}productRef></{prefix}request>"
    )
    reply = post(server, "order", envelope("order", "getStockStatus", inner))
    out = out_of(reply)
    assert out.xpath("string(*[local-name()='responseCode'])") == "0"
    assert out.xpath("string(.//*[local-name()='status'])") == "100"


def test_an_unexpected_error_is_a_server_fault_not_a_crash(server: str, world: World, monkeypatch) -> None:
    from resell.api.soap import operations

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("boom")

    monkeypatch.setitem(operations.HANDLERS, "getData", broken)
    reply = post(server, "order", envelope("order", "getData", f"<o:secret>{world.a.secret}</o:secret>"))
    code, message = fault_of(reply)
    assert code == "soap:Server" and message == "Internal error" and "boom" not in reply.text
