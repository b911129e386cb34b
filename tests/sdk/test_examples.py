"""The SDK's examples run as written, as subprocesses against the suite's server: the checkout
(credentials from the environment, or from var/demo-credentials.json as after `make run`); the webhook
receiver registers itself, gets a real delivery from the worker, verifies it and removes its endpoint."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from resell_client import Client

from resell.services import stock
from resell.services.context import Context
from resell.worker import dispatcher
from tests.conftest import World
from tests.renewal_support import fresh_stock_check  # noqa: F401 - autouse: the worker's stock look starts afresh
from tests.sdk.conftest import order_request, sdk_client

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "clients" / "python" / "examples"


def env_for(server: str, world: World, secret: str | None = None) -> dict[str, str]:
    return {
        **os.environ,
        "RESELL_BASE_URL": server,
        "RESELL_REALM": world.a.realm,
        "RESELL_CLIENT_SECRET": world.a.client_secret,
        "RESELL_SECRET": secret or world.a.secret,
    }


def serials_left(ctx: Context, ref: int) -> int:
    (line,) = [line for line in stock.report(ctx) if line.ref == ref]
    return line.available


def test_checkout_against_the_suites_server(ctx: Context, server: str, world: World) -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "checkout.py"), "1001"],
        env=env_for(server, world), cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^order \d+ \(shop-\d+\)$", done.stdout, re.M), done.stdout
    assert re.search(r"^  serial: S1001-\d{4}$", done.stdout, re.M)
    assert re.search(r"^  download: Installer http://\S+ \(until \d{4}-\d\d-\d\d\)$", done.stdout, re.M)


def test_checkout_in_the_sandbox_takes_a_test_serial_and_no_stock(ctx: Context, server: str, world: World) -> None:
    before = serials_left(ctx, 1001)
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "checkout.py"), "1001"],
        env=env_for(server, world, world.a.sandbox_secret), cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^  serial: TEST-[2-9A-Z]{4}-[2-9A-Z]{4}-[2-9A-Z]{4}$", done.stdout, re.M), done.stdout
    assert re.search(r"^  download: Installer http://\S+ \(until \d{4}-\d\d-\d\d\)$", done.stdout, re.M)
    assert serials_left(ctx, 1001) == before


def test_checkout_says_so_when_out_of_stock(server: str, world: World) -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "checkout.py"), "1004"],  # a pre-order: not available
        env=env_for(server, world), cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1 and "not available" in done.stdout, done.stdout + done.stderr


def test_checkout_reads_the_demo_credentials_file_without_environment(
    ctx: Context, tmp_path: Path, server: str, world: World
) -> None:
    """As after `make run`: no RESELL_* variables, var/demo-credentials.json in the working directory
    (written here in the shape `resell demo` writes, pointing at the suite's server). The example
    takes the sandbox secret: a merchant's first runs take a TEST- serial, no real stock."""
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "demo-credentials.json").write_text(json.dumps({
        "baseUrl": server,
        "merchants": [{
            "realmName": world.a.realm,
            "clientSecret": world.a.client_secret,
            "catalogs": [{"secret": world.a.secret, "sandboxSecret": world.a.sandbox_secret, "currency": "EUR",
                          "productRefs": [1001]}],
        }],
    }))  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESELL_")}
    before = serials_left(ctx, 1001)
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "checkout.py"), "1001"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^  serial: TEST-", done.stdout, re.M), done.stdout
    assert serials_left(ctx, 1001) == before


def test_the_webhook_receiver_gets_a_verified_event(ctx: Context, sdk: Client, server: str, world: World) -> None:
    """As documented: the receiver in the sandbox (the examples' default), a sandbox order's event
    arriving with "test": true."""
    receiver = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "webhook_receiver.py"), "--port", "0", "--max-events", "1"],
        env=env_for(server, world, world.a.sandbox_secret), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert receiver.stdout is not None
        first = receiver.stdout.readline()
        assert first.startswith("registered webhook "), first + receiver.stderr.read()  # type: ignore[union-attr]
        (listed,) = sdk.list_webhooks().webhooks
        with sdk_client(server, world.a, secret=world.a.sandbox_secret) as sandbox:
            order = sandbox.create_order(order_request("HOOK-EX", (1003, 1)))
        assert order.serials[0].startswith("TEST-")
        deadline = time.monotonic() + 30
        while receiver.poll() is None and time.monotonic() < deadline:
            dispatcher.run_pass(ctx)
            time.sleep(0.1)
        out, err = receiver.communicate(timeout=30)
    finally:
        if receiver.poll() is None:
            receiver.kill()
    assert receiver.returncode == 0, out + err
    lines = out.splitlines()
    assert re.fullmatch(
        rf"order\.created \S+ \{{\"orderNumber\": {order.order_number}, \"partnerOrderNumber\": \"HOOK-EX\", "
        r"\"test\": true\}",
        lines[0],
    ), out
    assert lines[-1] == f"removed webhook {listed.id}"
    assert sdk.list_webhooks().webhooks == []
