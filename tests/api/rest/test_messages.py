"""Refusals that say what to do, over real HTTP: the codes and keys of the contract, with messages that
name the expected value (the catalogue's currency, the allowed webhook events, the cancel reasons, the
orderDate form), and 401s whose WWW-Authenticate challenge (RFC 6750) tells a missing token from a
malformed, expired or revoked one while the body keeps the contract's fixed text."""

from __future__ import annotations

import httpx
import pytest

from resell.domain.webhooks import MERCHANT_EVENTS
from resell.services import iam
from resell.services.context import Context
from tests.conftest import Clock, Merchant, World, order_body

# Contract 2: the body of every bearer-token 401, whatever the cause.
JWT_INVALID = {"status": 401, "error": "Unauthorized", "message": "Authentication Failed: JWT token is not valid"}


def test_a_currency_other_than_the_catalogues_is_1021_naming_the_catalogues(shop_a: Merchant) -> None:
    reply = shop_a.call("POST", "/order/new", order_body("CUR-1", (1001, 1), currency="USD"))
    assert reply.status_code == 200
    assert reply.json() == {
        "partnerOrderNumber": "CUR-1",
        "orderNumber": None,
        "orderLines": [],
        "downloadManager": None,
        "responseCode": 1021,
        "responseMessage": "currency doesn't exist in this catalogue: it sells in EUR",
    }
    # the same merchant's USD catalogue names its own
    usd = shop_a.call("POST", "/order/new", order_body("CUR-2", (1001, 1)), secret=shop_a.creds.other_secret)
    assert usd.json()["responseMessage"] == "currency doesn't exist in this catalogue: it sells in USD"


@pytest.mark.parametrize("events", [["order.shipped"], ["stock.low"], "order.created,nope", [7]])
def test_webhook_events_not_valid_lists_the_allowed_events(shop_a: Merchant, events: object) -> None:
    reply = shop_a.call("POST", "/webhooks", {"url": "https://shop.example/hooks", "events": events})
    assert reply.status_code == 200
    body = reply.json()
    assert (body["responseCode"], body["id"], body["events"]) == (111, None, [])
    assert body["responseMessage"] == f"events not valid (allowed: {', '.join(MERCHANT_EVENTS)})"


@pytest.mark.parametrize("reason", [7, "x", 0, 1.5])
def test_a_bad_cancel_reason_lists_the_valid_ones(shop_a: Merchant, reason: object) -> None:
    assert shop_a.call("POST", "/order/new", order_body("CXL-1", (1001, 1))).status_code == 201
    reply = shop_a.call("PUT", "/order/cancel", {"partnerOrderNumber": "CXL-1", "reasonCode": reason})
    assert reply.status_code == 200
    assert reply.json() == {
        "partnerOrderNumber": "CXL-1",
        "orderNumber": None,
        "newDownloadEndDate": None,
        "responseCode": 101,
        "responseMessage": "reasonCode not valid: one of 2 (order cancelled), 3 (unsatisfied customer), "
        "4 (double order), 5 (product order), 6 (incompatible product), 16 (fraud / chargeback)",
    }
    # still cancellable with a good one
    assert shop_a.call("PUT", "/order/cancel", {"partnerOrderNumber": "CXL-1", "reasonCode": 3}).json()[
        "responseCode"
    ] == 0


@pytest.mark.parametrize("date", ["2026-11-28T10:00:00", "2026-11-28 10:00:00", "2026-11-28"])
def test_an_order_date_without_its_utc_offset_is_refused_141(shop_a: Merchant, date: str) -> None:
    reply = shop_a.call("POST", "/order/new", order_body("DATE-1", (1001, 1), orderDate=date))
    assert reply.status_code == 200
    assert (reply.json()["responseCode"], reply.json()["orderNumber"]) == (141, None)
    assert reply.json()["responseMessage"] == (
        "orderDate not valid: ISO 8601 with a UTC offset, e.g. 2026-11-30T14:03:00+01:00"
    )
    # nothing was created: the same number with an offset goes through
    fixed = shop_a.call("POST", "/order/new", order_body("DATE-1", (1001, 1), orderDate=date[:10] + "T10:00:00Z"))
    assert fixed.status_code == 201


# ---------------------------------------------------------------- 401: one body, four challenges


