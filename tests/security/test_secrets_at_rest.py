"""No secret is stored in clear: every secret the platform hands out, used over the API so that
whatever is written on the way is there too, is absent from every row of every table (both
databases) and from the bytes of the SQLite file and its WAL.

Secrets: client secrets, catalogue secrets, access and refresh tokens (whole, and their signature
part), webhook signing secrets (`whsec_...`), download link signatures and whole link paths, the
order's Metalink signature, and the digital locker's session cookie. (A download link's line
token is stored: it is the lookup key and opens nothing without the HMAC signature, whose key is
not in the database.)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from resell.db.tables import metadata
from resell.services.context import Context
from tests.conftest import Merchant, World, order_body
from tests.delivery_support import attach


@pytest.fixture
def http(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=30) as client:
        yield client


def sqlite_files(ctx: Context) -> list[Path]:
    url = make_url(ctx.settings.effective_database_url)
    path = Path(url.database or "")
    return [p for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-journal"))
            if p.exists()]


def token_pair(http: httpx.Client, creds, **extra) -> dict:  # type: ignore[no-untyped-def]
    body = {"clientSecret": creds.client_secret, "realmName": creds.realm, "grantType": "client_credentials",
            **extra}
    reply = http.post("/iam/tokens", json=body)
    assert reply.status_code == 200, reply.text
    return reply.json()


def test_no_secret_is_stored_in_clear(
    http: httpx.Client, world: World, ctx: Context, shop_a: Merchant, shop_b: Merchant
) -> None:
    attach(ctx, 1001, "setup.exe", 2000)
    clear: dict[str, str] = {}
    stored: list[str] = []  # controls: values stored by design, which the scan must find
    for name, creds in (("A", world.a), ("B", world.b)):
        clear[f"client secret {name}"] = creds.client_secret
        clear[f"catalogue {name} EUR"] = creds.secret
        clear[f"catalogue {name} USD"] = creds.other_secret
        clear[f"sandbox catalogue {name} EUR"] = creds.sandbox_secret
        first = token_pair(http, creds)
        second = token_pair(http, creds, grantType="refresh_token", refreshToken=first["refresh_token"])
        for label, pair in (("first", first), ("refreshed", second)):
            for kind in ("access_token", "refresh_token"):
                clear[f"{label} {kind} {name}"] = pair[kind]
                clear[f"{label} {kind} signature {name}"] = pair[kind].rsplit(".", 1)[1]
        for secret in (creds.secret, creds.other_secret, creds.sandbox_secret):
            status = http.get("/connect/status", headers={"Authorization": f"Bearer {second['access_token']}",
                                                          "secret": secret})
            assert status.json()["responseCode"] == 0

    for name, shop in (("A", shop_a), ("B", shop_b)):
        hook = shop.call("POST", "/webhooks", {"url": f"https://{name}.example/h", "events": ["order.created"]})
        assert hook.json()["responseCode"] == 0, hook.text
        clear[f"webhook secret {name}"] = hook.json()["signingSecret"]
        assert clear[f"webhook secret {name}"].startswith("whsec_")
        made = shop.call("POST", "/order/new", order_body(f"SEC-{name}", (1001, 1), (1002, 1)))
        assert made.status_code == 201, made.text
        order = made.json()
        for i, line in enumerate(order["orderLines"]):
            for f in line["files"]:
                path = urlsplit(f["url"]).path
                clear[f"download link {name} {i}"] = path
                clear[f"download signature {name} {i}"] = path.rsplit("/", 1)[1]
                stored.append(path.split("/")[2])  # the line token
        metalink = urlsplit(order["downloadManager"]["pc"]).path
        clear[f"metalink signature {name}"] = metalink.rsplit("/", 1)[1].removesuffix(".meta4")
        # the links are used, and the end user signs in to the locker
        assert http.get(urlsplit(order["orderLines"][0]["files"][0]["url"]).path).status_code == 200
        signed_in = http.post("/locker", data={"orderNumber": str(order["orderNumber"]),
                                               "email": "buyer@example.com"})
        assert signed_in.status_code == 303, signed_in.text
        clear[f"locker session {name}"] = signed_in.cookies["resell_locker"]
        http.cookies.clear()

    with ctx.db.read() as conn:
        every_row = {t.name: conn.execute(select(t)).all() for t in metadata.sorted_tables}
    assert len(every_row["catalogs"]) == 8 and len(every_row["refresh_tokens"]) >= 4  # 4 live, their sandboxes
    everything = []
    for table, rows in every_row.items():
        for row in rows:
            cells = " ".join(repr(value) for value in row)
            everything.append(cells)
            for name, secret in clear.items():
                assert secret not in cells, f"{name} in clear in {table}: {row}"
    assert all(any(value in cells for cells in everything) for value in stored)

    if ctx.db.is_sqlite:
        files = sqlite_files(ctx)
        assert any(p.name.endswith("-wal") for p in files), "the WAL was not found (not in WAL mode?)"
        raw = b"".join(p.read_bytes() for p in files)
        assert b"shop-a" in raw and b"SEC-B" in raw  # the scan reads the bytes the rows live in
        assert all(value.encode() in raw for value in stored)
        for name, secret in clear.items():
            assert secret.encode() not in raw, f"{name} in clear in the database file or its WAL"
