"""Backup DVDs: shipment made with the order, 1041, cancellation, and the warehouse commands."""

from __future__ import annotations

import copy
import csv
import io

import pytest
from sqlalchemy import func, select

from resell.db.tables import audit_events
from resell.db.tables import shipments as shipments_table
from resell.services import shipments
from resell.services.catalog_import import import_catalog
from resell.services.context import Context
from tests.conftest import TEST_CATALOG, CliRun, Merchant, World, order_body
from tests.delivery_support import sell

DELIVERY = {
    "firstName": "Grace",
    "lastName": "Hopper",
    "address1": "1 Navy Yard",
    "zipCode": "20001",
    "city": "Washington",
    "province": "DC",
    "country": "US",
    "phone": "+1 202 555 0100",
}


def dvd_order(pon: str, *lines: tuple[int, int], delivery: dict | None = DELIVERY) -> dict:
    body = order_body(pon, *lines)
    if delivery is not None:
        body["customer"]["locationDelivery"] = delivery
    return body


@pytest.fixture
def no_files_product(ctx: Context, world: World) -> None:
    """Product 1401 (a key, no files), eligible for the backup DVD like 1001 and 1002."""
    dvd = copy.deepcopy(next(p for p in TEST_CATALOG["products"] if p["ref"] == 1091))
    dvd["option"]["eligibleRefs"] = [1001, 1002, 1401]
    import_catalog(
        ctx,
        {
            "products": [
                {
                    "ref": 1401,
                    "name": "Key only",
                    "publisher": "pub",
                    "serialSource": "none",
                    "deliveryMode": "serial",
                    "prices": [{"currency": "EUR", "amountDutyFree": 5}],
                },
                dvd,
            ]
        },
    )
    sell(ctx, "shop-a", 1401)


def test_a_backup_dvd_order_creates_a_pending_shipment_to_the_delivery_address(ctx: Context, shop_a: Merchant) -> None:
    reply = shop_a.call("POST", "/order/new", dvd_order("DVD-1", (1001, 2), (1002, 1), (1091, 1)))
    assert reply.status_code == 201, reply.text
    number = reply.json()["orderNumber"]
    (shipment,) = shipments.for_order(ctx, number)
    assert shipment.status == "pending" and shipment.partner_order_number == "DVD-1"
    assert shipment.address["city"] == "Washington" and shipment.address["province"] == "DC"
    assert shipment.address["firstName"] == "Grace"
    assert shipment.items == [
        {"productRef": 1001, "name": "Serial and files", "quantity": 2},
        {"productRef": 1002, "name": "Download only", "quantity": 1},
    ]
    with ctx.db.read() as conn:
        assert (
            conn.execute(
                select(func.count())
                .select_from(audit_events)
                .where(audit_events.c.entity == "shipment", audit_events.c.action == "created")
            ).scalar_one()
            == 1
        )


def test_no_shipment_without_the_option_nor_for_a_refused_order(ctx: Context, shop_a: Merchant) -> None:
    assert shop_a.call("POST", "/order/new", dvd_order("DVD-2", (1001, 1))).status_code == 201
    short = shop_a.call("POST", "/order/new", dvd_order("DVD-3", (1001, 21), (1091, 1)))  # 20 serials in stock
    assert short.json()["responseCode"] == 1044
    refused = shop_a.call("POST", "/order/new", dvd_order("DVD-4", (1001, 1), (1091, 1), delivery=None))
    assert refused.json()["responseCode"] == 410
    with ctx.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(shipments_table)).scalar_one() == 0


def test_a_cart_with_nothing_to_burn_is_1041(ctx: Context, shop_a: Merchant, no_files_product: None) -> None:
    refused = shop_a.call("POST", "/order/new", dvd_order("DVD-5", (1401, 1), (1091, 1)))
    assert refused.status_code == 200 and refused.json()["responseCode"] == 1041
    assert refused.json()["responseMessage"] == "backup DVD not possible for this cart"
    assert shop_a.call("GET", "/order/DVD-5").json()["responseCode"] == 1010  # nothing created
    mixed = shop_a.call("POST", "/order/new", dvd_order("DVD-6", (1401, 1), (1001, 1), (1091, 1)))
    assert mixed.status_code == 201
    (shipment,) = shipments.for_order(ctx, mixed.json()["orderNumber"])
    assert shipment.items == [{"productRef": 1001, "name": "Serial and files", "quantity": 1}]


