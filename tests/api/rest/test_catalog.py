"""getStockStatus, getCrossUpSell, getCategories and getOperatingSystems over real HTTP."""

from __future__ import annotations

import time
from typing import Any

import pytest

from resell.config import Settings
from tests.conftest import Merchant, World, order_body

STOCK_KEYS = {"productStatus", "responseCode", "responseMessage"}
STOCK_ITEM_KEYS = {"productRef", "status", "responseCode", "responseMessage"}
CROSS_KEYS = {"productsReturn", "responseCode", "responseMessage"}
SUGGESTION_KEYS = {"ref", "type", "name", "amountDutyFree", "currency", "shortDescription", "language",
                   "imageSmall"}


def stock(shop: Merchant, *refs: Any, secret: str | None = None) -> dict[str, Any]:
    reply = shop.call("POST", "/stock", {"productRefs": list(refs)}, secret=secret)
    assert reply.status_code == 200, reply.text
    data = reply.json()
    assert set(data) == STOCK_KEYS
    for item in data["productStatus"]:
        assert set(item) == STOCK_ITEM_KEYS, item
    return data


def status_of(shop: Merchant, ref: int) -> int:
    data = stock(shop, ref)
    assert data["responseCode"] == 0
    (item,) = data["productStatus"]
    assert item["productRef"] == ref and item["responseCode"] == 0
    return item["status"]


def sell(shop: Merchant, pon: str, ref: int, quantity: int) -> None:
    reply = shop.call("POST", "/order/new", order_body(pon, (ref, quantity)))
    assert reply.status_code == 201, reply.text


def cross(shop: Merchant, body: Any, secret: str | None = None) -> dict[str, Any]:
    reply = shop.call("POST", "/order/crossupsell", body, secret=secret)
    assert reply.status_code == 200, reply.text
    data = reply.json()
    assert set(data) == CROSS_KEYS, data
    for item in data["productsReturn"]:
        assert set(item) == SUGGESTION_KEYS, item
    return data


def cart(*refs: int, language: Any = "EN") -> dict[str, Any]:
    return {"language": language, "products": [{"productRef": ref, "quantity": 1} for ref in refs]}


# ---------------------------------------------------------------- getStockStatus


def test_stock_status_follows_the_threshold_as_serials_are_sold(shop_a: Merchant) -> None:
    # 1001: 20 serials in the pool, almost-out threshold 3
    assert status_of(shop_a, 1001) == 100
    sell(shop_a, "S-16", 1001, 16)
    assert status_of(shop_a, 1001) == 100  # 4 left: still above the threshold
    sell(shop_a, "S-17", 1001, 1)
    assert status_of(shop_a, 1001) == 200  # 3 left: at the threshold
    sell(shop_a, "S-19", 1001, 2)
    assert status_of(shop_a, 1001) == 200  # 1 left
    sell(shop_a, "S-20", 1001, 1)
    assert status_of(shop_a, 1001) == 300  # none left
    refused = shop_a.call("POST", "/order/new", order_body("S-21", (1001, 1)))
    assert refused.json()["responseCode"] == 1044


def test_sold_out_after_seventeen_then_the_rest(shop_a: Merchant) -> None:
    sell(shop_a, "BULK-1", 1001, 17)
    assert status_of(shop_a, 1001) == 200
    sell(shop_a, "BULK-2", 1001, 3)
    assert status_of(shop_a, 1001) == 300


def test_cancelled_orders_do_not_give_their_serials_back(shop_a: Merchant) -> None:
    sell(shop_a, "ALL", 1001, 20)
    assert status_of(shop_a, 1001) == 300
    cancelled = shop_a.call("PUT", "/order/cancel", {"partnerOrderNumber": "ALL", "reasonCode": 2})
    assert cancelled.json()["responseCode"] == 0
    assert status_of(shop_a, 1001) == 300  # revoked serials are never handed out again


def test_download_only_product_is_always_in_stock(shop_a: Merchant) -> None:
    assert status_of(shop_a, 1002) == 100
    sell(shop_a, "DL", 1002, 1000)
    assert status_of(shop_a, 1002) == 100


def test_small_pool_under_the_default_threshold_is_almost_out(shop_a: Merchant) -> None:
    # 1003 has 5 serials and the default threshold (10)
    assert status_of(shop_a, 1003) == 200


def test_stock_of_several_refs_one_item_each_in_request_order(shop_a: Merchant) -> None:
    sell(shop_a, "ALL-1003", 1003, 5)
    data = stock(shop_a, 1002, 1001, 1003)
    assert data["responseCode"] == 0 and data["responseMessage"] == "OK"
    assert [(i["productRef"], i["status"], i["responseCode"]) for i in data["productStatus"]] == [
        (1002, 100, 0), (1001, 100, 0), (1003, 300, 0)]


