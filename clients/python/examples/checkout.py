"""A shop's checkout: check the stock, take the payment, create the order, give the buyer what they bought.

    make run                                   # in another terminal: the demo platform
    .venv/bin/python clients/python/examples/checkout.py [PRODUCT_REF]

Credentials: RESELL_BASE_URL, RESELL_REALM, RESELL_CLIENT_SECRET, RESELL_SECRET (and RESELL_CURRENCY),
else the demo merchant of var/demo-credentials.json (RESELL_DEMO_CREDENTIALS names another file) with
its EUR catalogue's sandbox secret (`test_...`): test orders with TEST- serials, no real stock taken.
Set RESELL_SECRET to a live catalogue secret to sell for real.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from resell_client import Client, ConnectError, Customer, Location, OrderLineRequest, OrderRequest, OutOfStock, Payment


def connect() -> Client:
    """A client for the merchant of the environment, else for the demo merchant of `make run`."""
    if os.environ.get("RESELL_REALM"):
        return Client(
            base_url=os.environ.get("RESELL_BASE_URL", "http://127.0.0.1:8000"),
            realm_name=os.environ["RESELL_REALM"],
            client_secret=os.environ["RESELL_CLIENT_SECRET"],
            secret=os.environ["RESELL_SECRET"],
        )
    demo = json.loads(Path(os.environ.get("RESELL_DEMO_CREDENTIALS", "var/demo-credentials.json")).read_text())
    merchant = demo["merchants"][0]
    catalog = merchant["catalogs"][0]
    return Client(
        base_url=demo["baseUrl"],
        realm_name=merchant["realmName"],
        client_secret=merchant["clientSecret"],
        # its first catalogue's (EUR) sandbox: test orders, TEST- serials, no real stock taken
        secret=catalog.get("sandboxSecret") or catalog["secret"],
    )


def main() -> int:
    ref = int(sys.argv[1]) if len(sys.argv) > 1 else 100001
    with connect() as shop:  # signs in (and refreshes its token) by itself
        item = shop.get_stock_status([ref]).of(ref)
        if item is None or not item.in_stock:
            print(f"product {ref} is not available: {item}")
            return 1

        # ... the buyer pays in the shop here; the order goes to resell once the payment is taken ...
        order = OrderRequest(
            partner_order_number=f"shop-{time.time_ns()}",  # the shop's own order id: never used twice
            currency=os.environ.get("RESELL_CURRENCY", "EUR"),
            order_lines=[OrderLineRequest(product_ref=ref, quantity=1, vat_rate=20)],
            customer=Customer(
                email="ada@example.com",
                language="en_GB",
                ip_v4="192.0.2.7",
                location_invoice=Location(first_name="Ada", last_name="Lovelace", city="London", country="GB"),
            ),
            payment=Payment(transaction_id="TX-1"),
        )
        try:
            placed = shop.create_order(order)  # retried safely: never sold twice, never lost
        except OutOfStock:
            print("sold out in the meantime: refund the buyer")
            return 1
        except ConnectError as refused:
            print(f"refused: {refused.response_code} {refused.message}")
            return 1

        print(f"order {placed.order_number} ({placed.partner_order_number})")
        for line in placed.order_lines:
            for serial in line.serials:
                print(f"  serial: {serial}")
            for file in line.files:
                print(f"  download: {file.label} {file.url} (until {line.date_end_download})")
            if line.digital_locker_link:
                print(f"  digital locker: {line.digital_locker_link}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
