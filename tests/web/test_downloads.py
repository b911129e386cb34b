"""Signed download links over real HTTP: streaming, Range, counters, 410/403/416, Metalink."""

from __future__ import annotations

import datetime as dt
import threading
from urllib.parse import urlsplit

import httpx
import pytest
from lxml import etree
from sqlalchemy import select

from resell.db.tables import download_stats, order_lines, orders
from resell.services.context import Context
from tests.conftest import Merchant, World, order_body
from tests.delivery_support import attach, sha256, wait_until

SIZE = 300_000
BIG = 24 * 1024 * 1024
METALINK = "{urn:ietf:params:xml:ns:metalink}"


@pytest.fixture
def setup_exe(ctx: Context, world: World) -> bytes:
    """Product 1001's installer, stored for real (product 1002's file stays metadata only)."""
    return attach(ctx, 1001, "setup.exe", SIZE, content_type="application/x-msdownload")


def path_of(url: str) -> str:
    """Replies carry the public base URL (http://resell.test); the test server is elsewhere."""
    assert url.startswith("http://resell.test/"), url
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def new_order(shop: Merchant, pon: str, *lines: tuple[int, int]) -> dict:
    reply = shop.call("POST", "/order/new", order_body(pon, *lines))
    assert reply.status_code == 201, reply.text
    return reply.json()


def file_url(order: dict, line: int = 0, index: int = 0) -> str:
    return path_of(order["orderLines"][line]["files"][index]["url"])


def counters(shop: Merchant, pon: str, line: int = 0, index: int = 0) -> dict:
    info = shop.call("GET", f"/order/{pon}/download").json()
    assert info["responseCode"] == 0, info
    return info["orderLines"][line]["files"][index]


def test_a_whole_download_has_the_headers_and_counts_one_start_and_one_complete(
    shop_a: Merchant, http: httpx.Client, setup_exe: bytes, clock
) -> None:
    order = new_order(shop_a, "DL-1", (1001, 1))
    assert order["orderLines"][0]["files"][0]["size"] == SIZE
    before = counters(shop_a, "DL-1")
    assert (before["countStartDownload"], before["countCompleteDownload"]) == (0, 0)
    assert before["dateFirstDownload"] is None and before["dateLastDownload"] is None

    reply = http.get(file_url(order))
    assert reply.status_code == 200
    assert reply.content == setup_exe
    assert reply.headers["content-length"] == str(SIZE)
    assert reply.headers["content-type"] == "application/x-msdownload"
    assert reply.headers["etag"] == f'"{sha256(setup_exe)}"'
    assert reply.headers["accept-ranges"] == "bytes"
    assert reply.headers["content-disposition"] == 'attachment; filename="setup.exe"'

    stats = wait_until(lambda: (c := counters(shop_a, "DL-1"))["countCompleteDownload"] == 1 and c, what="complete")
    assert stats["countStartDownload"] == 1
    stamp = clock.now.isoformat().replace("+00:00", "Z")
    assert stats["dateFirstDownload"] == stamp and stats["dateLastDownload"] == stamp
    clock.advance(hours=3)
    assert http.get(file_url(order)).status_code == 200
    later = wait_until(lambda: (c := counters(shop_a, "DL-1"))["countCompleteDownload"] == 2 and c, what="2nd")
    assert later["countStartDownload"] == 2
    assert later["dateFirstDownload"] == stamp
    assert later["dateLastDownload"] == clock.now.isoformat().replace("+00:00", "Z")


def test_an_interrupted_download_resumes_with_range_and_counts_once(
    ctx: Context, shop_a: Merchant, http: httpx.Client, world: World
) -> None:
    data = attach(ctx, 1002, "app.zip", BIG)
    order = new_order(shop_a, "DL-RESUME", (1002, 1))
    url = file_url(order)
    received = bytearray()
    with http.stream("GET", url) as reply:
        assert reply.status_code == 200
        etag = reply.headers["etag"]
        for chunk in reply.iter_raw():
            received += chunk
            if len(received) >= 1_000_000:
                break  # the connection drops mid-file
    assert 1_000_000 <= len(received) < BIG
    resumed = http.get(url, headers={"Range": f"bytes={len(received)}-", "If-Range": etag})
    assert resumed.status_code == 206
    assert resumed.headers["content-range"] == f"bytes {len(received)}-{BIG - 1}/{BIG}"
    assert int(resumed.headers["content-length"]) == BIG - len(received)
    assert sha256(bytes(received) + resumed.content) == sha256(data)
    stats = wait_until(lambda: (c := counters(shop_a, "DL-RESUME"))["countCompleteDownload"] >= 1 and c)
    assert (stats["countStartDownload"], stats["countCompleteDownload"]) == (1, 1)


