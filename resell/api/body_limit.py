"""One limit on the size of every request body (REST, SOAP, /iam, pages), in front of every route.

Why here: the body of a request arrives before anyone is authenticated, so without a limit anybody
can make a process read 200 MB, or hold a connection open behind a declared 10 GB. This ASGI
middleware is the only place that limits it (setting `max_request_bytes`):

- a declared Content-Length over the limit is answered HTTP 413 at once, before any byte of the
  body is read, and the connection is closed;
- a body without a length (chunked) is read here, counted as it arrives, and answered 413 as soon
  as it passes the limit; under it, the app gets the body as one message;
- a body with a length under the limit goes through untouched: the server reads no more than the
  length says, so the app may still answer before reading it (a bad token gets its 401 first).

One path may have a limit of its own in place of the global one (`paths`, exact paths): the back
office's serial upload, whose files are larger than any API request (docs/limits.md).

The 413 reply speaks the caller's protocol: `refuse` asks the surface that owns the path to render
it (resell/app.py): a SOAP 1.1 Fault for the SOAP endpoints, an HTML page on the end users' pages,
elsewhere the JSON contract, where a /connect refusal carries every key of its operation's reply,
with responseCode 1030.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

Refuse = Callable[[Request, str], Awaitable[Response]]
"""Renders the 413 of a request, given the text that says why, in the protocol of its path."""


class BodyLimit:
    """ASGI middleware: HTTP 413 for a request body over `limit` bytes (or the limit of its path in
    `paths`), declared or counted."""

    def __init__(self, app: ASGIApp, limit: int, refuse: Refuse, paths: dict[str, int] | None = None):
        self.app = app
        self.limit = limit
        self.refuse = refuse
        self.paths = dict(paths or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.paths.get(scope["path"], self.limit)
        declared, chunked = 0, False
        for name, value in scope["headers"]:
            if name == b"content-length" and value.strip().isdigit():
                declared = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
        if declared > limit:
            await self._refuse(scope, receive, send, limit)
        elif chunked:  # framed by its chunks, whatever a Content-Length beside it says: counted here
            body = await self._read(receive, limit)
            if body is None:
                await self._refuse(scope, receive, send, limit)
            else:
                await self.app(scope, _replay(body, receive), send)
        else:  # no body, or one the server reads no further than its declared length
            await self.app(scope, receive, send)

    async def _read(self, receive: Receive, limit: int) -> bytes | None:
        """The whole body, or None as soon as it passes the limit (or the client goes away)."""
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response = await self.refuse(Request(scope, receive), f"the request is larger than {limit} bytes")
        response.headers["connection"] = "close"  # the rest of the body is never read
        await response(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that gives the body read already, then what the server says next (a disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
