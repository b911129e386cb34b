"""resell_client against the real server: every Connect operation and the webhooks API, typed replies,
and refusals raised as typed exceptions carrying the contract's responseCode."""

from __future__ import annotations

import datetime as dt

import pytest
import resell_client
from resell_client import (
    AlreadyCancelled,
    AuthenticationError,
    Client,
    ConnectError,
    InvalidRequest,
    NotAvailable,
    NotFound,
    OrderAlreadyExists,
    OutOfStock,
    SecretError,
    models,
)

from tests.conftest import World
from tests.sdk.conftest import order_request, sdk_client


def test_the_version_follows_the_rest_generation() -> None:
    assert resell_client.__version__.split(".")[0] == str(resell_client.API_GENERATION) == "3"


def test_status_stock_and_cross_up_sell(sdk: Client) -> None:
    assert sdk.status().status == "UP"
    stock = sdk.get_stock_status([1001, 1002, 999999])
    assert isinstance(stock, models.StockStatus) and stock.response_code == 0
    found = stock.of(1001)
    assert found is not None and found.status == 100 and found.in_stock
    unknown = stock.of(999999)
    assert unknown is not None and unknown.response_code == 1010 and not unknown.in_stock

    offers = sdk.get_cross_up_sell([(1001, 1)], language="EN")
    kinds = {(s.ref, s.type) for s in offers.products_return}
    assert (1002, "up") in kinds and (1003, "cross") in kinds
    assert all(s.currency == "EUR" for s in offers.products_return)


def test_an_order_from_creation_to_cancellation(sdk: Client) -> None:
    order = sdk.create_order(order_request("SDK-1", (1001, 2)))
    assert isinstance(order, models.Order) and order.partner_order_number == "SDK-1" and order.order_number > 0
    (line,) = order.order_lines
    assert line.product_ref == 1001 and len(line.serials) == 2 and order.serials == line.serials
    assert line.files[0].url.startswith("http") and isinstance(line.date_end_download, dt.date)

    again = sdk.get_order("SDK-1")
    assert again.order_number == order.order_number and again.serials == order.serials

    info = sdk.get_download_info("SDK-1")
    assert info.download_end_date == line.date_end_download
    assert info.order_lines[0].files[0].count_start_download == 0

    moved = sdk.update_download_time("SDK-1", "P7D")
    assert moved.new_download_end_date == line.date_end_download + dt.timedelta(days=7)
    assert sdk.update_download_time("SDK-1", dt.date(2030, 1, 31)).new_download_end_date == dt.date(2030, 1, 31)

    cancelled = sdk.cancel_order("SDK-1", 3, "changed their mind")
    assert cancelled.order_number == order.order_number and isinstance(cancelled.new_download_end_date, dt.date)
    with pytest.raises(AlreadyCancelled) as refused:
        sdk.cancel_order("SDK-1", 3)
    assert refused.value.response_code == 1011 and refused.value.operation == "cancelOrder"


def test_the_order_request_model_is_accepted_as_well_as_a_mapping(sdk: Client) -> None:
    request = models.OrderRequest(
        partner_order_number="SDK-MODEL",
        currency="EUR",
        order_date=dt.datetime(2026, 11, 28, 10, 0),
        order_lines=[models.OrderLineRequest(product_ref=1002, quantity=1)],
        customer=models.Customer(
            email="buyer@example.com", location_invoice=models.Location(last_name="Lovelace", country="FR")
        ),
    )
    assert request.to_wire()["orderDate"] == "2026-11-28T10:00:00+00:00"
    order = sdk.create_order(request)
    assert order.order_lines[0].serials == [] and order.order_lines[0].files


def test_subscriptions(sdk: Client) -> None:
    order = sdk.create_order(order_request("SDK-SUB", (1005, 1)))
    subscription_id = order.order_lines[0].line_items[0].subscription_id
    assert subscription_id is not None

    status = sdk.get_subscription_status("SDK-SUB", subscription_id)
    assert (status.response_code, status.technical_status, status.generation, status.period) == (0, "ACTIVE", 0, "P1Y")
    assert status.expiration_datetime > status.creation_datetime

    renewed = sdk.renew_subscription("SDK-SUB", subscription_id)
    assert renewed.subscription_id == subscription_id and renewed.order_number != order.order_number
    assert sdk.get_subscription_status("SDK-SUB", subscription_id).generation == 1
    assert sdk.get_order("SDK-SUB-1").order_number == renewed.order_number

    stopped = sdk.cancel_subscription("SDK-SUB", subscription_id)
    assert stopped.order_number == order.order_number
    assert sdk.get_subscription_status("SDK-SUB", subscription_id).technical_status == "CANCELLED"
    with pytest.raises(AlreadyCancelled):
        sdk.renew_subscription("SDK-SUB", subscription_id)
    with pytest.raises(NotFound) as missing:
        sdk.get_subscription_status("SDK-SUB", subscription_id + 1000)
    assert missing.value.response_code == 1010 and missing.value.operation == "getSubscriptionStatus"