def test_ranges_segments_and_suffixes(shop_a: Merchant, http: httpx.Client, setup_exe: bytes) -> None:
    order = new_order(shop_a, "DL-RANGE", (1001, 1))
    url = file_url(order)
    first = http.get(url, headers={"Range": "bytes=0-99"})
    assert first.status_code == 206 and first.content == setup_exe[:100]
    assert first.headers["content-range"] == f"bytes 0-99/{SIZE}"
    stats = wait_until(lambda: (c := counters(shop_a, "DL-RANGE"))["countStartDownload"] == 1 and c)
    assert stats["countCompleteDownload"] == 0  # only the first segment so far

    middle = http.get(url, headers={"Range": "bytes=100-199"})
    assert middle.status_code == 206 and middle.content == setup_exe[100:200]
    last = http.get(url, headers={"Range": "bytes=200-"})
    assert last.status_code == 206 and last.content == setup_exe[200:]
    stats = wait_until(lambda: (c := counters(shop_a, "DL-RANGE"))["countCompleteDownload"] == 1 and c)
    assert stats["countStartDownload"] == 1  # one download, in three segments

    suffix = http.get(url, headers={"Range": "bytes=-10"})
    assert suffix.status_code == 206 and suffix.content == setup_exe[-10:]
    beyond = http.get(url, headers={"Range": f"bytes=5-{SIZE * 2}"})
    assert beyond.status_code == 206 and beyond.content == setup_exe[5:]
    several = http.get(url, headers={"Range": "bytes=0-1,10-11"})
    assert several.status_code == 206
    assert several.headers["content-type"].startswith("multipart/byteranges; boundary=")
    assert setup_exe[0:2] in several.content and setup_exe[10:12] in several.content
    # since the first complete: bytes 0-1 and 5 to the end, bytes 2-4 never sent
    stats = wait_until(lambda: (c := counters(shop_a, "DL-RANGE"))["countStartDownload"] == 2 and c)
    assert stats["countCompleteDownload"] == 1  # the multipart one began at byte 0, and completes nothing
    assert http.get(url, headers={"Range": "bytes=2-4"}).content == setup_exe[2:5]
    stats = wait_until(lambda: (c := counters(shop_a, "DL-RANGE"))["countCompleteDownload"] == 2 and c)
    assert stats["countStartDownload"] == 2


def test_if_range_that_does_not_match_sends_the_whole_file(
    shop_a: Merchant, http: httpx.Client, setup_exe: bytes
) -> None:
    order = new_order(shop_a, "DL-IFR", (1001, 1))
    reply = http.get(file_url(order), headers={"Range": "bytes=100-", "If-Range": '"an-older-version"'})
    assert reply.status_code == 200 and reply.content == setup_exe


@pytest.mark.parametrize(
    "header",
    [
        "bytes=abc",
        "bytes=5-2",
        "bytes=-0",
        f"bytes={SIZE}-",
        f"bytes={SIZE + 10}-{SIZE + 20}",
        "bytes=",
        "bytes=-",
        "bytes=0-1,,5-6",
        "items=0-1",
        "0-1",
        "bytes=1-2-3",
        "bytes=0x10-0x20",
        "bytes=99999999999999999999999-",
        ",".join(["bytes=0-0"] + ["1-1"] * 120),
    ],
)
def test_malformed_or_unsatisfiable_ranges_get_416_never_a_500(
    shop_a: Merchant, http: httpx.Client, setup_exe: bytes, header: str
) -> None:
    order = new_order(shop_a, "DL-416", (1001, 1))
    reply = http.get(file_url(order), headers={"Range": header})
    assert reply.status_code == 416, (header, reply.status_code, reply.text)
    assert reply.headers["content-range"] == f"bytes */{SIZE}"
    stats = counters(shop_a, "DL-416")
    assert (stats["countStartDownload"], stats["countCompleteDownload"]) == (0, 0)
    assert stats["dateFirstDownload"] is None


