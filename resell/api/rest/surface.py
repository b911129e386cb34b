"""The REST surface: /connect (with /connect/webhooks and /connect/sandbox/clock) and /iam, and what the
server itself answers: the OpenAPI document with /docs and /redoc, /healthz, /readyz, /metrics, and
FastAPI's JSON 404 for any path no other surface owns. Errors are the JSON contract (api/errors.py)."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from starlette.datastructures import State
from starlette.responses import PlainTextResponse
from starlette.routing import BaseRoute
from starlette.types import ASGIApp

from resell import __version__
from resell.api import errors
from resell.api.rest import connect, iam, test_clocks, webhooks
from resell.api.rest.docs_ui import add_docs
from resell.api.rest.hot_path import HotPath
from resell.api.rest.observability import metrics_response
from resell.api.rest.openapi import build_openapi
from resell.api.rest.operation_docs import INTRODUCTION
from resell.api.shapes import JSONReply
from resell.config import Settings
from resell.services import health

MOUNTS = ("/connect", "/iam")

too_large = errors.too_large_for(connect.router.routes + webhooks.router.routes + test_clocks.router.routes)


def create(
    settings: Settings,
    state: State,
    documented: list[BaseRoute],
    fast_path: bool = True,
    startup: Sequence[Callable[[], None]] = (),
) -> ASGIApp:
    """`documented`: the other surfaces' routes that the OpenAPI document describes too (the feed);
    `startup`: what to call when the server starts (this app answers the lifespan of all surfaces)."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        for hook in startup:
            hook()
        # What the process built to start (modules, tables' metadata, routes: some 140,000 objects) lives
        # as long as it does. Frozen, the cyclic garbage collector no longer walks it in each full
        # collection: one every 1,000 to 2,000 createOrders, 90-110 ms of CPU (and of pause) each.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()  # collectable again once the server stops (tests start many in one process)

    app = FastAPI(
        lifespan=lifespan,
        title="resell Connect API",
        version=__version__,
        description=INTRODUCTION,
        default_response_class=JSONReply,
        docs_url=None,  # /docs and /redoc come from docs_ui: no CDN
        redoc_url=None,
    )
    app.state = state
    app.include_router(iam.router)
    app.include_router(connect.router)
    app.include_router(webhooks.router)
    app.include_router(test_clocks.router)
    add_docs(app)

    if not settings.metrics_bind:  # else `resell serve` serves /metrics on that address only: 404 here

        @app.get("/metrics", include_in_schema=False)
        def metrics(request: Request) -> PlainTextResponse:
            return metrics_response(state.ctx, request.headers.get("authorization"))

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        """Liveness: the process answers (it does not touch the database)."""
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    def readyz() -> JSONReply:
        """Readiness: the database answers a query (in the thread pool, as a sync endpoint); 503 if not."""
        problem = health.database_problem(state.ctx)
        if problem is not None:
            return JSONReply({"status": "unavailable", "database": problem}, status_code=503)
        return JSONReply({"status": "ready", "database": "ok"})

    errors.install(app)
    app.openapi = lambda: build_openapi(app, app.routes + documented)  # type: ignore[method-assign]
    if fast_path:  # in front of FastAPI's own middleware (its error pages, its telemetry): dispatch has its own
        return HotPath(app, routes=connect.router.routes, operations=connect.OPERATIONS)
    return app
