"""GET /flow/getcatalog/v2.4/: the merchant's catalogue as XML or CSV, full, differential, incremental."""

from __future__ import annotations

import copy
import csv
import datetime as dt
import io
from typing import Any

from lxml import etree

from resell.services import iam, merchants, orders
from resell.services.catalog_import import import_catalog
from tests.api.feed.conftest import Fetch
from tests.conftest import TEST_CATALOG, World, order_body

# The header line of the legacy feed (spec/samples/feed/catalog.csv), byte for byte.
SAMPLE_HEADER = (
    "'Nexway Product ID','Nexway Product SG ID','System requirements – Memory','System requirements – Disk space',"
    "'System requirements – Operating system',Misc,'Number of users',Version,'EAN code',Type,'Short description',"
    "'Long description','Big image','Publisher Name','Product Name','Product ID','Small image','Medium image',"
    "Screenshots,Categories,'Total size','Price (w/o tax)','Recommended Retail price (w/o tax)','Currency symbol',"
    "'Publisher ID/SKU',Language,Trymedia_Ref,Trymedia_Offering_Ref,Trymedia_Trial,'Creation date',"
    "'System requirements – CPU','System requirements – GPU',Direct_X_Version,'License lifetime',Keywords,"
    "Product_Sheet_Url,New,Promo,Top"
)


def products_of(reply) -> dict[str, etree._Element]:  # type: ignore[no-untyped-def]
    assert reply.status_code == 200, reply.text
    root = etree.fromstring(reply.content)
    return {p.get("id"): p for p in root.find("products")}


def rows_of(reply) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    assert reply.status_code == 200, reply.text
    return list(csv.DictReader(io.StringIO(reply.text), quotechar="'"))


def changed_catalog(**changes: Any) -> dict[str, Any]:
    """TEST_CATALOG with some products changed, by ref: {1001: {"name": ...}}."""
    catalog = copy.deepcopy(TEST_CATALOG)
    for product in catalog["products"]:
        product.update(changes.get(str(product["ref"]), {}))
    return catalog


def test_full_xml_feed_is_the_catalogue_in_the_v24_structure(fetch: Fetch, clock) -> None:
    reply = fetch("xml-feed")
    assert reply.headers["content-type"] == "application/xml; charset=utf-8"
    assert "content-length" not in reply.headers  # streamed
    root = etree.fromstring(reply.content)
    assert (root.tag, root.get("name"), root.get("version"), root.get("currency"), root.get("type")) == (
        "catalog",
        "shop-a EUR",
        "2.4.0",
        "EUR",
        "full",
    )
    assert root.get("date") == clock.now.isoformat().replace("+00:00", "Z")
    found = products_of(reply)
    assert list(found) == ["1001", "1002", "1003", "1004", "1005", "1090", "1091"]

    p = found["1001"]
    assert (p.get("type"), p.get("status"), p.get("action")) == ("software", "available", None)
    assert p.findtext("name") == "Serial and files" and p.findtext("language") == "EN"
    assert (p.find("publisher").get("id"), p.findtext("publisher")) == ("pub", "Test Publisher")
    assert [(c.get("id"), c.get("parent"), c.text) for c in p.find("categories")] == [("11", "10", "Security")]
    assert p.find("descriptions/description").get("type") == "short"
    (price,) = p.find("prices")
    assert (price.get("currency"), price.get("vatRate")) == ("EUR", "20.00")
    assert [(k.tag, k.get("dutyFree"), k.get("withVat")) for k in price] == [
        ("sale", "10.00", "12.00"),
        ("public", "10.00", "12.00"),
        ("retailer", "10.00", "12.00"),
    ]
    assert [(f.tag, f.text) for f in p.find("deliveryMode")] == [
        ("digitalLocker", "0"),
        ("downloadManager", "0"),
        ("downloadLink", "1"),
        ("serialNumber", "1"),
    ]
    assert [(o.get("id"), o.text) for o in p.find("operatingSystems")] == [("1", "Windows 11")]
    assert [(x.get("id"), x.get("type")) for x in p.find("crossUpSell")] == [("1002", "up"), ("1003", "cross")]
    assert p.findtext("dateRelease") == "" and p.findtext("totalSize") == "0.00"

    assert found["1004"].get("status") == "coming_soon"  # released in 2099, no price yet
    assert found["1004"].findtext("dateRelease") == "2099-01-01"
    assert found["1090"].get("type") == "option"
    assert [f.text for f in found["1002"].find("deliveryMode")] == ["0", "0", "1", "0"]


