"""Bearer tokens that must not open anything: each kind below, sent to every door that takes a
token (/connect reads and writes, webhooks, DELETE /iam/tokens/reset), gets HTTP 401 with the
contract's body, does nothing (no order created, nothing revoked), and the right token still works.

(Sign-in itself, refresh rotation and token lifetimes are in tests/api/rest/test_iam.py.)
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import func, select

from resell.db.tables import merchants, orders
from resell.services import iam
from resell.services.context import Context
from tests.conftest import Clock, MerchantCreds, World, order_body

JWT_INVALID = {"status": 401, "error": "Unauthorized", "message": "Authentication Failed: JWT token is not valid"}
OTHER_KEY = "another-key-" + "y" * 32


def sign_in(http: httpx.Client, creds: MerchantCreds) -> dict[str, Any]:
    body = {"clientSecret": creds.client_secret, "realmName": creds.realm, "grantType": "client_credentials"}
    reply = http.post("/iam/tokens", json=body)
    assert reply.status_code == 200, reply.text
    return reply.json()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(part: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def merchant_id(ctx: Context, realm: str) -> int:
    with ctx.db.read() as conn:
        return conn.execute(select(merchants.c.id).where(merchants.c.realm == realm)).scalar_one()


def claims_of(ctx: Context, realm: str, **overrides: Any) -> dict[str, Any]:
    """Claims shaped like the platform's access tokens; an override of None drops the claim."""
    now = int(ctx.now().timestamp())
    claims = {"sub": str(merchant_id(ctx, realm)), "realm": realm, "typ": "access", "iat": now, "gen": 0,
              "exp": now + 300, "jti": uuid.uuid4().hex, "sid": str(uuid.uuid4())}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def signed(ctx: Context, claims: dict[str, Any], key: str | None = None, alg: str = "HS256") -> str:
    return jwt.encode(claims, key or ctx.settings.effective_jwt_secret, algorithm=alg)


def unsigned(claims: dict[str, Any], alg: str = "none") -> str:
    return f"{b64url(json.dumps({'alg': alg, 'typ': 'JWT'}).encode())}.{b64url(json.dumps(claims).encode())}."


def edited(token: str, **changes: Any) -> str:
    """The token's payload changed, its header and signature kept."""
    header, payload, signature = token.split(".")
    return f"{header}.{b64url(json.dumps({**unb64(payload), **changes}).encode())}.{signature}"


# Each maker gets (http, ctx, world, clock) and answers the Authorization header to send (None: none).
Maker = Callable[[httpx.Client, Context, World, Clock], "str | None"]


def _expired(http: httpx.Client, ctx: Context, world: World, clock: Clock) -> str:
    token = sign_in(http, world.a)["access_token"]
    clock.advance(seconds=301)
    return f"Bearer {token}"


def _revoked_by_the_operator(http: httpx.Client, ctx: Context, world: World, clock: Clock) -> str:
    old = sign_in(http, world.a)["access_token"]
    assert iam.revoke_all_tokens(ctx, world.a.realm)
    return f"Bearer {old}"


def _fresh(http: httpx.Client, world: World) -> str:
    return sign_in(http, world.a)["access_token"]


