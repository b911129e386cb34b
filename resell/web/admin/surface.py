"""The back office's application (/admin): its routes, its static files and its HTML error pages.

Mounted by resell/app.py:create_app as one Surface. Errors are pages with the status and one
sentence, never a trace; a missing session is a 303 to the sign-in form (kit.SignInFirst).
"""

from __future__ import annotations

from http import HTTPStatus
from importlib import resources

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.datastructures import State
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from resell.domain.codes import Refusal
from resell.logs import get_logger
from resell.services import dashboard as dashboard_numbers
from resell.web.admin import (
    account,
    catalogue_pages,
    dashboard,
    deliveries_pages,
    finance_pages,
    merchant_pages,
    orders,
    sign_in,
    staff_pages,
    stock_pages,
)
from resell.web.admin.kit import (
    SECURITY_HEADERS,
    Redirect,
    Refused,
    SignInFirst,
    bare_page,
    see_other,
    sign_in_location,
)

log = get_logger("resell.admin")

MOUNTS = ("/admin",)
# every page router of the back office: a new page module is one more entry here
ROUTERS = (
    sign_in.router,
    dashboard.router,
    account.router,
    staff_pages.router,
    orders.router,
    stock_pages.router,
    deliveries_pages.router,
    catalogue_pages.router,
    finance_pages.router,
    merchant_pages.router,
)
IMPORT_PATH = stock_pages.IMPORT_PATH  # the one path with a body limit of its own (resell/app.py)

_MESSAGES = {
    400: "The request could not be understood. Please go back and try again.",
    404: "There is no page at this address.",
    405: "This page cannot be used this way.",
    413: "The request is too large.",
}
STATIC = {
    "admin.css": "text/css; charset=utf-8",
    "admin.js": "text/javascript; charset=utf-8",
    "upload.js": "text/javascript; charset=utf-8",
}


def error_page(status: int, message: str | None = None, headers: dict[str, str] | None = None) -> Response:
    try:
        heading = HTTPStatus(status).phrase
    except ValueError:
        heading = "Error"
    if message is None:
        message = _MESSAGES.get(status, "This page is not available." if status < 500 else "Something went wrong.")
    return bare_page("error.html", status, headers, title=heading, heading=heading, message=message, status=status)


async def too_large(request: Request, text: str) -> Response:
    return error_page(413)


async def http_error(request: Request, exc: HTTPException) -> Response:
    return error_page(exc.status_code, headers=dict(exc.headers or {}))


async def bad_request(request: Request, exc: Exception) -> Response:
    return error_page(400)


async def refused(request: Request, exc: Refused) -> Response:
    return error_page(exc.status, exc.message)


async def sign_in_first(request: Request, exc: SignInFirst) -> Response:
    return see_other(sign_in_location(exc.next_path))


async def redirect(request: Request, exc: Redirect) -> Response:
    return see_other(exc.location)


async def internal_error(request: Request, exc: Exception) -> Response:
    log.exception("internal_error", path=request.url.path, error=type(exc).__name__)
    return error_page(500)


def static_file(name: str) -> Response:
    """The back office's own CSS and JavaScript (no CDN, no build)."""
    if name not in STATIC:
        return error_page(404)
    body = resources.files("resell.web.admin").joinpath("static", name).read_bytes()
    headers = {**SECURITY_HEADERS, "Cache-Control": "public, max-age=300"}
    return Response(body, media_type=STATIC[name], headers=headers)


def on_startup(state: State) -> None:
    """When the server starts: read the dashboard's common summaries in the background, so that the
    first page does not wait for them (resell/app.py calls it from the server's lifespan)."""
    dashboard_numbers.warm(state.ctx)


def create(state: State) -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state = state
    app.add_api_route("/admin/static/{name}", static_file, methods=["GET"], include_in_schema=False)
    for router in ROUTERS:
        app.include_router(router)
    app.add_exception_handler(SignInFirst, sign_in_first)  # type: ignore[arg-type]
    app.add_exception_handler(Redirect, redirect)  # type: ignore[arg-type]
    app.add_exception_handler(Refused, refused)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, bad_request)
    app.add_exception_handler(Refusal, bad_request)
    app.add_exception_handler(Exception, internal_error)
    return app
