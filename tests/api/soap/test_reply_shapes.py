"""SOAP order replies read like Nexway's own create replies, element for element.

`samples/` holds Nexway's create replies for six kinds of product (copied from Nexway's
samples, so that the repository is self-contained). For each kind, a
product like the sample's is ordered through a real SOAP client (zeep, raw reply) and resell's
create and getData replies must have the sample's structure: the same elements in the same order
and nesting, nil where the sample is nil, empty where it is empty, values of the same type (an
integer, a decimal, a date, a URL, text, or empty). The values themselves are not compared.
getData has the same shape as create with the prefix getData in every name.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from pathlib import Path
from typing import Any

import pytest
import zeep
from lxml import etree
from sqlalchemy import select, update

from resell.db.tables import line_items, order_lines, serial_assignments, serials
from resell.services import merchants, stock
from resell.services.catalog_import import import_catalog
from resell.services.context import Context
from tests.api.soap.conftest import XSI, soap_order, wsdl_url
from tests.api.soap.test_wsdl import packaged, schema_of
from tests.conftest import World

SAMPLES = Path(__file__).parent / "samples"
KINDS = ("casual", "microsoft", "noSerial", "noSpecificity", "severalSerials", "steam")
REMARK = "Hello %FIRSTNAME% %LASTNAME%! Thank you for purchasing %GAMENAME%, order %IDTRAN%."
MB = 1024 * 1024


def _files(*sizes_in_mb: float) -> list[dict[str, Any]]:
    return [
        {"label": f"Part {i}", "fileName": f"part{i}.bin", "size": int(mb * MB)}
        for i, mb in enumerate(sizes_in_mb, start=1)
    ]


# A product like each sample's: how it delivers, serials, files and remark as there.
PRODUCTS: dict[str, dict[str, Any]] = {
    "casual": {"deliveryMode": "download_serial", "serialSource": "pool", "files": _files(12.5), "remark": REMARK},
    "microsoft": {"deliveryMode": "locker", "serialSource": "none", "remark": REMARK},
    "noSerial": {"deliveryMode": "download", "serialSource": "none", "files": _files(173.93, 1.96), "remark": REMARK},
    "noSpecificity": {"deliveryMode": "download_serial", "serialSource": "pool", "files": _files(0.35, 565.5)},
    "severalSerials": {
        "deliveryMode": "download_serial",
        "serialSource": "pool",
        "files": _files(0.96, 1906.39, 1907.35),
    },
    "steam": {"deliveryMode": "serial", "serialSource": "pool", "remark": REMARK},
}
REFS = {kind: 2001 + i for i, kind in enumerate(KINDS)}

# Where resell's value differs in kind from the casual sample's by a business fact, not by shape:
# Nexway knew neither the size of that game's web installer (`<size/>`) nor offered its download
# manager (nil); resell knows every file's size and offers the manager when every product has files.
BY_VALUE = {"casual": {"size", "downloadManager"}}


@pytest.fixture
def secret(ctx: Context, world: World) -> str:
    """A catalogue of shop-a holding one product of each kind (serials in stock for those that draw them)."""
    products = [
        {
            "ref": REFS[kind],
            "name": f"Like {kind}",
            "publisher": "pub",
            "prices": [{"currency": "EUR", "amountDutyFree": 9}],
        }
        | spec
        for kind, spec in PRODUCTS.items()
    ]
    import_catalog(ctx, {"publishers": [{"key": "pub", "name": "Test Publisher"}], "products": products})
    for kind, spec in PRODUCTS.items():
        if spec["serialSource"] == "pool":
            stock.import_serials(ctx, REFS[kind], [f"KEY-{REFS[kind]}-{i}-ABCD" for i in range(3)])
    return merchants.add_catalog(ctx, "shop-a", merchants.CatalogSpec("samples", "EUR", list(REFS.values()))).secret


# ---------------------------------------------------------------- structure


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname


def _value_type(text: str) -> str:
    text = text.strip()
    for name, pattern in (
        ("empty", r""),
        ("integer", r"-?\d+"),
        ("decimal", r"-?\d+\.\d+"),
        ("date", r"\d{4}-\d{2}-\d{2}"),
        ("url", r"https?://\S+"),
    ):
        if re.fullmatch(pattern, text):
            return name
    return "text"


def shape(element: etree._Element, by_value: Collection[str] = (), rename: bool = False) -> tuple[Any, ...]:
    """An element's name, then: "nil", the type of its value, or its children's shapes. A list wrapper's
    items (children named `...ResponseType`) count once per distinct shape: how many is a value."""
    name = _local(element)
    if rename and name.startswith("create"):
        name = "getData" + name.removeprefix("create")  # createResponse -> getDataResponse, ...
    if name in by_value:
        return (name, "by value")
    if element.get(f"{{{XSI}}}nil") == "true":
        return (name, "nil")
    children = [c for c in element if isinstance(c.tag, str)]
    if not children:
        return (name, _value_type(element.text or ""))
    shapes = [shape(c, by_value, rename) for c in children]
    if all(_local(c).endswith("ResponseType") for c in children):
        return (name, "items", tuple(dict.fromkeys(shapes)))
    return (name, tuple(shapes))


def sample(kind: str) -> etree._Element:
    return etree.parse(str(SAMPLES / f"{kind}.xml")).getroot()


def reply_of(raw: bytes, version: str) -> etree._Element:
    """The reply's root, checked against the schema of its WSDL and for one namespace throughout."""
    root = etree.fromstring(raw)
    body = root[0]
    (response,) = body
    schema = schema_of(packaged("order", version))
    assert schema.validate(response), (schema.error_log, raw)
    # every element of the reply is in the service's namespace, as every ns1: element of the samples
    assert {etree.QName(e).namespace for e in response.iter()} == {etree.QName(response).namespace}
    return root


