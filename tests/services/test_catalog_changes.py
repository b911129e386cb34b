"""What the differential feeds read: catalogue membership, imported product changes and restocks, recorded once."""

from __future__ import annotations

import copy

import pytest
from sqlalchemy import select

from resell.db.tables import catalog_changes, catalogs, products
from resell.services import merchants, stock
from resell.services.catalog_import import import_catalog
from tests.conftest import TEST_CATALOG, World, add_prices


def changes(ctx) -> list[tuple[str, int, str]]:  # type: ignore[no-untyped-def]
    """(catalogue name, product ref, action), in the order recorded."""
    with ctx.db.read() as conn:
        return [
            tuple(r)  # type: ignore[misc]
            for r in conn.execute(
                select(catalogs.c.name, products.c.ref, catalog_changes.c.action)
                .join(catalogs, catalogs.c.id == catalog_changes.c.catalog_id)
                .join(products, products.c.id == catalog_changes.c.product_id)
                .order_by(catalog_changes.c.id)
            )
        ]


def test_a_new_catalogue_records_an_insert_per_product(ctx, world: World) -> None:
    recorded = changes(ctx)
    assert [r for r in recorded if r[0] == "shop-a USD"] == [("shop-a USD", 1002, "insert")]
    assert sorted(ref for name, ref, action in recorded if name == "shop-b EUR" and action == "insert") == [
        1001,
        1002,
        1003,
        1004,
        1005,
        1090,
        1091,
    ]


def test_reimporting_an_unchanged_catalogue_records_nothing(ctx, world: World) -> None:
    before = changes(ctx)
    import_catalog(ctx, TEST_CATALOG)
    assert changes(ctx) == before


def test_an_imported_change_is_an_update_in_every_catalogue_selling_the_product(ctx, world: World) -> None:
    before = len(changes(ctx))
    catalog = copy.deepcopy(TEST_CATALOG)
    catalog["products"][1]["prices"] = [{"currency": "EUR", "amountDutyFree": 6}]  # 1002, in all four catalogues
    import_catalog(ctx, catalog)
    assert sorted(changes(ctx)[before:]) == [
        ("shop-a EUR", 1002, "update"),
        ("shop-a USD", 1002, "update"),
        ("shop-b EUR", 1002, "update"),
        ("shop-b USD", 1002, "update"),
    ]


@pytest.mark.parametrize(
    "change",
    [
        lambda c: c["publishers"][0].update(name="Renamed Publisher"),
        lambda c: c["categories"][0]["subcategories"][0]["labels"].update(en="Antivirus"),
        lambda c: c["products"][0].update(upSells=[]),
        lambda c: c["products"][0]["files"][0].update(size=4321),
        lambda c: c["products"][0].update(operatingSystems=[1, 2]),
        lambda c: c["products"][0].update(releaseDate="2030-01-01"),
        lambda c: c["products"][0].update(texts={"fr": {"name": "Série et fichiers"}}),
        lambda c: c["products"][0].update(texts={"de": {"shortDescription": "Hält Sie sicher"}}),
    ],
)
def test_what_the_feed_shows_of_a_product_counts_as_a_change(ctx, world: World, change) -> None:  # type: ignore[no-untyped-def]
    before = len(changes(ctx))
    catalog = copy.deepcopy(TEST_CATALOG)
    change(catalog)
    import_catalog(ctx, catalog)
    assert ("shop-a EUR", 1001, "update") in changes(ctx)[before:]


def test_a_product_no_catalogue_sells_records_nothing(ctx, world: World) -> None:
    before = changes(ctx)
    catalog = copy.deepcopy(TEST_CATALOG)
    catalog["products"].append({"ref": 1006, "name": "Nowhere", "publisher": "pub"})
    import_catalog(ctx, catalog)
    catalog["products"][-1]["name"] = "Still nowhere"
    import_catalog(ctx, catalog)
    assert changes(ctx) == before


