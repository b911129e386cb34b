"""Signed download links: streaming with Range, counting, expiry (410), tampering (403); Metalink documents.

The bytes are served by Starlette's FileResponse (Content-Length, Range, multiple ranges, If-Range,
HEAD). Before it runs, the Range header is parsed strictly so that a malformed or unsatisfiable one
is answered 416, never 400 or 500. The response is wrapped to count starts and completes
(resell.services.downloads) from what was actually sent: the file bytes each body message carried,
counted once the connection took them while the client was still there.

From the local store FileResponse reads the file on disk. From a remote one (S3) it reads a
StoredObjectFile instead: the same seek/read calls, answered by ranged reads of the object a bounded
window at a time, in worker threads, so memory per download stays a few MiB whatever the file's size.
A missing object is the "not available" page (404), a store that cannot be reached a 503 page.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email.utils import formatdate
from stat import S_IFREG
from typing import Any

import anyio
from fastapi import APIRouter, Request
from starlette.datastructures import Headers
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.types import Message, Receive, Scope, Send

from resell.domain.metalink import MEDIA_TYPE
from resell.domain.ranges import RangeNotSatisfiable, parse_range
from resell.domain.request_fields import decimal_id
from resell.logs import get_logger
from resell.services import branding, downloads
from resell.services.context import Context
from resell.storage import FileStorage, ObjectMissing, RangeReader, StorageError, get_storage
from resell.web.pages import page

router = APIRouter(include_in_schema=False)
log = get_logger("resell.downloads")


def refused(request: Request, refusal: downloads.LinkRefused) -> Response:
    """The page of a link that does not open, in the order's language when the order is known."""
    status = {"expired": 410, "cancelled": 410, "missing": 404}.get(refusal.reason, 403)
    return page(
        request,
        "download_refused.html",
        status,
        order_language=refusal.language,
        reason=refusal.reason if status != 403 else "tampered",
        day=refusal.date,
        shop=branding.shop_for(request.app.state.ctx, refusal.order_id) if refusal.order_id is not None else None,
    )


CHUNK = 1024 * 1024  # what FileResponse reads at a time: fewer thread hops than its 64 KiB default
WINDOW = 8 * 1024 * 1024  # one ranged read of a remote object: at most this much asked of the store at once


