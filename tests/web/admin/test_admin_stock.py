"""The stock page over HTTP: pools with their counts (a publisher its own only), the threshold form
(audited), serial upload through the same checks as `resell stock import` (refused with line
numbers, nothing stored), its own body limit, and CSRF on every POST."""

from __future__ import annotations

import re
import socket
from collections.abc import Callable

import httpx
from sqlalchemy import func, select

from resell.db.tables import audit_events, products, serials
from resell.services.catalog_import import import_catalog
from resell.services.context import Context
from tests.conftest import World
from tests.services.test_stock_pools import OTHER
from tests.web.admin.conftest import csrf_of


def count(ctx: Context, ref: int) -> int:
    with ctx.db.read() as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(serials).join(products).where(products.c.ref == ref)
            ).scalar_one()
        )


def upload(
    http: httpx.Client, ref: int, body: bytes, name: str = "keys.txt", csrf: str | None = None
) -> httpx.Response:
    token = csrf if csrf is not None else csrf_of(http.get("/admin/stock").text)
    return http.post(
        "/admin/stock/import", data={"csrf_token": token, "ref": str(ref)}, files={"file": (name, body, "text/plain")}
    )


def test_pools_with_counts_and_levels(ctx: Context, world: World, staff_client: Callable[[str], httpx.Client]) -> None:
    import_catalog(ctx, OTHER)
    page = staff_client("admin").get("/admin/stock")
    assert page.status_code == 200
    row = re.search(r'<tr id="pool-1003">(.*?)</tr>', page.text, re.S).group(1)
    assert re.findall(r'<td data-label="\w+" class="num">(\d+)</td>', row) == ["5", "0", "0"]
    assert "level-low" in row and 'value="10"' in row  # 5 available, threshold 10
    assert 'id="pool-1402"' in page.text and "Other Publisher" in page.text
    # a publisher: its own pools only
    mine = staff_client("publisher").get("/admin/stock")
    assert mine.status_code == 200 and 'id="pool-1003"' in mine.text and "1402" not in mine.text
    # finance and support do not open the page
    assert staff_client("support").get("/admin/stock").status_code == 403


def test_threshold_change_is_audited(ctx: Context, world: World, staff_client: Callable[[str], httpx.Client]) -> None:
    http = staff_client("admin")
    token = csrf_of(http.get("/admin/stock").text)
    reply = http.post("/admin/stock/threshold", data={"csrf_token": token, "ref": "1001", "threshold": "25"})
    assert reply.status_code == 303 and reply.headers["location"].startswith("/admin/stock?changed=1001")
    page = http.get(reply.headers["location"])
    assert "Threshold of Serial and files (1001) is now 25" in page.text
    with ctx.db.read() as conn:
        (event,) = conn.execute(select(audit_events).where(audit_events.c.action == "threshold_changed")).all()
    assert (event.actor, event.entity_id, event.before, event.after) == (
        "staff:admin0@staff.test",
        "1001",
        {"almostOutThreshold": 3},
        {"almostOutThreshold": 25},
    )
    # not a number, or another publisher's pool: refused, nothing changed
    assert (
        http.post("/admin/stock/threshold", data={"csrf_token": token, "ref": "1001", "threshold": "-1"}).status_code
        == 400
    )
    import_catalog(ctx, OTHER)
    publisher = staff_client("publisher")
    mine = csrf_of(publisher.get("/admin/stock").text)
    refused = publisher.post("/admin/stock/threshold", data={"csrf_token": mine, "ref": "1402", "threshold": "5"})
    assert refused.status_code == 400 and "no such serial pool" in refused.text
    # without the form's token: 403, nothing changed
    for data in ({"ref": "1001", "threshold": "7"}, {"csrf_token": "forged", "ref": "1001", "threshold": "7"}):
        assert http.post("/admin/stock/threshold", data=data).status_code == 403
    with ctx.db.read() as conn:
        assert conn.execute(select(products.c.almost_out_threshold).where(products.c.ref == 1001)).scalar() == 25