def test_catalogue_membership_changes_record_insert_and_delete(ctx, world: World) -> None:
    add_prices(ctx, "USD", 1001, 1003)
    before = len(changes(ctx))
    assert merchants.change_catalog_products(ctx, "shop-a", "usd", add=[1001, 1002], remove=[]) == ([1001], [])
    assert merchants.change_catalog_products(ctx, "shop-a", "USD", add=[], remove=[1002, 1003]) == ([], [1002])
    assert merchants.change_catalog_products(ctx, "shop-a", "USD", add=[], remove=[1002]) == ([], [])
    assert changes(ctx)[before:] == [("shop-a USD", 1001, "insert"), ("shop-a USD", 1002, "delete")]
    with pytest.raises(merchants.MerchantError, match="unknown product refs: \\[999\\]"):
        merchants.change_catalog_products(ctx, "shop-a", "USD", add=[999], remove=[])
    with pytest.raises(merchants.MerchantError, match="no GBP catalogue"):
        merchants.change_catalog_products(ctx, "shop-a", "GBP", add=[1001], remove=[])


def test_only_products_priced_in_the_catalogue_currency_may_join_it(ctx, world: World) -> None:
    before = len(changes(ctx))
    with pytest.raises(merchants.MerchantError, match=r"^no USD price for product refs: \[1001, 1003, 1005\]$"):
        merchants.change_catalog_products(ctx, "shop-a", "USD", add=[1001, 1002, 1003, 1005], remove=[1002])
    with pytest.raises(merchants.MerchantError, match=r"^no USD price for product refs: \[1001\]$"):
        merchants.add_catalog(ctx, "shop-a", merchants.CatalogSpec("shop-a USD 2", "USD", [1001]))
    assert changes(ctx)[before:] == []  # refused whole: 1002 stayed, nothing joined
    add_prices(ctx, "USD", 1001)
    assert merchants.change_catalog_products(ctx, "shop-a", "USD", add=[1001], remove=[]) == ([1001], [])
    # a product already sold unpriced (a catalogue made before the rule) may stay and leave
    assert merchants.change_catalog_products(ctx, "shop-a", "USD", add=[1002], remove=[]) == ([], [])
    assert merchants.change_catalog_products(ctx, "shop-a", "USD", add=[], remove=[1002]) == ([], [1002])


def test_two_catalogues_in_one_currency_are_told_apart_by_name_or_id(ctx, world: World) -> None:
    second = merchants.add_catalog(ctx, "shop-a", merchants.CatalogSpec("shop-a EUR 2", "EUR", [1003]))
    with ctx.db.read() as conn:
        first_id = conn.execute(select(catalogs.c.id).where(catalogs.c.name == "shop-a EUR")).scalar_one()
    listing = f"{first_id} 'shop-a EUR', {second.catalog_id} 'shop-a EUR 2'"
    with pytest.raises(merchants.MerchantError) as ambiguous:
        merchants.change_catalog_products(ctx, "shop-a", "EUR", add=[1001], remove=[])
    assert str(ambiguous.value) == f"merchant 'shop-a' has 2 EUR catalogues: {listing}; name one (by name or id)"
    with pytest.raises(merchants.MerchantError) as unknown:
        merchants.change_catalog_products(ctx, "shop-a", "EUR", add=[1001], remove=[], catalog_name="shop-a USD")
    assert str(unknown.value) == f"merchant 'shop-a' has no EUR catalogue 'shop-a USD': {listing}"
    before = len(changes(ctx))

    by_name = merchants.change_catalog_products(ctx, "shop-a", "eur", [1001], [1003], catalog_name="shop-a EUR 2")
    assert by_name == ([1001], [1003])
    by_id = merchants.change_catalog_products(ctx, "shop-a", "EUR", [], [1001], catalog_name=str(second.catalog_id))
    assert by_id == ([], [1001])
    assert changes(ctx)[before:] == [
        ("shop-a EUR 2", 1001, "insert"), ("shop-a EUR 2", 1003, "delete"), ("shop-a EUR 2", 1001, "delete"),
    ]


def test_a_serial_import_that_adds_stock_is_an_update_in_every_catalogue(ctx, world: World) -> None:
    before = len(changes(ctx))
    stock.import_serials(ctx, 1003, world.serials[1003])  # all already in stock: nothing added
    assert changes(ctx)[before:] == []
    stock.import_serials(ctx, 1003, ["NEW-1", "NEW-2", "NEW-3"], batch_size=2)  # two batches, both adding
    assert sorted(changes(ctx)[before:]) == [("shop-a EUR", 1003, "update")] * 2 + [("shop-b EUR", 1003, "update")] * 2
