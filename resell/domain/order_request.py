"""The createOrder request body, checked and turned into frozen values (contract 4.1 and 5).

Why here: every "missing" / "not valid" rule of createOrder lives in this one place, so the REST and
the SOAP front ends refuse the same body with the same code. The parser is pure (no I/O, no DB):
catalogue, stock, duplicate and affiliate checks belong to the service.

`parse_order_request` takes the already decoded body (any Python value) and either returns an
`OrderRequest` or raises `Refusal(code)` with the code of the *first* problem, checked in the
contract's order: top level fields, each order line, customer, payment, discounts, metadata.
It never raises anything else.

Conventions applied to every field:
- A required field that is absent, null or blank ("" after strip) gives its "missing" code.
- An optional field that is absent, null or blank is None (or an empty tuple for a list).
- A present value of the wrong type or format gives the field's "not valid" code.
- Strings are stripped. Booleans are never numbers. Digit strings are accepted where the contract
  says int ("811537"); numeric strings where it says number. NaN and infinities are not numbers.
- Text must be storable: at most 200 characters (100 for partnerOrderNumber), no NUL character
  and no lone surrogate, otherwise it is "not valid".
- Unknown fields are ignored.
"""

from __future__ import annotations

import ipaddress
import math
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeGuard

import pycountry
from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES

from resell.domain import codes
from resell.domain.codes import Refusal
from resell.domain.periods import parse_offset_timestamp

MAX_TEXT = 200
MAX_ORDER_NUMBER = 100
MAX_EMAIL = 320
MAX_QUANTITY = 1000
MAX_ID = 2**63 - 1  # a database bigint
# Amounts beyond this are refused as "not valid": they would not fit a money column and
# quantizing them to cents would overflow the decimal context.
MAX_AMOUNT = Decimal(10) ** 12

PROVINCE_REQUIRED = frozenset({"US", "CA", "BR", "AU"})

_DIGITS = re.compile(r"[0-9]{1,19}")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_LANGUAGE = re.compile(r"([A-Za-z]{2})(?:[_-]([A-Za-z]{2}))?")
_COUNTRY = re.compile(r"[A-Za-z]{2}")
_CURRENCY = re.compile(r"[A-Za-z]{3}")
_OPERATIONS = {"percent": "PERCENT", "percents": "PERCENT", "amount": "AMOUNT"}


# ---------------------------------------------------------------------------------------------
# Values


@dataclass(frozen=True)
class Location:
    company_name: str | None
    title: int | None
    last_name: str | None
    first_name: str | None
    address1: str | None
    address2: str | None
    zip_code: str | None
    city: str | None
    province: str | None  # subdivision code part, upper case ("CA" for California), or None
    country: str  # ISO 3166-1 alpha-2, upper case
    phone: str | None
    fax: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "companyName": self.company_name,
            "title": self.title,
            "lastName": self.last_name,
            "firstName": self.first_name,
            "address1": self.address1,
            "address2": self.address2,
            "zipCode": self.zip_code,
            "city": self.city,
            "province": self.province,
            "country": self.country,
            "phone": self.phone,
            "fax": self.fax,
        }


@dataclass(frozen=True)
class Customer:
    partner_id: str | None
    email: str  # normalised by email_validator
    language: str | None  # "fr_FR", or "fr" when only the language was given
    invoice: Location
    delivery: Location | None
    ipv4: str | None
    ipv6: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "partnerId": self.partner_id,
            "email": self.email,
            "language": self.language,
            "locationInvoice": self.invoice.as_json(),
            "locationDelivery": self.delivery.as_json() if self.delivery is not None else None,
            "ipV4": self.ipv4,
            "ipV6": self.ipv6,
        }


@dataclass(frozen=True)
class Discount:
    foreign_ref: str
    label: str
    price_delta: Decimal
    operation: str  # "PERCENT" | "AMOUNT"
    operation_value: Decimal

    def as_json(self) -> dict[str, Any]:
        """Decimals as strings, so that storage keeps them exact."""
        return {
            "foreignRef": self.foreign_ref,
            "label": self.label,
            "priceDelta": str(self.price_delta),
            "operation": self.operation,
            "operationValue": str(self.operation_value),
        }


