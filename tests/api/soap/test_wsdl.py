"""The WSDL files: generated from the contract, served with the caller's host, and every reply valid
against the schema they publish (element for element, in order, nil where unknown)."""

from __future__ import annotations

import copy
from importlib import resources
from pathlib import Path

import httpx
import pytest
from lxml import etree

from resell.api.soap import contract, wsdl
from resell.services.catalog_import import import_catalog
from tests.api.soap.conftest import envelope, post, soap_order
from tests.conftest import TEST_CATALOG, World

XSD = "http://www.w3.org/2001/XMLSchema"
WSDL_SOAP = "http://schemas.xmlsoap.org/wsdl/soap/"


def packaged(service: str, version: str) -> bytes:
    return resources.files("resell.api.soap").joinpath("wsdl", wsdl.file_name(service, version)).read_bytes()


def schema_of(document: bytes) -> etree.XMLSchema:
    """The schema in a WSDL's types, as a standalone document (with the WSDL's prefixes, for tns:...)."""
    root = etree.fromstring(document)
    (schema,) = root.iter(f"{{{XSD}}}schema")
    standalone = etree.Element(schema.tag, dict(schema.attrib), nsmap=root.nsmap)
    standalone.extend(copy.deepcopy(child) for child in schema)
    return etree.XMLSchema(standalone)


@pytest.mark.parametrize("service", contract.SERVICES)
@pytest.mark.parametrize("version", contract.VERSIONS)
def test_packaged_wsdl_is_what_the_contract_produces(service: str, version: str) -> None:
    assert packaged(service, version) == wsdl.build(service, version), "run: python -m resell.api.soap.wsdl"
    schema_of(packaged(service, version))  # and its schema compiles


def test_written_files_are_the_nine_services_and_versions(tmp_path: Path) -> None:
    written = wsdl.write_all(tmp_path)
    assert sorted(p.name for p in written) == sorted(
        f"{s}-v{v}.wsdl" for s in ("catalog", "order", "customer") for v in ("2.2", "2.3", "2.4")
    )
    assert (tmp_path / "order-v2.4.wsdl").read_bytes() == packaged("order", "2.4")


def test_the_contract_item_names_are_in_the_wsdl() -> None:
    order = etree.fromstring(packaged("order", "2.4"))
    arrays = {
        el.get("name"): el.find(f".//{{{XSD}}}element").get("name")
        for el in order.iter(f"{{{XSD}}}complexType")
        if (el.get("name") or "").startswith("ArrayOf")
    }
    for item in (
        "getStockStatusproductStatusResponseType",
        "getCrossUpSellProductType",
        "createOrderLinesType",
        "createOrderLineResponseType",
        "createLineItemResponseType",
        "createSerialResponseType",
        "createFileResponseType",
        "getDataOrderLineResponseType",
        "getDataLineItemResponseType",
        "getDataSerialResponseType",
        "getDataFileResponseType",
        "getDownloadInfoOrderLineDownloadResponseType",
        "getDownloadInfoFileDownloadResponseType",
    ):
        assert arrays[f"ArrayOf{item}"] == item
    operations = {op.get("name") for op in order.iter("{http://schemas.xmlsoap.org/wsdl/}operation")}
    assert operations == {
        "getStockStatus",
        "getCrossUpSell",
        "create",
        "getData",
        "cancel",
        "updateDownloadTime",
        "getDownloadInfo",
        "cancelSubscription",
        "getAllOrders",
    }
    older = {
        op.get("name")
        for op in etree.fromstring(packaged("order", "2.2")).iter("{http://schemas.xmlsoap.org/wsdl/}operation")
    }
    assert older == operations - {"cancelSubscription", "getAllOrders"}


def test_served_wsdl_points_back_at_the_host_the_client_used(server: str) -> None:
    """RESELL_PUBLIC_BASE_URL unset (the SOAP tests' settings): the URL the client called."""
    for host in ("127.0.0.1:8000", "shop.example.com:8443", "resell.example"):
        reply = httpx.get(f"{server}/global/order/v2.4/soap?wsdl", headers={"Host": host})
        assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/xml")
        (address,) = etree.fromstring(reply.content).iter(f"{{{WSDL_SOAP}}}address")
        assert address.get("location") == f"http://{host}/global/order/v2.4/soap"
    catalog = httpx.get(f"{server}/global/catalog/v2.2/soap?wsdl")
    (address,) = etree.fromstring(catalog.content).iter(f"{{{WSDL_SOAP}}}address")
    assert address.get("location") == f"{server}/global/catalog/v2.2/soap"


@pytest.mark.parametrize("settings", ["https://api.resell.example/"], indirect=True)
def test_served_wsdl_points_at_the_public_base_url_whatever_the_host_header(server: str) -> None:
    """RESELL_PUBLIC_BASE_URL set: a Host header of an attacker's choice (which a cache in front would
    keep and serve to every merchant) does not move where clients post."""
    for headers in (
        {},
        {"Host": "attacker.example"},
        {"Host": "127.0.0.1:8000", "X-Forwarded-Host": "attacker.example"},
    ):
        for service, version in (("order", "2.4"), ("catalog", "2.2"), ("customer", "2.3")):
            reply = httpx.get(f"{server}/global/{service}/v{version}/soap?wsdl", headers=headers)
            assert reply.status_code == 200
            (address,) = etree.fromstring(reply.content).iter(f"{{{WSDL_SOAP}}}address")
            assert address.get("location") == f"https://api.resell.example/global/{service}/v{version}/soap"