def test_a_good_file_is_imported(ctx: Context, world: World, staff_client: Callable[[str], httpx.Client]) -> None:
    http = staff_client("publisher")
    before = count(ctx, 1005)
    keys = [f"UPLOAD-{i:06d}-ABCDEFGHIJKLMNOPQRST" for i in range(100_000)]  # about 3.4 MB: over the global limit
    body = ("\r\n".join(keys[:50] + keys[:10] + keys[50:]) + "\r\n\r\n").encode()
    assert len(body) > ctx.settings.max_request_bytes
    reply = upload(http, 1005, body)
    assert reply.status_code == 200, reply.text[:2000]
    assert re.search(r'id="imported-count">100000<', reply.text) and re.search(r'id="duplicates-count">10<', reply.text)
    assert count(ctx, 1005) == before + 100_000
    with ctx.db.read() as conn:
        (event,) = conn.execute(
            select(audit_events).where(
                audit_events.c.action == "serials_imported", audit_events.c.actor.like("staff:%")
            )
        ).all()
    assert event.actor == "staff:publisher0@staff.test" and event.after["added"] == 100_000
    # again: every key a duplicate
    again = upload(http, 1005, "\n".join(keys[:3]).encode())
    assert re.search(r'id="imported-count">0<', again.text) and re.search(r'id="duplicates-count">3<', again.text)


def test_bad_files_are_refused_with_their_line_numbers(
    ctx: Context, world: World, staff_client: Callable[[str], httpx.Client]
) -> None:
    http = staff_client("admin")
    before = count(ctx, 1005)
    cases = {
        b"Serial\nKEY-1\nKEY-2\n": "line 1: header",
        b"KEY-1\nKEY-\xff\xfe2\nKEY-3\n": "line 2: not UTF-8",
        b"KEY-1\nKEY-2\nKEY-3,2026-01-01\nKEY-4;x\n": "line 3: separator &#39;,&#39;; line 4: separator &#39;;&#39;",
    }
    for body, why in cases.items():
        reply = upload(http, 1005, body)
        assert reply.status_code == 400 and "File refused" in reply.text
        assert why in reply.text, reply.text
        assert "nothing imported" in reply.text
    assert count(ctx, 1005) == before
    # a product without a pool, another publisher's product, no file
    assert upload(http, 1002, b"KEY-9\n").status_code == 400
    import_catalog(ctx, OTHER)
    assert upload(staff_client("publisher"), 1402, b"KEY-9\n").status_code == 400
    token = csrf_of(http.get("/admin/stock").text)
    assert http.post("/admin/stock/import", data={"csrf_token": token, "ref": "1005"}).status_code == 400
    # CSRF: without the token, or with another session's, nothing is read or stored
    assert upload(http, 1005, b"KEY-9\n", csrf="").status_code == 403
    other = staff_client("admin")
    assert upload(http, 1005, b"KEY-9\n", csrf=csrf_of(other.get("/admin/stock").text)).status_code == 403
    assert count(ctx, 1005) == before


def test_the_upload_has_its_own_body_limit(
    ctx: Context, world: World, staff_client: Callable[[str], httpx.Client]
) -> None:
    http = staff_client("admin")
    limit = ctx.settings.admin_import_max_bytes
    token = csrf_of(http.get("/admin/stock").text)
    # a declared length one byte over: 413 before any byte of the body is read (a raw socket: no body sent)
    host, port = str(http.base_url.host), int(http.base_url.port or 80)
    cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
    with socket.create_connection((host, port), timeout=10) as raw:
        raw.sendall(
            f"POST /admin/stock/import HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\n"
            f"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: {limit + 1}\r\n\r\n".encode()
        )
        head = raw.recv(65536).decode(errors="replace")
    assert head.startswith("HTTP/1.1 413") and "too large" in head
    # other back-office forms keep the global limit
    big = http.post("/admin/stock/threshold", data={"csrf_token": token, "ref": "1", "threshold": "x" * 1_100_000})
    assert big.status_code == 413
