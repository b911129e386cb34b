"""Lenient parsing of the small request fields shared by several operations (REST and SOAP).

Real clients send numbers as strings of digits and pad strings with blanks; these helpers accept
that and turn anything else into the operation's "missing" or "not valid" code.
"""

from __future__ import annotations

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


def lenient_int(value: object) -> int:
    """An int, or a string of digits; ValueError for anything else (booleans and floats included)."""
    if isinstance(value, bool):
        raise ValueError("boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit() and len(value.strip()) <= 18:
        return int(value.strip())
    raise ValueError(f"not an integer: {value!r}")


def partner_order_number(value: object, missing: int) -> str:
    """A partnerOrderNumber as the merchant sent it (string or number); `missing` code otherwise."""
    if is_blank(value) or isinstance(value, bool) or not isinstance(value, str | int):
        raise Refusal(missing)
    text = str(value).strip()
    if len(text) > 100:
        raise Refusal(missing)
    return text


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


def reason_code(value: object) -> int:
    """cancelOrder's reasonCode: 100 missing, 101 not one of the contract's reasons."""
    if is_blank(value):
        raise Refusal(100)
    try:
        code = lenient_int(value)
    except ValueError:
        raise Refusal(101) from None
    if code not in CANCEL_REASONS:
        raise Refusal(101)
    return code