@dataclass(frozen=True)
class Payment:
    payment_method: str
    transaction_id: str | None

    def as_json(self) -> dict[str, Any]:
        return {"paymentMethod": self.payment_method, "transactionId": self.transaction_id}


@dataclass(frozen=True)
class OrderLineRequest:
    product_ref: int
    quantity: int
    vat_rate: Decimal | None
    amount_duty_free: Decimal | None
    amount_total: Decimal | None
    discounts: tuple[Discount, ...]
    end_user_email: str | None


@dataclass(frozen=True)
class OrderRequest:
    partner_order_number: str
    order_date: datetime  # tz-aware
    currency: str  # ISO 4217, upper case
    marketing_program_id: str | None
    affiliate_id: int | None
    lines: tuple[OrderLineRequest, ...]
    customer: Customer
    payment: Payment | None
    discounts: tuple[Discount, ...]
    metadata: tuple[tuple[str, str | None], ...]


# ---------------------------------------------------------------------------------------------
# Parsing


def parse_order_request(body: object, *, max_lines: int | None = None, max_units: int | None = None) -> OrderRequest:
    """The createOrder body as an OrderRequest, or Refusal with the first problem's code.

    `max_lines` and `max_units` (settings order_max_lines, order_max_units) bound the order's size:
    more lines is 201, counted before any line is read; more units in all is 221.
    """
    if not isinstance(body, dict):
        raise Refusal(codes.MALFORMED)
    if not body:
        raise Refusal(codes.ORDER_MISSING)
    partner_order_number = _required_text(
        body,
        "partnerOrderNumber",
        codes.PARTNER_ORDER_NUMBER_MISSING,
        codes.PARTNER_ORDER_NUMBER_MISSING,
        max_len=MAX_ORDER_NUMBER,
        allow_int=True,
    )
    order_date = _order_date(body)
    currency = _currency(body)
    marketing_program_id = (
        None
        if is_empty(body.get("marketingProgramId"))
        else _optional_text(body, "marketingProgramId", codes.MALFORMED, allow_int=True)
    )
    affiliate_id = _optional_int(body, "affiliateId", codes.AFFILIATE_NOT_VALID, low=0, high=MAX_ID)
    lines = _order_lines(body, max_lines, max_units)
    customer = _customer(body.get("customer"))
    payment = _payment(body.get("payment"), customer)
    discounts = _discounts(body.get("discounts"))
    metadata = _metadata(body.get("metadata"))
    return OrderRequest(
        partner_order_number=partner_order_number,
        order_date=order_date,
        currency=currency,
        marketing_program_id=marketing_program_id,
        affiliate_id=affiliate_id,
        lines=lines,
        customer=customer,
        payment=payment,
        discounts=discounts,
        metadata=metadata,
    )


# The 141 message says what is expected: a moment without its offset could be any of 26 hours.
ORDER_DATE_HINT = "orderDate not valid: ISO 8601 with a UTC offset, e.g. 2026-11-30T14:03:00+01:00"


def _order_date(body: dict[Any, Any]) -> datetime:
    value = _present(body, "orderDate")
    if value is None:
        raise Refusal(codes.ORDER_DATE_MISSING)
    try:
        return parse_offset_timestamp(value)
    except (ValueError, OverflowError):
        raise Refusal(codes.ORDER_DATE_NOT_VALID, ORDER_DATE_HINT) from None


def _currency(body: dict[Any, Any]) -> str:
    value = _present(body, "currency")
    if value is None:
        raise Refusal(codes.CURRENCY_MISSING)
    if not isinstance(value, str) or not _CURRENCY.fullmatch(value):
        raise Refusal(codes.CURRENCY_NOT_VALID)
    code = value.upper()
    if pycountry.currencies.get(alpha_3=code) is None:
        raise Refusal(codes.CURRENCY_NOT_VALID)
    return code


