"""Python client for the resell Connect API (wire-compatible with Nexway Connect REST v3).

    from resell_client import Client
    with Client(base_url=..., realm_name=..., client_secret=..., secret=...) as client:
        order = client.create_order(...)

`AsyncClient` has the same methods, awaited. Refusals raise `ConnectError` subclasses
(resell_client.errors); webhooks are checked with `resell_client.webhooks.verify`.
"""

from resell_client import webhooks
from resell_client._client import AsyncClient, Client
from resell_client._version import API_GENERATION, __version__
from resell_client.errors import (
    AlreadyCancelled,
    AuthenticationError,
    CancelPeriodExpired,
    ConnectError,
    InvalidRequest,
    NotAvailable,
    NotFound,
    OrderAlreadyExists,
    OutOfStock,
    RateLimited,
    SecretError,
    ServerError,
    TransportError,
)
from resell_client.models import (
    CartItem,
    Customer,
    Discount,
    Location,
    Metadata,
    Order,
    OrderLineRequest,
    OrderRequest,
    Payment,
)

__all__ = [
    "API_GENERATION",
    "AlreadyCancelled",
    "AsyncClient",
    "AuthenticationError",
    "CancelPeriodExpired",
    "CartItem",
    "Client",
    "ConnectError",
    "Customer",
    "Discount",
    "InvalidRequest",
    "Location",
    "Metadata",
    "NotAvailable",
    "NotFound",
    "Order",
    "OrderAlreadyExists",
    "OrderLineRequest",
    "OrderRequest",
    "OutOfStock",
    "Payment",
    "RateLimited",
    "SecretError",
    "ServerError",
    "TransportError",
    "__version__",
    "webhooks",
]