def test_head_answers_headers_and_counts_nothing(shop_a: Merchant, http: httpx.Client, setup_exe: bytes) -> None:
    order = new_order(shop_a, "DL-HEAD", (1001, 1))
    reply = http.head(file_url(order))
    assert reply.status_code == 200 and reply.content == b""
    assert reply.headers["content-length"] == str(SIZE)
    # a GET afterwards is the first thing counted
    assert http.get(file_url(order)).status_code == 200
    stats = wait_until(lambda: (c := counters(shop_a, "DL-HEAD"))["countCompleteDownload"] == 1 and c)
    assert stats["countStartDownload"] == 1


def test_tampered_links_are_403(shop_a: Merchant, http: httpx.Client, setup_exe: bytes) -> None:
    order = new_order(shop_a, "DL-403", (1001, 1), (1002, 1))
    url = file_url(order)
    _, _, token, file_id, signature = url.split("/")
    other_file = file_url(order, line=1).split("/")[3]
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    for forged in (
        f"/download/{token}/{file_id}/{flipped}",
        f"/download/{token}/{other_file}/{signature}",  # the signature binds the file to the line
        f"/download/{token[:-1]}x/{file_id}/{signature}",
        f"/download/{token}/{file_id}x/{signature}",
        f"/download/{token}/{int(file_id) + 1000}/{signature}",
    ):
        reply = http.get(forged)
        assert reply.status_code == 403, forged
        assert "not valid" in reply.text and "text/html" in reply.headers["content-type"]
    assert http.get(url).status_code == 200  # the real one works


def test_a_file_not_stored_yet_is_404(shop_a: Merchant, http: httpx.Client, setup_exe: bytes) -> None:
    order = new_order(shop_a, "DL-404", (1002, 1))  # 1002's file exists in the catalogue only
    assert http.get(file_url(order)).status_code == 404


def test_after_the_end_date_410_then_an_extension_reopens_the_same_link_at_once(
    shop_a: Merchant, http: httpx.Client, setup_exe: bytes, clock
) -> None:
    order = new_order(shop_a, "DL-410", (1001, 1))
    end = order["orderLines"][0]["dateEndDownload"]
    url = file_url(order)
    clock.advance(days=21)  # the last day is included
    assert clock.now.date().isoformat() == end
    assert http.get(url, headers={"Range": "bytes=0-0"}).status_code == 206
    clock.advance(days=1)
    gone = http.get(url)
    assert gone.status_code == 410
    assert "ended" in gone.text and end in gone.text
    extended = shop_a.call("PUT", "/order/download", {"partnerOrderNumber": "DL-410", "value": "P7D"}).json()
    assert extended["responseCode"] == 0
    again = http.get(url)
    assert again.status_code == 200 and again.content == setup_exe
    shop_a.call("PUT", "/order/download", {"partnerOrderNumber": "DL-410", "value": clock.now.date().isoformat()})
    assert http.get(url, headers={"Range": "bytes=0-0"}).status_code == 206  # today, included
    shop_a.call(
        "PUT",
        "/order/download",
        {"partnerOrderNumber": "DL-410", "value": (clock.now.date() - dt.timedelta(days=1)).isoformat()},
    )
    assert http.get(url).status_code == 410  # shortened: closed at once too


def test_a_cancelled_orders_links_are_410_saying_so(
    shop_a: Merchant, http: httpx.Client, setup_exe: bytes, clock
) -> None:
    order = new_order(shop_a, "DL-CANCEL", (1001, 1))
    url = file_url(order)
    metalink = path_of(order["downloadManager"]["pc"])
    assert http.get(url, headers={"Range": "bytes=0-0"}).status_code == 206
    clock.advance(days=1)
    assert (
        shop_a.call("PUT", "/order/cancel", {"partnerOrderNumber": "DL-CANCEL", "reasonCode": 2}).json()["responseCode"]
        == 0
    )
    for path in (url, metalink):
        reply = http.get(path)
        assert reply.status_code == 410, path
        assert "cancelled" in reply.text and clock.now.date().isoformat() in reply.text


