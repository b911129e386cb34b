"""The SOAP v2.x API through zeep, a real SOAP client built from the served WSDL: the merchant flow,
the catalog and customer services, refusals as out.responseCode, and one rule set shared with REST."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import isodate
import pytest

from resell.config import Settings
from tests.api.soap.conftest import envelope, out_of, post, soap_order
from tests.conftest import Merchant, World, order_body

Client = Callable[..., Any]


def items(wrapper: Any, name: str) -> list[Any]:
    """The items of a wrapped list, read by the item type name (zeep gives None for a nil wrapper)."""
    return [] if wrapper is None else list(wrapper[name] or [])


def test_the_whole_merchant_flow_through_zeep(zeep_client: Client, world: World, clock, settings: Settings) -> None:
    order = zeep_client("order")
    secret = world.a.secret

    stock = order.getStockStatus(secret=secret, request={"productRef": [1001, 1003, 999999]})
    assert stock.responseCode == 0 and stock.responseMessage == "OK"
    statuses = items(stock.productStatus, "getStockStatusproductStatusResponseType")
    assert [(s.productRef, s.status, s.responseCode) for s in statuses] == [
        (1001, 100, 0),
        (1003, 200, 0),  # 5 serials, at the default threshold of 10
        (999999, None, 1010),
    ]

    cross = order.getCrossUpSell(
        secret=secret,
        request={"products": {"getCrossUpSellProductType": [{"productRef": 1001, "quantity": 1}]}, "language": "EN"},
    )
    assert cross.responseCode == 0
    found = items(cross.productsReturn, "getCrossUpSellProductReturnResponseType")
    assert [(p.ref, p.type) for p in found] == [(1090, "option"), (1091, "option"), (1002, "up"), (1003, "cross")]
    assert found[2].amountDutyFree == Decimal("5.00") and found[2].currency == "EUR"

    created = order.create(secret=secret, request=soap_order("Z-1", (1001, 2), (1002, 1)))
    assert (created.responseCode, created.responseMessage) == (0, "OK")
    assert created.partnerOrderNumber == "Z-1" and isinstance(created.orderNumber, int)
    first, second = items(created.orderLines, "createOrderLineResponseType")
    assert first.productRef == 1001
    units = items(first.lineItems, "createLineItemResponseType")
    serials = [items(u.serials, "createSerialResponseType")[0].data for u in units]
    assert len(set(serials)) == 2 and set(serials) <= set(world.serials[1001])
    assert units[0].subscriptionId is None
    (installer,) = items(first.files, "createFileResponseType")
    assert installer.label == "Installer" and installer.size == Decimal("0.00")  # 1234 bytes, in MB
    assert installer.url.startswith(f"{settings.base_url}/download/")
    assert first.dateEndDownload == clock.now.date() + dt.timedelta(days=21)
    assert first.remark == f"Hi Ada Lovelace: Serial and files, order {created.orderNumber}"
    assert items(items(second.lineItems, "createLineItemResponseType")[0].serials, "createSerialResponseType") == []

    again = order.create(secret=secret, request=soap_order("Z-1", (1003, 1)))
    assert again.responseCode == 1010 and again.orderNumber is None
    assert items(again.orderLines, "createOrderLineResponseType") == []

    data = order.getData(secret=secret, request={"partnerOrderNumber": "Z-1"})
    assert data.responseCode == 0 and data.orderNumber == created.orderNumber
    data_units = items(
        items(data.orderLines, "getDataOrderLineResponseType")[0].lineItems, "getDataLineItemResponseType"
    )
    assert [items(u.serials, "getDataSerialResponseType")[0].data for u in data_units] == serials

    info = order.getDownloadInfo(secret=secret, request={"partnerOrderNumber": "Z-1"})
    assert info.responseCode == 0 and info.downloadEndDate == first.dateEndDownload
    lines = items(info.orderLines, "getDownloadInfoOrderLineDownloadResponseType")
    assert [line.productRef for line in lines] == [1001, 1002]
    (file,) = items(lines[0].files, "getDownloadInfoFileDownloadResponseType")
    assert file.url == installer.url and file.countStartDownload == 0 and file.dateFirstDownload is None

    extended = order.updateDownloadTime(secret=secret, request={"partnerOrderNumber": "Z-1", "value": "P1M"})
    assert extended.responseCode == 0
    assert extended.newDownloadEndDate == first.dateEndDownload + isodate.parse_duration("P1M")

    cancelled = order.cancel(secret=secret, request={"partnerOrderNumber": "Z-1", "reasonCode": 3, "comment": "x"})
    assert (cancelled.responseCode, cancelled.partnerOrderNumber, cancelled.orderNumber) == (
        0,
        "Z-1",
        created.orderNumber,
    )
    twice = order.cancel(secret=secret, request={"partnerOrderNumber": "Z-1", "reasonCode": 3})
    assert (twice.responseCode, twice.responseMessage) == (1011, "order already cancelled")
    late = order.updateDownloadTime(secret=secret, request={"partnerOrderNumber": "Z-1", "value": "P7D"})
    assert late.responseCode == 1011


def test_soap_and_rest_are_the_same_orders(zeep_client: Client, shop_a: Merchant) -> None:
    created = zeep_client("order").create(secret=shop_a.secret, request=soap_order("BOTH", (1003, 1)))
    serial = created.orderLines.createOrderLineResponseType[0].lineItems.createLineItemResponseType[0]
    rest = shop_a.call("GET", "/order/BOTH").json()
    assert rest["orderNumber"] == created.orderNumber
    assert (
        rest["orderLines"][0]["lineItems"][0]["serials"][0]["data"] == serial.serials.createSerialResponseType[0].data
    )
    # one idempotency rule: a REST create with the number of a SOAP order is 1010, and the other way round
    assert shop_a.call("POST", "/order/new", order_body("BOTH", (1003, 1))).json()["responseCode"] == 1010
    assert shop_a.call("POST", "/order/new", order_body("REST-FIRST", (1003, 1))).status_code == 201
    again = zeep_client("order").create(secret=shop_a.secret, request=soap_order("REST-FIRST", (1003, 1)))
    assert again.responseCode == 1010


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"currency": "USD"}, 1021),
        ({"orderLines": {"createOrderLinesType": [{"productRef": 999999, "quantity": 1}]}}, 1020),
        ({"orderLines": {"createOrderLinesType": [{"productRef": 1003, "quantity": 6}]}}, 1044),
        ({"orderLines": {"createOrderLinesType": [{"productRef": 1004, "quantity": 1}]}}, 1051),
        ({"orderLines": {"createOrderLinesType": [{"productRef": 1090, "quantity": 1}]}}, 1043),
        ({"orderLines": None}, 200),
        ({"partnerOrderNumber": None}, 130),
    ],
)
def test_create_refusals_are_the_rest_codes(zeep_client: Client, world: World, change: dict, code: int) -> None:
    body = soap_order("REF", (1001, 1)) | change
    reply = zeep_client("order").create(secret=world.a.secret, request=body)
    assert reply.responseCode == code
    assert reply.partnerOrderNumber == body["partnerOrderNumber"]
    assert reply.orderNumber is None and items(reply.orderLines, "createOrderLineResponseType") == []


def test_empty_optional_structures_are_absent_and_the_order_is_created(
    zeep_client: Client, world: World, server: str
) -> None:
    """Contract 3: <locationDelivery/>, <payment/>, <discounts/>, <metaData/>, <marketingProgramId/>
    mean absent (they were "country missing" and "paymentMethod missing")."""
    body = soap_order("SOAP-EMPTY", (1001, 1), payment={}, discounts={}, metaData={}, marketingProgramId="")
    body["customer"] = body["customer"] | {"locationDelivery": {}, "ipV4": None}
    reply = zeep_client("order").create(secret=world.a.secret, request=body)
    assert (reply.responseCode, reply.responseMessage) == (0, "OK")
    # the same, written by hand, exactly as the bug report sent it
    inner = (
        f"<o:secret>{world.a.secret}</o:secret><o:request><o:partnerOrderNumber>SOAP-RAW</o:partnerOrderNumber>"
        "<o:orderDate>2026-11-28T10:00:00+00:00</o:orderDate><o:currency>EUR</o:currency><o:marketingProgramId/>"
        "<o:orderLines><o:createOrderLinesType><o:productRef>1001</o:productRef><o:quantity>1</o:quantity>"
        "<o:discounts/></o:createOrderLinesType></o:orderLines><o:customer><o:email>a@example.com</o:email>"
        "<o:locationInvoice><o:country>FR</o:country></o:locationInvoice><o:locationDelivery/></o:customer>"
        "<o:payment/><o:discounts/><o:metaData/></o:request>"
    )
    raw = post(server, "order", envelope("order", "create", inner))
    assert raw.status_code == 200
    assert out_of(raw).xpath("string(*[local-name()='responseCode'])") == "0"


def test_a_delivery_location_that_is_there_but_not_valid_gets_its_code(zeep_client: Client, world: World) -> None:
    body = soap_order("SOAP-BAD-DELIVERY", (1001, 1))
    body["customer"] = body["customer"] | {"locationDelivery": {"city": "Paris"}}
    reply = zeep_client("order").create(secret=world.a.secret, request=body)
    assert (reply.responseCode, reply.responseMessage) == (500, "country missing")


def test_stock_echoes_a_refused_numeric_ref_as_given(zeep_client: Client, world: World) -> None:
    stock = zeep_client("order").getStockStatus(secret=world.a.secret, request={"productRef": [-1, 0, 1002]})
    statuses = items(stock.productStatus, "getStockStatusproductStatusResponseType")
    seen = [(s.productRef, s.status, s.responseCode) for s in statuses]
    assert seen == [(-1, None, 101), (0, None, 101), (1002, 100, 0)]


def test_stock_refuses_more_refs_than_the_limit(zeep_client: Client, world: World, settings: Settings) -> None:
    refs = [1002] * (settings.stock_max_refs + 1)
    stock = zeep_client("order").getStockStatus(secret=world.a.secret, request={"productRef": refs})
    assert stock.responseCode == 101 and "more than" in stock.responseMessage
    assert items(stock.productStatus, "getStockStatusproductStatusResponseType") == []


def test_create_has_the_rest_limits_on_lines_and_units(zeep_client: Client, world: World, settings: Settings) -> None:
    order = zeep_client("order")
    lines = soap_order("SOAP-LINES", *[(1002, 1)] * (settings.order_max_lines + 1))
    assert order.create(secret=world.a.secret, request=lines).responseCode == 201
    units = soap_order("SOAP-UNITS", (1002, settings.order_max_units), (1002, 1))
    assert order.create(secret=world.a.secret, request=units).responseCode == 221


def test_secret_missing_is_70_and_unknown_or_other_merchants_is_71(zeep_client: Client, world: World) -> None:
    order = zeep_client("order")
    assert order.getData(secret=None, request={"partnerOrderNumber": "A"}).responseCode == 70
    assert order.getData(secret="  ", request={"partnerOrderNumber": "A"}).responseCode == 70
    wrong = order.getData(secret="not-a-secret", request={"partnerOrderNumber": "A"})
    assert (wrong.responseCode, wrong.responseMessage) == (71, "secret not valid")


def test_another_merchants_order_is_not_found(zeep_client: Client, world: World) -> None:
    order = zeep_client("order")
    assert order.create(secret=world.a.secret, request=soap_order("MINE", (1003, 1))).responseCode == 0
    for operation in ("getData", "getDownloadInfo"):
        reply = getattr(order, operation)(secret=world.b.secret, request={"partnerOrderNumber": "MINE"})
        assert (reply.responseCode, reply.responseMessage) == (1010, "order not found")
    cancel = order.cancel(secret=world.b.secret, request={"partnerOrderNumber": "MINE", "reasonCode": 3})
    assert cancel.responseCode == 1010
    assert order.getData(secret=world.a.secret, request={"partnerOrderNumber": "MINE"}).responseCode == 0


def test_catalog_service_categories_and_operating_systems(zeep_client: Client, world: World) -> None:
    catalog = zeep_client("catalog")
    tree = catalog.getCategories(secret=world.a.secret, request={"productDescriptionLanguage": "fr"})
    assert tree.responseCode == 0
    (software,) = items(tree.categories, "getCategoriesCategoryResponseType")
    assert (software.id, software.label) == (10, "Logiciels")
    subs = items(software.subcategories, "getCategoriesSubCategoryResponseType")
    assert [(s.id, s.label) for s in subs] == [(11, "Sécurité")]
    assert (
        catalog.getCategories(secret=world.a.secret, request={"productDescriptionLanguage": "zz"}).responseCode == 1022
    )
    assert catalog.getCategories(secret="nope", request={"productDescriptionLanguage": "fr"}).responseCode == 71

    systems = catalog.getOperatingSystems(secret=world.a.secret, request={})
    assert systems.responseCode == 0
    assert [(o.id, o.label) for o in items(systems.osList, "getOperatingSystemsOsResponseType")] == [
        (1, "Windows 11"),
        (2, "macOS 14"),
    ]


def test_order_history_by_partner_id_and_by_email_is_the_callers_only(zeep_client: Client, world: World, clock) -> None:
    order = zeep_client("order")
    assert order.create(secret=world.a.secret, request=soap_order("H-1", (1003, 1))).responseCode == 0
    clock.advance(minutes=1)
    assert order.create(secret=world.a.secret, request=soap_order("H-2", (1002, 1))).responseCode == 0
    assert order.create(secret=world.b.secret, request=soap_order("H-B", (1002, 1))).responseCode == 0
    assert order.cancel(secret=world.a.secret, request={"partnerOrderNumber": "H-1", "reasonCode": 2}).responseCode == 0

    customer = zeep_client("customer")
    found = customer.getOrderHistory(secret=world.a.secret, request={"partnerId": "cust-1"})
    assert (found.responseCode, found.partnerId, found.email) == (0, "cust-1", "buyer@example.com")
    history = items(found.ordersHistory, "getOrderHistoryOrderHistoryResponseType")
    assert [(h.partnerOrderNumber, h.statusCode, h.statusDescription) for h in history] == [
        ("H-2", 1, "active"),
        ("H-1", 2, "cancelled"),
    ]
    assert history[0].dateOrder == dt.datetime(2026, 11, 28, 10, tzinfo=dt.UTC)
    assert history[0].dateInvoice == clock.now

    unknown = customer.getOrderHistory(secret=world.a.secret, request={"partnerId": "nobody"})
    assert (unknown.responseCode, unknown.responseMessage) == (1010, "partner not found")
    assert items(unknown.ordersHistory, "getOrderHistoryOrderHistoryResponseType") == []

    by_email = order.getAllOrders(secret=world.b.secret, request={"email": " buyer@EXAMPLE.com "})
    assert by_email.responseCode == 0
    assert [o.partnerOrderNumber for o in items(by_email.orders, "getAllOrdersOrderResponseType")] == ["H-B"]
    assert order.getAllOrders(secret=world.b.secret, request={"email": "x@example.com"}).responseCode == 1010
    assert order.getAllOrders(secret=world.b.secret, request={"email": "not an email"}).responseCode == 101


def test_older_versions_serve_the_same_flow_without_the_v24_operations(zeep_client: Client, world: World) -> None:
    for version in ("2.2", "2.3"):
        order = zeep_client("order", version)
        created = order.create(secret=world.a.secret, request=soap_order(f"OLD-{version}", (1003, 1)))
        assert created.responseCode == 0
        read = order.getData(secret=world.a.secret, request={"partnerOrderNumber": f"OLD-{version}"})
        assert read.orderNumber == created.orderNumber


def test_v24_operations_are_missing_from_older_wsdls(zeep_client: Client, world: World) -> None:
    with pytest.raises(AttributeError):
        _ = zeep_client("order", "2.2").cancelSubscription
    with pytest.raises(AttributeError):
        _ = zeep_client("order", "2.3").getAllOrders
    assert zeep_client("order", "2.4").getAllOrders is not None


def test_cancel_subscription_v24_stops_renewal_through_the_subscription_service(
    zeep_client: Client, shop_a: Merchant
) -> None:
    order = zeep_client("order")
    created = order.create(secret=shop_a.secret, request=soap_order("SUB-1", (1005, 1)))
    unit = items(items(created.orderLines, "createOrderLineResponseType")[0].lineItems, "createLineItemResponseType")[0]
    assert isinstance(unit.subscriptionId, int)
    request = {"partnerOrderNumber": "SUB-1", "subscriptionId": unit.subscriptionId}

    done = order.cancelSubscription(secret=shop_a.secret, request=request)
    assert (done.responseCode, done.responseMessage) == (0, "OK")
    status = shop_a.call("POST", "/subscription", request).json()
    assert status["technicalStatus"] == "CANCELLED"  # the REST twin sees the same subscription
    again = order.cancelSubscription(secret=shop_a.secret, request=request)
    assert (again.responseCode, again.responseMessage) == (1011, "subscription already cancelled or terminated")
    wrong = order.cancelSubscription(
        secret=shop_a.secret, request={**request, "subscriptionId": unit.subscriptionId + 99}
    )
    assert wrong.responseCode == 1010
    assert order.cancelSubscription(secret=shop_a.secret, request={"partnerOrderNumber": "SUB-1"}).responseCode == 110
