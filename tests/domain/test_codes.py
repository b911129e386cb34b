"""Response codes by name: services and parsers raise names from resell.domain.codes, the numbers
and their wording per operation stay the wire contract."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from resell.domain import codes

PACKAGE = Path(__file__).resolve().parents[2] / "resell"
# where a code travels as an argument: the refusal itself and the parsers that raise it
CODE_TAKERS = {"Refusal", "InvalidEndpoint", "partner_order_number", "positive_int", "parse_language"}
CODE_KEYWORDS = {"missing", "invalid", "not_found"}


def _bare_codes(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        takes_codes = (
            name in CODE_TAKERS
            or name.startswith(("_required_", "_optional_"))
            or name
            in (
                "_text",
                "normalized_email",
            )
        )
        args = [a for a in node.args if takes_codes] + [k.value for k in node.keywords if k.arg in CODE_KEYWORDS]
        found += [
            f"{path.relative_to(PACKAGE.parent)}:{a.lineno}"
            for a in args
            if isinstance(a, ast.Constant) and type(a.value) is int
        ]
    return found


def test_services_and_domain_raise_codes_by_name():
    files = sorted((PACKAGE / "services").glob("*.py")) + sorted((PACKAGE / "domain").glob("*.py"))
    bare = [hit for path in files if path.name != "codes.py" for hit in _bare_codes(path)]
    assert bare == []


def test_every_name_has_its_message():
    named = {name: value for name, value in vars(codes).items() if name.isupper() and type(value) is int}
    tables = [codes.MESSAGES, *codes.OPERATION_MESSAGES.values()]
    assert [name for name, value in named.items() if not any(value in table for table in tables)] == []


@pytest.mark.parametrize(
    ("name", "operation", "number", "message"),
    [
        ("ORDER_ALREADY_CREATED", "createOrder", 1010, "order already created"),
        ("ORDER_NOT_FOUND", "getOrderData", 1010, "order not found"),
        ("ORDER_NOT_FOUND", "cancelOrder", 1010, "order not found"),
        ("SUBSCRIPTION_NOT_FOUND", "renewSubscription", 1010, "subscription not found for this order"),
        ("WEBHOOK_NOT_FOUND", "removeWebhook", 1010, "webhook not found"),
        ("FEED_CONFIG_NOT_FOUND", "getCatalog", 1010, "feed configuration not found"),
        ("PRODUCT_UNKNOWN", "createOrder", 1020, "product reference doesn't exist"),
        ("CANCEL_PERIOD_EXPIRED", "cancelOrder", 1020, "cancel period expired"),
        ("ORDER_ALREADY_CANCELLED", "updateDownloadTime", 1011, "order already cancelled"),
        ("SUBSCRIPTION_ENDED", "cancelSubscription", 1011, "subscription already cancelled or terminated"),
        ("OUT_OF_STOCK", "createOrder", 1044, "out of stock"),
        ("OUT_OF_STOCK", "renewSubscription", 1044, "no stock to renew"),
        ("MALFORMED", "createOrder", 1030, "malformed document"),
        ("CANCEL_REASON_MISSING", "cancelOrder", 100, "reasonCode missing"),
        ("CANCEL_ORDER_NUMBER_MISSING", "cancelOrder", 110, "partnerOrderNumber missing"),
    ],
)
def test_a_name_is_its_number_with_the_operations_wording(name, operation, number, message):
    assert getattr(codes, name) == number
    assert codes.message_for(getattr(codes, name), operation) == message