def test_download_manager_points_at_a_metalink_of_every_file(
    ctx: Context, shop_a: Merchant, http: httpx.Client, setup_exe: bytes
) -> None:
    app_zip = attach(ctx, 1002, "app.zip", 4321)
    order = new_order(shop_a, "DL-META", (1001, 2), (1002, 1), (1090, 1))  # an option needs no files
    manager = order["downloadManager"]
    assert manager is not None and manager["pc"] == manager["mac"]
    assert order["orderLines"][0]["digitalLockerLink"] == f"http://resell.test/locker?order={order['orderNumber']}"
    reply = http.get(path_of(manager["pc"]))
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/metalink4+xml"
    root = etree.fromstring(reply.content, etree.XMLParser(resolve_entities=False, no_network=True))
    assert root.tag == f"{METALINK}metalink"
    assert root.findtext(f"{METALINK}published")
    entries = {
        f.get("name"): (
            int(f.findtext(f"{METALINK}size")),
            f.find(f"{METALINK}hash").get("type"),
            f.findtext(f"{METALINK}hash"),
            f.findtext(f"{METALINK}url"),
        )
        for f in root.findall(f"{METALINK}file")
    }
    assert set(entries) == {"setup.exe", "app.zip"}
    assert entries["setup.exe"][:3] == (SIZE, "sha-256", sha256(setup_exe))
    assert entries["app.zip"][:3] == (4321, "sha-256", sha256(app_zip))
    assert entries["setup.exe"][3] == order["orderLines"][0]["files"][0]["url"]
    for name, expected in (("setup.exe", setup_exe), ("app.zip", app_zip)):  # a download manager's next step
        assert http.get(path_of(entries[name][3])).content == expected
    assert http.get(path_of(manager["pc"]).replace(".meta4", "x.meta4")).status_code == 403


def test_download_manager_is_null_when_a_product_has_no_files(shop_a: Merchant, setup_exe: bytes) -> None:
    order = new_order(shop_a, "DL-NOMETA", (1001, 1), (1003, 1))  # 1003 is serial only
    assert order["downloadManager"] is None
    assert shop_a.call("GET", "/order/DL-NOMETA").json()["downloadManager"] is None
    assert new_order(shop_a, "DL-META2", (1001, 1))["downloadManager"] is not None