def elements(root: etree._Element, name: str) -> list[etree._Element]:
    return root.xpath(f"//*[local-name()='{name}']")


def soap_call(server: str, version: str, operation: str, **arguments: Any) -> etree._Element:
    """The raw reply of a call made by zeep from the served WSDL."""
    client = zeep.Client(wsdl_url(server, "order", version))
    with client.settings(raw_response=True):
        reply = getattr(client.service, operation)(**arguments)
    assert reply.status_code == 200, reply.text
    return reply_of(reply.content, version)


def test_the_samples_differ_from_each_other_where_the_kinds_do() -> None:
    """The comparison sees the differences that matter (nil files, empty serials, no download manager)."""
    shapes = {kind: shape(sample(kind)) for kind in KINDS}
    assert len(set(shapes.values())) == 5  # noSpecificity = severalSerials: three serials count as one
    assert shapes["noSpecificity"] == shapes["severalSerials"] != shapes["noSerial"]  # <serials/>
    assert shapes["microsoft"] != shapes["steam"]  # <files xsi:nil="true"/> against <files/>


@pytest.mark.parametrize("kind", KINDS)
def test_create_and_get_data_replies_read_like_nexways(server: str, ctx: Context, secret: str, kind: str) -> None:
    pon = str(4670100 + KINDS.index(kind))
    created = soap_call(server, "2.2", "create", secret=secret, request=soap_order(pon, (REFS[kind], 1)))
    by_value = BY_VALUE.get(kind, set())
    assert shape(created, by_value) == shape(sample(kind), by_value)

    if kind == "severalSerials":
        # resell sells no product with several keys per unit yet; a unit shows every serial assigned
        # to it, so two more of the pool's keys are assigned to the order's one unit here.
        with ctx.db.write() as conn:
            (item_id,) = conn.execute(
                select(line_items.c.id)
                .join(order_lines, order_lines.c.id == line_items.c.order_line_id)
                .where(order_lines.c.product_ref == REFS[kind])
            ).one()
            spare = (
                conn.execute(
                    select(serials.c.id).where(
                        serials.c.product_id.in_(
                            select(order_lines.c.product_id).where(order_lines.c.product_ref == REFS[kind])
                        ),
                        serials.c.status == "available",
                    )
                )
                .scalars()
                .all()
            )
            assert len(spare) == 2
            conn.execute(update(serials).where(serials.c.id.in_(spare)).values(status="assigned"))
            conn.execute(
                serial_assignments.insert(),
                [{"serial_id": s, "line_item_id": item_id, "assigned_at": ctx.now()} for s in spare],
            )

    for version in ("2.2", "2.4"):
        data = soap_call(server, version, "getData", secret=secret, request={"partnerOrderNumber": pon})
        assert shape(data, by_value) == shape(sample(kind), by_value, rename=True)
        for reply, prefix in ((created, "create"), (data, "getData")):
            # sizes in megabytes with two decimals
            for size in elements(reply, "size"):
                assert re.fullmatch(r"\d+\.\d\d", size.text or ""), etree.tostring(size)
            # as many items as the sample where the product has them
            for name in ("FileResponseType", "LineItemResponseType"):
                assert len(elements(reply, prefix + name)) == len(elements(sample(kind), "create" + name))
    assert len(elements(data, "getDataSerialResponseType")) == len(elements(sample(kind), "createSerialResponseType"))
    read = zeep.Client(wsdl_url(server, "order", "2.4")).service.getData(
        secret=secret, request={"partnerOrderNumber": pon}
    )
    (line,) = read.orderLines["getDataOrderLineResponseType"]
    files = [] if line.files is None else list(line.files["getDataFileResponseType"] or [])
    assert read.responseCode == 0 and len(files) == len(elements(sample(kind), "createFileResponseType"))
    if kind == "noSerial":
        sizes = [e.text for e in elements(data, "size")]
        assert sizes == ["173.93", "1.96"]


def test_a_subscription_line_item_carries_its_subscription_id(server: str, world: World) -> None:
    """subscriptionId, between serials and responseCode, only where the product is a subscription."""
    created = soap_call(
        server, "2.4", "create", secret=world.a.secret, request=soap_order("4670200", (1005, 1), (1003, 1))
    )
    yearly, key_only = elements(created, "createLineItemResponseType")
    assert [_local(e) for e in yearly] == ["serials", "subscriptionId", "responseCode", "responseMessage"]
    assert _value_type(yearly[1].text or "") == "integer"
    assert [_local(e) for e in key_only] == ["serials", "responseCode", "responseMessage"]
    data = soap_call(server, "2.4", "getData", secret=world.a.secret, request={"partnerOrderNumber": "4670200"})
    subscription_ids = elements(data, "subscriptionId")
    assert [e.text for e in subscription_ids] == [yearly[1].text]
    assert elements(created, "digitalLockerLink") == elements(data, "digitalLockerLink") == []
