"""The sandbox's rules without I/O: its magic values (refusals on purpose) and its TEST- serials.

A merchant testing its integration needs every refusal on demand, not only the ones its test data
happen to cause. In the sandbox, a partnerOrderNumber that starts with one of MAGIC_VALUES' prefixes
makes the named operation on that order refuse with the named code, every time; anything else
behaves as live. This table is the one place these rules live: the services apply it, the tests run
every row of it, and the table in docs/merchants.md is `docs_table()`'s output (a test checks so).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from resell.domain import codes

# the operations a magic value acts on (the contract's names)
CREATE_ORDER = "createOrder"
CANCEL_ORDER = "cancelOrder"
UPDATE_DOWNLOAD_TIME = "updateDownloadTime"


@dataclass(frozen=True)
class MagicValue:
    """partnerOrderNumbers starting with `prefix` make `operation` refuse with `code` (and `message`)."""

    prefix: str
    operation: str
    code: int
    what: str  # what it stands for, for the docs
    # None: the code's usual message, the very reply a live refusal gives (the live one does not say
    # which of its causes it was either)
    message: str | None = None

    def refusal(self) -> codes.Refusal:
        return codes.Refusal(self.code, self.message)


MAGIC_VALUES: tuple[MagicValue, ...] = (
    MagicValue("TEST-OUT-OF-STOCK", CREATE_ORDER, codes.OUT_OF_STOCK, "a product is out of stock"),
    MagicValue(
        "TEST-NOT-RELEASED", CREATE_ORDER, codes.LICENCES_NOT_AVAILABLE, "a product is not released yet (pre-order)"
    ),
    MagicValue(
        "TEST-WITHDRAWN", CREATE_ORDER, codes.LICENCES_NOT_AVAILABLE, "a product was withdrawn from sale"
    ),
    MagicValue(
        "TEST-KEYGEN-FAILURE", CREATE_ORDER, codes.LICENCES_NOT_AVAILABLE, "the publisher's key generator failed"
    ),
    MagicValue(
        "TEST-AMOUNTS-REQUIRED", CREATE_ORDER, codes.AMOUNTS_REQUIRED, "the catalogue demands an amount on each line"
    ),
    MagicValue("TEST-INTERNAL-ERROR", CREATE_ORDER, codes.INTERNAL_ERROR, "an internal error (retry later)"),
    MagicValue(
        "TEST-CANCEL-PERIOD-OVER",
        CANCEL_ORDER,
        codes.CANCEL_PERIOD_EXPIRED,
        "the order is created; cancelling it is refused: its cancel period is over",
    ),
    MagicValue(
        "TEST-DOWNLOAD-TIME-REFUSED",
        UPDATE_DOWNLOAD_TIME,
        codes.DOWNLOAD_TIME_NOT_VALID,
        "the order is created; a new download end date for it is refused",
    ),
)


def magic_refusal(operation: str, partner_order_number: str) -> codes.Refusal | None:
    """The refusal a sandbox call of `operation` on an order with that number must give, if any."""
    for magic in MAGIC_VALUES:
        if magic.operation == operation and partner_order_number.startswith(magic.prefix):
            return magic.refusal()
    return None


def docs_table() -> str:
    """The Markdown table of MAGIC_VALUES that docs/merchants.md shows."""
    rows = [
        "| partnerOrderNumber starts with | operation refused | responseCode | what it stands for |",
        "| --- | --- | --- | --- |",
    ]
    rows += [f"| `{m.prefix}` | {m.operation} | {m.code} | {m.what} |" for m in MAGIC_VALUES]
    return "\n".join(rows) + "\n"


# ---------------------------------------------------------------- TEST- serials

SERIAL_PREFIX = "TEST-"
# no 0/O, 1/I: a test serial read out loud is still unambiguous
_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"


def new_test_serial() -> str:
    """`TEST-XXXX-XXXX-XXXX`: the shape never changes, the 60 random bits make it unique in practice
    (and the serials table's unique constraint is the last word)."""
    groups = ("".join(secrets.choice(_ALPHABET) for _ in range(4)) for _ in range(3))
    return SERIAL_PREFIX + "-".join(groups)


def is_test_serial(value: str) -> bool:
    return value.startswith(SERIAL_PREFIX)


# ---------------------------------------------------------------- webhooks


def test_field(test: bool) -> dict[str, bool]:
    """What an event of an order adds to its payload (and so to its webhooks' `data`): `"test": true`
    for a test order; nothing for a live one, whose events stay as they always were."""
    return {"test": True} if test else {}
