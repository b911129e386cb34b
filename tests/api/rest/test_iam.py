"""POST /iam/tokens, DELETE /iam/tokens/reset and the two /connect credentials (bearer token,
catalogue `secret`), over real HTTP with raw httpx calls (no retry on 401).

Forged, tampered, unsigned, mistyped and revoked bearer tokens are in tests/security/test_tokens.py,
the scan for secrets stored in clear in tests/security/test_secrets_at_rest.py, token throttling
in tests/security/test_throttling.py."""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from resell.db.tables import merchants
from resell.services.context import Context
from tests.conftest import CliRun, Clock, MerchantCreds, World, order_body

JWT_INVALID = {"status": 401, "error": "Unauthorized",
               "message": "Authentication Failed: JWT token is not valid"}
TOKEN_KEYS = {"access_token", "refresh_token", "expires_in", "refresh_expires_in", "token_type",
              "session_state"}


# ---------------------------------------------------------------- helpers


def credentials(creds: MerchantCreds, **extra: Any) -> dict[str, Any]:
    return {"clientSecret": creds.client_secret, "realmName": creds.realm, "grantType": "client_credentials",
            **extra}


def sign_in(http: httpx.Client, creds: MerchantCreds) -> dict[str, Any]:
    reply = http.post("/iam/tokens", json=credentials(creds))
    assert reply.status_code == 200, reply.text
    return reply.json()


def refresh(http: httpx.Client, creds: MerchantCreds, refresh_token: str) -> httpx.Response:
    body = credentials(creds, grantType="refresh_token", refreshToken=refresh_token)
    return http.post("/iam/tokens", json=body)