def test_cancelling_before_shipping_cancels_the_shipment_after_it_does_not(
    ctx: Context, shop_a: Merchant, clock
) -> None:
    first = shop_a.call("POST", "/order/new", dvd_order("DVD-7", (1001, 1), (1091, 1))).json()["orderNumber"]
    second = shop_a.call("POST", "/order/new", dvd_order("DVD-8", (1001, 1), (1091, 1))).json()["orderNumber"]
    (shipped,) = shipments.for_order(ctx, second)
    shipments.mark_shipped(ctx, shipped.id, "TRACK-1")
    clock.advance(days=1)
    for pon in ("DVD-7", "DVD-8"):
        assert (
            shop_a.call("PUT", "/order/cancel", {"partnerOrderNumber": pon, "reasonCode": 2}).json()["responseCode"]
            == 0
        )
    (cancelled,) = shipments.for_order(ctx, first)
    assert cancelled.status == "cancelled" and cancelled.cancelled_at == clock.now
    (kept,) = shipments.for_order(ctx, second)
    assert kept.status == "shipped" and kept.tracking == "TRACK-1" and kept.cancelled_at is None


def test_the_warehouse_commands(ctx: Context, shop_a: Merchant, cli: CliRun) -> None:
    hostile = dict(DELIVERY, firstName='=HYPERLINK("http://evil")', address2="Apt 4")
    first = shop_a.call("POST", "/order/new", dvd_order("DVD-9", (1001, 1), (1091, 1), delivery=hostile)).json()
    second = shop_a.call("POST", "/order/new", dvd_order("DVD-10", (1002, 3), (1091, 1))).json()
    (s1,) = shipments.for_order(ctx, first["orderNumber"])
    (s2,) = shipments.for_order(ctx, second["orderNumber"])

    listed = cli("shipments", "list")
    assert listed.exit_code == 0, listed.output
    assert "DVD-9" in listed.stdout and "DVD-10" in listed.stdout and "pending" in listed.stdout

    exported = cli("shipments", "export", "--csv")
    assert exported.exit_code == 0, exported.output
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert [r["shipmentId"] for r in rows] == [str(s1.id), str(s2.id)]
    assert rows[0]["firstName"] == '\'=HYPERLINK("http://evil")'  # never a formula in the warehouse's sheet
    assert rows[0]["address2"] == "Apt 4" and rows[0]["country"] == "US" and rows[0]["province"] == "DC"
    assert rows[1]["items"] == "3 x 1002 Download only"
    assert rows[1]["orderNumber"] == str(second["orderNumber"]) and rows[1]["partnerOrderNumber"] == "DVD-10"

    shipped = cli("shipments", "mark-shipped", str(s1.id), "--tracking", "1Z999")
    assert shipped.exit_code == 0, shipped.output
    assert f"shipment {s1.id}" in shipped.stdout
    again = cli("shipments", "mark-shipped", str(s1.id))
    assert again.exit_code == 1 and "is shipped, not pending" in again.output
    assert cli("shipments", "mark-shipped", "999999").exit_code == 1
    pending = list(csv.DictReader(io.StringIO(cli("shipments", "export", "--csv").stdout)))
    assert [r["shipmentId"] for r in pending] == [str(s2.id)]  # the warehouse's next batch
    everything = list(csv.DictReader(io.StringIO(cli("shipments", "export", "--csv", "--status", "all").stdout)))
    assert {r["status"] for r in everything} == {"shipped", "pending"}
    (done,) = shipments.for_order(ctx, first["orderNumber"])
    assert done.status == "shipped" and done.tracking == "1Z999"
    assert done.shipped_at is not None and done.shipped_at >= s1.created_at  # the command runs on the real clock
