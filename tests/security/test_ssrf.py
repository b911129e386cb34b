"""Webhook endpoints and publisher URLs cannot reach the operator's own network (server-side request forgery).

With the default settings (RESELL_WEBHOOK_ALLOW_PRIVATE off) a loopback, private, link-local ... address is
refused when an endpoint is registered (REST, CLI) and again at every connection (webhook deliveries,
key generator calls, revoked-serial callbacks), after the one DNS lookup of that connection.

No test here sends anything beyond loopback: names are answered by a stub resolver, and every connection
the code under test attempts is recorded; one to anything but a loopback address fails without being made.
A loopback receiver that must receive nothing shows that refusals happen before any connection.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from resell import outbound
from resell.config import Settings
from resell.db.engine import inserted_id
from resell.db.tables import outbox, webhook_endpoints
from resell.domain.codes import Refusal
from resell.services import orders as order_service
from resell.services import webhooks as endpoints
from resell.services.catalog_import import import_catalog
from resell.services.context import Context
from resell.services.outbox import enqueue
from resell.worker import dispatcher
from tests.conftest import CliRun, Merchant, World, order_body, settings_for
from tests.delivery_support import HttpReceiver, sell
from tests.renewal_support import caller_of, fresh_stock_check  # noqa: F401 - fixture (autouse)

PUBLIC_IP = "93.184.215.14"  # a public address: the stub network never lets a connection to it leave


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    """The production defaults for the guard (the rest of the suite allows private addresses)."""
    return settings_for(
        tmp_path,
        db_url,
        webhook_allow_private=False,
        webhook_max_endpoints=3,
        keygen_timeout_seconds=0.5,
        publisher_timeout_seconds=0.5,
    )


class Network:
    """What resell.outbound sees of the network in a test: `answers` per name (one list of addresses per
    lookup, the last one repeated), every lookup and every connection attempt recorded (but the test's own
    calls to the API under test). Connections to loopback addresses go through; any other is refused here,
    without a packet sent."""

    def __init__(self) -> None:
        self.answers: dict[str, list[list[str]]] = {}
        self.lookups: list[str] = []
        self.connects: list[tuple[str, int]] = []
        self.api: tuple[str, int] | None = None  # the test server's address, set by tests that call it

    def calling(self, server_url: str) -> None:
        url = httpx.URL(server_url)
        self.api = (url.host, int(url.port or 80))

    def resolve(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        plan = self.answers.get(host)
        if not plan:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return plan.pop(0) if len(plan) > 1 else plan[0]

    def connect(self, real: Any) -> Any:
        def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
            if (address[0], address[1]) != self.api:
                self.connects.append((address[0], address[1]))
            try:
                loopback = ipaddress.ip_address(address[0]).is_loopback
            except ValueError:  # a name: the guard would have let the socket layer look it up again
                loopback = False
            if not loopback:
                raise OSError("test network: nothing leaves loopback")
            return real(address, *args, **kwargs)

        return create_connection


@pytest.fixture
def network(monkeypatch: pytest.MonkeyPatch) -> Network:
    net = Network()
    monkeypatch.setattr(outbound, "resolve", net.resolve)
    monkeypatch.setattr(socket, "create_connection", net.connect(socket.create_connection))
    return net


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    server = HttpReceiver(lambda request: (200, b'{"serials": ["K-1"]}'))
    yield server
    server.close()


def port_of(receiver: HttpReceiver) -> int:
    return int(receiver.server.server_address[1])


def hostile_urls(port: int) -> list[str]:
    """The brief's list: every spelling of this machine, the metadata service, the private ranges."""
    return [
        f"http://127.0.0.1:{port}/",
        "http://127.0.0.1:5432/",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/hooks",
        f"http://[::1]:{port}/",
        f"http://2130706433:{port}/",
        f"http://0177.0.0.1:{port}/",
        f"http://0x7f.1:{port}/",
        f"http://127.1:{port}/",
        "http://[::ffff:169.254.169.254]/",
        "http://[::ffff:7f00:1]/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://[2002:7f00:1::]/",
        f"http://localhost:{port}/",
        f"http://db.localhost:{port}/",
        "http://0.0.0.0/",
        "https://192.168.1.10/hooks",
        f"http://loopback.test:{port}/",  # a name that resolves to loopback
        "http://internal.test/",  # ... to a private address
        "http://mixed.test/",  # ... to a public and a private address
        "http://nowhere.test/",  # ... to nothing
    ]


def hostile_names(net: Network) -> None:
    net.answers |= {
        "loopback.test": [["127.0.0.1"]],
        "internal.test": [["10.0.0.1"]],
        "mixed.test": [[PUBLIC_IP, "10.1.2.3"]],
        "public.test": [[PUBLIC_IP]],
    }


def endpoint_count(ctx: Context) -> int:
    with ctx.db.read() as conn:
        return conn.execute(select(func.count()).select_from(webhook_endpoints)).scalar_one()


# ---------------------------------------------------------------- at registration


