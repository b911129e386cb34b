"""Hand-written SOAP request bodies for the security tests: dictionaries in the SOAP shape
(`tests.api.soap.conftest.soap_order`: lists wrapped in their item type names) as elements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape


@dataclass(frozen=True)
class Raw:
    """An element's content written as is (markup allowed), or `xsi:nil` when `nil`."""

    inner: str = ""
    nil: bool = False


XSI = "http://www.w3.org/2001/XMLSchema-instance"


def xml_of(value: Any, name: str) -> str:
    """`value` as the element `o:name` (a list repeats the element)."""
    if isinstance(value, list):
        return "".join(xml_of(item, name) for item in value)
    if isinstance(value, Raw):
        if value.nil:
            return f'<o:{name} xmlns:xsi="{XSI}" xsi:nil="true"/>'
        return f"<o:{name}>{value.inner}</o:{name}>"
    if isinstance(value, dict):
        inner = "".join(xml_of(v, k) for k, v in value.items())
        return f"<o:{name}>{inner}</o:{name}>"
    return f"<o:{name}>{escape(str(value))}</o:{name}>"