def status(http: httpx.Client, token: str | None, secret: str | None) -> httpx.Response:
    headers = {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if secret is not None:
        headers["secret"] = secret
    return http.get("/connect/status", headers=headers)


def stock(http: httpx.Client, token: str | None, secret: str | None, body: Any = None) -> httpx.Response:
    headers = {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if secret is not None:
        headers["secret"] = secret
    content = json.dumps({"productRefs": [1001]} if body is None else body)
    headers["content-type"] = "application/json"
    return http.post("/connect/stock", content=content, headers=headers)


def assert_jwt_invalid(reply: httpx.Response) -> None:
    assert reply.status_code == 401, reply.text
    assert reply.json() == JWT_INVALID


def assert_bad_credentials(reply: httpx.Response) -> None:
    assert reply.status_code == 401, reply.text
    data = reply.json()
    assert set(data) == {"status", "error", "message"}
    assert data["status"] == 401 and data["error"] == "Unauthorized"
    assert isinstance(data["message"], str) and data["message"]
    assert "access_token" not in reply.text


def assert_status_ok(reply: httpx.Response) -> None:
    assert reply.status_code == 200, reply.text
    data = reply.json()
    assert data["responseCode"] == 0 and data["responseMessage"] == "OK"
    assert data["status"] == "UP"


# ---------------------------------------------------------------- POST /iam/tokens: client_credentials


def test_client_credentials_returns_exactly_the_token_reply(http: httpx.Client, world: World) -> None:
    reply = http.post("/iam/tokens", json=credentials(world.a))
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("application/json")
    data = reply.json()
    assert set(data) == TOKEN_KEYS
    assert data["token_type"] == "Bearer"
    assert data["expires_in"] == 300 and data["refresh_expires_in"] == 1800
    assert isinstance(data["session_state"], str) and data["session_state"]
    assert isinstance(data["access_token"], str) and data["access_token"].count(".") == 2
    assert isinstance(data["refresh_token"], str) and data["refresh_token"].count(".") == 2
    assert data["access_token"] != data["refresh_token"]
    assert_status_ok(status(http, data["access_token"], world.a.secret))


def test_each_sign_in_gives_a_new_session(http: httpx.Client, world: World) -> None:
    first, second = sign_in(http, world.a), sign_in(http, world.a)
    assert first["session_state"] != second["session_state"]
    assert first["access_token"] != second["access_token"]
    assert first["refresh_token"] != second["refresh_token"]


@pytest.mark.parametrize("realm_key", ["realm_name", "realm"])
def test_form_encoded_snake_case_body_works(http: httpx.Client, world: World, realm_key: str) -> None:
    reply = http.post("/iam/tokens", data={"client_secret": world.a.client_secret, realm_key: world.a.realm,
                                           "grant_type": "client_credentials"})
    assert reply.status_code == 200, reply.text
    data = reply.json()
    assert set(data) == TOKEN_KEYS
    assert_status_ok(status(http, data["access_token"], world.a.secret))


def test_form_encoded_refresh_grant_works(http: httpx.Client, world: World) -> None:
    pair = sign_in(http, world.a)
    form = {"client_secret": world.a.client_secret, "realm_name": world.a.realm,
            "grant_type": "refresh_token", "refresh_token": pair["refresh_token"]}
    reply = http.post("/iam/tokens", data=form)
    assert reply.status_code == 200, reply.text
    assert_status_ok(status(http, reply.json()["access_token"], world.a.secret))


@pytest.mark.parametrize(
    "case",
    ["wrong secret", "unknown realm", "other merchant's secret", "catalogue secret", "secret with a suffix"],
)
def test_bad_credentials_are_401(http: httpx.Client, world: World, case: str) -> None:
    body = {
        "wrong secret": credentials(world.a, clientSecret="not-the-secret"),
        "unknown realm": credentials(world.a, realmName="shop-unknown"),
        "other merchant's secret": credentials(world.a, clientSecret=world.b.client_secret),
        "catalogue secret": credentials(world.a, clientSecret=world.a.secret),
        "secret with a suffix": credentials(world.a, clientSecret=world.a.client_secret + "x"),
    }[case]
    assert_bad_credentials(http.post("/iam/tokens", json=body))


def test_unknown_realm_with_a_valid_secret_of_another_realm_is_401(http: httpx.Client, world: World) -> None:
    assert_bad_credentials(http.post("/iam/tokens", json=credentials(world.b, realmName="shop-c")))


def test_deactivated_merchant_gets_no_token_and_its_tokens_stop_working(
    http: httpx.Client, world: World, ctx: Context
) -> None:
    pair = sign_in(http, world.a)
    with ctx.db.write() as conn:
        conn.execute(update(merchants).where(merchants.c.realm == world.a.realm).values(active=False))
    assert_bad_credentials(http.post("/iam/tokens", json=credentials(world.a)))
    assert_jwt_invalid(status(http, pair["access_token"], world.a.secret))
    assert refresh(http, world.a, pair["refresh_token"]).status_code == 401
    assert_status_ok(status(http, sign_in(http, world.b)["access_token"], world.b.secret))


@pytest.mark.parametrize(
    "content",
    [b"", b"not json", b"{", b"[]", b'"text"', b"42", b"null", b'[{"realmName": "shop-a"}]'],
    ids=["empty", "text", "truncated", "array", "string", "number", "null", "array-of-object"],
)
def test_body_that_is_not_a_json_object_is_400(http: httpx.Client, world: World, content: bytes) -> None:
    reply = http.post("/iam/tokens", content=content, headers={"content-type": "application/json"})
    assert reply.status_code == 400, reply.text
    assert reply.json()["status"] == 400


@pytest.mark.parametrize(
    "drop, override",
    [
        ("clientSecret", {}),
        ("realmName", {}),
        (None, {"clientSecret": ""}),
        (None, {"realmName": ""}),
        (None, {"clientSecret": None}),
        (None, {"realmName": 42}),
        (None, {"clientSecret": ["x"]}),
    ],
)
def test_missing_or_mistyped_fields_are_400(
    http: httpx.Client, world: World, drop: str | None, override: dict[str, Any]
) -> None:
    body = credentials(world.a, **override)
    if drop:
        del body[drop]
    reply = http.post("/iam/tokens", json=body)
    assert reply.status_code == 400, reply.text
    assert "access_token" not in reply.text


def test_empty_object_and_empty_form_are_400(http: httpx.Client, world: World) -> None:
    assert http.post("/iam/tokens", json={}).status_code == 400
    form = {"content-type": "application/x-www-form-urlencoded"}
    assert http.post("/iam/tokens", content=b"", headers=form).status_code == 400
    reply = http.post("/iam/tokens", content=b"grant_type=client_credentials", headers=form)
    assert reply.status_code == 400


@pytest.mark.parametrize("grant", ["password", "authorization_code", "CLIENT_CREDENTIALS", "refresh"])
def test_unknown_grant_type_is_400(http: httpx.Client, world: World, grant: str) -> None:
    reply = http.post("/iam/tokens", json=credentials(world.a, grantType=grant))
    assert reply.status_code == 400, reply.text
    assert "access_token" not in reply.text


def test_refresh_grant_without_refresh_token_is_400(http: httpx.Client, world: World) -> None:
    reply = http.post("/iam/tokens", json=credentials(world.a, grantType="refresh_token"))
    assert reply.status_code == 400, reply.text


# ---------------------------------------------------------------- refresh_token grant


def test_refresh_gives_a_new_working_pair(http: httpx.Client, world: World) -> None:
    first = sign_in(http, world.a)
    reply = refresh(http, world.a, first["refresh_token"])
    assert reply.status_code == 200, reply.text
    second = reply.json()
    assert set(second) == TOKEN_KEYS and second["token_type"] == "Bearer"
    assert second["access_token"] != first["access_token"]
    assert second["refresh_token"] != first["refresh_token"]
    assert_status_ok(status(http, second["access_token"], world.a.secret))
    # the new refresh token is itself usable (rotation goes on)
    third = refresh(http, world.a, second["refresh_token"])
    assert third.status_code == 200, third.text
    assert_status_ok(status(http, third.json()["access_token"], world.a.secret))


def test_a_refresh_token_is_used_only_once(http: httpx.Client, world: World) -> None:
    pair = sign_in(http, world.a)
    assert refresh(http, world.a, pair["refresh_token"]).status_code == 200
    assert_bad_credentials(refresh(http, world.a, pair["refresh_token"]))


def test_a_replayed_refresh_token_revokes_its_whole_family(http: httpx.Client, world: World) -> None:
    """A used refresh token presented again (stolen, or used by a thief first) is refused and revokes
    every refresh token descended from the same sign-in, the newest included; other sign-ins of the
    client are not concerned, and the access tokens live out their minutes."""
    first = sign_in(http, world.a)
    other = sign_in(http, world.a)  # another sign-in: another family
    second = refresh(http, world.a, first["refresh_token"]).json()
    third = refresh(http, world.a, second["refresh_token"]).json()
    assert first["session_state"] == second["session_state"] == third["session_state"] != other["session_state"]

    assert_bad_credentials(refresh(http, world.a, first["refresh_token"]))  # the replay
    assert_bad_credentials(refresh(http, world.a, third["refresh_token"]))  # the newest of the family
    assert_bad_credentials(refresh(http, world.a, second["refresh_token"]))
    assert refresh(http, world.a, other["refresh_token"]).status_code == 200
    assert_status_ok(status(http, third["access_token"], world.a.secret))


def test_concurrent_uses_of_one_refresh_token_succeed_once(
    http: httpx.Client, world: World, server: str
) -> None:
    pair = sign_in(http, world.a)
    results: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(6)

    def use() -> None:
        with httpx.Client(base_url=server, timeout=30) as client:
            start.wait()
            code = refresh(client, world.a, pair["refresh_token"]).status_code
        with lock:
            results.append(code)

    threads = [threading.Thread(target=use) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200] + [401] * 5


def test_access_token_is_refused_as_refresh_token(http: httpx.Client, world: World) -> None:
    pair = sign_in(http, world.a)
    assert_bad_credentials(refresh(http, world.a, pair["access_token"]))
    # and the real refresh token is still good afterwards
    assert refresh(http, world.a, pair["refresh_token"]).status_code == 200


def test_refresh_token_of_another_merchant_is_refused(http: httpx.Client, world: World) -> None:
    pair_b = sign_in(http, world.b)
    assert_bad_credentials(refresh(http, world.a, pair_b["refresh_token"]))
    # the attempt did not use up merchant B's refresh token
    assert refresh(http, world.b, pair_b["refresh_token"]).status_code == 200


def test_refresh_needs_the_client_secret(http: httpx.Client, world: World) -> None:
    pair = sign_in(http, world.a)
    body = credentials(world.a, clientSecret="wrong", grantType="refresh_token",
                       refreshToken=pair["refresh_token"])
    assert_bad_credentials(http.post("/iam/tokens", json=body))
    assert refresh(http, world.a, pair["refresh_token"]).status_code == 200


@pytest.mark.parametrize("token", ["garbage", "a.b.c", ""], ids=["garbage", "three-parts", "blank"])
def test_malformed_refresh_token_is_401_or_400(http: httpx.Client, world: World, token: str) -> None:
    reply = refresh(http, world.a, token)
    if token:
        assert_bad_credentials(reply)
    else:
        assert reply.status_code == 400


def test_refresh_token_expires(http: httpx.Client, world: World, clock: Clock) -> None:
    early, late = sign_in(http, world.a), sign_in(http, world.a)
    clock.advance(seconds=1799)
    assert refresh(http, world.a, early["refresh_token"]).status_code == 200
    clock.advance(seconds=2)
    assert_bad_credentials(refresh(http, world.a, late["refresh_token"]))


# ---------------------------------------------------------------- DELETE /iam/tokens/reset


def test_reset_revokes_refresh_tokens_only_and_the_collection_goes_on_with_its_access_token(
    http: httpx.Client, world: World, cli: CliRun
) -> None:
    """Nexway's example collection: get token, "Invalidate token", then every other call with the same
    access token (docs/architecture.md, "Tokens"). The refresh tokens issued before are refused; the operator's
    `resell merchant revoke-tokens` is what ends the access token."""
    pair = sign_in(http, world.a)
    spare = sign_in(http, world.a)  # another session of the same client
    bearer = {"Authorization": f"Bearer {pair['access_token']}"}
    reply = http.delete("/iam/tokens/reset", headers=bearer)
    assert reply.status_code == 204, reply.text
    assert reply.content == b""

    headers = {**bearer, "secret": world.a.secret}
    pon = "COLLECTION-1"

    def ok(reply: httpx.Response, status_code: int = 200, key: str = "responseCode") -> dict[str, Any]:
        assert reply.status_code == status_code, reply.text
        data = reply.json()
        assert data[key] == 0, data
        return data  # type: ignore[no-any-return]

    ok(http.post("/connect/stock", json={"productRefs": [1001, 1005]}, headers=headers))
    cart = {"language": "EN", "products": [{"productRef": 1001, "quantity": 1}]}
    ok(http.post("/connect/order/crossupsell", json=cart, headers=headers))
    created = ok(http.post("/connect/order/new", json=order_body(pon, (1001, 1), (1005, 1)), headers=headers), 201)
    ok(http.get(f"/connect/order/{pon}", headers=headers))
    ok(http.get(f"/connect/order/{pon}/download", headers=headers))
    ok(http.put("/connect/order/download", json={"partnerOrderNumber": pon, "value": "P7D"}, headers=headers))
    ok(http.put("/connect/order/cancel", json={"partnerOrderNumber": pon, "reasonCode": 3}, headers=headers))
    (subscription_id,) = [item["subscriptionId"] for line in created["orderLines"] for item in line["lineItems"]
                          if item["subscriptionId"] is not None]
    ok(http.post("/connect/subscription", json={"partnerOrderNumber": pon, "subscriptionId": subscription_id},
                 headers=headers), key="code")
    assert_status_ok(status(http, spare["access_token"], world.a.secret))

    # the refresh tokens issued before the reset are refused; a new sign-in works as usual
    assert_bad_credentials(refresh(http, world.a, pair["refresh_token"]))
    assert_bad_credentials(refresh(http, world.a, spare["refresh_token"]))
    new = sign_in(http, world.a)
    again = refresh(http, world.a, new["refresh_token"])
    assert again.status_code == 200, again.text

    # the operator's emergency revocation ends every token of the client at once, and only its
    run = cli("merchant", "revoke-tokens", world.a.realm)
    assert run.exit_code == 0, run.output
    b = sign_in(http, world.b)
    for token in (pair["access_token"], spare["access_token"], again.json()["access_token"]):
        assert_jwt_invalid(status(http, token, world.a.secret))
        assert_jwt_invalid(http.delete("/iam/tokens/reset", headers={"Authorization": f"Bearer {token}"}))
    assert_bad_credentials(refresh(http, world.a, again.json()["refresh_token"]))
    assert_status_ok(status(http, b["access_token"], world.b.secret))
    assert_status_ok(status(http, sign_in(http, world.a)["access_token"], world.a.secret))


def test_revoke_tokens_names_an_existing_merchant(cli: CliRun, world: World) -> None:
    run = cli("merchant", "revoke-tokens", "no-such-shop")
    assert run.exit_code == 1 and "no merchant 'no-such-shop'" in run.output


def test_reset_touches_only_the_callers_client(http: httpx.Client, world: World, clock: Clock) -> None:
    a, b = sign_in(http, world.a), sign_in(http, world.b)
    clock.advance(seconds=1)
    reply = http.delete("/iam/tokens/reset", headers={"Authorization": f"Bearer {a['access_token']}"})
    assert reply.status_code == 204
    assert_status_ok(status(http, b["access_token"], world.b.secret))
    assert refresh(http, world.b, b["refresh_token"]).status_code == 200


def test_reset_refuses_a_refresh_token_as_bearer(http: httpx.Client, world: World) -> None:
    pair = sign_in(http, world.a)
    reply = http.delete("/iam/tokens/reset", headers={"Authorization": f"Bearer {pair['refresh_token']}"})
    assert_jwt_invalid(reply)
    assert refresh(http, world.a, pair["refresh_token"]).status_code == 200


# ---------------------------------------------------------------- /connect: the bearer token


@pytest.fixture(params=["status", "stock"])
def connect_call(request: pytest.FixtureRequest, http: httpx.Client):  # type: ignore[no-untyped-def]
    """GET /connect/status or POST /connect/stock with the given token and secret."""
    if request.param == "status":
        return lambda token, secret: status(http, token, secret)
    return lambda token, secret: stock(http, token, secret)


def test_good_token_and_secret_are_accepted(http: httpx.Client, world: World) -> None:
    token = sign_in(http, world.a)["access_token"]
    assert_status_ok(status(http, token, world.a.secret))
    reply = stock(http, token, world.a.secret)
    assert reply.status_code == 200, reply.text
    data = reply.json()
    assert data["responseCode"] == 0
    assert [p["productRef"] for p in data["productStatus"]] == [1001]
    # the merchant's second catalogue is selected by its own secret
    assert_status_ok(status(http, token, world.a.other_secret))


def test_no_token_and_no_secret_is_401_not_70(connect_call, world: World) -> None:  # type: ignore[no-untyped-def]
    assert_jwt_invalid(connect_call(None, None))


def test_token_is_checked_before_the_body(http: httpx.Client, world: World) -> None:
    reply = http.post("/connect/stock", content=b"not json", headers={"secret": world.a.secret})
    assert_jwt_invalid(reply)


def test_expired_token_is_401(connect_call, http: httpx.Client, world: World, clock: Clock) -> None:  # type: ignore[no-untyped-def]
    token = sign_in(http, world.a)["access_token"]
    clock.advance(seconds=299)
    assert connect_call(token, world.a.secret).json()["responseCode"] == 0
    clock.advance(seconds=2)
    assert_jwt_invalid(connect_call(token, world.a.secret))


def test_token_expires_exactly_at_expires_in(http: httpx.Client, world: World, clock: Clock) -> None:
    token = sign_in(http, world.a)["access_token"]
    clock.advance(seconds=300)
    assert_jwt_invalid(status(http, token, world.a.secret))


# ---------------------------------------------------------------- /connect: the catalogue secret


@pytest.mark.parametrize("secret", [None, ""], ids=["absent", "empty"])
def test_missing_secret_is_70(connect_call, http: httpx.Client, world: World, secret: str | None) -> None:  # type: ignore[no-untyped-def]
    token = sign_in(http, world.a)["access_token"]
    reply = connect_call(token, secret)
    assert reply.status_code == 200, reply.text
    data = reply.json()
    assert data["responseCode"] == 70
    assert data["responseMessage"] == "secret is missing"


def test_missing_secret_reply_keeps_all_keys(http: httpx.Client, world: World) -> None:
    token = sign_in(http, world.a)["access_token"]
    assert status(http, token, None).json() == {"status": None, "version": None, "time": None,
                                                 "responseCode": 70, "responseMessage": "secret is missing"}
    assert stock(http, token, None).json() == {"productStatus": [], "responseCode": 70,
                                               "responseMessage": "secret is missing"}


@pytest.mark.parametrize("which", ["unknown", "client secret", "other merchant EUR", "other merchant USD"])
def test_unknown_or_foreign_secret_is_71(connect_call, http: httpx.Client, world: World, which: str) -> None:  # type: ignore[no-untyped-def]
    secret = {
        "unknown": "no-such-secret",
        "client secret": world.a.client_secret,
        "other merchant EUR": world.b.secret,
        "other merchant USD": world.b.other_secret,
    }[which]
    token = sign_in(http, world.a)["access_token"]
    reply = connect_call(token, secret)
    assert reply.status_code == 200, reply.text
    data = reply.json()
    assert data["responseCode"] == 71
    assert data["responseMessage"] == "secret not valid"


def test_foreign_secret_is_71_both_ways(http: httpx.Client, world: World) -> None:
    token_a, token_b = sign_in(http, world.a)["access_token"], sign_in(http, world.b)["access_token"]
    assert status(http, token_a, world.b.secret).json()["responseCode"] == 71
    assert status(http, token_b, world.a.secret).json()["responseCode"] == 71
    assert_status_ok(status(http, token_b, world.b.secret))


def test_bad_token_wins_over_bad_secret(http: httpx.Client, world: World, clock: Clock) -> None:
    token = sign_in(http, world.a)["access_token"]
    clock.advance(seconds=400)
    assert_jwt_invalid(status(http, token, "no-such-secret"))
    assert_jwt_invalid(status(http, token, None))
