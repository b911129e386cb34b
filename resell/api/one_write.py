"""uvicorn's HTTP protocol with a reply's writes joined into one socket write.

uvicorn writes a reply's status line and headers when the application sends them, then the body in
a write of its own: two `send` system calls per reply, each of which runs the kernel's whole
loopback or network path. A py-spy profile of a worker serving getStockStatus found 24% of its
interpreter's time in those two writes. Here the writes made in one turn of the event loop go out
together at the end of it: an application sends its headers and its body without waiting in
between, so a reply leaves in one write, a turn later (microseconds). Streamed bodies still stream:
each turn's chunks are one write.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class JoinedWrites:
    """A transport whose writes of one event-loop turn reach the real transport as one write.
    Everything else is the real transport's; closing it sends what is pending first."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop):
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(data)

    def _flush(self) -> None:
        if self._pending:
            data = b"".join(self._pending) if len(self._pending) > 1 else self._pending[0]
            self._pending.clear()
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class OneWriteHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol on a `JoinedWrites` transport (`resell serve`, uvicorn's `http`)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(JoinedWrites(transport, self.loop))  # type: ignore[arg-type]