def test_unknown_ref_gets_its_own_1010_item_and_the_others_answer(shop_a: Merchant) -> None:
    data = stock(shop_a, 1001, 999999, 1002)
    assert data["responseCode"] == 0
    first, unknown, last = data["productStatus"]
    assert first == {"productRef": 1001, "status": 100, "responseCode": 0, "responseMessage": "OK"}
    assert unknown["productRef"] == 999999 and unknown["status"] is None
    assert unknown["responseCode"] == 1010 and unknown["responseMessage"] == "product doesn't exist"
    assert last["productRef"] == 1002 and last["status"] == 100 and last["responseCode"] == 0


def test_string_refs_are_accepted(shop_a: Merchant) -> None:
    data = stock(shop_a, "1001", " 1002 ")
    assert [(i["productRef"], i["status"], i["responseCode"]) for i in data["productStatus"]] == [
        (1001, 100, 0), (1002, 100, 0)]


@pytest.mark.parametrize("bad", ["abc", -5, 0, 1001.5, True, {"ref": 1001}, [1001], "10 01"])
def test_invalid_ref_is_101_for_that_item_only(shop_a: Merchant, bad: Any) -> None:
    data = stock(shop_a, bad, 1002)
    assert data["responseCode"] == 0
    invalid, fine = data["productStatus"]
    assert invalid["responseCode"] == 101 and invalid["responseMessage"] == "productRef invalid"
    assert invalid["status"] is None
    assert fine == {"productRef": 1002, "status": 100, "responseCode": 0, "responseMessage": "OK"}


@pytest.mark.parametrize(("given", "echoed"), [(-1, -1), (0, 0), (-5, -5), ("-1", -1), ("abc", None), (1001.5, None)])
def test_a_refused_ref_is_echoed_as_given_where_it_is_a_number(shop_a: Merchant, given: Any, echoed: Any) -> None:
    """Contract 3: productRef -1 answers an item with productRef -1, so that the client can send
    it on to getCrossUpSell, which answers 111 "invalid" (not 110 "missing")."""
    (item,) = stock(shop_a, given)["productStatus"]
    assert item == {"productRef": echoed, "status": None, "responseCode": 101, "responseMessage": "productRef invalid"}
    if echoed is not None:
        reply = shop_a.call("POST", "/order/crossupsell", {"language": "EN", "products": [
            {"productRef": item["productRef"], "quantity": 1}]}).json()
        assert reply["responseCode"] == 111


def test_more_refs_than_the_limit_refuse_the_call_before_any_is_read(shop_a: Merchant, settings: Settings) -> None:
    limit = settings.stock_max_refs
    assert len(stock(shop_a, *([1002] * limit))["productStatus"]) == limit
    started = time.perf_counter()
    reply = shop_a.call("POST", "/stock", {"productRefs": [1002] * 100_000})
    elapsed = time.perf_counter() - started
    assert reply.status_code == 200
    assert reply.json() == {"productStatus": [], "responseCode": 101,
                            "responseMessage": f"productRefs not valid: more than {limit} in one call"}
    assert elapsed < 1.0  # 3.6 s on the event loop when every ref was looked up


@pytest.mark.parametrize("blank", [None, "", "   "])
def test_blank_ref_is_100_for_that_item_only(shop_a: Merchant, blank: Any) -> None:
    data = stock(shop_a, 1002, blank)
    fine, missing = data["productStatus"]
    assert fine["responseCode"] == 0
    assert missing["responseCode"] == 100 and missing["responseMessage"] == "productRef missing"
    assert missing["status"] is None


def test_missing_product_refs_is_100_with_every_key(shop_a: Merchant) -> None:
    reply = shop_a.call("POST", "/stock", {})
    assert reply.status_code == 200
    assert reply.json() == {"productStatus": [], "responseCode": 100, "responseMessage": "productRef missing"}


def test_huge_ref_is_not_found_not_a_crash(shop_a: Merchant) -> None:
    # larger than any database integer: no such product, and never an internal error
    for huge in [2**63, 10**20, 1e20]:
        reply = shop_a.call("POST", "/stock", {"productRefs": [huge, 1002]})
        assert reply.status_code == 200, (huge, reply.status_code, reply.text)
        first, second = reply.json()["productStatus"]
        assert first["responseCode"] in {101, 1010} and first["status"] is None
        assert second["responseCode"] == 0


def test_stock_only_sees_the_catalogue_of_the_secret(shop_a: Merchant, world: World) -> None:
    usd = world.a.other_secret  # the USD catalogue holds only 1002
    data = stock(shop_a, 1001, 1002, secret=usd)
    unknown, known = data["productStatus"]
    assert unknown["productRef"] == 1001 and unknown["responseCode"] == 1010 and unknown["status"] is None
    assert known == {"productRef": 1002, "status": 100, "responseCode": 0, "responseMessage": "OK"}


