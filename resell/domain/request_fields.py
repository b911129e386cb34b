"""Lenient parsing of the small request fields shared by several operations (REST and SOAP).

Real clients send numbers as strings of digits and pad strings with blanks; these helpers accept
that and turn anything else into the operation's "missing" or "not valid" code.
"""

from __future__ import annotations

import re

from resell.domain import codes
from resell.domain.codes import Refusal

CANCEL_REASONS = {
    2: "order cancelled",
    3: "unsatisfied customer",
    4: "double order",
    5: "product order",
    6: "incompatible product",
    16: "fraud / chargeback",
}


def is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


INT64 = 2**63
_ASCII_ID = re.compile(r"[0-9]{1,18}")


def decimal_id(text: str) -> int | None:
    """An id written in a URL, form or cookie: 1 to 18 ASCII digits, else None.

    `str.isdigit()` also accepts "²" or "٣", which int() then refuses or reads: ids are parsed here only.
    """
    return int(text) if _ASCII_ID.fullmatch(text) else None


def lenient_int(value: object) -> int:
    """A 64-bit int, or a string of ASCII digits; ValueError for anything else (booleans, floats, huge numbers)."""
    if isinstance(value, bool):
        raise ValueError("boolean")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer() and abs(value) < INT64:
        number = int(value)
    elif isinstance(value, str) and value.strip().lstrip("-").isascii() and value.strip().lstrip("-").isdigit():
        number = int(value.strip()[:25])
    else:
        raise ValueError(f"not an integer: {value!r}")
    if not -INT64 <= number < INT64:
        raise ValueError("out of the 64-bit range")
    return number


def partner_order_number(value: object, missing: int) -> str:
    """A partnerOrderNumber as the merchant sent it (string or number); `missing` code otherwise."""
    if is_blank(value) or isinstance(value, bool) or not isinstance(value, str | int):
        raise Refusal(missing)
    text = str(value).strip()
    if len(text) > 100:
        raise Refusal(missing)
    if "\x00" in text or not text.isprintable():
        raise Refusal(codes.ORDER_NOT_FOUND)  # no order can have such a number
    return text


def free_text(value: object, limit: int = 2000) -> str | None:
    """A comment as given, cut to `limit`, without the control characters databases refuse."""
    if is_blank(value):
        return None
    text = value if isinstance(value, str) else str(value)
    return "".join(ch for ch in text[:limit] if ch.isprintable() or ch in "\n\t")


def positive_int(value: object, missing: int, invalid: int, maximum: int = 2**62) -> int:
    if is_blank(value):
        raise Refusal(missing)
    try:
        number = lenient_int(value)
    except ValueError:
        raise Refusal(invalid) from None
    if not 1 <= number <= maximum:
        raise Refusal(invalid)
    return number


# 101 lists the reasons, so that a merchant reading the reply knows what to send instead
REASON_NOT_VALID = "reasonCode not valid: one of " + ", ".join(f"{c} ({why})" for c, why in CANCEL_REASONS.items())


def reason_code(value: object) -> int:
    """cancelOrder's reasonCode: 100 missing, 101 not one of the contract's reasons."""
    if is_blank(value):
        raise Refusal(codes.CANCEL_REASON_MISSING)
    try:
        code = lenient_int(value)
    except ValueError:
        raise Refusal(codes.CANCEL_REASON_NOT_VALID, REASON_NOT_VALID) from None
    if code not in CANCEL_REASONS:
        raise Refusal(codes.CANCEL_REASON_NOT_VALID, REASON_NOT_VALID)
    return code
