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
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from resell.api.rest.dispatch import Operation, dispatch


class HotPath:
    """ASGI middleware: the routes of the hot `operations` straight to `dispatch`."""

    def __init__(self, app: ASGIApp, routes: Iterable[BaseRoute], operations: Iterable[Operation]):
        self.app = app
        hot = {operation.name: operation for operation in operations if operation.hot}
        # by method, the hot routes that take it, in the router's order: a request tries only those
        # (getOrderData, the fourth hot route, would otherwise pay three matches for nothing)
        self.hot: dict[str, list[tuple[Route, Operation]]] = {}
        for route in routes:
            if isinstance(route, Route) and route.name in hot:
                for method in route.methods or ():
                    self.hot.setdefault(method, []).append((route, hot[route.name]))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (path := scope["path"]).startswith("/connect/"):
            for route, operation in self.hot.get(scope["method"], ()):
                # the route's own pattern and converters, as Route.matches applies them, without the
                # generic matching around them (FastAPI's route context, partial matches, a child scope
                # to merge): 2% of a getStockStatus call (bench/hot_profile.py)
                found = route.path_regex.match(path)
                if found is None:
                    continue
                convert = route.param_convertors
                scope["endpoint"] = route.endpoint  # what Starlette's router sets
                scope["path_params"] = {name: convert[name].convert(value) for name, value in found.groupdict().items()}
                scope["route"] = route
                scope["app"] = self.app  # the FastAPI application, whose state holds the Context
                response = await dispatch(operation, Request(scope, receive))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