def test_concurrent_downloads_are_all_counted(shop_a: Merchant, server: str, setup_exe: bytes) -> None:
    order = new_order(shop_a, "DL-MANY", (1001, 1))
    url = file_url(order)
    results: list[bytes] = []

    def fetch() -> None:
        with httpx.Client(base_url=server, timeout=30) as client:
            results.append(client.get(url).content)

    threads = [threading.Thread(target=fetch) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [setup_exe] * 8
    stats = wait_until(lambda: (c := counters(shop_a, "DL-MANY"))["countCompleteDownload"] == 8 and c)
    assert stats["countStartDownload"] == 8


# ---------------------------------------------------------------- complete = every byte sent, across ranges


def served(ctx: Context, pon: str) -> str | None:
    """The byte spans recorded for the order's first file since its last complete ("" after a complete)."""
    with ctx.db.read() as conn:
        return conn.execute(
            select(download_stats.c.served_ranges)
            .join(order_lines, order_lines.c.id == download_stats.c.order_line_id)
            .join(orders, orders.c.id == order_lines.c.order_id)
            .where(orders.c.partner_order_number == pon)
        ).scalar()


def test_the_last_byte_alone_is_not_a_complete_download(
    ctx: Context, shop_a: Merchant, http: httpx.Client, setup_exe: bytes
) -> None:
    order = new_order(shop_a, "DL-LAST", (1001, 1))
    for header, first in (("bytes=-1", SIZE - 1), (f"bytes={SIZE - 1}-", SIZE - 1), (f"bytes={SIZE - 5}-", SIZE - 5)):
        reply = http.get(file_url(order), headers={"Range": header})
        assert reply.status_code == 206 and reply.content == setup_exe[first:]
    wait_until(lambda: served(ctx, "DL-LAST") == f"{SIZE - 5}-{SIZE}", what="the spans recorded")
    stats = counters(shop_a, "DL-LAST")
    assert (stats["countStartDownload"], stats["countCompleteDownload"]) == (0, 0)
    assert stats["dateLastDownload"] is not None  # bytes were served, just not the file


def test_ranges_that_together_cover_the_file_count_one_complete_in_any_order(
    ctx: Context, shop_a: Merchant, http: httpx.Client, setup_exe: bytes
) -> None:
    order = new_order(shop_a, "DL-COVER", (1001, 1))
    url = file_url(order)
    assert http.get(url, headers={"Range": "bytes=1000-"}).content == setup_exe[1000:]  # the end first
    assert http.get(url, headers={"Range": "bytes=10-499"}).content == setup_exe[10:500]
    wait_until(lambda: served(ctx, "DL-COVER") == f"10-500,1000-{SIZE}", what="the spans recorded")
    assert counters(shop_a, "DL-COVER")["countCompleteDownload"] == 0
    several = http.get(url, headers={"Range": "bytes=0-9,500-999"})  # the gaps, as multipart/byteranges
    assert several.status_code == 206 and several.headers["content-type"].startswith("multipart/byteranges")
    stats = wait_until(lambda: (c := counters(shop_a, "DL-COVER"))["countCompleteDownload"] == 1 and c)
    assert stats["countStartDownload"] == 1
    assert served(ctx, "DL-COVER") == ""  # the next download starts from nothing
    assert http.get(url, headers={"Range": "bytes=0-"}).content == setup_exe  # a whole file again
    wait_until(lambda: counters(shop_a, "DL-COVER")["countCompleteDownload"] == 2, what="the second complete")


def test_parallel_segments_count_one_complete(ctx: Context, shop_a: Merchant, server: str, setup_exe: bytes) -> None:
    order = new_order(shop_a, "DL-SEGMENTS", (1001, 1))
    url = file_url(order)
    quarter = SIZE // 4
    bounds = [(i * quarter, (i + 1) * quarter - 1 if i < 3 else SIZE - 1) for i in range(4)]
    parts: dict[int, bytes] = {}

    def fetch(first: int, last: int) -> None:
        with httpx.Client(base_url=server, timeout=30) as client:
            parts[first] = client.get(url, headers={"Range": f"bytes={first}-{last}"}).content

    threads = [threading.Thread(target=fetch, args=b) for b in bounds]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert b"".join(parts[first] for first, _ in bounds) == setup_exe
    stats = wait_until(lambda: (c := counters(shop_a, "DL-SEGMENTS"))["countCompleteDownload"] == 1 and c)
    assert stats["countStartDownload"] == 1
    assert served(ctx, "DL-SEGMENTS") == ""


def test_a_client_gone_mid_body_has_not_received_the_rest(
    ctx: Context, shop_a: Merchant, http: httpx.Client, world: World
) -> None:
    attach(ctx, 1002, "app.zip", BIG)
    order = new_order(shop_a, "DL-GONE", (1002, 1))
    url = file_url(order)
    with http.stream("GET", url) as reply:
        assert reply.status_code == 200
        for _chunk in reply.iter_raw():
            break  # the client reads a little and goes away
    spans = wait_until(lambda: served(ctx, "DL-GONE"), what="the bytes sent before the client left")
    first, _, last = spans.partition("-")
    assert first == "0" and 0 < int(last) < BIG  # what the connection took, not the whole file
    assert http.get(url, headers={"Range": f"bytes={BIG - 1_000_000}-"}).status_code == 206
    wait_until(lambda: served(ctx, "DL-GONE") != spans, what="the last megabyte recorded")
    assert counters(shop_a, "DL-GONE")["countCompleteDownload"] == 0
