"""SOAP renders the same refusals as REST, messages included: the orderDate without its UTC offset
(141), the currency of another catalogue (1021, naming the catalogue's), a cancel reason that is not
one of the contract's (101, listing them). The WSDL shapes are unchanged (tests/api/soap/test_wsdl.py)."""

from __future__ import annotations

from typing import Any

import pytest

from resell.domain.order_request import ORDER_DATE_HINT
from resell.domain.request_fields import REASON_NOT_VALID
from tests.api.soap.conftest import soap_order
from tests.conftest import World


@pytest.mark.parametrize("date", ["2026-11-28T10:00:00", "2026-11-28"])
def test_an_order_date_without_its_utc_offset_is_141(zeep_client: Any, world: World, date: str) -> None:
    reply = zeep_client("order").create(secret=world.a.secret, request=soap_order("SD-1", (1001, 1), orderDate=date))
    assert (reply.responseCode, reply.responseMessage, reply.orderNumber) == (141, ORDER_DATE_HINT, None)
    fixed = soap_order("SD-1", (1001, 1), orderDate=date[:10] + "T10:00:00+01:00")
    assert zeep_client("order").create(secret=world.a.secret, request=fixed).responseCode == 0


def test_another_currency_is_1021_naming_the_catalogues(zeep_client: Any, world: World) -> None:
    reply = zeep_client("order").create(secret=world.a.secret, request=soap_order("SC-1", (1001, 1), currency="USD"))
    assert reply.responseCode == 1021
    assert reply.responseMessage == "currency doesn't exist in this catalogue: it sells in EUR"


def test_a_bad_cancel_reason_lists_the_valid_ones(zeep_client: Any, world: World) -> None:
    order = zeep_client("order")
    assert order.create(secret=world.a.secret, request=soap_order("SX-1", (1001, 1))).responseCode == 0
    reply = order.cancel(secret=world.a.secret, request={"partnerOrderNumber": "SX-1", "reasonCode": 7})
    assert (reply.responseCode, reply.responseMessage) == (101, REASON_NOT_VALID)
    assert "2 (order cancelled)" in reply.responseMessage and "16 (fraud / chargeback)" in reply.responseMessage
