"""Metalink 4 documents (RFC 5854): every file of an order with its size, SHA-256 and signed URL.

Download managers (aria2, DownThemAll, Free Download Manager...) read it, fetch every file, resume
interrupted transfers with Range requests and check each file against its hash.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from lxml import etree

NAMESPACE = "urn:ietf:params:xml:ns:metalink"
MEDIA_TYPE = "application/metalink4+xml"


@dataclass(frozen=True)
class MetalinkFile:
    name: str
    size: int
    sha256: str | None
    url: str
    description: str = ""


def safe_name(name: str) -> str:
    """A file name a download manager may write: no directory parts, no control characters."""
    cleaned = re.sub(r"[\x00-\x1f\x7f/\\]", "_", name).strip().lstrip(".")
    return cleaned or "file"


def unique_names(names: list[str]) -> list[str]:
    """RFC 5854 wants one <file> per name: later duplicates become `name (2).ext`, `name (3).ext`..."""
    seen: set[str] = set()
    result = []
    for name in names:
        candidate, n = name, 1
        while candidate in seen:
            n += 1
            stem, dot, ext = name.rpartition(".")
            candidate = f"{stem} ({n}).{ext}" if dot and stem else f"{name} ({n})"
        seen.add(candidate)
        result.append(candidate)
    return result


def document(files: list[MetalinkFile], published: dt.datetime, generator: str) -> bytes:
    root = etree.Element(f"{{{NAMESPACE}}}metalink", nsmap={None: NAMESPACE})
    etree.SubElement(root, f"{{{NAMESPACE}}}generator").text = generator
    stamp = published.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    etree.SubElement(root, f"{{{NAMESPACE}}}published").text = stamp
    names = unique_names([safe_name(f.name) for f in files])
    for f, name in zip(files, names, strict=True):
        entry = etree.SubElement(root, f"{{{NAMESPACE}}}file", name=name)
        if f.description:
            etree.SubElement(entry, f"{{{NAMESPACE}}}description").text = f.description
        etree.SubElement(entry, f"{{{NAMESPACE}}}size").text = str(f.size)
        if f.sha256:
            etree.SubElement(entry, f"{{{NAMESPACE}}}hash", type="sha-256").text = f.sha256
        etree.SubElement(entry, f"{{{NAMESPACE}}}url", priority="1").text = f.url
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
