"""What a REST handler needs before the service call: the context, the caller, the body
(api/rest/dispatch.py for /connect, the `context` dependency for /iam)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request

from resell.api.errors import MalformedBody
from resell.services import iam
from resell.services.context import Caller, Context


async def context(request: Request) -> Context:
    """async, like every dependency that does no I/O: a sync one would cost a thread hop per call."""
    return context_of(request)


def context_of(request: Request) -> Context:
    """The application's Context (set by create_app)."""
    return request.app.state.ctx


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def authenticated(request: Request) -> Caller:
    """Token first (401), then the catalogue secret (70, 71). Run on the event loop on SQLite: a
    cached signature check and one indexed query (services/iam.py), cheaper than a thread hop; in the
    thread pool on PostgreSQL, where the query may wait (api/rest/dispatch.py). The OpenAPI
    document describes the `secret` header (api/rest/openapi.py). The two headers are read in one pass
    over the raw ones (the first of each name, as `request.headers` would give it, without building it)."""
    authorization = secret = None
    for name, value in request.scope["headers"]:
        if name == b"authorization" and authorization is None:
            authorization = value.decode("latin-1")
        elif name == b"secret" and secret is None:
            secret = value.decode("latin-1")
    who = iam.authenticate(context_of(request), bearer_token(authorization), secret)
    request.state.merchant = who.realm
    return who


def parse_json_object(raw: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MalformedBody(str(exc)) from None
    if not isinstance(data, dict):
        raise MalformedBody("not a JSON object")
    return data
