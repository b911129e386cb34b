"""The busiest /connect operations, answered before FastAPI's middleware, routing and dependency solving.

A merchant's shop calls getStockStatus, getCrossUpSell, createOrder, getOrderData and
getDownloadInfo far more than anything else (the operations declared `hot`, api/rest/connect.py).
Through FastAPI each call pays its middleware (error pages, telemetry), route matching across every
router, then solving and validating the endpoint's parameters, before the handler runs. This ASGI
layer, in front of the FastAPI application, matches those routes first, with
the routes' own matchers, and hands the request to `dispatch`, the one runner the FastAPI routes
call as well (api/rest/dispatch.py). FastAPI still owns the routes: they are in the OpenAPI
document, and any other path, or another method on these paths, goes on to FastAPI untouched.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.requests import Request
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from resell.api.rest.dispatch import Operation, dispatch


class HotPath:
    """ASGI middleware: the routes of the hot `operations` straight to `dispatch`."""

    def __init__(self, app: ASGIApp, routes: Iterable[BaseRoute], operations: Iterable[Operation]):
        self.app = app
        hot = {operation.name: operation for operation in operations if operation.hot}
        # with each route its methods (None: any): a route of another method could match PARTIAL at best,
        # and matching costs (getOrderData, the fourth hot route, would pay three matches for nothing)
        self.hot = [
            (getattr(route, "methods", None), route, hot[name])
            for route in routes
            if (name := getattr(route, "name", None)) in hot
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/connect/"):
            method = scope["method"]
            for methods, route, operation in self.hot:
                if methods is not None and method not in methods:
                    continue
                match, child = route.matches(scope)
                if match is Match.FULL:
                    scope.update(child)  # route and path_params, as Starlette's router sets them
                    scope["app"] = self.app  # the FastAPI application, whose state holds the Context
                    response = await dispatch(operation, Request(scope, receive))
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)
