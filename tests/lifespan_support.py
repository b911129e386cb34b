"""An application's ASGI lifespan run in the test's own process: startup, something while it is up,
shutdown. Plain functions, no fixtures."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp


def start_and_stop(app: ASGIApp, while_up: Callable[[], None] = lambda: None) -> list[str]:
    """Start `app`, call `while_up()` once its startup has answered, stop it; the types of the
    messages it sent (["lifespan.startup.complete", "lifespan.shutdown.complete"] when all went well)."""

    async def run() -> list[str]:
        inbox: asyncio.Queue[dict[str, str]] = asyncio.Queue()
        sent: list[str] = []
        answered = asyncio.Event()

        async def send(message: Any) -> None:
            sent.append(message["type"])
            answered.set()

        await inbox.put({"type": "lifespan.startup"})
        task = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, inbox.get, send))
        await asyncio.wait_for(answered.wait(), 10)
        while_up()
        await inbox.put({"type": "lifespan.shutdown"})
        await asyncio.wait_for(task, 10)
        return sent

    return asyncio.run(run())