def test_create_order_outside_the_catalogue_is_1020(shop_a: Merchant, world: World) -> None:
    usd = world.a.other_secret
    refused = shop_a.call("POST", "/order/new", order_body("USD-1", (1001, 1), currency="USD"), secret=usd)
    assert refused.status_code == 200
    assert refused.json()["responseCode"] == 1020
    # the same catalogue sells 1002
    created = shop_a.call("POST", "/order/new", order_body("USD-2", (1002, 1), currency="USD"), secret=usd)
    assert created.status_code == 201, created.text
    assert created.json()["orderLines"][0]["productRef"] == 1002
    # the refused order used up no serial of 1001: all 20 can still be sold in EUR
    sell(shop_a, "EUR-ALL", 1001, 20)


def test_stock_with_another_merchants_secret_is_71(shop_a: Merchant, world: World) -> None:
    reply = shop_a.call("POST", "/stock", {"productRefs": [1001]}, secret=world.b.secret)
    assert reply.status_code == 200
    assert reply.json() == {"productStatus": [], "responseCode": 71, "responseMessage": "secret not valid"}


# ---------------------------------------------------------------- getCrossUpSell


def test_cross_up_sell_of_a_serial_product(shop_a: Merchant) -> None:
    data = cross(shop_a, cart(1001))
    assert data["responseCode"] == 0 and data["responseMessage"] == "OK"
    by_ref = {s["ref"]: s for s in data["productsReturn"]}
    assert len(by_ref) == len(data["productsReturn"])  # each product suggested once
    assert {ref: s["type"] for ref, s in by_ref.items()} == {1002: "up", 1003: "cross", 1090: "option",
                                                            1091: "option"}
    assert by_ref[1002] == {"ref": 1002, "type": "up", "name": "Download only", "amountDutyFree": 5.0,
                            "currency": "EUR", "shortDescription": "", "language": "EN", "imageSmall": None}
    assert by_ref[1003]["name"] == "Serial only" and by_ref[1003]["amountDutyFree"] == 3.0
    assert by_ref[1090]["name"] == "Download extension"
    assert by_ref[1091]["name"] == "Backup DVD"
    assert all(s["currency"] == "EUR" and s["language"] == "EN" for s in data["productsReturn"])


def test_product_without_eligible_option_gets_no_option(shop_a: Merchant) -> None:
    data = cross(shop_a, cart(1003))
    assert data["responseCode"] == 0
    assert [s for s in data["productsReturn"] if s["type"] == "option"] == []
    assert data["productsReturn"] == []  # 1003 has no up-sell or cross-sell either


def test_option_must_suit_every_product_of_the_cart(shop_a: Merchant) -> None:
    both = cross(shop_a, cart(1001, 1002))
    refs = {s["ref"]: s["type"] for s in both["productsReturn"]}
    assert refs == {1003: "cross", 1090: "option", 1091: "option"}  # 1002 is in the cart already
    mixed = cross(shop_a, cart(1001, 1003))
    assert {s["ref"]: s["type"] for s in mixed["productsReturn"]} == {1002: "up"}


def test_language_list_and_lower_case_are_accepted(shop_a: Merchant) -> None:
    for language, shown in [("FR,EN", "FR"), ("fr", "FR"), ("en_US", "EN"), (" EN , FR ", "EN")]:
        data = cross(shop_a, cart(1001, language=language))
        assert data["responseCode"] == 0, (language, data)
        assert len(data["productsReturn"]) == 4
        assert {s["language"] for s in data["productsReturn"]} == {shown}, language


def test_string_ref_and_quantity_are_accepted(shop_a: Merchant) -> None:
    data = cross(shop_a, {"language": "EN", "products": [{"productRef": "1001", "quantity": "2"}]})
    assert data["responseCode"] == 0
    assert {s["ref"] for s in data["productsReturn"]} == {1002, 1003, 1090, 1091}


def item(**fields: Any) -> dict[str, Any]:
    return {"language": "EN", "products": [fields]}


