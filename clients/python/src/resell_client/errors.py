"""What a refused or failed call raises: `ConnectError` and its subclasses.

The Connect API answers a refusal with HTTP 200 and a `responseCode` (`code` for getSubscriptionStatus);
the client turns every non-zero code into an exception carrying it. The same number can mean different
things in different operations (1010 is "order already created" in createOrder, "not found" elsewhere),
so the class is chosen by (operation, code): `error_for` below, the one place that knows.
"""

from __future__ import annotations

from typing import Any


class ConnectError(Exception):
    """Any refusal or failure of a call.

    `response_code`: the contract's responseCode (None when the server gave none: a 401, a 404, a
    network failure); `message`: its responseMessage (or what went wrong); `operation`: the contract's
    operation name (`createOrder`, ...); `http_status`: the HTTP status (None without a reply);
    `reply`: the decoded reply body, when there was one.
    """

    def __init__(
        self,
        message: str,
        *,
        response_code: int | None = None,
        operation: str | None = None,
        http_status: int | None = None,
        reply: Any = None,
    ) -> None:
        super().__init__(f"{operation or 'call'}: {response_code if response_code is not None else '-'} {message}")
        self.response_code = response_code
        self.message = message
        self.operation = operation
        self.http_status = http_status
        self.reply = reply


class AuthenticationError(ConnectError):
    """HTTP 401: bad realm or client secret, or a token refused even after signing in again."""


class SecretError(ConnectError):
    """70 secret is missing, 71 secret not valid (unknown, or a catalogue of another merchant)."""


class InvalidRequest(ConnectError):
    """A field missing or not valid (codes under 1000), a malformed body (1030, HTTP 400 or 413), an
    unknown product, currency, language or country (1020-1023 in createOrder), and the other refusals of
    the request itself (1035, 1041-1043, 1046, 1048, 1049, 1053, 1060)."""


class NotFound(ConnectError):
    """1010 outside createOrder: the order, subscription, product or webhook is not the caller's (or
    does not exist), or HTTP 404."""


class OrderAlreadyExists(ConnectError):
    """1010 in createOrder: this partnerOrderNumber is already used by another order of the merchant.

    (After a lost reply the client resolves 1010 itself, see `Client.create_order`; this is raised when
    the number was taken before this call, or by an order with other lines.)"""


class AlreadyCancelled(ConnectError):
    """1011: the order is already cancelled, or the subscription already cancelled, terminated or expired."""


class CancelPeriodExpired(ConnectError):
    """1020 in cancelOrder: the merchant's cancel period is over."""


class OutOfStock(ConnectError):
    """1044: a line is short of serials (the whole order is refused; nothing was sold)."""


class NotAvailable(ConnectError):
    """1051: licences not available now (pre-order, withdrawn, or the publisher's key generator failed)."""


class RateLimited(ConnectError):
    """HTTP 429 after the client's retries; `retry_after` is the server's wait in seconds, if it said."""

    retry_after: float | None = None


class ServerError(ConnectError):
    """1000 internal error, or an HTTP 5xx after the client's retries (when the call may be retried)."""


class TransportError(ConnectError):
    """No reply: the connection failed or the reply was lost, after the client's retries (when the
    call may be retried at all). For a write the outcome is unknown: read the state before acting again."""


_BY_CODE: dict[int, type[ConnectError]] = {
    70: SecretError,
    71: SecretError,
    1000: ServerError,
    1011: AlreadyCancelled,
    1030: InvalidRequest,
    1044: OutOfStock,
    1051: NotAvailable,
}
# 1070, 1071: a test clock asked of a live catalogue, or moved backwards
_INVALID = {1021, 1022, 1023, 1035, 1041, 1042, 1043, 1046, 1048, 1049, 1053, 1060, 1070, 1071}


def error_for(operation: str, code: int, message: str, http_status: int | None, reply: Any) -> ConnectError:
    """The exception for a reply whose code is not 0."""
    cls: type[ConnectError]
    if operation == "redeliverWebhookEvent" and code in (1011, 1012):
        cls = NotFound if code == 1011 else InvalidRequest  # no such event for this endpoint; endpoint disabled
    elif code == 1010:
        cls = OrderAlreadyExists if operation == "createOrder" else NotFound
    elif code == 1020:
        cls = CancelPeriodExpired if operation == "cancelOrder" else InvalidRequest
    elif code in _BY_CODE:
        cls = _BY_CODE[code]
    elif 0 < code < 1000 or code in _INVALID:
        cls = InvalidRequest
    else:
        cls = ConnectError
    return cls(message, response_code=code, operation=operation, http_status=http_status, reply=reply)
