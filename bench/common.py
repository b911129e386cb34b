"""What bench/run.py and bench/scale.py share: where things are, the benchmark catalogue, small helpers."""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
PY = sys.executable
POOL_REF = 900001
PG_ADMIN = os.environ.get("RESELL_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

BENCH_CATALOG = {
    "publishers": [{"key": "bench", "name": "Bench Publisher"}],
    "products": [
        {
            "ref": POOL_REF,
            "name": "Bench Serial Product",
            "publisher": "bench",
            "serialSource": "pool",
            "deliveryMode": "download_serial",
            "almostOutThreshold": 100,
            "upSells": [900002],
            "crossSells": [900003],
            "files": [{"label": "Installer", "fileName": "bench.exe", "size": 1000}],
            "prices": [{"currency": "EUR", "amountDutyFree": 10, "vatRate": 20}],
        },
        {
            "ref": 900002,
            "name": "Bench Up-sell",
            "publisher": "bench",
            "serialSource": "none",
            "deliveryMode": "download",
            "prices": [{"currency": "EUR", "amountDutyFree": 20}],
        },
        {
            "ref": 900003,
            "name": "Bench Cross-sell",
            "publisher": "bench",
            "serialSource": "none",
            "deliveryMode": "download",
            "prices": [{"currency": "EUR", "amountDutyFree": 5}],
        },
        {
            "ref": 900090,
            "name": "Bench Extension",
            "publisher": "bench",
            "type": "option",
            "serialSource": "none",
            "deliveryMode": "download",
            "option": {"kind": "download_extension", "period": "P1Y", "eligibleRefs": [POOL_REF]},
        },
    ],
}


def log(message: str) -> None:
    print(f"[{Path(sys.argv[0]).stem} {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


def access_token(base_url: str, creds: dict) -> str:
    """An access token for the benchmark merchant (client_credentials)."""
    reply = httpx.post(
        f"{base_url}/iam/tokens",
        json={"realmName": creds["realm"], "clientSecret": creds["clientSecret"], "grantType": "client_credentials"},
    )
    return str(reply.json()["access_token"])
