"""Downloads from an S3 bucket (a real S3-protocol server, moto's): every test of test_downloads.py again,
on RESELL_STORAGE=s3, then what only a remote store has: ranged reads of bounded size, a missing
object, a store that cannot be reached."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from resell import storage as storage_module
from resell.config import Settings
from resell.services.context import Context
from resell.storage_s3 import S3Storage
from resell.web.downloads import CHUNK, WINDOW
from tests import s3_support
from tests.conftest import Merchant, World, settings_for
from tests.delivery_support import attach, sha256, wait_until
from tests.s3_support import Bucket
from tests.web.test_downloads import *  # noqa: F403 (the whole download suite, collected here again on S3)
from tests.web.test_downloads import BIG, SIZE, counters, file_url, new_order

moto_s3 = s3_support.moto_s3  # the session's S3 server
s3 = s3_support.s3  # the test's corner of its bucket


@pytest.fixture
def settings(tmp_path: Path, db_url: str, s3: Bucket) -> Settings:
    return settings_for(tmp_path, db_url, **s3.settings)


@pytest.fixture
def gets(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """The byte ranges the download endpoint asks of the bucket, one (start, end) per ranged GET."""
    asked: list[tuple[int, int]] = []
    real = S3Storage.open_range

    def recording(self: S3Storage, key: str, start: int, end: int):  # type: ignore[no-untyped-def]
        asked.append((start, end))
        return real(self, key, start, end)

    monkeypatch.setattr(S3Storage, "open_range", recording)
    return asked


def test_the_bytes_are_in_the_bucket_and_not_on_disk(ctx: Context, world: World, s3: Bucket) -> None:
    data = attach(ctx, 1002, "app.zip", BIG)  # more than one part: a multipart upload, then a copy
    digest = sha256(data)
    assert s3.keys() == [f"sha256/{digest[:2]}/{digest}"]  # no temporary key left behind
    assert s3.uploads_in_progress() == []
    assert s3.read(f"sha256/{digest[:2]}/{digest}") == data
    assert not ctx.settings.effective_files_dir.exists()
    attach(ctx, 1001, "setup.exe", 1000)  # one part: one PUT
    assert len(s3.keys()) == 2


def test_a_big_download_reads_the_object_in_bounded_ranges(
    ctx: Context, shop_a: Merchant, http: httpx.Client, world: World, gets: list[tuple[int, int]]
) -> None:
    data = attach(ctx, 1002, "app.zip", BIG)
    order = new_order(shop_a, "S3-BIG", (1002, 1))
    received = bytearray()
    with http.stream("GET", file_url(order)) as reply:
        assert reply.status_code == 200 and reply.headers["content-length"] == str(BIG)
        for chunk in reply.iter_bytes():
            received += chunk
    assert sha256(bytes(received)) == sha256(data)
    # never the whole object at once: consecutive windows of at most WINDOW bytes that tile the file
    assert len(gets) == BIG // WINDOW and all(end - start <= WINDOW for start, end in gets)
    assert [start for start, _ in gets] == [0] + [end for _, end in gets[:-1]] and gets[-1][1] == BIG
    stats = wait_until(lambda: (c := counters(shop_a, "S3-BIG"))["countCompleteDownload"] == 1 and c)
    assert stats["countStartDownload"] == 1

    gets.clear()  # a small range is one GET of exactly its bytes
    assert http.get(file_url(order), headers={"Range": "bytes=1000-1099"}).content == data[1000:1100]
    assert gets == [(1000, 1100)]
    gets.clear()  # a range of a few chunks: windows that stop at its end
    part = http.get(file_url(order), headers={"Range": f"bytes=1000-{WINDOW + 2_999_999}"})
    assert part.content == data[1000 : WINDOW + 3_000_000]
    assert gets == [(1000, WINDOW + 1000), (WINDOW + 1000, WINDOW + 3_000_000)]
    gets.clear()  # a suffix
    assert http.get(file_url(order), headers={"Range": "bytes=-10"}).content == data[-10:]
    assert gets == [(BIG - 10, BIG)]
    gets.clear()  # two ranges: one GET each
    several = http.get(file_url(order), headers={"Range": "bytes=0-9,5000000-5000009"})
    assert several.status_code == 206 and data[5_000_000:5_000_010] in several.content
    assert gets == [(0, 10), (5_000_000, 5_000_010)]
    gets.clear()  # HEAD reads nothing
    assert http.head(file_url(order)).headers["content-length"] == str(BIG)
    assert gets == []
    assert CHUNK < WINDOW


def test_an_object_missing_from_the_bucket_is_the_not_available_page(
    ctx: Context, shop_a: Merchant, http: httpx.Client, world: World, s3: Bucket
) -> None:
    data = attach(ctx, 1001, "setup.exe", SIZE)
    order = new_order(shop_a, "S3-MISSING", (1001, 1))
    assert http.get(file_url(order)).content == data
    digest = sha256(data)
    s3.delete(f"sha256/{digest[:2]}/{digest}")
    for headers in ({}, {"Range": "bytes=0-99"}):
        reply = http.get(file_url(order), headers=headers)
        assert reply.status_code == 404 and "text/html" in reply.headers["content-type"]
        assert "not available" in reply.text
    assert http.head(file_url(order)).status_code == 404
    stats = wait_until(lambda: (c := counters(shop_a, "S3-MISSING"))["countCompleteDownload"] == 1 and c)
    assert stats["countStartDownload"] == 1  # the first download only


def test_a_store_that_cannot_be_reached_is_a_503_page(
    ctx: Context, shop_a: Merchant, http: httpx.Client, world: World
) -> None:
    attach(ctx, 1001, "setup.exe", SIZE)
    order = new_order(shop_a, "S3-DOWN", (1001, 1))
    with socket_closed() as dead:
        ctx.settings.s3_endpoint_url = dead  # the app reads its storage from these settings at each download
        reply = http.get(file_url(order))
    assert reply.status_code == 503 and "text/html" in reply.headers["content-type"]
    assert "try again" in reply.text
    assert counters(shop_a, "S3-DOWN")["countStartDownload"] == 0


class socket_closed:
    """An address where nothing listens (a port bound, then freed)."""

    def __enter__(self) -> str:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        storage_module._s3.cache_clear()
