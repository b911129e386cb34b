"""The SOAP surface: /global/{service}/v{version}/soap (api/soap/router.py). Its errors are SOAP 1.1
Faults: a body over the size limit is a Client Fault with HTTP 413, anything that escapes a handler
a Server Fault with HTTP 500 (an unknown path or method keeps FastAPI's 404 / 405)."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.datastructures import State
from starlette.requests import Request
from starlette.responses import Response

from resell.api.soap import codec, router
from resell.domain import codes
from resell.logs import get_logger

log = get_logger("resell.soap")

MOUNTS = ("/global",)


async def too_large(request: Request, text: str) -> Response:
    return Response(codec.fault(codec.Fault(text)), status_code=413, media_type=codec.CONTENT_TYPE)


async def internal_error(request: Request, exc: Exception) -> Response:
    log.exception("soap_internal_error", path=request.url.path, error=type(exc).__name__)
    request.state.response_code = codes.INTERNAL_ERROR
    fault = codec.Fault(codes.message_for(codes.INTERNAL_ERROR), code="Server")
    return Response(codec.fault(fault), status_code=500, media_type=codec.CONTENT_TYPE)


def create(state: State) -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state = state
    app.include_router(router.router)
    app.add_exception_handler(Exception, internal_error)
    return app
