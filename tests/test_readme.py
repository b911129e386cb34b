"""The README's first commands and curl walkthrough, run as written against a real `resell serve`."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _walkthrough() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- walkthrough:start -->\s*```bash\n(.*?)```\s*<!-- walkthrough:end -->", text, re.S)
    assert block, "README.md lost its walkthrough block"
    return block.group(1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(tmp_path: Path):
    """`resell db upgrade`, `resell demo` and `resell serve` as `make run` calls them, in tmp_path."""
    port = _free_port()
    env = {**os.environ, "RESELL_PORT": str(port), "RESELL_VAR_DIR": str(tmp_path / "var")}
    env.pop("RESELL_DATABASE_URL", None)
    resell = [sys.executable, "-m", "resell.cli"]
    subprocess.run([*resell, "db", "upgrade"], env=env, cwd=tmp_path, check=True, capture_output=True)
    demo = subprocess.run([*resell, "demo", "--serials", "120"], env=env, cwd=tmp_path, check=True,
                          capture_output=True, text=True)
    server = subprocess.Popen([*resell, "serve"], env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "resell serve did not come up"
            time.sleep(0.1)
        yield tmp_path, demo.stdout
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_demo_prints_and_writes_the_credentials(served) -> None:
    workdir, printed = served
    creds = json.loads((workdir / "var" / "demo-credentials.json").read_text())
    assert creds["baseUrl"].startswith("http://127.0.0.1:")
    first, second = creds["merchants"]
    assert first["realmName"] in printed and first["clientSecret"] in printed
    assert {c["currency"] for c in first["catalogs"]} == {"EUR", "USD"}
    assert len(second["catalogs"]) == 1
    assert set(second["catalogs"][0]["productRefs"]) < set(first["catalogs"][0]["productRefs"])
    assert "curl -s -X POST" in printed


def test_walkthrough_runs_as_written(served) -> None:
    workdir, _ = served
    run = subprocess.run(["bash", "-euo", "pipefail", "-c", _walkthrough()], cwd=workdir, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    replies = [json.loads(line) for line in run.stdout.splitlines() if line.strip()]
    assert len(replies) == 7, run.stdout  # stock, cross-sell, create, read, download info, extend, cancel
    assert all(reply["responseCode"] == 0 for reply in replies), run.stdout
    stock, crossupsell, created, read, info, extended, cancelled = replies
    assert [item["status"] for item in stock["productStatus"]] == [100, 200]
    assert {s["type"] for s in crossupsell["productsReturn"]} == {"up", "cross", "option"}
    assert created["orderLines"][0]["lineItems"][0]["serials"][0]["data"]
    assert read["orderNumber"] == created["orderNumber"]
    assert info["orderLines"][0]["files"][0]["url"] == created["orderLines"][0]["files"][0]["url"]
    assert extended["newDownloadEndDate"] > created["orderLines"][0]["dateEndDownload"]
    assert cancelled["orderNumber"] == created["orderNumber"]
