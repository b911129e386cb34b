"""The sandbox over SOAP (zeep, from the served WSDL): a `test_` secret gives TEST- serials and the
magic values' codes through the same services as REST."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tests.api.soap.conftest import soap_order
from tests.conftest import World

Client = Callable[..., Any]


def _items(wrapper: Any, name: str) -> list[Any]:
    return [] if wrapper is None else list(wrapper[name] or [])


def test_a_sandbox_order_and_a_magic_refusal_through_soap(zeep_client: Client, world: World) -> None:
    order = zeep_client("order")
    secret = world.a.sandbox_secret
    created = order.create(secret=secret, request=soap_order("SOAP-SB", (1001, 2)))
    assert created.responseCode == 0
    (line,) = _items(created.orderLines, "createOrderLineResponseType")
    units = _items(line.lineItems, "createLineItemResponseType")
    serials = [_items(u.serials, "createSerialResponseType")[0].data for u in units]
    assert len(serials) == 2 and all(re.fullmatch(r"TEST-\w{4}-\w{4}-\w{4}", s) for s in serials)
    assert not set(serials) & set(world.serials[1001])
    refused = order.create(secret=secret, request=soap_order("TEST-OUT-OF-STOCK-soap", (1001, 1)))
    assert refused.responseCode == 1044 and refused.orderNumber is None
    live = order.create(secret=world.a.secret, request=soap_order("TEST-OUT-OF-STOCK-soap", (1001, 1)))
    assert live.responseCode == 0  # live, an ordinary number and a real serial
    (live_line,) = _items(live.orderLines, "createOrderLineResponseType")
    (unit,) = _items(live_line.lineItems, "createLineItemResponseType")
    assert _items(unit.serials, "createSerialResponseType")[0].data in world.serials[1001]
    cancel = order.cancel(secret=secret, request={"partnerOrderNumber": "SOAP-SB", "reasonCode": 3, "comment": "x"})
    assert cancel.responseCode == 0