KINDS: dict[str, dict[str, Maker]] = {
    "malformed": {
        "missing": lambda http, ctx, world, clock: None,
        "bearer-without-token": lambda http, ctx, world, clock: "Bearer",
        "garbage": lambda http, ctx, world, clock: "Bearer garbage",
        "three-garbage-parts": lambda http, ctx, world, clock: "Bearer a.b.c",
        "no-bearer-scheme": lambda http, ctx, world, clock: _fresh(http, world),
        "basic-scheme": lambda http, ctx, world, clock: "Basic c2hvcC1hOnNlY3JldA==",
    },
    "unsigned-or-other-algorithm": {
        "alg-none": lambda http, ctx, world, clock: "Bearer " + unsigned(claims_of(ctx, "shop-a")),
        "alg-None": lambda http, ctx, world, clock: "Bearer " + unsigned(claims_of(ctx, "shop-a"), "None"),
        "alg-NONE": lambda http, ctx, world, clock: "Bearer " + unsigned(claims_of(ctx, "shop-a"), "NONE"),
        "alg-none-pyjwt": lambda http, ctx, world, clock: "Bearer "
        + jwt.encode(claims_of(ctx, "shop-a"), None, algorithm="none"),
        "alg-none-header-on-a-real-token": lambda http, ctx, world, clock: "Bearer "
        + b64url(b'{"alg":"none","typ":"JWT"}') + "." + _fresh(http, world).split(".")[1] + ".",
        "alg-HS512-right-key": lambda http, ctx, world, clock: "Bearer "
        + signed(ctx, claims_of(ctx, "shop-a"), alg="HS512"),
    },
    "forged-or-edited": {
        "forged-wrong-key": lambda http, ctx, world, clock: "Bearer "
        + signed(ctx, claims_of(ctx, "shop-a"), OTHER_KEY),
        "signature-changed": lambda http, ctx, world, clock: "Bearer " + (t := _fresh(http, world))[:-2]
        + ("AA" if t[-2:] != "AA" else "BB"),
        "signature-stripped": lambda http, ctx, world, clock: "Bearer "
        + _fresh(http, world).rsplit(".", 1)[0] + ".",
        "realm-claim-edited": lambda http, ctx, world, clock: "Bearer " + edited(_fresh(http, world), realm="shop-b"),
        "sub-claim-edited": lambda http, ctx, world, clock: "Bearer "
        + edited(_fresh(http, world), sub=str(merchant_id(ctx, "shop-b")), realm="shop-b"),
        "gen-claim-edited": lambda http, ctx, world, clock: "Bearer " + edited(_fresh(http, world), gen=1),
        "typ-claim-edited": lambda http, ctx, world, clock: "Bearer "
        + edited(sign_in(http, world.a)["refresh_token"], typ="access"),
    },
    "bad-claims-right-key": {
        "typ-refresh": lambda http, ctx, world, clock: "Bearer " + signed(ctx, claims_of(ctx, "shop-a", typ="refresh")),
        "typ-missing": lambda http, ctx, world, clock: "Bearer " + signed(ctx, claims_of(ctx, "shop-a", typ=None)),
        "sub-unknown": lambda http, ctx, world, clock: "Bearer " + signed(ctx, claims_of(ctx, "shop-a", sub="999999")),
        "sub-text": lambda http, ctx, world, clock: "Bearer " + signed(ctx, claims_of(ctx, "shop-a", sub="a")),
        "sub-missing": lambda http, ctx, world, clock: "Bearer " + signed(ctx, claims_of(ctx, "shop-a", sub=None)),
        "exp-missing": lambda http, ctx, world, clock: "Bearer " + signed(ctx, claims_of(ctx, "shop-a", exp=None)),
        "exp-text": lambda http, ctx, world, clock: "Bearer " + signed(ctx, claims_of(ctx, "shop-a", exp="later")),
        "gen-missing": lambda http, ctx, world, clock: "Bearer " + signed(ctx, claims_of(ctx, "shop-a", gen=None)),
        "jti-missing": lambda http, ctx, world, clock: "Bearer " + signed(ctx, claims_of(ctx, "shop-a", jti=None)),
        "old-generation": lambda http, ctx, world, clock: "Bearer " + signed(ctx, claims_of(ctx, "shop-a", gen=-1)),
    },
    # these change state (the operator's revocation, the clock): the good token of the test is not expected to last
    "lifecycle": {
        "refresh-token-as-access": lambda http, ctx, world, clock: "Bearer "
        + sign_in(http, world.a)["refresh_token"],
        "revoked-by-the-operator": _revoked_by_the_operator,
        "expired": _expired,
        "expired-then-exp-claim-edited": lambda http, ctx, world, clock: "Bearer "
        + edited(_expired(http, ctx, world, clock)[7:], exp=2**40),
    },
}


def order_count(ctx: Context) -> int:
    with ctx.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(orders)).scalar_one())


