"""docs/merchants.md's "Your first afternoon" runs as written and answers what it shows: its bash
steps in one shell and its SDK step as a script, against the real app on a real socket with the demo
seeded, on each database (the same page's magic-value table is checked against the code by
tests/services/test_sandbox*)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from resell.services import demo
from resell.services.context import Context

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "merchants.md"
TEST_SERIAL = re.compile(r"TEST-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}")


def guide_blocks(mark: str, language: str) -> list[str]:
    """The code blocks of the guide preceded by `<!-- guide:MARK -->`, in order."""
    text = GUIDE.read_text(encoding="utf-8")
    return re.findall(rf"<!-- guide:{mark} -->\n```{language}\n(.*?)```", text, re.S)


@pytest.fixture
def workdir(ctx: Context, server: str) -> Path:
    """What `make run` leaves: the demo seeded and var/demo-credentials.json naming the server."""
    document = demo.seed(ctx, serials_per_product=20)
    document["baseUrl"] = server
    path = demo.credentials_path(ctx)
    path.write_text(json.dumps(document))
    return path.parent.parent


def replies(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def serials(reply: dict[str, Any]) -> list[str]:
    return [s["data"] for line in reply["orderLines"] for item in line["lineItems"] for s in item["serials"]]


def test_the_guide_has_its_runnable_steps() -> None:
    bash = "\n".join(guide_blocks("run", "bash"))
    steps = ("/iam/tokens", "/connect/order/new", "TEST-OUT-OF-STOCK-", "/connect/webhooks", "/connect/sandbox/clock")
    for step in steps:
        assert step in bash, step
    assert "SECRET=$SANDBOX_SECRET" in bash and 'secret: $SECRET"' in bash
    (python,) = guide_blocks("python", "python")
    assert 'secret=eur["sandboxSecret"]' in python


def test_the_curl_steps_run_as_written(workdir: Path) -> None:
    script = "\n".join(guide_blocks("run", "bash"))
    run = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=workdir, capture_output=True,
                         text=True, timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    token, created, read, refused, webhook, subscribed, clock, renewal = replies(run.stdout)

    assert set(token) >= {"access_token", "refresh_token", "expires_in", "refresh_expires_in", "token_type"}
    assert token["expires_in"] == 300 and token["refresh_expires_in"] == 1800 and token["token_type"] == "Bearer"

    assert created["responseCode"] == 0 and created["responseMessage"] == "OK"
    pon = created["partnerOrderNumber"]
    assert re.fullmatch(r"shop-\d+", pon)
    (serial,) = serials(created)
    assert TEST_SERIAL.fullmatch(serial), serial
    (line,) = created["orderLines"]
    assert line["productRef"] == 100001 and line["files"] and line["dateEndDownload"]
    assert line["digitalLockerLink"].endswith(f"/locker?order={created['orderNumber']}")

    assert read == created  # getOrderData answers what createOrder answered

    assert refused == {
        "partnerOrderNumber": f"TEST-OUT-OF-STOCK-{pon}", "orderNumber": None, "orderLines": [],
        "downloadManager": None, "responseCode": 1044, "responseMessage": "out of stock",
    }  # fmt: skip

    assert webhook["responseCode"] == 0 and webhook["url"] == "https://shop.example/hooks"
    assert webhook["events"] == ["order.created", "subscription.renewed"]
    assert webhook["signingSecret"].startswith("whsec_") and isinstance(webhook["id"], int)

    assert subscribed["responseCode"] == 0 and subscribed["partnerOrderNumber"] == f"sub-{pon}"
    (sub_item,) = subscribed["orderLines"][0]["lineItems"]
    assert sub_item["subscriptionId"] and TEST_SERIAL.fullmatch(sub_item["serials"][0]["data"])
    assert clock["responseCode"] == 0 and clock["frozen"] is True
    assert (clock["renewed"], clock["expired"], clock["failed"]) == (1, 0, 0)
    assert renewal["responseCode"] == 0 and renewal["partnerOrderNumber"] == f"sub-{pon}-1"
    assert renewal["orderLines"][0]["lineItems"][0]["subscriptionId"] == sub_item["subscriptionId"]
    assert TEST_SERIAL.fullmatch(serials(renewal)[0])
    assert serials(renewal) != serials(subscribed)


def test_the_sdk_step_runs_as_written(workdir: Path) -> None:
    (python,) = guide_blocks("python", "python")
    run = subprocess.run([sys.executable, "-c", python], cwd=workdir, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    created, read, refused = run.stdout.splitlines()
    number, listed = re.fullmatch(r"(\d+) \[(.*)\]", created).groups()  # type: ignore[union-attr]
    assert TEST_SERIAL.fullmatch(listed.strip("'")), created
    assert re.fullmatch(rf"{number} \d{{4}}-\d\d-\d\d", read), read
    assert refused == "1044 out of stock"


def test_the_live_secret_of_the_guide_sells_for_real(workdir: Path) -> None:
    """Going live is the secret alone: the same steps with SECRET=$LIVE_SECRET take a real serial."""
    script = "\n".join(guide_blocks("run", "bash")[:3]).replace("SECRET=$SANDBOX_SECRET", "SECRET=$LIVE_SECRET")
    run = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=workdir, capture_output=True,
                         text=True, timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    _, created = replies(run.stdout)
    assert created["responseCode"] == 0
    (serial,) = serials(created)
    assert serial.startswith("D100001-"), serial  # from the demo's pool