def _order_lines(body: dict[Any, Any], max_lines: int | None, max_units: int | None) -> tuple[OrderLineRequest, ...]:
    lines = body.get("orderLines")
    if not _is_array(lines) or not lines:
        raise Refusal(codes.ORDER_LINES_MISSING)
    if max_lines is not None and len(lines) > max_lines:
        raise Refusal(codes.TOO_MANY_LINES, f"orderLines not valid: more than {max_lines} lines")
    parsed = tuple(_order_line(line) for line in lines)
    if max_units is not None and sum(line.quantity for line in parsed) > max_units:
        raise Refusal(codes.QUANTITY_NOT_VALID, f"quantity not valid: more than {max_units} units in the order")
    return parsed


def _order_line(line: object) -> OrderLineRequest:
    if not isinstance(line, dict):
        raise Refusal(codes.ORDER_LINES_MISSING)  # no code of its own: an order line that is not an object is no line
    return OrderLineRequest(
        product_ref=_required_int(
            line, "productRef", codes.PRODUCT_REF_MISSING, codes.PRODUCT_REF_NOT_VALID, low=1, high=MAX_ID
        ),
        quantity=_required_int(
            line, "quantity", codes.QUANTITY_MISSING, codes.QUANTITY_NOT_VALID, low=1, high=MAX_QUANTITY
        ),
        vat_rate=_optional_number(line, "vatRate", codes.VAT_RATE_NOT_VALID, low=Decimal(0), high=Decimal(100)),
        amount_duty_free=_optional_number(line, "amountDutyFree", codes.AMOUNT_DUTY_FREE_NOT_VALID, low=Decimal(0)),
        amount_total=_optional_number(line, "amountTotal", codes.AMOUNT_TOTAL_NOT_VALID, low=Decimal(0)),
        end_user_email=_optional_email(line, "endUserEmail", codes.CUSTOMER_EMAIL_NOT_VALID),
        discounts=_discounts(line.get("discounts")),
    )


def _customer(customer: object) -> Customer:
    # The contract has no "customer missing" code; without a customer there is no email,
    # the one customer field it requires, so an absent or non-object customer is 320.
    if not isinstance(customer, dict):
        raise Refusal(codes.CUSTOMER_EMAIL_MISSING)
    partner_id = _optional_text(customer, "partnerId", codes.CUSTOMER_PARTNER_ID_NOT_VALID, allow_int=True)
    email = _required_email(customer, "email", codes.CUSTOMER_EMAIL_MISSING, codes.CUSTOMER_EMAIL_NOT_VALID)
    language = _language(customer)
    invoice = customer.get("locationInvoice")
    if is_empty(invoice) or not isinstance(invoice, dict):
        # no "not valid" code: a location that is no object is no location
        raise Refusal(codes.INVOICE_LOCATION_MISSING)
    invoice_location = _location(invoice)
    # Only the service knows whether a delivery address is needed (410, backup DVD): an empty one
    # is absent; one that is there but no object is 410, as a payment that is no object is 700.
    delivery = customer.get("locationDelivery")
    if is_empty(delivery):
        delivery_location = None
    elif isinstance(delivery, dict):
        delivery_location = _location(delivery)
    else:
        raise Refusal(codes.DELIVERY_LOCATION_MISSING)
    return Customer(
        partner_id=partner_id,
        email=email,
        language=language,
        invoice=invoice_location,
        delivery=delivery_location,
        ipv4=_optional_ip(customer, "ipV4", ipaddress.IPv4Address),
        ipv6=_optional_ip(customer, "ipV6", ipaddress.IPv6Address),
    )


def _language(customer: dict[Any, Any]) -> str | None:
    value = _present(customer, "language")
    if value is None:
        return None
    match = _LANGUAGE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise Refusal(codes.CUSTOMER_LANGUAGE_NOT_VALID)
    language, zone = match.group(1).lower(), match.group(2)
    if pycountry.languages.get(alpha_2=language) is None:
        raise Refusal(codes.LANGUAGE_UNKNOWN)
    # Any two letters for the zone: XE (Europe) is not a country.
    return f"{language}_{zone.upper()}" if zone else language


def _optional_ip(
    obj: dict[Any, Any], key: str, kind: type[ipaddress.IPv4Address] | type[ipaddress.IPv6Address]
) -> str | None:
    value = _present(obj, key)
    if value is None:
        return None
    text = _text(value, codes.IP_NOT_VALID)
    try:
        return str(kind(text))
    except ValueError:
        raise Refusal(codes.IP_NOT_VALID) from None  # ipV6 has no code of its own