def test_the_api_refuses_to_register_an_endpoint_on_the_operators_network(
    ctx: Context, server: str, shop_a: Merchant, receiver: HttpReceiver, network: Network
) -> None:
    network.calling(server)
    hostile_names(network)
    for url in hostile_urls(port_of(receiver)):
        reply = shop_a.call("POST", "/webhooks", {"url": url, "events": ["order.created"]})
        assert reply.status_code == 200, (url, reply.text)
        body = reply.json()
        assert body["responseCode"] == 101, (url, body)
        assert body["responseMessage"] == "url not valid: it must lead to a public address"  # nothing about why
    assert endpoint_count(ctx) == 0
    assert receiver.requests == [] and network.connects == []
    made = shop_a.call("POST", "/webhooks", {"url": "https://public.test/hooks", "events": ["order.created"]})
    assert made.status_code == 201 and made.json()["responseCode"] == 0, made.text


def test_the_cli_refuses_them_too_and_says_why(cli: CliRun, world: World, network: Network) -> None:
    hostile_names(network)
    refused = cli("webhooks", "add", "http://169.254.169.254/", "--events", "order.created", "--merchant", "shop-a")
    assert refused.exit_code != 0
    assert "169.254.169.254, which is not a public address" in refused.output
    assert "RESELL_WEBHOOK_ALLOW_PRIVATE" in refused.output
    named = cli("webhooks", "add", "http://internal.test/h", "--events", "stock.low")  # the operator's own endpoint
    assert named.exit_code != 0 and "internal.test resolves to 10.0.0.1" in named.output
    assert cli("webhooks", "add", "https://public.test/h", "--events", "stock.low").exit_code == 0
    assert network.connects == []


def test_a_merchant_has_a_limited_number_of_endpoints(
    ctx: Context, server: str, shop_a: Merchant, shop_b: Merchant, cli: CliRun, network: Network
) -> None:
    network.calling(server)
    hostile_names(network)
    hook = {"url": "https://public.test/hooks", "events": ["order.created"]}
    ids = [shop_a.call("POST", "/webhooks", hook).json()["id"] for _ in range(3)]
    assert all(ids)
    refused = shop_a.call("POST", "/webhooks", hook).json()
    assert (refused["responseCode"], refused["responseMessage"]) == (1060, "too many webhook endpoints (at most 3)")
    over = cli("webhooks", "add", "https://public.test/h", "--events", "order.created", "--merchant", "shop-a")
    assert over.exit_code != 0 and "too many webhook endpoints" in over.output
    assert shop_b.call("POST", "/webhooks", hook).json()["responseCode"] == 0  # per merchant
    assert shop_a.call("DELETE", f"/webhooks/{ids[0]}").json()["responseCode"] == 0  # removed ones do not count
    assert shop_a.call("POST", "/webhooks", hook).json()["responseCode"] == 0
    assert endpoint_count(ctx) == 5


# ---------------------------------------------------------------- at delivery


def _stored_endpoint(ctx: Context, url: str) -> int:
    """An endpoint row as an older release (or a permissive setting) left it: registered without the check."""
    with ctx.db.write() as conn:
        return inserted_id(
            conn.execute(
                webhook_endpoints.insert().values(
                    merchant_id=None,
                    url=url,
                    events=["stock.low", "stock.out"],
                    secret_salt="00" * 16,
                    active=True,
                    created_at=ctx.now(),
                )
            )
        )


def _stock_event(ctx: Context) -> None:
    with ctx.db.write() as conn:
        enqueue(conn, ctx.now(), "stock.low", {"productRef": 1001, "available": 1, "threshold": 3})


def _log(ctx: Context, endpoint_id: int) -> list[tuple[int | None, str | None]]:
    return [(d.status_code, d.error) for d in reversed(endpoints.delivery_log(ctx, endpoint_id))]


def test_the_worker_refuses_to_deliver_to_a_private_address_and_logs_why(
    ctx: Context, world: World, receiver: HttpReceiver, network: Network
) -> None:
    endpoint_id = _stored_endpoint(ctx, f"http://127.0.0.1:{port_of(receiver)}/hooks")
    _stock_event(ctx)
    stats = dispatcher.run_pass(ctx)
    assert stats.retried == 1  # a failed attempt, retried later: not a crash
    assert receiver.requests == [] and network.connects == []
    assert _log(ctx, endpoint_id) == [(None, "AddressRefused: refused: 127.0.0.1, which is not a public address")]


def test_dns_rebinding_after_registration_is_caught_at_delivery(
    ctx: Context, world: World, server: str, shop_a: Merchant, network: Network
) -> None:
    network.calling(server)
    network.answers["rebind.test"] = [[PUBLIC_IP], ["10.0.0.1"]]  # public when registered, private afterwards
    made = shop_a.call("POST", "/webhooks", {"url": "http://rebind.test/hooks", "events": ["order.created"]}).json()
    assert made["responseCode"] == 0
    order_service.submit_order(ctx, caller_of(ctx, world.a), order_body("SSRF-1", (1003, 1)))
    dispatcher.run_pass(ctx)
    assert _log(ctx, made["id"]) == [
        (None, "AddressRefused: refused: rebind.test resolves to 10.0.0.1, which is not a public address")
    ]
    assert network.connects == [] and network.lookups == ["rebind.test", "rebind.test"]