def test_unknown_service_or_version_is_404(server: str) -> None:
    assert httpx.get(f"{server}/global/billing/v2.4/soap?wsdl").status_code == 404
    assert httpx.get(f"{server}/global/order/v3.0/soap?wsdl").status_code == 404
    assert post(server, "billing", b"<x/>").status_code == 404


# ---------------------------------------------------------------- replies against the published schema


@pytest.fixture
def big_file(ctx, world: World) -> None:
    """Product 1002's archive at 5,500,000 bytes: 5.25 MB in SOAP replies."""
    catalog = copy.deepcopy(TEST_CATALOG)
    catalog["products"][1]["files"][0]["size"] = 5_500_000
    import_catalog(ctx, catalog)


def xml_of(value: object) -> str:
    """Request values as elements of the `o:` namespace; a list holds {"itemName": {...}} dicts."""
    if isinstance(value, dict):
        return "".join(f"<o:{k}>{xml_of(v)}</o:{k}>" for k, v in value.items() if v is not None)
    if isinstance(value, list):
        return "".join(xml_of(v) for v in value)
    return str(value)


def order_xml(pon: str, *lines: tuple[int, int]) -> dict:
    order = soap_order(pon, *lines)
    order["orderLines"] = [{"createOrderLinesType": line} for line in order["orderLines"]["createOrderLinesType"]]
    return order


def call(server: str, secret: str, service: str, operation: str, request: dict) -> httpx.Response:
    inner = f"<o:secret>{secret}</o:secret><o:request>{xml_of(request)}</o:request>"
    return post(server, service, envelope(service, operation, inner))


def test_every_reply_is_valid_against_the_schema_of_its_wsdl(server: str, world: World, big_file: None) -> None:
    order = order_xml("XSD-1", (1001, 1), (1002, 1))
    calls = [
        ("order", "getStockStatus", {"productRef": 1001}),
        (
            "order",
            "getCrossUpSell",
            {"products": {"getCrossUpSellProductType": {"productRef": 1001, "quantity": 1}}, "language": "EN"},
        ),
        ("order", "create", order),
        ("order", "create", order),  # 1010: nil lists
        ("order", "getData", {"partnerOrderNumber": "XSD-1"}),
        ("order", "getData", {"partnerOrderNumber": "nope"}),
        ("order", "getDownloadInfo", {"partnerOrderNumber": "XSD-1"}),
        ("order", "updateDownloadTime", {"partnerOrderNumber": "XSD-1", "value": "2030-01-01"}),
        ("order", "getAllOrders", {"email": "buyer@example.com"}),
        ("order", "cancel", {"partnerOrderNumber": "XSD-1", "reasonCode": 2}),
        ("order", "cancel", {"partnerOrderNumber": "XSD-1"}),
        ("catalog", "getCategories", {"productDescriptionLanguage": "fr"}),
        ("catalog", "getOperatingSystems", {}),
        ("customer", "getOrderHistory", {"partnerId": "cust-1"}),
        ("customer", "getOrderHistory", {"partnerId": "nobody"}),
    ]
    codes = []
    for service, operation, request in calls:
        reply = call(server, world.a.secret, service, operation, request)
        assert reply.status_code == 200, reply.text
        body = etree.fromstring(reply.content).find("{http://schemas.xmlsoap.org/soap/envelope/}Body")
        (response,) = body
        assert etree.QName(response).localname == operation + "Response"
        schema = schema_of(packaged(service, "2.4"))
        assert schema.validate(response), (operation, schema.error_log, reply.text)
        codes.append(int(response.xpath("string(*[local-name()='out']/*[local-name()='responseCode'])")))
    assert codes == [0, 0, 0, 1010, 0, 1010, 0, 0, 0, 0, 100, 0, 0, 0, 1010]


def test_refusals_carry_every_element_with_nil_lists(server: str, world: World) -> None:
    reply = call(server, world.a.secret, "order", "getData", {"partnerOrderNumber": "none"})
    out = etree.fromstring(reply.content).xpath("//*[local-name()='out']")[0]
    nil = "{http://www.w3.org/2001/XMLSchema-instance}nil"
    assert [(etree.QName(e).localname, e.get(nil), e.text) for e in out] == [
        ("partnerOrderNumber", None, "none"),
        ("orderNumber", "true", None),
        ("orderLines", "true", None),
        ("downloadManager", "true", None),
        ("responseCode", None, "1010"),
        ("responseMessage", None, "order not found"),
    ]


def test_file_sizes_are_megabytes_with_two_decimals(server: str, world: World, big_file: None) -> None:
    reply = call(server, world.a.secret, "order", "create", order_xml("MB", (1002, 1)))
    sizes = etree.fromstring(reply.content).xpath("//*[local-name()='files']/*/*[local-name()='size']/text()")
    assert sizes == ["5.25"]  # 5,500,000 bytes / 1,048,576
    info = call(server, world.a.secret, "order", "getDownloadInfo", {"partnerOrderNumber": "MB"})
    assert etree.fromstring(info.content).xpath("//*[local-name()='size']/text()") == ["5.25"]
