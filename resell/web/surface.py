"""The end users' pages: the digital locker (web/locker.py) and the download and Metalink links
(web/downloads.py), everything a browser opens from an order email. Their errors are HTML pages
with the status and one sentence, never a trace (web/pages.py: error_page)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.datastructures import State
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from resell.domain.codes import Refusal
from resell.logs import get_logger
from resell.web import downloads, locker
from resell.web.pages import error_page

log = get_logger("resell.web")

MOUNTS = ("/locker", "/download", "/metalink")


async def too_large(request: Request, text: str) -> Response:
    return error_page(request, 413)


async def http_error(request: Request, exc: HTTPException) -> Response:
    """404 (no such page), 405, a form that cannot be read (400) ..."""
    return error_page(request, exc.status_code, dict(exc.headers or {}))


async def bad_request(request: Request, exc: Exception) -> Response:
    return error_page(request, 400)


async def internal_error(request: Request, exc: Exception) -> Response:
    log.exception("internal_error", path=request.url.path, error=type(exc).__name__)
    return error_page(request, 500)


def create(state: State) -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state = state
    app.include_router(downloads.router)
    app.include_router(locker.router)
    app.add_exception_handler(HTTPException, http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, bad_request)
    app.add_exception_handler(Refusal, bad_request)
    app.add_exception_handler(Exception, internal_error)
    return app