ONE = [{"productRef": 1001, "quantity": 1}]


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        ({"language": "EN"}, 100, "productRef is missing"),
        ({"language": "EN", "products": []}, 100, "productRef is missing"),
        ({"language": "EN", "products": None}, 100, "productRef is missing"),
        ({"language": "EN", "products": ONE[0]}, 100, "productRef is missing"),
        (item(quantity=1), 110, "Product ref is missing"),
        (item(productRef="", quantity=1), 110, "Product ref is missing"),
        ({"language": "EN", "products": ["1001"]}, 110, "Product ref is missing"),
        (item(productRef="abc", quantity=1), 111, "Product ref is invalid"),
        (item(productRef=0, quantity=1), 111, "Product ref is invalid"),
        (item(productRef=-1001, quantity=1), 111, "Product ref is invalid"),
        (item(productRef=1001), 120, "quantity is missing"),
        (item(productRef=1001, quantity=None), 120, "quantity is missing"),
        (item(productRef=1001, quantity=0), 121, "quantity is invalid"),
        (item(productRef=1001, quantity="x"), 121, "quantity is invalid"),
        (item(productRef=1001, quantity=1.5), 121, "quantity is invalid"),
        ({"products": ONE}, 130, "Language is missing"),
        ({"language": "", "products": ONE}, 130, "Language is missing"),
        ({"language": "xx", "products": ONE}, 131, "Language is invalid"),
        ({"language": "English", "products": ONE}, 131, "Language is invalid"),
        ({"language": "FR,,EN", "products": ONE}, 131, "Language is invalid"),
        ({"language": 33, "products": ONE}, 131, "Language is invalid"),
        (item(productRef=999999, quantity=1), 1010, "productRef not found"),
        ({"language": "EN", "products": [*ONE, {"productRef": 999999, "quantity": 1}]}, 1010,
         "productRef not found"),
    ],
)
def test_cross_up_sell_codes_and_exact_messages(shop_a: Merchant, body: Any, code: int, message: str) -> None:
    data = cross(shop_a, body)
    assert data == {"productsReturn": [], "responseCode": code, "responseMessage": message}


def test_cross_up_sell_only_suggests_the_catalogue_of_the_secret(shop_a: Merchant, world: World) -> None:
    usd = world.a.other_secret  # holds only 1002
    unknown = cross(shop_a, cart(1001), secret=usd)
    assert unknown["responseCode"] == 1010 and unknown["productsReturn"] == []
    # 1002's options (1090, 1091) are not sold in the USD catalogue: nothing to suggest
    alone = cross(shop_a, cart(1002), secret=usd)
    assert alone == {"productsReturn": [], "responseCode": 0, "responseMessage": "OK"}
    # while the EUR catalogue suggests both options for the same cart
    eur = cross(shop_a, cart(1002))
    assert {s["ref"]: s["type"] for s in eur["productsReturn"]} == {1090: "option", 1091: "option"}


def test_merchant_b_sees_the_same_eur_suggestions(shop_b: Merchant) -> None:
    data = cross(shop_b, cart(1001))
    assert data["responseCode"] == 0
    assert {s["ref"] for s in data["productsReturn"]} == {1002, 1003, 1090, 1091}


# ---------------------------------------------------------------- getCategories and getOperatingSystems


@pytest.mark.parametrize(
    ("language", "label", "sub_label"),
    [("fr", "Logiciels", "Sécurité"), ("en", "Software", "Security"), ("FR", "Logiciels", "Sécurité"),
     ("EN", "Software", "Security")],
)
def test_categories_in_the_language(shop_a: Merchant, language: str, label: str, sub_label: str) -> None:
    reply = shop_a.call("GET", f"/catalog/categories/{language}")
    assert reply.status_code == 200
    assert reply.json() == {
        "categoryList": [{"id": 10, "label": label, "subcategories": [{"id": 11, "label": sub_label}]}],
        "responseCode": 0,
        "responseMessage": "OK",
    }


def test_categories_fall_back_to_english_for_a_language_without_labels(shop_a: Merchant) -> None:
    data = shop_a.call("GET", "/catalog/categories/de").json()
    assert data["responseCode"] == 0
    assert data["categoryList"][0]["label"] == "Software"
    assert data["categoryList"][0]["subcategories"] == [{"id": 11, "label": "Security"}]


@pytest.mark.parametrize("language", ["zz", "french", "12"])
def test_categories_in_an_unknown_language_is_refused_with_every_key(shop_a: Merchant, language: str) -> None:
    reply = shop_a.call("GET", f"/catalog/categories/{language}")
    assert reply.status_code == 200
    data = reply.json()
    assert set(data) == {"categoryList", "responseCode", "responseMessage"}
    assert data["categoryList"] == [] and data["responseCode"] not in {0, 1000}


def test_operating_systems(shop_a: Merchant) -> None:
    reply = shop_a.call("GET", "/catalog/oslist")
    assert reply.status_code == 200
    assert reply.json() == {"osList": [{"id": 1, "label": "Windows 11"}, {"id": 2, "label": "macOS 14"}],
                            "responseCode": 0, "responseMessage": "OK"}


def test_catalog_reads_need_a_secret(shop_a: Merchant) -> None:
    reply = shop_a.call("GET", "/catalog/oslist", headers={"secret": ""})
    assert reply.status_code == 200
    assert reply.json() == {"osList": [], "responseCode": 70, "responseMessage": "secret is missing"}