def doors(http: httpx.Client, world: World) -> dict[str, Callable[[dict[str, str]], httpx.Response]]:
    """Every kind of door that takes a bearer token, each with A's right catalogue secret unless
    the headers given name another."""
    secret = {"secret": world.a.secret}
    return {
        "status": lambda h: http.get("/connect/status", headers={**secret, **h}),
        "getOrderData": lambda h: http.get("/connect/order/NONE", headers={**secret, **h}),
        "createOrder": lambda h: http.post("/connect/order/new", json=order_body("TOKEN-1", (1003, 1)),
                                           headers={**secret, **h}),
        "cancelOrder": lambda h: http.put("/connect/order/cancel", json={"partnerOrderNumber": "X", "reasonCode": 2},
                                          headers={**secret, **h}),
        "listWebhooks": lambda h: http.get("/connect/webhooks", headers={**secret, **h}),
        "addWebhook": lambda h: http.post("/connect/webhooks", json={"url": "https://x.example/h",
                                                                     "events": ["order.created"]},
                                          headers={**secret, **h}),
        "resetTokens": lambda h: http.delete("/iam/tokens/reset", headers=h),
    }


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")  # the HS512 token
@pytest.mark.parametrize("family", list(KINDS))
def test_a_bad_token_is_401_everywhere_and_does_nothing(
    family: str, http: httpx.Client, ctx: Context, world: World, clock: Clock
) -> None:
    """One test per family of bad tokens (each test pays for a fresh database and server)."""
    good = sign_in(http, world.a)
    before = order_count(ctx)
    for kind, make in KINDS[family].items():
        authorization = make(http, ctx, world, clock)
        headers = {} if authorization is None else {"Authorization": authorization}
        for door, call in doors(http, world).items():
            reply = call(headers)
            assert reply.status_code == 401, (kind, door, reply.text)
            assert reply.json() == JWT_INVALID, (kind, door)
    assert order_count(ctx) == before
    if family != "lifecycle":  # no refused reset revoked anything: a token issued before still works
        ok = http.get("/connect/status", headers={"Authorization": f"Bearer {good['access_token']}",
                                                  "secret": world.a.secret})
        assert ok.status_code == 200 and ok.json()["responseCode"] == 0, ok.text


def test_the_right_key_and_claims_do_open_the_doors(http: httpx.Client, ctx: Context, world: World) -> None:
    """Control for the table above: the claims helper makes tokens the server accepts, so each
    refusal above is due to the one thing changed."""
    token = signed(ctx, claims_of(ctx, "shop-a"))
    reply = http.get("/connect/status", headers={"Authorization": f"Bearer {token}", "secret": world.a.secret})
    assert reply.status_code == 200 and reply.json()["responseCode"] == 0


def test_a_revoked_or_unknown_token_cannot_reset(http: httpx.Client, ctx: Context, world: World) -> None:
    """A leaked token, revoked by the operator (`resell merchant revoke-tokens`), cannot reset and so
    revoke the refresh tokens the merchant got since."""
    leaked = sign_in(http, world.a)["access_token"]
    assert iam.revoke_all_tokens(ctx, world.a.realm)
    fresh = sign_in(http, world.a)  # the merchant signs in again after the revocation
    for token in (leaked, signed(ctx, claims_of(ctx, "shop-a", sub="999999"))):
        reply = http.delete("/iam/tokens/reset", headers={"Authorization": f"Bearer {token}"})
        assert reply.status_code == 401 and reply.json() == JWT_INVALID
    again = http.post("/iam/tokens", json={"clientSecret": world.a.client_secret, "realmName": world.a.realm,
                                           "grantType": "refresh_token", "refreshToken": fresh["refresh_token"]})
    assert again.status_code == 200, again.text


def test_a_token_whose_realm_claim_disagrees_with_its_subject_is_401(
    http: httpx.Client, ctx: Context, world: World
) -> None:
    token = signed(ctx, {**claims_of(ctx, "shop-a"), "realm": "shop-b"})
    reply = http.get("/connect/status", headers={"Authorization": f"Bearer {token}", "secret": world.a.secret})
    assert reply.status_code == 401 and reply.json() == JWT_INVALID


def test_a_token_of_b_with_a_catalogue_secret_of_a_is_71_and_reaches_nothing(
    http: httpx.Client, ctx: Context, world: World
) -> None:
    """Another realm: the token is good, the secret is not B's: 71 "secret not valid", before anything
    is read or written."""
    token_b = sign_in(http, world.b)["access_token"]
    before = order_count(ctx)
    for secret in (world.a.secret, world.a.other_secret):
        for door, call in doors(http, world).items():
            if door == "resetTokens":
                continue
            reply = call({"Authorization": f"Bearer {token_b}", "secret": secret})
            assert reply.status_code == 200, (door, reply.text)
            assert reply.json()["responseCode"] == 71 and reply.json()["responseMessage"] == "secret not valid", door
    assert order_count(ctx) == before
