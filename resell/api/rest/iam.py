"""POST /iam/tokens and DELETE /iam/tokens/reset: merchant credentials in, JWTs out.

Token requests are throttled (resell.api.rate_limits; HTTP 429 with Retry-After, in the /iam
error shape): every attempt counts against the client address (RESELL_IAM_RATE_LIMIT_IP, generous),
and failed attempts (401) against the pair (realm, client address), with growing delays past
RESELL_SIGN_IN_BACKOFF_AFTER failures. Once an address has failed too often on a realm, every
attempt from it on that realm waits, the right secret included (else guessing would go on
unchecked); the merchant, from its own address, is not concerned, and a success forgets its own
failures.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import orjson
from fastapi import APIRouter, Depends, Header, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from resell.api import rate_limits, shapes
from resell.api.rest.deps import bearer_token, context
from resell.api.shapes import JSONReply, unauthorized
from resell.services import iam
from resell.services.context import Context

router = APIRouter(prefix="/iam", default_response_class=JSONReply, tags=["iam"])

# Keycloak-style clients send form fields in snake_case; the contract's JSON uses camelCase.
_ALIASES = {
    "client_secret": "clientSecret",
    "realm_name": "realmName",
    "realm": "realmName",
    "grant_type": "grantType",
    "refresh_token": "refreshToken",
}


def too_many_requests(wait: int) -> JSONReply:
    message = f"Too many token requests: retry in {wait} seconds"
    return shapes.error(429, "Too Many Requests", message, headers={"Retry-After": str(wait)})


def bad_request(message: str) -> JSONReply:
    return shapes.error(400, "Bad Request", message)


async def _credentials(request: Request) -> dict[str, Any] | None:
    raw = await request.body()
    if len(raw) > 64_000:
        return None
    if "application/x-www-form-urlencoded" in request.headers.get("content-type", ""):
        data: Any = dict(parse_qsl(raw.decode(errors="replace")))
    else:
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
    if not isinstance(data, dict):
        return None
    return {_ALIASES.get(str(k), str(k)): v for k, v in data.items()}


@router.post("/tokens", name="createToken", operation_id="createToken")
async def create_token(request: Request, ctx: Context = Depends(context)) -> Any:
    limiter = rate_limits.limiter(request)
    ip = rate_limits.client_ip(request)
    wait = limiter.hit(rate_limits.rule("iam-ip", ctx.settings.iam_rate_limit_ip), ip)
    if wait is not None:
        return too_many_requests(wait)
    data = await _credentials(request)
    if data is None:
        return bad_request("the body must be a JSON object with clientSecret, realmName and grantType")
    realm, client_secret = data.get("realmName"), data.get("clientSecret")
    grant = data.get("grantType") or "client_credentials"
    if not isinstance(realm, str) or not isinstance(client_secret, str) or not realm or not client_secret:
        return bad_request("realmName and clientSecret are required")
    backoff = rate_limits.sign_in_backoff("iam", ctx.settings)
    wait = limiter.delayed(backoff, realm, ip)
    if wait is not None:
        return too_many_requests(wait)

    try:
        if grant == "client_credentials":
            pair = await run_in_threadpool(iam.issue_tokens, ctx, realm, client_secret)
        elif grant == "refresh_token":
            refresh = data.get("refreshToken")
            if not isinstance(refresh, str) or not refresh:
                return bad_request("refreshToken is required with grantType refresh_token")
            pair = await run_in_threadpool(iam.refresh_tokens_grant, ctx, realm, client_secret, refresh)
        else:
            return bad_request("grantType must be client_credentials or refresh_token")
    except iam.Unauthorized:
        limiter.failed(backoff, realm, ip)
        return unauthorized("Authentication Failed: bad credentials")
    limiter.succeeded(backoff, realm, ip)
    request.state.merchant = realm
    return {
        "access_token": pair.access_token,
        "refresh_token": pair.refresh_token,
        "expires_in": pair.expires_in,
        "refresh_expires_in": pair.refresh_expires_in,
        "token_type": "Bearer",
        "session_state": pair.session_state,
    }


@router.delete("/tokens/reset", name="resetTokens", operation_id="resetTokens", status_code=204)
def reset_tokens(
    authorization: str | None = Header(None, include_in_schema=False), ctx: Context = Depends(context)
) -> Response:
    iam.reset_tokens(ctx, bearer_token(authorization))
    return Response(status_code=204)
