"""The demo world that `make run` seeds into an empty database: catalogue, stock, two merchants, and
an admin of the back office.

The merchants' secrets and the admin's password exist in clear only at creation: they are written once to
var/demo-credentials.json (mode 0600) so that the README's walkthrough can be pasted as is.
"""

from __future__ import annotations

import json
import os
import secrets
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from resell.db.tables import merchants
from resell.private_files import open_private, private_dir
from resell.services import feeds, staff, stock
from resell.services import merchants as merchant_service
from resell.services.catalog_import import import_catalog
from resell.services.context import Context
from resell.services.demo_files import store_demo_files

DEMO_SERIALS = 1000
LAST_FIVE_REF = 100004  # the product with exactly five serials in stock
MERCHANT_A = "demo-shop"
MERCHANT_B = "other-shop"
DEMO_ADMIN = "admin@demo.test"  # the back office's demo admin (its password is random, in the credentials file)
DEMO_FEED_PROVIDER = "demo"  # demo-shop's EUR catalogue has the feeds demo/xml and demo/csv


def demo_catalog() -> dict[str, Any]:
    return json.loads(resources.files("resell.demo").joinpath("catalog.json").read_text(encoding="utf-8"))


def credentials_path(ctx: Context) -> Path:
    return ctx.settings.var_dir / "demo-credentials.json"


def is_seeded(ctx: Context) -> bool:
    with ctx.db.read() as conn:
        return conn.execute(select(func.count()).select_from(merchants)).scalar_one() > 0


def _serials(prefix: str, count: int) -> list[str]:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return [
        f"{prefix}-" + "-".join("".join(secrets.choice(alphabet) for _ in range(5)) for _ in range(4))
        for _ in range(count)
    ]


def seed(ctx: Context, serials_per_product: int = DEMO_SERIALS) -> dict[str, Any]:
    """Load the demo into an empty database and return the credentials document."""
    catalog = demo_catalog()
    import_catalog(ctx, catalog, actor="demo")
    store_demo_files(ctx, catalog)  # real bytes behind every demo download link
    pool_refs = [p["ref"] for p in catalog["products"] if p.get("serialSource") == "pool"]
    for ref in pool_refs:
        count = 5 if ref == LAST_FIVE_REF else serials_per_product
        stock.import_serials(ctx, ref, _serials(f"D{ref}", count), actor="demo")
    all_refs = sorted(p["ref"] for p in catalog["products"])
    usd_refs = [r for r in all_refs if r != LAST_FIVE_REF]
    other_refs = [r for r in all_refs if r in (100001, 100002, 100003, 100090)]
    Spec = merchant_service.CatalogSpec
    shop, (eur, usd) = merchant_service.create_merchant(
        ctx,
        MERCHANT_A,
        "Demo Shop",
        actor="demo",
        catalogs_to_add=[Spec("Demo Shop Europe", "EUR", all_refs), Spec("Demo Shop Americas", "USD", usd_refs)],
    )
    other, (other_cat,) = merchant_service.create_merchant(
        ctx, MERCHANT_B, "Other Shop", actor="demo", catalogs_to_add=[Spec("Other Shop Europe", "EUR", other_refs)]
    )
    for feed_format in ("xml", "csv"):  # /flow/getcatalog/v2.4/?secret=EUR secret&provider=demo&config=xml|csv
        feeds.configure(ctx, MERCHANT_A, "EUR", DEMO_FEED_PROVIDER, feed_format, feed_format, actor="demo")
    _, admin_password = staff.create_account(
        ctx, DEMO_ADMIN, "admin", actor="demo", password=staff.one_time_password(), must_change_password=False
    )
    document = {
        "baseUrl": ctx.settings.base_url,
        "backOffice": {"url": f"{ctx.settings.base_url}/admin", "email": DEMO_ADMIN, "password": admin_password},
        "merchants": [
            {
                "realmName": shop.realm,
                "clientSecret": shop.client_secret,
                "catalogs": [
                    {"secret": c.secret, "sandboxSecret": c.sandbox_secret, "currency": c.currency,
                     "productRefs": c.product_refs}
                    for c in (eur, usd)
                ],
            },
            {
                "realmName": other.realm,
                "clientSecret": other.client_secret,
                "catalogs": [
                    {"secret": other_cat.secret, "sandboxSecret": other_cat.sandbox_secret,
                     "currency": other_cat.currency, "productRefs": other_cat.product_refs}
                ],
            },
        ],
    }
    path = credentials_path(ctx)
    private_dir(path.parent)
    with os.fdopen(open_private(path), "w") as out:
        json.dump(document, out, indent=2)
    return document


def load_credentials(ctx: Context) -> dict[str, Any] | None:
    path = credentials_path(ctx)
    if not path.exists():
        return None
    document = json.loads(path.read_text())
    document["baseUrl"] = ctx.settings.base_url
    if "backOffice" in document:
        document["backOffice"]["url"] = f"{ctx.settings.base_url}/admin"
    return document
