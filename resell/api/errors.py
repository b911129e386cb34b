"""How the JSON surfaces (/connect, /iam, the feed) answer an error: the contract's reply.

A /connect operation's error carries every key of its reply (shapes.BLANK) with the responseCode;
elsewhere `{"responseCode", "responseMessage"}`; an /iam authentication failure is its own 401
shape. `install` registers the handlers on a surface's application; `dispatch` (api/rest/dispatch.py)
and the body limit call `error_reply` / `too_large` directly. Neutral (no api/rest/ import): the feed
installs the same handlers.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.responses import Response
from starlette.routing import BaseRoute, Match

from resell.api.body_limit import Refuse
from resell.api.shapes import BLANK, JSONReply, body, unauthorized
from resell.domain import codes
from resell.domain.codes import Refusal
from resell.logs import get_logger
from resell.services.iam import Unauthorized

log = get_logger("resell.api")


class MalformedBody(Exception):
    """Not JSON or not an object: HTTP 400 with responseCode 1030 (too large is 413, api/body_limit.py)."""


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
    """The reply to an exception that left a handler, its dependencies or `dispatch`."""
    if isinstance(exc, Unauthorized):
        return unauthorized(kind=exc.kind)
    if isinstance(exc, Refusal):
        return _reply(request, exc.code, 200)
    if isinstance(exc, MalformedBody | RequestValidationError):
        return _reply(request, codes.MALFORMED, 400, codes.MESSAGES[codes.MALFORMED])
    log.exception("internal_error", operation=_operation(request), error=type(exc).__name__)
    return _reply(request, codes.INTERNAL_ERROR, 500)


def too_large_for(routes: list[BaseRoute]) -> Refuse:
    """The 413 of a body over the limit (api/body_limit.py): HTTP 413, responseCode 1030, with the
    keys of the operation among `routes` that the request names."""

    async def too_large(request: Request, text: str) -> Response:
        for route in routes:
            match, child = route.matches(request.scope)
            if match is Match.FULL:
                request.scope.update(child)  # route and path_params, as the router would set them
                break
        return _reply(request, codes.MALFORMED, 413, text)

    return too_large


def install(app: FastAPI) -> None:
    """The JSON error replies on `app`; HTTP errors (404, 405) keep FastAPI's `{"detail": ...}`."""
    for error in (Unauthorized, Refusal, MalformedBody, RequestValidationError, Exception):
        app.add_exception_handler(error, error_reply)  # type: ignore[arg-type]