def _location(location: dict[Any, Any]) -> Location:
    company_name = _optional_text(location, "companyName", codes.MALFORMED, allow_int=True)
    title = _optional_int(location, "title", codes.TITLE_NOT_VALID, low=0, high=MAX_ID)
    last_name = _optional_text(location, "lastName", codes.LAST_NAME_NOT_VALID)
    first_name = _optional_text(location, "firstName", codes.FIRST_NAME_NOT_VALID)
    address1 = _optional_text(location, "address1", codes.ADDRESS_NOT_VALID)
    address2 = _optional_text(location, "address2", codes.ADDRESS_NOT_VALID)
    zip_code = _optional_text(location, "zipCode", codes.ZIP_CODE_NOT_VALID, allow_int=True)
    city = _optional_text(location, "city", codes.CITY_NOT_VALID)
    country = _country(location)
    province = _province(location, country)
    return Location(
        company_name=company_name,
        title=title,
        last_name=last_name,
        first_name=first_name,
        address1=address1,
        address2=address2,
        zip_code=zip_code,
        city=city,
        province=province,
        country=country,
        phone=_optional_text(location, "phone", codes.PHONE_NOT_VALID, allow_int=True),
        fax=_optional_text(location, "fax", codes.FAX_NOT_VALID, allow_int=True),
    )


def _country(location: dict[Any, Any]) -> str:
    value = _present(location, "country")
    if value is None:
        raise Refusal(codes.COUNTRY_MISSING)
    if not isinstance(value, str) or not _COUNTRY.fullmatch(value):
        raise Refusal(codes.COUNTRY_NOT_VALID)
    code = value.upper()
    if pycountry.countries.get(alpha_2=code) is None:
        raise Refusal(codes.COUNTRY_UNKNOWN)
    return code


def _province(location: dict[Any, Any], country: str) -> str | None:
    """Checked after the country it depends on: "CA" or "US-CA" -> "CA"."""
    value = _optional_text(location, "province", codes.PROVINCE_NOT_VALID)
    if value is None:
        if country in PROVINCE_REQUIRED:
            raise Refusal(codes.PROVINCE_REQUIRED)
        return None
    code = value.upper()
    if code.startswith(f"{country}-"):
        code = code[len(country) + 1 :]
    if pycountry.subdivisions.get(country_code=country):
        if pycountry.subdivisions.get(code=f"{country}-{code}") is None:
            raise Refusal(codes.PROVINCE_UNKNOWN)
    return code


def _payment(payment: object, customer: Customer) -> Payment | None:
    if is_empty(payment):
        return None
    if not isinstance(payment, dict):
        raise Refusal(codes.PAYMENT_NOT_VALID)
    result = Payment(
        payment_method=_required_text(
            payment, "paymentMethod", codes.PAYMENT_METHOD_MISSING, codes.PAYMENT_METHOD_NOT_VALID
        ),
        transaction_id=_optional_text(payment, "transactionId", codes.TRANSACTION_ID_NOT_VALID, allow_int=True),
    )
    if customer.ipv4 is None and customer.ipv6 is None:
        raise Refusal(codes.IP_REQUIRED)
    return result


def _discounts(discounts: object) -> tuple[Discount, ...]:
    if is_empty(discounts):
        return ()
    if not _is_array(discounts):
        raise Refusal(codes.DISCOUNTS_NOT_VALID)
    result = []
    for discount in discounts:
        if not isinstance(discount, dict):
            raise Refusal(codes.DISCOUNTS_NOT_VALID)
        if not is_empty(discount):  # [ {} ] means no discount, as does a discount of nil elements
            result.append(_discount(discount))
    return tuple(result)


