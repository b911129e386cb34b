"""The static WSDL files: written from `contract.py`, served with `soap:address` set to where clients post.

The files under `wsdl/` are what clients download. They are generated once, not at run time:

    python -m resell.api.soap.wsdl      # rewrites resell/api/soap/wsdl/*.wsdl from contract.py

and tests/api/soap/test_wsdl.py fails when a file differs from what the contract produces.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

from lxml import etree

from resell.api.soap import contract
from resell.api.soap.contract import Field

WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
WSDL_SOAP_NS = "http://schemas.xmlsoap.org/wsdl/soap/"
XSD_NS = "http://www.w3.org/2001/XMLSchema"
HTTP_TRANSPORT = "http://schemas.xmlsoap.org/soap/http"
DEFAULT_ADDRESS = "http://127.0.0.1:8000/global/{service}/v{version}/soap"


def file_name(service: str, version: str) -> str:
    return f"{service}-v{version}.wsdl"


def _reachable(service: str, roots: list[str]) -> list[str]:
    """The complex types the roots use, the roots first, in a stable order."""
    types = contract.TYPES[service]
    seen: dict[str, None] = {}
    todo = list(roots)
    while todo:
        name = todo.pop(0)
        if name in seen:
            continue
        seen[name] = None
        todo += [f.type for f in types[name] if f.type not in contract.SIMPLE]
    return list(seen)


def _type_ref(field: Field) -> str:
    if field.list_of:
        return f"tns:ArrayOf{field.list_of}"
    return f"xsd:{field.type}" if field.type in contract.SIMPLE else f"tns:{field.type}"


def build(service: str, version: str) -> bytes:
    """The WSDL document of a service in a version, with the default soap:address."""
    tns = contract.namespace(service, version)
    ops = list(contract.operations(service, version).values())
    nsmap = {"wsdl": WSDL_NS, "soap": WSDL_SOAP_NS, "xsd": XSD_NS, "tns": tns}
    w = f"{{{WSDL_NS}}}"
    x = f"{{{XSD_NS}}}"
    s = f"{{{WSDL_SOAP_NS}}}"
    root = etree.Element(w + "definitions", nsmap=nsmap, name=service, targetNamespace=tns)
    root.append(
        etree.Comment(
            f" resell Connect SOAP v{version}, {service} service. Generated from resell/api/soap/contract.py. "
        )
    )
    schema = etree.SubElement(
        etree.SubElement(root, w + "types"), x + "schema", targetNamespace=tns, elementFormDefault="qualified"
    )

    def complex_type(parent: etree._Element, fields: tuple[Field, ...], optional: bool, **name: str) -> None:
        seq = etree.SubElement(etree.SubElement(parent, x + "complexType", **name), x + "sequence")
        for f in fields:
            attrs = {"name": f.name, "type": _type_ref(f)}
            if f.repeated:
                attrs |= {"minOccurs": "0", "maxOccurs": "unbounded"}
            else:
                if optional or f.optional:
                    attrs["minOccurs"] = "0"
                attrs["nillable"] = "true"
            etree.SubElement(seq, x + "element", attrs)

    for op in ops:
        wrapper = (Field("secret"), Field("request", op.request_type))
        complex_type(etree.SubElement(schema, x + "element", name=op.name), wrapper, optional=True)
        reply = (Field("out", op.out_type),)
        complex_type(etree.SubElement(schema, x + "element", name=op.name + "Response"), reply, optional=False)
    requests = set(_reachable(service, [op.request_type for op in ops]))
    arrays: dict[str, None] = {}
    for name in _reachable(service, [t for op in ops for t in (op.request_type, op.out_type)]):
        fields = contract.TYPES[service][name]
        complex_type(schema, fields, optional=name in requests, name=name)
        arrays.update((f.list_of, None) for f in fields if f.list_of)
    for item in arrays:
        array = (Field(item, item, repeated=True),)
        complex_type(schema, array, optional=True, name=f"ArrayOf{item}")

    for op in ops:
        for direction, element in (("Input", op.name), ("Output", op.name + "Response")):
            message = etree.SubElement(root, w + "message", name=op.name + direction)
            etree.SubElement(message, w + "part", name="parameters", element=f"tns:{element}")
    port_type = etree.SubElement(root, w + "portType", name=f"{service}PortType")
    for op in ops:
        operation = etree.SubElement(port_type, w + "operation", name=op.name)
        etree.SubElement(operation, w + "input", message=f"tns:{op.name}Input")
        etree.SubElement(operation, w + "output", message=f"tns:{op.name}Output")
    binding = etree.SubElement(root, w + "binding", name=f"{service}Binding", type=f"tns:{service}PortType")
    etree.SubElement(binding, s + "binding", style="document", transport=HTTP_TRANSPORT)
    for op in ops:
        operation = etree.SubElement(binding, w + "operation", name=op.name)
        etree.SubElement(operation, s + "operation", soapAction=f"{tns}#{op.name}", style="document")
        for direction in ("input", "output"):
            etree.SubElement(etree.SubElement(operation, w + direction), s + "body", use="literal")
    port = etree.SubElement(
        etree.SubElement(root, w + "service", name=f"{service}Service"),
        w + "port",
        name=f"{service}Port",
        binding=f"tns:{service}Binding",
    )
    etree.SubElement(port, s + "address", location=DEFAULT_ADDRESS.format(service=service, version=version))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _folder() -> Path:
    return Path(str(resources.files("resell.api.soap").joinpath("wsdl")))


@cache
def _static(service: str, version: str) -> etree._ElementTree:
    """The packaged file, parsed once (it is our own file: the default parser is fine)."""
    return etree.parse(str(_folder() / file_name(service, version)))


def served(service: str, version: str, address: str) -> bytes:
    """The packaged WSDL with its soap:address set to `address` (where clients are to post)."""
    tree = _static(service, version)
    root = etree.fromstring(etree.tostring(tree))
    for element in root.iter(f"{{{WSDL_SOAP_NS}}}address"):
        element.set("location", address)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def write_all(folder: Path | None = None) -> list[Path]:
    folder = folder or _folder()
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for service in contract.SERVICES:
        for version in contract.VERSIONS:
            path = folder / file_name(service, version)
            path.write_bytes(build(service, version))
            written.append(path)
    return written


if __name__ == "__main__":
    for written_path in write_all():
        print(written_path)