def _status(server: str, world: World, authorization: str | None) -> httpx.Response:
    headers = {"secret": world.a.secret} | ({"Authorization": authorization} if authorization is not None else {})
    return httpx.get(f"{server}/connect/status", headers=headers)


def _challenge(reply: httpx.Response) -> str:
    assert reply.status_code == 401
    assert reply.json() == JWT_INVALID  # the same status, keys and text for every kind
    return reply.headers["www-authenticate"]


@pytest.mark.parametrize("authorization", [None, "", "Basic dXNlcjpwdw==", "Bearer"])
def test_a_missing_token_gets_the_bare_bearer_challenge(server: str, world: World, authorization: str | None) -> None:
    """RFC 6750 3.1: a request without a token gets no error code."""
    assert _challenge(_status(server, world, authorization)) == 'Bearer realm="resell"'


@pytest.mark.parametrize(
    "token",
    [
        "not-a-jwt",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",  # well-formed, not signed by this server
    ],
)
def test_a_malformed_token_is_invalid_token(server: str, world: World, token: str) -> None:
    challenge = _challenge(_status(server, world, f"Bearer {token}"))
    assert challenge.startswith('Bearer realm="resell", error="invalid_token", error_description="')
    assert "malformed" in challenge


def test_a_refresh_token_used_as_access_token_is_malformed(shop_a: Merchant, server: str, world: World) -> None:
    tokens = shop_a.http.post(
        "/iam/tokens", json={"realmName": world.a.realm, "clientSecret": world.a.client_secret}
    ).json()
    assert "malformed" in _challenge(_status(server, world, f"Bearer {tokens['refresh_token']}"))


def test_an_expired_token_says_it_expired(shop_a: Merchant, server: str, world: World, clock: Clock) -> None:
    token = shop_a.token()
    assert _status(server, world, f"Bearer {token}").status_code == 200
    clock.advance(seconds=301)  # an access token lives 5 minutes
    challenge = _challenge(_status(server, world, f"Bearer {token}"))
    assert challenge.startswith('Bearer realm="resell", error="invalid_token", error_description="')
    assert "expired" in challenge and "POST /iam/tokens" in challenge


def test_a_token_first_seen_once_expired_says_it_expired(
    shop_a: Merchant, server: str, world: World, clock: Clock
) -> None:
    """Not yet verified by this process: PyJWT finds the expiry while checking the signature."""
    token = shop_a.token()
    clock.advance(seconds=301)
    iam._VERIFIED.clear()
    assert "expired" in _challenge(_status(server, world, f"Bearer {token}"))


def test_a_revoked_token_says_it_was_revoked(shop_a: Merchant, server: str, world: World, ctx: Context) -> None:
    token = shop_a.token()
    assert iam.revoke_all_tokens(ctx, world.a.realm)
    challenge = _challenge(_status(server, world, f"Bearer {token}"))
    assert 'error="invalid_token"' in challenge and "revoked" in challenge


@pytest.mark.parametrize("path", ["/connect/stock", "/connect/order/new", "/connect/order/X"])
def test_the_fast_path_answers_the_same_challenges(server: str, world: World, path: str) -> None:
    """The busiest operations are answered before FastAPI's routing (api/rest/hot_path.py): same 401."""
    method = "GET" if path == "/connect/order/X" else "POST"
    for authorization, expected in ((None, 'Bearer realm="resell"'), ("Bearer x.y.z", 'error="invalid_token"')):
        headers = {"secret": world.a.secret} | ({"Authorization": authorization} if authorization else {})
        reply = httpx.request(method, server + path, json={}, headers=headers)
        assert expected in _challenge(reply)


def test_reset_answers_the_same_challenges(server: str) -> None:
    missing = httpx.delete(f"{server}/iam/tokens/reset")
    assert _challenge(missing) == 'Bearer realm="resell"'
    malformed = httpx.delete(f"{server}/iam/tokens/reset", headers={"Authorization": "Bearer x.y.z"})
    assert 'error="invalid_token"' in _challenge(malformed)


def test_bad_sign_in_credentials_have_no_bearer_challenge(server: str, world: World) -> None:
    reply = httpx.post(f"{server}/iam/tokens", json={"realmName": world.a.realm, "clientSecret": "wrong"})
    assert reply.status_code == 401
    assert reply.json() == {"status": 401, "error": "Unauthorized", "message": "Authentication Failed: bad credentials"}
    assert "www-authenticate" not in reply.headers