def _discount(discount: dict[Any, Any]) -> Discount:
    foreign_ref = _required_text(
        discount, "foreignRef", codes.DISCOUNT_FOREIGN_REF_MISSING, codes.DISCOUNT_FOREIGN_REF_NOT_VALID, allow_int=True
    )
    label = _required_text(
        discount, "label", codes.DISCOUNT_LABEL_MISSING, codes.DISCOUNT_LABEL_NOT_VALID, allow_int=True
    )
    price_delta = _required_number(
        discount, "priceDelta", codes.DISCOUNT_PRICE_DELTA_MISSING, codes.DISCOUNT_PRICE_DELTA_NOT_VALID
    )
    operation = _present(discount, "operation")
    if operation is None:
        raise Refusal(codes.DISCOUNT_OPERATION_MISSING)
    if not isinstance(operation, str) or operation.lower() not in _OPERATIONS:
        raise Refusal(codes.DISCOUNT_OPERATION_NOT_VALID)
    return Discount(
        foreign_ref=foreign_ref,
        label=label,
        price_delta=price_delta,
        operation=_OPERATIONS[operation.lower()],
        operation_value=_required_number(
            discount, "operationValue", codes.DISCOUNT_OPERATION_VALUE_MISSING, codes.DISCOUNT_OPERATION_VALUE_NOT_VALID
        ),
    )


def _metadata(metadata: object) -> tuple[tuple[str, str | None], ...]:
    if is_empty(metadata):
        return ()
    if not _is_array(metadata):
        raise Refusal(codes.METADATA_NOT_VALID)
    result = []
    for entry in metadata:
        if not isinstance(entry, dict):
            raise Refusal(codes.METADATA_KEY_MISSING)
        key = _required_text(entry, "key", codes.METADATA_KEY_MISSING, codes.METADATA_KEY_MISSING, allow_int=True)
        value = entry.get("value")
        result.append((key, None if value is None else _metadata_value(value)))
    return tuple(result)


def _metadata_value(value: object) -> str:
    """Scalars become text (true/false as in JSON); an object or a list is not a value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float | Decimal):
        number = _number(value)
        if number is None:
            raise Refusal(codes.MALFORMED)
        return str(number)
    return _text(value, codes.MALFORMED, allow_int=True)


# ---------------------------------------------------------------------------------------------
# Field helpers


def is_empty(value: object) -> bool:
    """An optional structure sent empty, which means absent (contract 3): null, blank text, [], {},
    or an object whose values are all empty (PHP's SoapClient sends an object with unset properties
    as nil elements). Iterative, so that no nesting depth makes it recurse."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item.values())
        elif not (item is None or (isinstance(item, str) and not item.strip()) or (_is_array(item) and not item)):
            return False
    return True


def _is_array(value: object) -> TypeGuard[list[Any] | tuple[Any, ...]]:
    return isinstance(value, list | tuple)


def _present(obj: dict[Any, Any], key: str) -> object | None:
    """The value of `key`, stripped if text; None when absent, null or blank."""
    value = obj.get(key)
    if isinstance(value, str):
        return value.strip() or None
    return value


def _text(value: object, invalid: int, *, max_len: int = MAX_TEXT, allow_int: bool = False) -> str:
    if allow_int and isinstance(value, int) and not isinstance(value, bool):
        if abs(value) >= 10**max_len:  # also keeps str() away from its digit limit
            raise Refusal(invalid)
        value = str(value)
    if not isinstance(value, str):
        raise Refusal(invalid)
    value = value.strip()
    if len(value) > max_len or "\x00" in value or not _encodable(value):
        raise Refusal(invalid)
    return value


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, which JSON \ud800 escapes can produce
        return False
    return True


def _required_text(
    obj: dict[Any, Any],
    key: str,
    missing: int,
    invalid: int,
    *,
    max_len: int = MAX_TEXT,
    allow_int: bool = False,
) -> str:
    """Required text; with allow_int an int is accepted as its digits (ids sent as numbers)."""
    value = _present(obj, key)
    if value is None:
        raise Refusal(missing)
    return _text(value, invalid, max_len=max_len, allow_int=allow_int)


def _optional_text(obj: dict[Any, Any], key: str, invalid: int, *, allow_int: bool = False) -> str | None:
    """Optional text; with allow_int an int is accepted as its digits (zip codes, phones, ids)."""
    value = _present(obj, key)
    if value is None:
        return None
    return _text(value, invalid, allow_int=allow_int)