def test_status_follows_stock_release_and_withdrawal(ctx, fetch: Fetch, world: World) -> None:
    caller = iam.caller_for_secret(ctx, world.a.secret)
    orders.submit_order(ctx, caller, order_body("ALL-1003", (1003, 5)))  # the last five serials
    import_catalog(
        ctx,
        changed_catalog(
            **{
                "1002": {"status": "not_available"},
                "1004": {"prices": [{"currency": "EUR", "amountDutyFree": 40}]},
            }
        ),
    )
    found = products_of(fetch("xml-feed"))
    assert {ref: found[ref].get("status") for ref in ("1001", "1002", "1003", "1004")} == {
        "1001": "available",
        "1002": "not_available",
        "1003": "out_of_stock",
        "1004": "pre_order",
    }


def test_csv_feed_has_the_legacy_columns_in_the_legacy_dialect(fetch: Fetch, clock) -> None:
    reply = fetch("csv-feed")
    assert reply.headers["content-type"] == "text/csv; charset=utf-8"
    header, *lines = reply.text.split("\n")
    assert header == SAMPLE_HEADER + ",Status" and lines[-1] == ""
    rows = rows_of(reply)
    assert [r["Nexway Product ID"] for r in rows] == ["1001", "1002", "1003", "1004", "1005", "1090", "1091"]
    first = rows[0]
    assert first["Product Name"] == "Serial and files" and first["Product ID"] == "1001"
    assert first["Publisher Name"] == "Test Publisher" and first["Publisher ID/SKU"] == "pub"
    assert first["Price (w/o tax)"] == "10.0000" and first["Currency symbol"] == "EUR"
    assert first["Categories"] == "11" and first["System requirements – Operating system"] == "1"
    assert first["Language"] == "FR" and first["Type"] == "1" and first["Total size"] == "0.00"
    assert first["Creation date"] == clock.now.date().isoformat() and first["New"] == "1"
    assert first["Status"] == "available"
    assert rows[5]["Type"] == "2"  # an option
    assert rows[4]["License lifetime"] == "P1Y"
    assert "'Serial and files'" in reply.text  # quoted: it holds blanks


def test_csv_quotes_like_the_legacy_feed(ctx, fetch: Fetch) -> None:
    import_catalog(
        ctx, changed_catalog(**{"1001": {"name": "Adam's Venture, Episode 1", "shortDescription": "One\nline"}})
    )
    text = fetch("csv-feed").text
    assert ",'Adam''s Venture, Episode 1'," in text
    assert rows_of(fetch("csv-feed"))[0]["Short description"] == "One\nline"


def test_differential_feed_since_a_date(ctx, fetch: Fetch, clock) -> None:
    today = clock.now.date()
    inserted = products_of(fetch("xml-feed", diff=today.isoformat()))
    assert {p.get("action") for p in inserted.values()} == {"insert"}  # the catalogue was created today
    assert len(inserted) == 7
    assert products_of(fetch("xml-feed", diff=(today + dt.timedelta(days=1)).isoformat())) == {}

    clock.advance(days=2)
    import_catalog(ctx, changed_catalog(**{"1001": {"name": "Renamed"}}))
    merchants.change_catalog_products(ctx, "shop-a", "EUR", add=[], remove=[1003])
    since = (clock.now.date() - dt.timedelta(days=1)).isoformat()
    found = products_of(fetch("xml-feed", diff=since))
    assert {ref: p.get("action") for ref, p in found.items()} == {"1001": "update", "1003": "delete"}
    assert found["1001"].findtext("name") == "Renamed"
    assert found["1003"].attrib == {"id": "1003", "action": "delete"} and len(found["1003"]) == 0
    root = etree.fromstring(fetch("xml-feed", diff=since).content)
    assert root.get("type") == "diff"


