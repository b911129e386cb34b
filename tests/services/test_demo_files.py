"""The demo's files are real: generated at `resell demo` time, downloadable, and emailed for 100008."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from resell.config import Settings
from resell.services import demo
from resell.services.context import Context
from resell.services.demo_files import demo_bytes, digest
from resell.worker import dispatcher
from tests.conftest import Merchant, MerchantCreds, order_body, settings_for
from tests.delivery_support import SmtpSink, free_port


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def settings(tmp_path: Path, db_url: str, smtp_port: int) -> Settings:
    return settings_for(
        tmp_path,
        db_url,
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
    )


@pytest.fixture
def sink(smtp_port: int) -> Iterator[SmtpSink]:
    server = SmtpSink(smtp_port)
    yield server
    server.stop()


def test_the_demo_catalogue_declares_the_generated_bytes() -> None:
    declared = [f for p in demo.demo_catalog()["products"] for f in p.get("files", [])]
    assert len(declared) == 6
    for f in declared:
        assert sum(len(chunk) for chunk in demo_bytes(f["fileName"], f["size"])) == f["size"]
        assert digest(f["fileName"], f["size"]) == f["sha256"], f["fileName"]
        assert 1_000_000 < f["size"] < 10_000_000  # small enough to seed fast, big enough to interrupt


def test_after_seeding_the_direct_delivery_demo_product_downloads_and_is_emailed(
    ctx: Context, server: str, sink: SmtpSink
) -> None:
    document = demo.seed(ctx, serials_per_product=3)
    first = document["merchants"][0]
    shop = Merchant(
        server,
        MerchantCreds(
            first["realmName"], first["clientSecret"], first["catalogs"][0]["secret"], first["catalogs"][1]["secret"]
        ),
    )
    try:
        reply = shop.call("POST", "/order/new", order_body("DEMO-1", (100008, 1)))
        assert reply.status_code == 201, reply.text
        line = reply.json()["orderLines"][0]
        declared = next(p for p in demo.demo_catalog()["products"] if p["ref"] == 100008)["files"][0]
        assert line["files"][0]["size"] == declared["size"]
        assert reply.json()["downloadManager"] is not None
        body = httpx.get(server + line["files"][0]["url"].removeprefix("http://resell.test")).content
        assert len(body) == declared["size"] and hashlib.sha256(body).hexdigest() == declared["sha256"]
        assert "Keep your order number" in line["remark"] and str(reply.json()["orderNumber"]) in line["remark"]

        assert dispatcher.run_pass(ctx).kinds.get("mail.delivery") == 1  # keystone delivers directly
        (message,) = sink.messages
        text = message.get_body(preferencelist=("plain",)).get_content()
        assert line["lineItems"][0]["serials"][0]["data"] in text and line["files"][0]["url"] in text
        assert message["Subject"] == f"Your order {reply.json()['orderNumber']}: Keystone Adventure Pack"
    finally:
        shop.http.close()