def test_one_lookup_per_connection_and_the_connection_goes_to_the_address_that_was_checked(
    settings: Settings, network: Network
) -> None:
    """A resolver that answers public for the check and loopback for a second lookup gets no second lookup."""
    network.answers["rebind.test"] = [[PUBLIC_IP], ["127.0.0.1"]]
    with outbound.client(settings.webhook_allow_private, timeout=1) as client, pytest.raises(httpx.ConnectError):
        client.post("http://rebind.test:8080/hooks", content=b"{}")
    assert network.lookups == ["rebind.test"]
    assert network.connects == [(PUBLIC_IP, 8080)]  # the checked address, never the name, never 127.0.0.1


def test_the_pinned_connection_keeps_the_name_for_the_host_header(network: Network) -> None:
    """Pinning connects to the checked address but the request is still the name's (Host, and SNI for TLS)."""
    server = HttpReceiver(lambda request: (204, b""))
    try:
        port = port_of(server)
        network.answers["hooks.test"] = [["127.0.0.1"]]
        with outbound.client(True, timeout=5) as client:  # loopback allowed here, as in development
            assert client.post(f"http://hooks.test:{port}/in", content=b"{}").status_code == 204
        assert network.lookups == ["hooks.test"] and network.connects == [("127.0.0.1", port)]
        (got,) = server.requests
        assert got.headers["host"] == f"hooks.test:{port}" and got.path == "/in"
    finally:
        server.close()


def test_tls_to_the_pinned_address_checks_the_certificate_and_sends_sni_for_the_name(
    network: Network, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A loopback HTTPS server whose certificate names only hooks.test: the pinned connection to 127.0.0.1
    must present hooks.test as SNI and verify the certificate against that name."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=hooks.test",
         "-addext", "subjectAltName=DNS:hooks.test", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the client trusts this certificate only
    names: list[str | None] = []
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)

    def remember(sock: ssl.SSLObject, name: str | None, context: ssl.SSLContext) -> None:
        names.append(name)

    tls.sni_callback = remember  # type: ignore[assignment]  # typeshed wants an SSLSocket; either works
    server = HttpReceiver(lambda request: (204, b""))
    server.server.socket = tls.wrap_socket(server.server.socket, server_side=True)
    try:
        port = port_of(server)
        network.answers["hooks.test"] = [["127.0.0.1"]]
        with outbound.client(True, timeout=5) as client:
            assert client.post(f"https://hooks.test:{port}/in", content=b"{}").status_code == 204
        assert names == ["hooks.test"] and network.connects == [("127.0.0.1", port)]
    finally:
        server.close()


# ---------------------------------------------------------------- publisher URLs


def _publisher_catalog(base: str) -> dict[str, Any]:
    return {
        "publishers": [
            {"key": "gen", "name": "Generator Games", "keygenUrl": base + "/keys", "callbackUrl": base + "/revoked"}
        ],
        "products": [
            {
                "ref": 1501,
                "name": "Generated key",
                "publisher": "gen",
                "serialSource": "generator",
                "deliveryMode": "serial",
                "prices": [{"currency": "EUR", "amountDutyFree": 15}],
            }
        ],
    }


def test_a_key_generator_on_a_private_address_is_not_called(
    ctx: Context, world: World, receiver: HttpReceiver, network: Network
) -> None:
    import_catalog(ctx, _publisher_catalog(receiver.url))
    sell(ctx, "shop-a", 1501)
    with pytest.raises(Refusal) as refused:
        order_service.submit_order(ctx, caller_of(ctx, world.a), order_body("GEN-1", (1501, 1)))
    assert refused.value.code == 1051
    assert receiver.requests == [] and network.connects == []


def test_a_revoked_serial_callback_to_a_private_address_is_refused_and_retried(
    ctx: Context, world: World, receiver: HttpReceiver, network: Network
) -> None:
    import_catalog(ctx, _publisher_catalog(receiver.url))
    with ctx.db.write() as conn:
        enqueue(
            conn,
            ctx.now(),
            "publisher.serials_revoked",
            {"publisher": "gen", "orderNumber": 7, "serials": [{"productRef": 1501, "serial": "K-1"}]},
        )
    assert dispatcher.run_pass(ctx).retried == 1
    with ctx.db.read() as conn:
        (row,) = conn.execute(select(outbox).where(outbox.c.kind == "publisher.serials_revoked")).all()
    assert row.delivered_at is None
    assert row.last_error == "CallbackFailed: refused: 127.0.0.1, which is not a public address"
    assert receiver.requests == [] and network.connects == []