def _int(value: object) -> int | None:
    """An int, or a string of ASCII digits; None for anything else (booleans and floats included)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        return int(value)
    return None


def _required_int(obj: dict[Any, Any], key: str, missing: int, invalid: int, *, low: int, high: int) -> int:
    value = _present(obj, key)
    if value is None:
        raise Refusal(missing)
    number = _int(value)
    if number is None or not low <= number <= high:
        raise Refusal(invalid)
    return number


def _optional_int(obj: dict[Any, Any], key: str, invalid: int, *, low: int, high: int) -> int | None:
    value = _present(obj, key)
    if value is None:
        return None
    number = _int(value)
    if number is None or not low <= number <= high:
        raise Refusal(invalid)
    return number


def _number(value: object) -> Decimal | None:
    """A finite number (int, float, Decimal or numeric string) below MAX_AMOUNT; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = Decimal(value) if abs(value) < MAX_AMOUNT else None
    elif isinstance(value, float):
        number = Decimal(str(value)) if math.isfinite(value) else None
    elif isinstance(value, Decimal):
        number = value if value.is_finite() else None
    elif isinstance(value, str) and len(value) <= 50 and _NUMBER.fullmatch(value):
        try:
            number = Decimal(value)
        except InvalidOperation:
            return None
    else:
        return None
    if number is None or abs(number) >= MAX_AMOUNT:
        return None
    return number


def _required_number(obj: dict[Any, Any], key: str, missing: int, invalid: int) -> Decimal:
    value = _present(obj, key)
    if value is None:
        raise Refusal(missing)
    number = _number(value)
    if number is None:
        raise Refusal(invalid)
    return number


def _optional_number(
    obj: dict[Any, Any], key: str, invalid: int, *, low: Decimal | None = None, high: Decimal | None = None
) -> Decimal | None:
    value = _present(obj, key)
    if value is None:
        return None
    number = _number(value)
    if number is None or (low is not None and number < low) or (high is not None and number > high):
        raise Refusal(invalid)
    return number


def _required_email(obj: dict[Any, Any], key: str, missing: int, invalid: int) -> str:
    value = _present(obj, key)
    if value is None:
        raise Refusal(missing)
    return _email(value, invalid)


def _optional_email(obj: dict[Any, Any], key: str, invalid: int) -> str | None:
    value = _present(obj, key)
    if value is None:
        return None
    return _email(value, invalid)


def normalized_email(value: object, invalid: int) -> str:
    """An email as createOrder stores it (so that lookups by email find the order), or Refusal(invalid)."""
    return _email(value, invalid)


# The usual address, which email_validator accepts as it is: an ASCII dot-atom before the @-sign, and
# after it lowercase hostname labels of at most 63 characters, at least two, the last ending with a
# letter, none with "--" (Punycode, R-LDH labels). Validating it takes 1-2 µs instead of 40 (every
# createOrder has one); any other address, valid or not, is left to email_validator, so the answer
# for every address is email_validator's own (tests/domain/test_order_request.py compares them).
_USUAL_EMAIL = re.compile(
    r"(?P<local>[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*)"
    r"@(?P<domain>(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:[a-z0-9][a-z0-9-]{0,61})?[a-z])"
)
_EMAIL_MAX_LENGTH = 254  # the whole address (RFC 5321 4.5.3.1.3), as email_validator counts it
_SPECIAL_USE_SUFFIXES = tuple(f".{name}" for name in SPECIAL_USE_DOMAIN_NAMES)
_CASE_INSENSITIVE_LOCAL = frozenset(CASE_INSENSITIVE_MAILBOX_NAMES)  # email_validator lowercases these


def _usual_email(text: str) -> bool:
    """Whether email_validator would return `text` unchanged (its normalized form) without looking."""
    match = _USUAL_EMAIL.fullmatch(text)
    if match is None or len(text) > _EMAIL_MAX_LENGTH:
        return False
    domain = f".{match['domain']}"
    return (
        "--" not in domain
        and not domain.endswith(_SPECIAL_USE_SUFFIXES)
        and match["local"].lower() not in _CASE_INSENSITIVE_LOCAL
    )


def _email(value: object, invalid: int) -> str:
    text = _text(value, invalid, max_len=MAX_EMAIL)
    if _usual_email(text):
        return text
    try:
        return validate_email(text, check_deliverability=False).normalized
    except (EmailNotValidError, ValueError):
        raise Refusal(invalid) from None
