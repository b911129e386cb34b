"""The composition root: the one Context of a server process, and the surfaces it serves.

`create_app` builds the Context once (Context.from_settings, which the CLI and the worker use as
well, through resell/cli/support.py) and puts each surface on the paths it owns:

    /connect, /iam           REST (api/rest/surface.py), also the default surface: /openapi.json,
                             /docs, /redoc, /healthz, /readyz, /metrics and a JSON 404 for unknown paths
    /global                  SOAP (api/soap/surface.py)
    /flow                    the product feed (api/feed/surface.py)
    /locker, /download,      the end users' pages (web/surface.py)
    /metalink
    /admin                   the back office (web/admin/surface.py)

Each surface is an application of its own, with its own error rendering (JSON contract, SOAP
Faults, HTML pages); they share one `State` (the Context, the rate limiter). In front of all of
them, in this order: the request log and metrics (api/rest/observability.py) and the body limit
(api/body_limit.py), whose 413 the owning surface renders.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.datastructures import State
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from resell import logs
from resell.api.body_limit import BodyLimit, Refuse
from resell.api.feed import router as feed_router
from resell.api.feed import surface as feed
from resell.api.rest import surface as rest
from resell.api.rest.observability import RequestLogMiddleware, count_writer_batch
from resell.api.soap import surface as soap
from resell.config import Settings, get_settings
from resell.services.context import Context
from resell.web import surface as web
from resell.web.admin import surface as admin


@dataclass(frozen=True)
class Surface:
    mounts: tuple[str, ...]  # the paths it owns: each one exactly, and everything under it
    app: ASGIApp
    too_large: Refuse


class Surfaces:
    """ASGI: each request to the surface that owns its path (full path kept), else to `default`."""

    def __init__(self, surfaces: list[Surface], default: Surface):
        self.default = default
        self.mounts = [(mount, surface) for surface in surfaces for mount in surface.mounts]

    def owner(self, path: str) -> Surface:
        for mount, surface in self.mounts:
            if path.startswith(mount) and (len(path) == len(mount) or path[len(mount)] == "/"):
                return surface
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":  # the REST surface's FastAPI answers startup and shutdown
            await self.default.app(scope, receive, send)
            return
        await self.owner(scope["path"]).app(scope, receive, send)

    async def too_large(self, request: Request, text: str) -> Response:
        return await self.owner(request.scope["path"]).too_large(request, text)


def create_app(settings: Settings | None = None, ctx: Context | None = None, *, fast_path: bool = True) -> ASGIApp:
    """The server's ASGI application (`resell serve` runs it as a uvicorn factory). `fast_path=False`
    leaves every /connect call to FastAPI's router (tests compare both)."""
    settings = settings or get_settings()
    if not logs.is_configured():
        logs.configure(settings.log_level, settings.log_json)
    state = State()
    state.ctx = ctx or Context.from_settings(settings)
    state.ctx.db.observe_batches(count_writer_batch)  # SQLite writer's figures in /metrics
    startup = [lambda: admin.on_startup(state)]  # the dashboard's numbers read ahead (not in the CLI or worker)
    api = Surface(
        rest.MOUNTS, rest.create(settings, state, feed_router.router.routes, fast_path, startup), rest.too_large
    )
    surfaces = Surfaces(
        [
            api,
            Surface(soap.MOUNTS, soap.create(state), soap.too_large),
            Surface(feed.MOUNTS, feed.create(state), feed.too_large),
            Surface(web.MOUNTS, web.create(state), web.too_large),
            Surface(admin.MOUNTS, admin.create(state), admin.too_large),
        ],
        default=api,
    )
    limited = BodyLimit(
        surfaces,
        limit=settings.max_request_bytes,
        refuse=surfaces.too_large,
        paths={admin.IMPORT_PATH: settings.admin_import_max_bytes},  # the one path with a limit of its own
    )
    return RequestLogMiddleware(limited)