class StoredObjectFile:
    """An object of a remote store, read the way FileResponse reads a file (seek, read, aclose).

    A read opens a ranged read of the store where none is open at that offset: exactly the bytes
    asked for when they are fewer than a chunk (FileResponse asks for less only at a range's end),
    else a window of at most WINDOW bytes, never past the end of the range being served (`ranges`,
    as the Range header asked them), read a chunk at a time; a seek elsewhere closes it.
    """

    def __init__(self, storage: FileStorage, key: str, size: int, ranges: list[tuple[int, int]] | None = None):
        self.storage = storage
        self.key = key
        self.size = size
        self.pos = 0
        self._ends = dict(ranges or [])  # where a range that starts at an offset ends
        self._limit = self._ends.get(0, size)
        self._reader: RangeReader | None = None
        self._reader_end = 0

    async def seek(self, offset: int) -> None:
        if offset != self.pos:
            await self.aclose()
            self.pos = offset
        self._limit = self._ends.get(offset, self.size)  # Starlette merges overlapping ranges: then the file's end

    async def read(self, n: int) -> bytes:
        return await anyio.to_thread.run_sync(self._read, n)

    def _read(self, n: int) -> bytes:
        out = bytearray()
        wanted = min(n, self.size - self.pos)
        while len(out) < wanted:
            left = wanted - len(out)
            if self._reader is None:
                span = left if left < CHUNK else max(left, WINDOW)
                self._reader_end = min(max(self._limit, self.pos + left), self.size, self.pos + span)
                self._reader = self.storage.open_range(self.key, self.pos, self._reader_end)
            data = self._reader.read(min(left, self._reader_end - self.pos))
            if not data:
                self._close()
                if self.pos < self._reader_end:
                    raise StorageError(f"{self.key}: the stored object is shorter than recorded")
                continue
            out += data
            self.pos += len(data)
            if self.pos >= self._reader_end:
                self._close()
        return bytes(out)

    def _close(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.close()

    async def aclose(self) -> None:
        if self._reader is not None:
            await anyio.to_thread.run_sync(self._close)


class CountingFileResponse(FileResponse):
    """FileResponse that counts what it serves: a start when it serves byte 0, and the byte spans it
    actually handed to the connection, from which resell.services.downloads counts completes.

    With `stored` it reads a remote object instead of `path` (through FileResponse's `_open_file`,
    which Starlette 1.10 uses for every read; `tests/web/test_downloads_s3.py` holds it to that)."""

    chunk_size = CHUNK

    def __init__(
        self,
        ctx: Context,
        target: downloads.Download,
        ranges: list[tuple[int, int]] | None,
        stored: StoredObjectFile | None = None,
        **kw: Any,
    ):
        super().__init__(**kw)
        self.ctx = ctx
        self.target = target
        self.ranges = ranges
        self.stored = stored

    @asynccontextmanager
    async def _open_file(self) -> AsyncIterator[Any]:
        if self.stored is None:
            async with super()._open_file() as file:
                yield file
            return
        try:
            yield self.stored
        finally:
            with anyio.CancelScope(shield=True):  # the store's connection is released even when cancelled
                await self.stored.aclose()

    @property
    def _size(self) -> int:
        return self.target.size if self.stat_result is None else self.stat_result.st_size

    def _first_byte(self, status: int, raw_headers: list[tuple[bytes, bytes]]) -> int | None:
        """Where the body's file bytes begin (0 for a 200, the Content-Range start for one range);
        None for multipart/byteranges, whose body interleaves part headers with the ranges."""
        if status == 200:
            return 0
        content_range = Headers(raw=raw_headers).get("content-range", "")
        if content_range.startswith("bytes ") and "-" in content_range:
            return decimal_id(content_range[6:].partition("-")[0])
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.stored is not None and "http.response.pathsend" in scope.get("extensions", {}):
            extensions = {k: v for k, v in scope["extensions"].items() if k != "http.response.pathsend"}
            scope = {**scope, "extensions": extensions}  # there is no path to hand the server
        if scope["method"].upper() != "GET":
            await super().__call__(scope, receive, send)
            return
        # first: where the bytes begin (None: multipart); sent: file bytes the connection took while
        # the client was there; final: the last message went out before the client went away
        state: dict[str, Any] = {"serving": False, "first": None, "sent": 0, "final": False, "gone": False}

        async def watched_receive() -> Message:
            message = await receive()
            if message["type"] == "http.disconnect" and not state["final"]:
                state["gone"] = True
            return message

        async def watched_send(message: Message) -> None:
            kind = message["type"]
            if kind == "http.response.start" and message["status"] in (200, 206):
                state["first"] = first = self._first_byte(message["status"], message.get("headers", []))
                starts_at_zero = first == 0 if first is not None else any(a == 0 for a, _ in self.ranges or [])
                state["serving"] = True
                await anyio.to_thread.run_sync(
                    downloads.record, self.ctx, self.target.order_line_id, self.target.file_id, starts_at_zero
                )
            await send(message)
            if not state["serving"] or state["gone"]:
                return
            if kind == "http.response.pathsend":  # the server sends the whole file itself
                state["sent"], state["final"] = self._size, True
            elif kind == "http.response.body":
                state["sent"] += len(message.get("body", b""))
                state["final"] = not message.get("more_body")

        try:
            await super().__call__(scope, watched_receive, watched_send)
        finally:
            if state["serving"]:
                with anyio.CancelScope(shield=True):
                    await self._record_served(state)

    async def _record_served(self, state: dict[str, Any]) -> None:
        """Hand the spans this response sent to the counters: one range or the whole file byte by byte
        as sent; multipart only when every part went out (its partial sends are counted as nothing)."""
        if state["first"] is not None:
            spans = [(state["first"], state["first"] + state["sent"])] if state["sent"] else []
        else:
            spans = list(self.ranges or []) if state["final"] and not state["gone"] else []
        if spans or (state["final"] and not state["gone"]):  # an empty file is complete once answered
            await anyio.to_thread.run_sync(downloads.record_served, self.ctx, self.target, self._size, spans)


@router.api_route("/download/{line_token}/{file_id}/{signature}", methods=["GET", "HEAD"], name="download")
def download(line_token: str, file_id: str, signature: str, request: Request) -> Response:
    ctx: Context = request.app.state.ctx
    try:
        target = downloads.resolve(ctx, line_token, file_id, signature)
    except downloads.LinkRefused as refusal:
        return refused(request, refusal)
    if target.storage_key is None:
        return refused(request, downloads.LinkRefused("missing"))
    storage = get_storage(ctx.settings)
    try:
        path = storage.local_path(target.storage_key)
        if path is not None:
            stat = os.stat(path)
        else:  # a remote store: its size and date, the bytes read range by range as they are sent
            info = storage.stat(target.storage_key)
            stat = os.stat_result(
                (S_IFREG | 0o600, 0, 0, 1, 0, 0, info.size, int(info.modified), int(info.modified), 0)
            )
    except (FileNotFoundError, ObjectMissing):
        log.error("stored_file_missing", file_id=target.file_id, storage_key=target.storage_key)
        return refused(request, downloads.LinkRefused("missing"))
    except StorageError as exc:
        log.error("file_storage_unavailable", file_id=target.file_id, storage_key=target.storage_key, error=str(exc))
        return page(request, "download_refused.html", 503, reason="unavailable", day=None)
    etag = f'"{target.sha256}"' if target.sha256 else None
    ranges = None
    range_header = request.headers.get("range")
    if_range = request.headers.get("if-range")
    range_applies = if_range is None or if_range in (etag, formatdate(stat.st_mtime, usegmt=True))
    if range_header is not None and range_applies:
        try:
            ranges = parse_range(range_header, stat.st_size)
        except RangeNotSatisfiable:
            return PlainTextResponse(
                "Range Not Satisfiable\n", status_code=416, headers={"Content-Range": f"bytes */{stat.st_size}"}
            )
    headers = {"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"}
    if etag:
        headers["ETag"] = etag
    return CountingFileResponse(
        ctx,
        target,
        ranges,
        None if path is not None else StoredObjectFile(storage, target.storage_key, stat.st_size, ranges),
        path=path if path is not None else target.storage_key,
        media_type=target.content_type,
        filename=target.file_name,
        stat_result=stat,
        headers=headers,
    )


@router.get("/metalink/{order_id}/{signature}.meta4", name="metalink")
def order_metalink(order_id: str, signature: str, request: Request) -> Response:
    ctx: Context = request.app.state.ctx
    try:
        document = downloads.metalink_document(ctx, order_id, signature)
    except downloads.LinkRefused as refusal:
        return refused(request, refusal)
    return Response(
        document,
        media_type=MEDIA_TYPE,
        headers={
            "Content-Disposition": f'attachment; filename="order-{int(order_id)}.meta4"',
            "Cache-Control": "private, no-store",
        },
    )
