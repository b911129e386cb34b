"""The SOAP v2.x API through PHP's own SoapClient (php-cli + php-soap), with SOAP_SINGLE_ELEMENT_ARRAYS,
reading replies by the contract's wrapper names, against the live test server."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import isodate

from resell.config import Settings
from tests.api.soap.conftest import PHP_DIR, run_php, soap_order, wsdl_url
from tests.conftest import Merchant, World

Call = Callable[..., Any]


def test_the_whole_merchant_flow_through_php_soapclient(
    server: str, world: World, shop_a: Merchant, clock, settings: Settings
) -> None:
    seen = run_php(str(PHP_DIR / "merchant_flow.php"), wsdl_url(server, "order"), world.a.secret, "PHP-1", "1001")

    assert seen["stock"] == {"code": 0, "productRef": 1001, "status": 100}
    assert seen["crossUpSell"]["code"] == 0
    assert [(p["ref"], p["type"]) for p in seen["crossUpSell"]["products"]] == [
        (1090, "option"),
        (1091, "option"),
        (1002, "up"),
        (1003, "cross"),
    ]

    create = seen["create"]
    assert (create["code"], create["message"], create["productRef"]) == (0, "OK", 1001)
    assert create["serial"] in world.serials[1001]
    assert create["fileLabels"] == ["Installer"] and create["fileSizes"] == ["0.00"]  # megabytes, two decimals
    assert create["dateEndDownload"] == (clock.now.date() + dt.timedelta(days=21)).isoformat()
    assert create["remark"] == f"Hi Grace Hopper: Serial and files, order {create['orderNumber']}"
    assert seen["createAgain"] == {"code": 1010, "orderLines": None}  # xsi:nil reads as null

    assert seen["getData"] == {"code": 0, "orderNumber": create["orderNumber"], "serial": create["serial"]}
    info = seen["getDownloadInfo"]
    assert info["code"] == 0 and info["downloadEndDate"] == create["dateEndDownload"]
    assert info["url"].startswith(f"{settings.base_url}/download/") and info["countStartDownload"] == 0
    extended = dt.date.fromisoformat(create["dateEndDownload"]) + isodate.parse_duration("P1M")
    assert seen["updateDownloadTime"] == {"code": 0, "newDownloadEndDate": extended.isoformat()}
    assert seen["cancel"] == {"code": 0, "partnerOrderNumber": "PHP-1", "orderNumber": create["orderNumber"]}
    assert seen["cancelAgain"] == {"code": 1011, "message": "order already cancelled"}

    # the same order, as REST sees it: cancelled, serial revoked
    rest = shop_a.call("GET", "/order/PHP-1").json()
    assert rest["orderNumber"] == create["orderNumber"]
    assert rest["orderLines"][0]["lineItems"][0]["serials"][0]["data"] == create["serial"]


def test_php_reads_single_items_as_arrays_and_nil_lists_as_null(php_call: Call, world: World) -> None:
    one = php_call("order", "getStockStatus", {"secret": world.a.secret, "request": {"productRef": [1003]}})["reply"]
    items = one["out"]["productStatus"]["getStockStatusproductStatusResponseType"]
    assert items == [{"productRef": 1003, "status": 200, "responseCode": 0, "responseMessage": "OK"}]

    refused = php_call("order", "getData", {"secret": world.a.secret, "request": {"partnerOrderNumber": "none"}})
    out = refused["reply"]["out"]
    assert out["responseCode"] == 1010 and out["responseMessage"] == "order not found"
    assert out["partnerOrderNumber"] == "none"
    assert out["orderNumber"] is None and out["orderLines"] is None and out["downloadManager"] is None


def test_php_catalog_and_customer_services(php_call: Call, world: World) -> None:
    secret = world.a.secret
    tree = php_call("catalog", "getCategories", {"secret": secret, "request": {"productDescriptionLanguage": "en"}})
    (software,) = tree["reply"]["out"]["categories"]["getCategoriesCategoryResponseType"]
    assert software["label"] == "Software"
    assert software["subcategories"]["getCategoriesSubCategoryResponseType"] == [{"id": 11, "label": "Security"}]
    systems = php_call("catalog", "getOperatingSystems", {"secret": secret, "request": []})["reply"]["out"]
    assert [o["label"] for o in systems["osList"]["getOperatingSystemsOsResponseType"]] == ["Windows 11", "macOS 14"]

    assert (
        php_call("order", "create", {"secret": secret, "request": soap_order("PHP-H", (1002, 1))})["reply"]["out"][
            "responseCode"
        ]
        == 0
    )
    history = php_call("customer", "getOrderHistory", {"secret": secret, "request": {"partnerId": "cust-1"}})
    out = history["reply"]["out"]
    assert (out["responseCode"], out["partnerId"], out["email"]) == (0, "cust-1", "buyer@example.com")
    (entry,) = out["ordersHistory"]["getOrderHistoryOrderHistoryResponseType"]
    assert (entry["partnerOrderNumber"], entry["statusCode"], entry["statusDescription"]) == ("PHP-H", 1, "active")
    by_email = php_call("order", "getAllOrders", {"secret": secret, "request": {"email": "buyer@example.com"}})
    assert [o["partnerOrderNumber"] for o in by_email["reply"]["out"]["orders"]["getAllOrdersOrderResponseType"]] == [
        "PHP-H"
    ]
    other = php_call("customer", "getOrderHistory", {"secret": world.b.secret, "request": {"partnerId": "cust-1"}})
    assert other["reply"]["out"]["responseCode"] == 1010


def test_php_gets_a_fault_for_an_operation_its_version_does_not_have(php_call: Call, world: World) -> None:
    # v2.2's WSDL has no getAllOrders, so PHP refuses the call (test_faults sends it by hand: a server Fault)
    reply = php_call("order", "getAllOrders", {"secret": world.a.secret, "request": {"email": "a@b.c"}}, version="2.2")
    assert "fault" in reply and "getAllOrders" in reply["fault"]["string"]


def test_php_reads_a_subscription_id_where_the_product_has_one_and_no_element_elsewhere(
    php_call: Call, world: World
) -> None:
    secret = world.a.secret
    created = php_call("order", "create", {"secret": secret, "request": soap_order("PHP-S", (1005, 1), (1003, 1))})
    yearly, key_only = created["reply"]["out"]["orderLines"]["createOrderLineResponseType"]
    (unit,) = yearly["lineItems"]["createLineItemResponseType"]
    assert isinstance(unit["subscriptionId"], int) and unit["subscriptionId"] > 0
    (unit,) = key_only["lineItems"]["createLineItemResponseType"]
    assert "subscriptionId" not in unit and "digitalLockerLink" not in key_only
    assert key_only["files"] == {}  # <files/>: the product has none (PHP reads an empty wrapper as {})


def test_php_shop_leaving_optional_properties_unset_gets_its_orders_created(
    server: str, world: World, shop_a: Merchant
) -> None:
    """Contract 3: PHP's SoapClient sends an unset structure as an empty element (<payment/>) or as
    an object of nil elements; either means absent, and the order is created."""
    seen = run_php(str(PHP_DIR / "unset_properties.php"), wsdl_url(server, "order"), world.a.secret, "PHP-U", "1001")
    empty, unset = seen["orders"]
    for element in ("locationDelivery", "payment", "discounts", "metaData", "marketingProgramId", "ipV4"):
        assert re.search(f"<ns1:{element}(/>|></ns1:{element}>)", empty["sent"]), element  # really sent empty
    assert re.search(r":payment><ns1:paymentMethod xsi:nil=\"true\"/>", unset["sent"]), unset["sent"]
    assert re.search(r":locationDelivery><ns1:companyName xsi:nil=\"true\"/>", unset["sent"]), unset["sent"]
    for order in (empty, unset):
        assert (order["code"], order["message"]) == (0, "OK"), order
        assert isinstance(order["orderNumber"], int)
    stored = shop_a.call("GET", "/order/PHP-U-EMPTY").json()
    assert stored["orderNumber"] == empty["orderNumber"] and stored["responseCode"] == 0
    assert shop_a.call("GET", "/order/PHP-U-NIL").json()["orderNumber"] == unset["orderNumber"]
