"""SOAP clients for the tests: zeep from Python, PHP's own SoapClient through php-cli, and raw HTTP."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import zeep
from lxml import etree

from resell.api.soap import contract
from resell.config import Settings
from tests.conftest import World, order_body, settings_for

PHP_DIR = Path(__file__).parent / "php"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
XSI = "http://www.w3.org/2001/XMLSchema-instance"


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path, db_url: str) -> Settings:
    """RESELL_PUBLIC_BASE_URL unset, as in a deployment that leaves it out: the WSDL's soap:address is
    then the URL the client called, so the clients below reach the live test server. A test that
    wants it set parametrizes this fixture indirectly with the URL."""
    return settings_for(tmp_path, db_url, public_base_url=getattr(request, "param", ""))


def wsdl_url(base: str, service: str, version: str = "2.4") -> str:
    return f"{base}/global/{service}/v{version}/soap?wsdl"


@pytest.fixture
def zeep_client(server: str, world: World) -> Callable[..., Any]:
    """`zeep_client("order")` is a zeep service proxy built from the served WSDL."""
    made: dict[tuple[str, str], Any] = {}

    def client(service: str, version: str = "2.4") -> Any:
        if (service, version) not in made:
            made[(service, version)] = zeep.Client(wsdl_url(server, service, version)).service
        return made[(service, version)]

    return client


def run_php(*args: str, stdin: str | None = None) -> Any:
    done = subprocess.run(["php", *args], input=stdin, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr + done.stdout
    return json.loads(done.stdout)


@pytest.fixture
def php_call(server: str, world: World) -> Callable[..., Any]:
    """`php_call("order", "getData", {...})`: the reply as PHP's SoapClient read it, as JSON."""

    def call(service: str, operation: str, arguments: dict[str, Any], version: str = "2.4") -> Any:
        return run_php(
            str(PHP_DIR / "call.php"), wsdl_url(server, service, version), operation, stdin=json.dumps(arguments)
        )

    return call


def envelope(service: str, operation: str, inner: str, version: str = "2.4") -> bytes:
    """A hand-written request: `inner` goes inside the operation element (prefix `o:`)."""
    ns = contract.namespace(service, version)
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>'
        f'<soap:Envelope xmlns:soap="{SOAP_ENV}" xmlns:o="{ns}"><soap:Body>'
        f"<o:{operation}>{inner}</o:{operation}></soap:Body></soap:Envelope>"
    ).encode()


def post(base: str, service: str, payload: bytes, version: str = "2.4", **kw: Any) -> httpx.Response:
    return httpx.post(
        f"{base}/global/{service}/v{version}/soap",
        content=payload,
        headers={"Content-Type": "text/xml; charset=utf-8"},
        timeout=30,
        **kw,
    )


def out_of(reply: httpx.Response) -> etree._Element:
    """The `out` element of a reply (namespace-free lookups below use local-name())."""
    root = etree.fromstring(reply.content)
    found = root.xpath("//*[local-name()='out']")
    assert found, reply.text
    return found[0]


def soap_order(pon: str, *lines: tuple[int, int], **extra: Any) -> dict[str, Any]:
    """conftest.order_body in the SOAP shape: lists wrapped in their item type names."""
    body = order_body(pon, *lines, **extra)
    body["orderLines"] = {"createOrderLinesType": body["orderLines"]}
    return body
