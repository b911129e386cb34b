"""The ASGI application: routers, error mapping, request logs and metrics."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import PlainTextResponse, Response

from resell import __version__, logs
from resell.api.body_limit import BodyLimit, BodyTooLarge
from resell.api.feed import router as feed_router
from resell.api.rest import connect, downloads, iam, webhooks
from resell.api.rest.deps import MalformedBody
from resell.api.rest.docs_ui import add_docs
from resell.api.rest.hot_path import HotPath
from resell.api.rest.observability import RequestLogMiddleware, metrics_response
from resell.api.rest.openapi import build_openapi
from resell.api.rest.replies import BLANK, JSONReply, body
from resell.api.soap import router as soap_router
from resell.config import Settings, get_settings
from resell.domain import codes
from resell.domain.codes import Refusal
from resell.logs import get_logger
from resell.services.context import Context
from resell.services.iam import Unauthorized
from resell.web import locker
from resell.web.pages import error_page, serves_pages

log = get_logger("resell.api")


def _operation(request: Request) -> str | None:
    route = request.scope.get("route")
    name = getattr(route, "name", None)
    return name if name in BLANK else None


def _reply(request: Request, code: int, status: int, message: str | None = None) -> JSONReply:
    operation = _operation(request)
    request.state.response_code = code
    message = message or codes.message_for(code, operation)
    if operation is None:
        return JSONReply({"responseCode": code, "responseMessage": message}, status_code=status)
    return JSONReply(body(operation, code, message), status_code=status)


async def error_reply(request: Request, exc: Exception) -> Response:
    """The reply to an exception that left a handler or its dependencies (FastAPI's exception
    handlers and the hot path both answer with this): an HTML page on the end users' pages, the
    JSON contract everywhere else (SOAP answers its own faults)."""
    if serves_pages(request.url.path):
        return _page_error(request, exc)
    if isinstance(exc, Unauthorized):
        return iam.unauthorized()
    if isinstance(exc, Refusal):
        return _reply(request, exc.code, 200)
    if isinstance(exc, MalformedBody | RequestValidationError):
        return _reply(request, codes.MALFORMED, 400, codes.MESSAGES[codes.MALFORMED])
    if isinstance(exc, BodyTooLarge):
        return _reply(request, codes.MALFORMED, 413, str(exc))
    log.exception("internal_error", operation=_operation(request), error=type(exc).__name__)
    return _reply(request, codes.INTERNAL_ERROR, 500)


def _page_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, MalformedBody | RequestValidationError | Refusal):
        return error_page(400)
    log.exception("internal_error", path=request.url.path, error=type(exc).__name__)
    return error_page(500)


async def http_error(request: Request, exc: HTTPException) -> Response:
    """404 (no such route), 405 and the other HTTP errors: HTML on the end users' pages, FastAPI's JSON elsewhere."""
    if serves_pages(request.url.path):
        return error_page(exc.status_code, dict(exc.headers or {}))
    return await http_exception_handler(request, exc)


def create_app(settings: Settings | None = None, ctx: Context | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="resell Connect API",
        version=__version__,
        description="The reseller order API (Nexway Connect REST v3 compatible). See docs/ in the repository.",
        default_response_class=JSONReply,
        docs_url=None,  # /docs and /redoc come from docs_ui: no CDN
        redoc_url=None,
    )
    if not logs.is_configured():
        logs.configure(settings.log_level, settings.log_json)
    app.state.ctx = ctx or Context.from_settings(settings)
    app.include_router(iam.router)
    app.include_router(connect.router)
    app.include_router(webhooks.router)
    app.include_router(downloads.router)
    app.include_router(locker.router)
    app.include_router(soap_router.router)
    app.include_router(feed_router.router)
    add_docs(app)

    if not settings.metrics_bind:  # else `resell serve` serves /metrics on that address only: 404 here

        @app.get("/metrics", include_in_schema=False)
        def metrics(request: Request) -> PlainTextResponse:
            return metrics_response(app.state.ctx, request.headers.get("authorization"))

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    for error in (Unauthorized, Refusal, MalformedBody, RequestValidationError, Exception):
        app.add_exception_handler(error, error_reply)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, http_error)  # type: ignore[arg-type]

    app.add_middleware(HotPath, routes=connect.router.routes, error_reply=error_reply)
    # before any route reads a body; the /connect routes name the operation whose keys a 413 carries
    app.add_middleware(
        BodyLimit, limit=settings.max_request_bytes, routes=connect.router.routes, error_reply=error_reply
    )
    app.add_middleware(RequestLogMiddleware)
    app.openapi = lambda: build_openapi(app)  # type: ignore[method-assign]
    return app
