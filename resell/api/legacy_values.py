"""How the legacy formats (SOAP v2.x replies, the XML and CSV product feeds) write values."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

# Characters XML 1.0 cannot carry (a serial, a remark or a description could hold one).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_CENT = Decimal("0.01")
MEGABYTE = Decimal(1024 * 1024)


def safe_text(value: object) -> str:
    """str(value), with characters XML cannot hold replaced by U+FFFD: never a crash mid-document."""
    return _NOT_XML.sub("\ufffd", str(value))


def decimal_text(value: Decimal) -> str:
    """Cents when exact (`10.00`), else every significant digit (`8.3528`); never an exponent."""
    cents = value.quantize(_CENT)
    return f"{cents:f}" if cents == value else f"{value.normalize():f}"


def megabytes(size: int) -> Decimal:
    """A file size in bytes as megabytes (2**20 bytes) with two decimals, as SOAP replies and feeds give it."""
    return (Decimal(size) / MEGABYTE).quantize(_CENT, rounding=ROUND_HALF_UP)