def test_catalogue_lists(sdk: Client) -> None:
    (software,) = sdk.get_categories("fr").category_list
    assert software.label == "Logiciels" and software.subcategories[0].label == "Sécurité"
    assert [os.label for os in sdk.get_operating_systems().os_list] == ["Windows 11", "macOS 14"]


def test_webhook_endpoints(sdk: Client) -> None:
    made = sdk.create_webhook("http://127.0.0.1:9/hooks", ["order.created", "subscription.renewed"])
    assert made.signing_secret.startswith("whsec_") and made.events == ["order.created", "subscription.renewed"]
    (listed,) = sdk.list_webhooks().webhooks
    assert (listed.id, listed.url, listed.active) == (made.id, "http://127.0.0.1:9/hooks", True)
    assert sdk.delete_webhook(made.id).id == made.id
    assert sdk.list_webhooks().webhooks == []
    with pytest.raises(NotFound) as gone:
        sdk.delete_webhook(made.id)
    assert gone.value.response_code == 1010
    with pytest.raises(InvalidRequest) as bad:
        sdk.create_webhook("http://127.0.0.1:9/hooks", ["stock.low"])
    assert bad.value.response_code == 111


@pytest.mark.parametrize(
    ("lines", "error", "code"),
    [
        (((1001, 21),), OutOfStock, 1044),  # 20 serials in stock
        (((1004, 1),), NotAvailable, 1051),  # a pre-order
        (((424242, 1),), InvalidRequest, 1020),  # no such product
    ],
)
def test_create_order_refusals(
    sdk: Client, lines: tuple[tuple[int, int], ...], error: type[ConnectError], code: int
) -> None:
    with pytest.raises(error) as refused:
        sdk.create_order(order_request("SDK-NO", *lines))
    assert refused.value.response_code == code and refused.value.operation == "createOrder"
    assert refused.value.http_status == 200 and refused.value.reply["orderNumber"] is None
    with pytest.raises(NotFound):
        sdk.get_order("SDK-NO")


def test_a_number_used_before_is_refused_not_resolved(sdk: Client) -> None:
    sdk.create_order(order_request("SDK-DUP", (1003, 1)))
    with pytest.raises(OrderAlreadyExists) as refused:
        sdk.create_order(order_request("SDK-DUP", (1003, 1)))
    assert refused.value.response_code == 1010 and "already" in refused.value.message


def test_field_refusals_carry_their_code(sdk: Client) -> None:
    with pytest.raises(InvalidRequest) as refused:
        sdk.create_order(order_request("SDK-CUR", (1003, 1)) | {"currency": "EUROS"})
    assert refused.value.response_code == 121
    sdk.create_order(order_request("SDK-VAL", (1003, 1)))
    with pytest.raises(InvalidRequest) as bad_value:
        sdk.update_download_time("SDK-VAL", "soon")
    assert bad_value.value.response_code == 111 and bad_value.value.operation == "updateDownloadTime"


def test_another_merchants_order_is_not_found(server: str, world: World, sdk: Client) -> None:
    sdk.create_order(order_request("SDK-MINE", (1003, 1)))
    with sdk_client(server, world.b) as other, pytest.raises(NotFound) as refused:
        other.get_order("SDK-MINE")
    assert refused.value.response_code == 1010


def test_a_bad_secret_and_bad_credentials(server: str, world: World) -> None:
    with sdk_client(server, world.a, secret=world.b.secret) as client, pytest.raises(SecretError) as refused:
        client.get_stock_status([1001])
    assert refused.value.response_code == 71
    with sdk_client(server, world.a, client_secret="wrong") as client, pytest.raises(AuthenticationError) as denied:
        client.get_stock_status([1001])
    assert denied.value.http_status == 401 and denied.value.response_code is None
    assert isinstance(denied.value, ConnectError)
