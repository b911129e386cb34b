"""Signed download links: streaming with Range, counting, expiry (410), tampering (403); Metalink documents.

The bytes are served by Starlette's FileResponse (Content-Length, Range, multiple ranges, If-Range,
HEAD). Before it runs, the Range header is parsed strictly so that a malformed or unsatisfiable one
is answered 416, never 400 or 500. The response is wrapped to count starts and completes
(resell.services.downloads) from what was actually sent.
"""

from __future__ import annotations

import os
from email.utils import formatdate
from typing import Any

import anyio
from fastapi import APIRouter, Request
from starlette.datastructures import Headers
from starlette.responses import FileResponse, PlainTextResponse, RedirectResponse, Response
from starlette.types import Message, Receive, Scope, Send

from resell.domain.metalink import MEDIA_TYPE
from resell.domain.ranges import RangeNotSatisfiable, parse_range
from resell.logs import get_logger
from resell.services import downloads
from resell.services.context import Context
from resell.storage import get_storage
from resell.web.pages import page

router = APIRouter(include_in_schema=False)
log = get_logger("resell.downloads")

REDIRECT_TTL_SECONDS = 300


def refused(refusal: downloads.LinkRefused) -> Response:
    day = refusal.date.isoformat() if refusal.date else ""
    if refusal.reason == "expired":
        return page(
            "download_refused.html",
            410,
            heading="Download period ended",
            message=f"The download period of this order ended on {day}. The link no longer works.",
        )
    if refusal.reason == "cancelled":
        return page(
            "download_refused.html",
            410,
            heading="Order cancelled",
            message=f"This order was cancelled on {day}: its licences were revoked and its downloads stopped.",
        )
    if refusal.reason == "missing":
        return page(
            "download_refused.html",
            404,
            heading="File not available",
            message="This file is not available for download. Please try again later.",
        )
    return page(
        "download_refused.html",
        403,
        heading="Invalid download link",
        message="This download link is not valid. Please copy the whole link from your email or your locker.",
    )


class CountingFileResponse(FileResponse):
    """FileResponse that counts what it serves: a start when byte 0 goes out, a complete when the last does."""

    chunk_size = 1024 * 1024  # fewer thread hops per file than the 64 KiB default: faster on big files

    def __init__(self, ctx: Context, target: downloads.Download, ranges: list[tuple[int, int]] | None, **kw: Any):
        super().__init__(**kw)
        self.ctx = ctx
        self.target = target
        self.ranges = ranges

    def _classify(self, status: int, raw_headers: list[tuple[bytes, bytes]]) -> tuple[bool, bool]:
        """(serves byte 0, serves the last byte) of a 200 or 206 about to be sent."""
        size = self.target.size if self.stat_result is None else self.stat_result.st_size
        if status == 200:
            return True, True
        headers = Headers(raw=raw_headers)
        content_range = headers.get("content-range", "")
        if content_range.startswith("bytes ") and "-" in content_range:
            span = content_range[6:].split("/", 1)[0]
            first, _, last = span.partition("-")
            return int(first) == 0, int(last) == size - 1
        ranges = self.ranges or []  # multipart/byteranges: the ranges this request asked for
        return any(start == 0 for start, _ in ranges), any(end == size for _, end in ranges)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"].upper() != "GET":
            await super().__call__(scope, receive, send)
            return
        state = {"serving": False, "covers_end": False, "final": False, "gone": False}

        async def watched_receive() -> Message:
            message = await receive()
            if message["type"] == "http.disconnect" and not state["final"]:
                state["gone"] = True
            return message

        async def watched_send(message: Message) -> None:
            kind = message["type"]
            if kind == "http.response.start" and message["status"] in (200, 206):
                started, state["covers_end"] = self._classify(message["status"], message.get("headers", []))
                state["serving"] = True
                await anyio.to_thread.run_sync(
                    downloads.record, self.ctx, self.target.order_line_id, self.target.file_id, started, False
                )
            await send(message)
            last = kind == "http.response.pathsend" or (kind == "http.response.body" and not message.get("more_body"))
            if state["serving"] and last and not state["gone"]:
                state["final"] = True

        try:
            await super().__call__(scope, watched_receive, watched_send)
        finally:
            if state["final"] and state["covers_end"] and not state["gone"]:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(
                        downloads.record, self.ctx, self.target.order_line_id, self.target.file_id, False, True
                    )


@router.api_route("/download/{line_token}/{file_id}/{signature}", methods=["GET", "HEAD"], name="download")
def download(line_token: str, file_id: str, signature: str, request: Request) -> Response:
    ctx: Context = request.app.state.ctx
    try:
        target = downloads.resolve(ctx, line_token, file_id, signature)
    except downloads.LinkRefused as refusal:
        return refused(refusal)
    if target.storage_key is None:
        return refused(downloads.LinkRefused("missing"))
    storage = get_storage(ctx.settings)
    path = storage.local_path(target.storage_key)
    if path is None:  # a remote store: hand the client a short-lived URL of the object
        url = storage.redirect_url(target.storage_key, target.file_name, REDIRECT_TTL_SECONDS)
        if url is None:
            return refused(downloads.LinkRefused("missing"))
        if request.method == "GET":
            downloads.record(ctx, target.order_line_id, target.file_id, True, False)
        return RedirectResponse(url, status_code=302)
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        log.error("stored_file_missing", file_id=target.file_id, storage_key=target.storage_key)
        return refused(downloads.LinkRefused("missing"))
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
        path=path,
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
        return refused(refusal)
    return Response(
        document,
        media_type=MEDIA_TYPE,
        headers={
            "Content-Disposition": f'attachment; filename="order-{int(order_id)}.meta4"',
            "Cache-Control": "private, no-store",
        },
    )
