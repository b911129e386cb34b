"""The busiest /connect operations, answered without FastAPI's routing and dependency solving.

A merchant's shop calls getStockStatus, getCrossUpSell, createOrder, getOrderData and
getDownloadInfo far more than anything else. Through FastAPI each call pays about half a
millisecond of CPU before the handler runs (route matching across every router, then solving and
validating three dependencies), more than the handler and its queries together. This ASGI layer
matches those five routes first, with the routes' own matchers, and calls the same handler
functions with the same arguments the dependencies would give them: the caller (api/rest/deps.py),
the context and the JSON body. Errors map to the same replies as in the app (`error_reply`).
FastAPI still owns the routes: they are in the OpenAPI document, and any other path, or another
method on these paths, goes on to FastAPI untouched.

Reads run on the event loop (a few indexed queries, no thread hop); createOrder runs in the
thread pool, since it waits for its group commit to reach the disk.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from resell.api.rest.deps import authenticated, context_of, parse_json_object

ON_EVENT_LOOP = {"getStockStatus", "getCrossUpSell", "getOrderData", "getDownloadInfo"}
IN_THREAD_POOL = {"createOrder"}  # waits for a durable commit: must not hold the event loop


@dataclass(frozen=True)
class _Hot:
    route: BaseRoute
    handler: Callable[..., Any]
    wants_body: bool
    path_params: tuple[str, ...]
    in_thread_pool: bool


class HotPath:
    """ASGI middleware: the hot /connect routes of `routes` straight to their handlers."""

    def __init__(
        self,
        app: ASGIApp,
        routes: list[BaseRoute],
        error_reply: Callable[[Request, Exception], Awaitable[Response]],
    ):
        self.app = app
        self.error_reply = error_reply
        self.hot: list[_Hot] = []
        for route in routes:
            name = getattr(route, "name", None)
            if name in ON_EVENT_LOOP or name in IN_THREAD_POOL:
                handler = route.endpoint  # type: ignore[attr-defined]
                params = inspect.signature(handler).parameters
                self.hot.append(
                    _Hot(
                        route=route,
                        handler=handler,
                        wants_body="data" in params,
                        path_params=tuple(p for p in params if p not in ("who", "data", "ctx", "request")),
                        in_thread_pool=name in IN_THREAD_POOL,
                    )
                )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/connect/"):
            for hot in self.hot:
                match, child = hot.route.matches(scope)
                if match is Match.FULL:
                    scope.update(child)  # route and path_params, as Starlette's router sets them
                    request = Request(scope, receive)
                    response = await self._answer(hot, request)
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)

    async def _answer(self, hot: _Hot, request: Request) -> Response:
        try:
            kwargs: dict[str, Any] = {name: request.path_params[name] for name in hot.path_params}
            kwargs["ctx"] = ctx = context_of(request)
            raw = await request.body() if hot.wants_body else b""
            # as with the dependencies: the token answers first (401), then the body (400, 1030)
            if hot.in_thread_pool:
                kwargs["who"] = authenticated(request)
                if hot.wants_body:
                    kwargs["data"] = parse_json_object(raw)
                response: Response = await run_in_threadpool(hot.handler, **kwargs)
            else:
                with ctx.db.shared_read():  # authentication and the answer: one read transaction
                    kwargs["who"] = authenticated(request)
                    if hot.wants_body:
                        kwargs["data"] = parse_json_object(raw)
                    response = hot.handler(**kwargs)
            return response
        except Exception as exc:  # noqa: BLE001 - mapped exactly as the app's exception handlers map it
            return await self.error_reply(request, exc)
