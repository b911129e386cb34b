"""SOAP 1.1 envelopes in and out: a hardened parser, requests as plain dictionaries, replies and faults.

Reading: the body is parsed by lxml with entities unresolved, no network, no DTD loading and the
default depth and size limits; a document that carries a DTD at all is refused, so billion laughs
and XXE end in a Fault. The operation element is then read into the same dictionary shape as the
REST JSON body, guided by `contract.TYPES` (lists unwrapped, unknown elements ignored, `xsi:nil`
as None, every leaf as the text the client sent: the services parse leniently, as for REST).

Writing: the `out` element in the order of the contract, every element present (but an `optional`
one whose value is None), unknown values as `xsi:nil="true"`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from lxml import etree

from resell.api.legacy_values import decimal_text, safe_text
from resell.api.soap import contract
from resell.api.soap.contract import Field, Operation

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XSI_NIL = f"{{{XSI}}}nil"
CONTENT_TYPE = "text/xml; charset=utf-8"


class Fault(Exception):
    """A request the endpoint cannot answer with an `out`: rendered as a SOAP 1.1 Fault (HTTP 500)."""

    def __init__(self, message: str, code: str = "Client"):
        super().__init__(message)
        self.code = code  # Client (the request is wrong), Server (we failed), VersionMismatch
        self.message = message


def _parser() -> etree.XMLParser:
    # One per document: lxml parsers must not be shared between threads.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname


def _children(element: etree._Element) -> list[etree._Element]:
    return [c for c in element if isinstance(c.tag, str)]


def parse_envelope(raw: bytes) -> tuple[str, etree._Element]:
    """The operation's name and element from a SOAP 1.1 request, or Fault."""
    try:
        root = etree.fromstring(raw, _parser())
    except etree.XMLSyntaxError as exc:
        raise Fault(f"the request is not well-formed XML: {exc.msg}") from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise Fault("DTDs and entity declarations are not accepted")
    if root.tag == f"{{{SOAP12_ENV}}}Envelope":
        raise Fault("SOAP 1.2 is not supported: send a SOAP 1.1 envelope", code="VersionMismatch")
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise Fault("the document is not a SOAP 1.1 Envelope")
    body = root.find(f"{{{SOAP_ENV}}}Body")
    if body is None:
        raise Fault("the Envelope has no Body")
    elements = _children(body)
    if len(elements) != 1:
        raise Fault("the Body must hold exactly one operation element")
    return _local(elements[0]), elements[0]


# ---------------------------------------------------------------- requests


def _is_nil(element: etree._Element) -> bool:
    return element.get(XSI_NIL, "").strip() in ("true", "1")


def _read_value(element: etree._Element, field: Field, types: Mapping[str, tuple[Field, ...]]) -> Any:
    if _is_nil(element):
        return None
    if field.list_of:
        item = Field(field.list_of, field.list_of)
        return [_read_value(child, item, types) for child in _children(element)]
    if field.type in contract.SIMPLE:
        return element.text or ""
    return _read_fields(element, types[field.type], types)


def _read_fields(
    element: etree._Element, fields: tuple[Field, ...], types: Mapping[str, tuple[Field, ...]]
) -> dict[str, Any]:
    by_name = {f.name: f for f in fields}
    values: dict[str, Any] = {}
    for child in _children(element):
        field = by_name.get(_local(child))
        if field is None:
            continue  # unknown elements are ignored, as unknown JSON keys are
        value = _read_value(child, field, types)
        if field.repeated:
            values.setdefault(field.dict_key, []).append(value)
        else:
            values[field.dict_key] = value
    return values


def read_request(service: str, operation: Operation, element: etree._Element) -> tuple[str | None, dict[str, Any]]:
    """`secret` and `request` of an operation element; `request` as the REST body would be."""
    types = contract.TYPES[service]
    wrapper = _read_fields(element, (Field("secret"), Field("request", operation.request_type)), types)
    request = wrapper.get("request")
    return wrapper.get("secret"), request if isinstance(request, dict) else {}


# ---------------------------------------------------------------- replies


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, float):
        return decimal_text(Decimal(str(value)))
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    return safe_text(value)


def _write_fields(
    parent: etree._Element,
    fields: tuple[Field, ...],
    data: Mapping[str, Any],
    tns: str,
    types: Mapping[str, tuple[Field, ...]],
) -> None:
    for field in fields:
        value = data.get(field.dict_key)
        if field.repeated:
            for item in value or ():
                etree.SubElement(parent, f"{{{tns}}}{field.name}").text = _text(item)
            continue
        if value is None and field.optional:
            continue
        element = etree.SubElement(parent, f"{{{tns}}}{field.name}")
        if value is None:
            element.set(XSI_NIL, "true")
        elif field.list_of:
            item_fields = types.get(field.list_of)
            for item in value:
                child = etree.SubElement(element, f"{{{tns}}}{field.list_of}")
                if item_fields is None:
                    child.text = _text(item)
                else:
                    _write_fields(child, item_fields, item, tns, types)
        elif field.type in contract.SIMPLE:
            element.text = _text(value)
        else:
            _write_fields(element, types[field.type], value, tns, types)


def _envelope() -> tuple[etree._Element, etree._Element]:
    envelope = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap": SOAP_ENV, "xsi": XSI})
    return envelope, etree.SubElement(envelope, f"{{{SOAP_ENV}}}Body")


def reply(service: str, version: str, operation: Operation, out: Mapping[str, Any]) -> bytes:
    """`<{operation}Response><out>...</out></{operation}Response>` in an envelope."""
    tns = contract.namespace(service, version)
    envelope, body = _envelope()
    response = etree.SubElement(body, f"{{{tns}}}{operation.name}Response", nsmap={None: tns})
    out_element = etree.SubElement(response, f"{{{tns}}}out")
    types = contract.TYPES[service]
    _write_fields(out_element, types[operation.out_type], out, tns, types)
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")


def fault(error: Fault) -> bytes:
    envelope, body = _envelope()
    element = etree.SubElement(body, f"{{{SOAP_ENV}}}Fault")
    etree.SubElement(element, "faultcode").text = f"soap:{error.code}"
    etree.SubElement(element, "faultstring").text = _text(error.message)
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")
