"""Ids in URLs, forms and cookies are ASCII digits: "²" or "٣" (which str.isdigit() accepts) is refused like
any other garbage, never a 500 (resell.domain.request_fields.decimal_id)."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest

from resell.domain.ranges import RangeNotSatisfiable, parse_range
from resell.domain.request_fields import decimal_id
from resell.services.context import Context
from tests.conftest import Merchant, World, order_body
from tests.delivery_support import attach

SUPERSCRIPT_TWO = "%C2%B2"  # "²": isdigit() but not int()
ARABIC_THREE = "%D9%A3"  # "٣": isdigit() and int() reads 3


@pytest.fixture
def order(ctx: Context, world: World, shop_a: Merchant) -> dict:
    attach(ctx, 1001, "setup.exe", 5000)
    reply = shop_a.call("POST", "/order/new", order_body("UNI-1", (1001, 1)))
    assert reply.status_code == 201, reply.text
    return reply.json()


def test_decimal_id_takes_ascii_digits_only() -> None:
    assert decimal_id("0042") == 42
    assert decimal_id("9" * 18) == 10**18 - 1
    for text in ("²", "٣", "1²", "", " 1", "1\n", "-1", "+1", "1_000", "9" * 19, "１"):
        assert decimal_id(text) is None, text


def test_a_range_with_other_digits_is_416() -> None:
    for header in ("bytes=٠-١", "bytes=-٣", "bytes=²-"):
        with pytest.raises(RangeNotSatisfiable):
            parse_range(header, 100)


@pytest.mark.parametrize("digit", [SUPERSCRIPT_TWO, ARABIC_THREE])
def test_download_and_metalink_links_refuse_unicode_digits(http: httpx.Client, order: dict, digit: str) -> None:
    token, _, signature = urlsplit(order["orderLines"][0]["files"][0]["url"]).path.split("/")[2:]
    metalink_signature = urlsplit(order["downloadManager"]["pc"]).path.split("/")[3]
    for path in (
        f"/metalink/{digit}/x.meta4",
        f"/metalink/{digit}/{metalink_signature}",
        f"/download/T/{digit}/S",
        f"/download/{token}/{digit}/{signature}",
    ):
        reply = http.get(path)
        assert reply.status_code == 403, (path, reply.status_code, reply.text[:200])
        assert "text/html" in reply.headers["content-type"]


@pytest.mark.parametrize("digit", ["²", "٣", "²" * 3])
def test_the_locker_sign_in_refuses_unicode_digits(http: httpx.Client, order: dict, digit: str) -> None:
    reply = http.post("/locker", data={"orderNumber": digit, "email": "buyer@example.com"})
    assert reply.status_code == 401 and "We could not find an order" in reply.text
    assert http.get("/locker", params={"order": digit}).status_code == 200


@pytest.mark.parametrize("digit", [b"\xb2", b"\xb9"])  # headers are read as latin-1: "²", "¹"
def test_a_locker_cookie_with_unicode_digits_is_no_session(http: httpx.Client, order: dict, digit: bytes) -> None:
    number = str(order["orderNumber"]).encode()
    for cookie in (digit + b".9999999999.sig", number + b"." + digit + b".sig", digit + number + b".1.x"):
        refused = http.get("/locker/order", headers={"Cookie": b"resell_locker=" + cookie})
        assert refused.status_code == 303 and refused.headers["location"] == "/locker", cookie


@pytest.mark.parametrize("digit", [SUPERSCRIPT_TWO, ARABIC_THREE])
def test_removing_a_webhook_by_a_unicode_digit_is_not_valid(shop_a: Merchant, digit: str) -> None:
    reply = shop_a.call("DELETE", f"/webhooks/{digit}")
    assert reply.status_code == 200
    assert reply.json() == {"id": None, "responseCode": 101, "responseMessage": "id not valid"}