def test_incremental_feed_since_the_last_fetch(ctx, fetch: Fetch, clock) -> None:
    first = products_of(fetch("xml-feed", diff="last"))  # never fetched: everything, as inserts
    assert len(first) == 7 and {p.get("action") for p in first.values()} == {"insert"}
    assert products_of(fetch("xml-feed", diff="last")) == {}  # nothing changed since

    clock.advance(hours=1)
    dearer = changed_catalog(**{"1001": {"prices": [{"currency": "EUR", "amountDutyFree": 12}]}})
    import_catalog(ctx, dearer)
    import_catalog(ctx, dearer)  # the same again: nothing more to report
    new = copy.deepcopy(dearer)
    new["products"].append(
        {
            "ref": 1006,
            "name": "New game",
            "publisher": "pub",
            "type": "game",
            "prices": [{"currency": "EUR", "amountDutyFree": 20}],
        }
    )
    import_catalog(ctx, new)
    merchants.change_catalog_products(ctx, "shop-a", "EUR", add=[1006], remove=[1091])
    merchants.change_catalog_products(ctx, "shop-b", "EUR", add=[], remove=[1002])  # another merchant's catalogue
    clock.advance(seconds=1)
    found = products_of(fetch("xml-feed", diff="last"))
    assert {ref: p.get("action") for ref, p in found.items()} == {"1001": "update", "1006": "insert", "1091": "delete"}
    assert found["1001"].find("prices/price/sale").get("dutyFree") == "12.00"
    assert found["1006"].get("type") == "game"
    assert products_of(fetch("xml-feed", diff="last")) == {}

    # each configuration keeps its own last fetch: the CSV feed was never fetched
    rows = rows_of(fetch("csv-feed", diff="last"))
    assert len(rows) == 7 and {r["Action"] for r in rows} == {"insert"}
    assert rows_of(fetch("csv-feed", diff="last")) == []


def test_csv_differential_rows_carry_the_action(ctx, fetch: Fetch, clock) -> None:
    fetch("csv-feed")  # a full fetch counts as the last fetch too
    clock.advance(minutes=5)
    merchants.change_catalog_products(ctx, "shop-a", "EUR", add=[], remove=[1002])
    import_catalog(ctx, changed_catalog(**{"1003": {"shortDescription": "Now with a description"}}))
    clock.advance(minutes=5)
    reply = fetch("csv-feed", diff="last")
    assert reply.text.split("\n")[0] == SAMPLE_HEADER + ",Status,Action"
    rows = rows_of(reply)
    assert [(r["Nexway Product ID"], r["Action"]) for r in rows] == [("1002", "delete"), ("1003", "update")]
    assert rows[0]["Product Name"] == "" and rows[1]["Short description"] == "Now with a description"


def test_each_catalogue_feeds_its_own_products_and_currency(fetch: Fetch, world: World) -> None:
    reply = fetch("usd", secret=world.a.other_secret)
    root = etree.fromstring(reply.content)
    assert root.get("currency") == "USD"
    found = products_of(reply)
    assert list(found) == ["1002"]
    assert list(found["1002"].find("crossUpSell")) == []


def test_refused_feed_requests(fetch: Fetch, world: World) -> None:
    def refusal(reply) -> tuple[int, int, str]:  # type: ignore[no-untyped-def]
        body = reply.json()
        return reply.status_code, body["responseCode"], body["responseMessage"]

    assert refusal(fetch("xml-feed", secret=None)) == (400, 70, "secret is missing")
    assert refusal(fetch("xml-feed", secret="wrong")) == (403, 71, "secret not valid")
    assert refusal(fetch(None)) == (400, 110, "config missing")
    assert refusal(fetch("nope")) == (404, 1010, "feed configuration not found")
    assert refusal(fetch("xml-feed", secret=world.b.secret)) == (404, 1010, "feed configuration not found")
    assert refusal(fetch("usd")) == (404, 1010, "feed configuration not found")  # the USD catalogue's
    for bad in ("yesterday", "2026-13-01", "20261128"):
        assert refusal(fetch("xml-feed", diff=bad)) == (400, 121, "diff not valid: YYYY-MM-DD or last")


def test_any_catalogue_text_comes_out_as_well_formed_xml_and_csv(ctx, fetch: Fetch) -> None:
    hostile = "Tom & Jerry <b>\"quoted\" 'single'</b> ]]> \x01\x1f naïve 日本 \U0001f3ae"
    catalog = changed_catalog(**{"1001": {"name": hostile, "shortDescription": "line one\nline\ttwo\r\n"}})
    catalog["publishers"][0]["name"] = 'Pub "&" <Co>'
    catalog["categories"][0]["subcategories"][0]["labels"]["en"] = "<Security & more>"
    import_catalog(ctx, catalog)
    p = products_of(fetch("xml-feed"))["1001"]
    expected = hostile.replace("\x01", "\ufffd").replace("\x1f", "\ufffd")
    assert p.findtext("name") == expected
    assert p.findtext("descriptions/description") == "line one\nline\ttwo\n"  # XML normalises \r\n
    assert p.findtext("publisher") == 'Pub "&" <Co>'
    assert p.find("categories/category").text == "<Security & more>"
    row = rows_of(fetch("csv-feed"))[0]
    assert row["Product Name"] == expected.replace("\ufffd", "\x01", 1).replace("\ufffd", "\x1f", 1)
    assert row["Publisher Name"] == 'Pub "&" <Co>'
