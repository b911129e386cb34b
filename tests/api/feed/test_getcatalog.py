"""GET /flow/getcatalog/v2.4/: the merchant's catalogue as XML or CSV, full, differential, incremental."""

from __future__ import annotations

import copy
import csv
import datetime as dt
import io
from pathlib import Path
from typing import Any

from lxml import etree
from sqlalchemy import event

from resell.services import feeds, iam, merchants, orders, stock
from resell.services.catalog_import import import_catalog
from tests.api.feed.conftest import Fetch
from tests.conftest import TEST_CATALOG, Merchant, World, order_body
from tests.services.test_stock_races import _race

# Nexway's sample of the legacy feed, copied here byte for byte (docs/feed.md, "CSV").
SAMPLE = Path(__file__).with_name("catalog.csv")
SAMPLE_HEADER = SAMPLE.read_text(encoding="utf-8").split("\n", 1)[0]


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


def test_full_xml_feed_follows_the_nexway_24_structure(ctx, fetch: Fetch, clock) -> None:
    import_catalog(
        ctx,
        changed_catalog(
            **{
                "1001": {
                    "shortDescription": "Keeps you safe",
                    "imageSmall": "pub/1001.png",
                    "releaseDate": "2020-01-01",
                    "subscriptionPeriod": "P6M",
                    "operatingSystems": [1, 2],
                }
            }
        ),
    )
    reply = fetch("xml-feed")
    assert reply.headers["content-type"] == "application/xml; charset=utf-8"
    assert "content-length" not in reply.headers  # streamed
    root = etree.fromstring(reply.content)
    assert root.tag == "catalog"
    assert root.attrib == {"name": "NXW", "version": "2.4.0", "date": clock.now.isoformat().replace("+00:00", "Z")}
    assert [child.tag for child in root] == ["products"]
    found = products_of(reply)
    assert list(found) == ["1001", "1002", "1003", "1004", "1005", "1090", "1091"]
    assert {p.tag for p in root.find("products")} == {"product"}

    p = found["1001"]
    assert p.attrib == {"id": "1001", "type": "1", "status": "available"}
    assert [child.tag for child in p] == [
        "name",
        "language",
        "nature",
        "dateEnter",
        "dateRelease",
        "licenseLifetime",
        "totalSize",
        "publisher",
        "categories",
        "images",
        "descriptions",
        "config",
        "prices",
        "new",
        "promo",
        "top",
        "deliveryMode",
        "crossUpSell",
    ]
    assert p.findtext("name") == "Serial and files" and p.findtext("language") == "EN"
    assert p.findtext("nature") == "software"
    assert p.findtext("dateEnter") == clock.now.date().isoformat()
    assert p.findtext("dateRelease") == "2020-01-01"
    assert p.findtext("licenseLifetime") == "6m"
    assert (p.find("totalSize").attrib, p.findtext("totalSize")) == ({"unit": "MB"}, "0.00")
    publisher = p.find("publisher")
    assert set(publisher.attrib) == {"id", "ref"} and publisher.get("id").isdigit()
    assert (publisher.get("ref"), publisher.text) == ("pub", "Test Publisher")
    assert [(c.tag, c.attrib, c.text) for c in p.find("categories")] == [
        ("category", {"id": "11", "parent": "10"}, "Security")
    ]
    assert [(i.tag, i.attrib, i.text) for i in p.find("images")] == [("image", {"format": "small"}, "pub/1001.png")]
    assert [(d.tag, d.attrib, d.text) for d in p.find("descriptions")] == [
        ("description", {"format": "short", "language": "en"}, "Keeps you safe")
    ]
    assert [(o.tag, o.attrib, o.text) for o in p.find("config")] == [("os", {"ids": "1:2"}, None)]
    prices = p.find("prices")
    assert prices.attrib == {"vatPriceReference": "0"}
    assert [(k.tag, k.attrib, k.text) for k in prices] == [
        (kind, {"currency": "EUR", "VATInclusive": "0", "VATRate": "20.00"}, "10.00")
        for kind in ("sale", "public", "retailer")
    ]
    assert (p.findtext("new"), p.findtext("promo"), p.findtext("top")) == ("1", "0", "0")
    assert [(f.tag, f.text) for f in p.find("deliveryMode")] == [
        ("digitalLocker", "0"),
        ("downloadManager", "0"),
        ("downloadLink", "1"),
        ("serialNumber", "1"),
    ]
    assert [(x.tag, x.attrib) for x in p.find("crossUpSell")] == [
        ("product", {"id": "1002", "type": "up"}),
        ("product", {"id": "1003", "type": "cross"}),
    ]

    # elements without a value are left out, not sent empty
    bare = found["1004"]  # released in 2099, no price yet, no files, description, image, category, OS or link
    assert bare.attrib == {"id": "1004", "type": "1", "status": "coming_soon"}
    assert [child.tag for child in bare] == [
        "name",
        "language",
        "nature",
        "dateEnter",
        "dateRelease",
        "publisher",
        "new",
        "promo",
        "top",
        "deliveryMode",
    ]
    assert bare.findtext("dateRelease") == "2099-01-01"
    assert all(len(e) or (e.text or "").strip() or e.attrib for e in root.iter()), "an empty element was sent"
    assert found["1005"].findtext("licenseLifetime") == "1y"
    assert found["1002"].findtext("totalSize") == "0.00" and found["1003"].find("totalSize") is None
    assert [f.text for f in found["1002"].find("deliveryMode")] == ["0", "0", "1", "0"]

    # numeric type; the kind of product is `nature` (an option has none of its own)
    assert (found["1090"].get("type"), found["1090"].find("nature")) == ("1", None)  # a download extension
    assert found["1091"].get("type") == "2"  # a backup DVD: a physical good


# ---------------------------------------------------------------- texts per language

TEXTS = {
    "1001": {
        "shortDescription": "Keeps you safe",
        "texts": {
            "fr": {"name": "Série et fichiers", "shortDescription": "Vous protège"},
            "de": {"shortDescription": "Hält Sie sicher"},
            "es": {"remark": "Hola %FIRSTNAME%"},  # a remark only: nothing the feed shows
        },
    },
    "1002": {"texts": {"fr": {"name": "Téléchargement seul"}}},
}


def texts_of(product: etree._Element) -> list[dict[str, str]]:
    return [dict(t.attrib) for t in product.find("texts")]


def test_texts_per_language_come_last_and_leave_the_contract_elements_as_they_were(ctx, fetch: Fetch) -> None:
    import_catalog(ctx, changed_catalog(**{"1001": {"shortDescription": "Keeps you safe"}}))
    before = products_of(fetch("xml-feed"))
    import_catalog(ctx, changed_catalog(**TEXTS))
    after = products_of(fetch("xml-feed"))  # configured in English: no text of the product is in it

    p = after["1001"]
    assert [child.tag for child in p][-2:] == ["crossUpSell", "texts"]
    assert texts_of(p) == [
        {"language": "de", "shortDescription": "Hält Sie sicher"},
        {"language": "fr", "name": "Série et fichiers", "shortDescription": "Vous protège"},
    ]  # by language; a field not translated is left out, and so is a language with a remark only
    assert [t.tag for t in p.find("texts")] == ["text", "text"] and all(len(t) == 0 for t in p.find("texts"))
    assert p.findtext("name") == "Serial and files"
    assert [(d.attrib, d.text) for d in p.find("descriptions")] == [
        ({"format": "short", "language": "en"}, "Keeps you safe")
    ]
    assert texts_of(after["1002"]) == [{"language": "fr", "name": "Téléchargement seul"}]

    # take `texts` away and each product is what it was, to the byte; a product without texts has none
    for ref, product in after.items():
        texts = product.find("texts")
        if texts is not None:
            product.remove(texts)
        assert etree.tostring(product) == etree.tostring(before[ref]), ref
    assert [ref for ref, product in products_of(fetch("xml-feed")).items() if product.find("texts") is not None] == [
        "1001",
        "1002",
    ]


def test_name_and_description_follow_the_feed_language_field_by_field(ctx, fetch: Fetch) -> None:
    feeds.configure(ctx, "shop-a", "EUR", "acme", "xml-fr", "xml", language="fr")
    feeds.configure(ctx, "shop-a", "EUR", "acme", "xml-de", "xml", language="de")
    import_catalog(ctx, changed_catalog(**TEXTS))

    fr = products_of(fetch("xml-fr"))
    assert (fr["1001"].findtext("name"), fr["1001"].findtext("language")) == ("Série et fichiers", "FR")
    assert [(d.attrib, d.text) for d in fr["1001"].find("descriptions")] == [
        ({"format": "short", "language": "fr"}, "Vous protège")
    ]
    assert fr["1002"].findtext("name") == "Téléchargement seul"
    assert fr["1002"].find("descriptions") is None  # no description, in French or its own: left out
    assert fr["1003"].findtext("name") == "Serial only"  # no texts: its own
    english = products_of(fetch("xml-feed"))
    assert texts_of(fr["1001"]) == texts_of(english["1001"])  # every language, whatever the feed's

    de = products_of(fetch("xml-de"))
    assert de["1001"].findtext("name") == "Serial and files"  # no German name: its own
    assert de["1001"].findtext("descriptions/description") == "Hält Sie sicher"
    assert de["1002"].findtext("name") == "Download only"

    # the CSV keeps its 39 columns: its name and description columns follow the feed's language (fr)
    reply = fetch("csv-feed")
    assert reply.text.split("\n")[0] == SAMPLE_HEADER
    rows = {r["Nexway Product ID"]: r for r in rows_of(reply)}
    assert all(len(r) == 39 and None not in r for r in rows.values())
    assert (rows["1001"]["Product Name"], rows["1001"]["Short description"]) == ("Série et fichiers", "Vous protège")
    assert (rows["1002"]["Product Name"], rows["1002"]["Short description"]) == ("Téléchargement seul", "")
    assert rows["1003"]["Product Name"] == "Serial only"


def test_a_change_of_texts_is_an_update_in_differential_feeds(ctx, fetch: Fetch, clock) -> None:
    fetch("xml-feed", diff="last")
    clock.advance(minutes=5)
    import_catalog(ctx, changed_catalog(**TEXTS))
    import_catalog(ctx, changed_catalog(**TEXTS))  # the same again: nothing more
    clock.advance(minutes=5)
    found = products_of(fetch("xml-feed", diff="last"))
    assert {ref: p.get("action") for ref, p in found.items()} == {"1001": "update", "1002": "update"}
    assert texts_of(found["1002"]) == [{"language": "fr", "name": "Téléchargement seul"}]
    clock.advance(minutes=5)
    import_catalog(ctx, changed_catalog(**{"1001": TEXTS["1001"]}))  # 1002's texts removed
    clock.advance(minutes=5)
    found = products_of(fetch("xml-feed", diff="last"))
    assert list(found) == ["1002"] and found["1002"].find("texts") is None


def test_texts_are_read_alongside_not_once_per_product(ctx, fetch: Fetch, world: World) -> None:
    def statements_for_feed() -> int:
        seen: list[str] = []

        def count(conn: object, cursor: object, statement: str, *args: object) -> None:
            seen.append(statement)

        event.listen(ctx.db.engine, "before_cursor_execute", count)
        try:
            assert fetch("xml-feed").status_code == 200
        finally:
            event.remove(ctx.db.engine, "before_cursor_execute", count)
        return len(seen)

    few = statements_for_feed()
    catalog = changed_catalog(**TEXTS)
    catalog["products"] += [
        {
            "ref": 3000 + i,
            "name": f"Bulk {i}",
            "publisher": "pub",
            "prices": [{"currency": "EUR", "amountDutyFree": 1}],
            "texts": {"fr": {"name": f"Lot {i}"}, "de": {"name": f"Paket {i}"}},
        }
        for i in range(40)
    ]
    import_catalog(ctx, catalog)
    merchants.change_catalog_products(ctx, "shop-a", "EUR", add=[3000 + i for i in range(40)], remove=[])
    assert statements_for_feed() == few
    found = products_of(fetch("xml-feed"))
    assert texts_of(found["3039"]) == [{"language": "de", "name": "Paket 39"}, {"language": "fr", "name": "Lot 39"}]


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


def test_csv_feed_has_exactly_the_sample_columns_in_the_legacy_dialect(fetch: Fetch, clock) -> None:
    reply = fetch("csv-feed")
    assert reply.headers["content-type"] == "text/csv; charset=utf-8"
    header, *lines = reply.text.split("\n")
    assert header == SAMPLE_HEADER and lines[-1] == ""
    sample_columns = next(csv.reader(io.StringIO(SAMPLE_HEADER), quotechar="'"))
    assert len(sample_columns) == 39 and next(csv.reader(io.StringIO(header), quotechar="'")) == sample_columns
    rows = rows_of(reply)
    assert all(len(r) == len(sample_columns) and None not in r for r in rows)  # no extra column on any row
    assert [r["Nexway Product ID"] for r in rows] == ["1001", "1002", "1003", "1004", "1005", "1090", "1091"]
    first = rows[0]
    assert first["Product Name"] == "Serial and files" and first["Product ID"] == "1001"
    assert first["Publisher Name"] == "Test Publisher" and first["Publisher ID/SKU"] == "pub"
    assert first["Price (w/o tax)"] == "10.0000" and first["Currency symbol"] == "EUR"
    assert first["Categories"] == "11" and first["System requirements – Operating system"] == "1"
    assert first["Language"] == "FR" and first["Type"] == "1" and first["Total size"] == "0.00"
    assert first["Creation date"] == clock.now.date().isoformat() and first["New"] == "1"
    assert rows[2]["Total size"] == ""  # no file
    assert (rows[5]["Type"], rows[6]["Type"]) == ("1", "2")  # a download extension; a backup DVD
    assert rows[4]["License lifetime"] == "1y"
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
    assert found["1001"].findtext("prices/sale") == "12.00"
    assert (found["1006"].get("type"), found["1006"].findtext("nature")) == ("1", "games")
    assert products_of(fetch("xml-feed", diff="last")) == {}

    # each configuration keeps its own last fetch: the CSV feed was never fetched
    rows = rows_of(fetch("csv-feed", diff="last"))
    assert len(rows) == 7
    assert rows_of(fetch("csv-feed", diff="last")) == []


def test_differential_feeds_list_products_whose_stock_ran_out_or_came_back(
    ctx, fetch: Fetch, world: World, clock
) -> None:
    caller = iam.caller_for_secret(ctx, world.a.secret)
    fetch("xml-feed", diff="last")  # the first time: everything
    clock.advance(days=1)
    orders.submit_order(ctx, caller, order_body("SOME-1001", (1001, 2)))  # 18 left: no status moved
    orders.submit_order(ctx, caller, order_body("ALL-1003", (1003, 5)))  # the last five serials
    clock.advance(seconds=1)
    found = products_of(fetch("xml-feed", diff="last"))
    assert {ref: (p.get("action"), p.get("status")) for ref, p in found.items()} == {"1003": ("update", "out_of_stock")}
    assert found["1003"].findtext("name") == "Serial only"  # the whole product, not only its status
    assert products_of(fetch("xml-feed", diff="last")) == {}

    clock.advance(days=1)
    stock.import_serials(ctx, 1003, ["BACK-1", "BACK-2"])
    stock.import_serials(ctx, 1005, [])  # nothing added: nothing moved
    clock.advance(seconds=1)
    found = products_of(fetch("xml-feed", diff="last"))
    assert {ref: (p.get("action"), p.get("status")) for ref, p in found.items()} == {"1003": ("update", "available")}

    # diff=DATE sees the same moves: out yesterday, back today
    yesterday, today = clock.now.date() - dt.timedelta(days=1), clock.now.date()
    assert {ref: p.get("status") for ref, p in products_of(fetch("xml-feed", diff=today.isoformat())).items()} == {
        "1003": "available"
    }
    since_yesterday = products_of(fetch("xml-feed", diff=yesterday.isoformat()))
    assert {ref: p.get("action") for ref, p in since_yesterday.items()} == {"1003": "update"}
    # the other merchant's catalogue sells 1003 too: its feed lists it; its USD catalogue does not
    feeds.configure(ctx, "shop-b", "EUR", "acme", "b-feed")
    assert list(products_of(fetch("b-feed", secret=world.b.secret, diff=today.isoformat()))) == ["1003"]
    assert products_of(fetch("usd", secret=world.a.other_secret, diff=today.isoformat())) == {}
    # the CSV lists it as well
    assert [r["Nexway Product ID"] for r in rows_of(fetch("csv-feed", diff=today.isoformat()))] == ["1003"]


def test_racing_orders_that_empty_a_pool_are_seen_by_the_next_differential_feed(
    fetch: Fetch, server: str, shop_a: Merchant, world: World, clock
) -> None:
    """On PostgreSQL no racer sees the others' claims, so none could tell it took the last serial: the
    feed looks afterwards, at what was committed."""
    fetch("xml-feed", diff="last")
    clock.advance(minutes=1)
    replies = _race(server, shop_a.token(), world.a.secret, [order_body(f"RACE-{i}", (1003, 1)) for i in range(8)])
    assert sorted(r.json()["responseCode"] for r in replies) == [0] * 5 + [1044] * 3
    clock.advance(minutes=1)
    found = products_of(fetch("xml-feed", diff="last"))
    assert {ref: (p.get("action"), p.get("status")) for ref, p in found.items()} == {"1003": ("update", "out_of_stock")}


def test_differential_feeds_list_products_whose_release_date_passed(ctx, fetch: Fetch, clock) -> None:
    release = clock.now.date() + dt.timedelta(days=2)
    import_catalog(ctx, changed_catalog(**{"1004": {"releaseDate": release.isoformat()}}))
    clock.advance(seconds=1)
    assert products_of(fetch("xml-feed", diff="last"))["1004"].get("status") == "coming_soon"
    clock.advance(days=1)
    assert products_of(fetch("xml-feed", diff="last")) == {}  # the day before: nothing yet
    clock.advance(days=1)  # the release day
    found = products_of(fetch("xml-feed", diff="last"))
    assert {ref: (p.get("action"), p.get("status")) for ref, p in found.items()} == {"1004": ("update", "available")}
    assert products_of(fetch("xml-feed", diff="last")) == {}  # reported once
    assert list(products_of(fetch("xml-feed", diff=release.isoformat()))) == ["1004"]
    assert products_of(fetch("xml-feed", diff=(release + dt.timedelta(days=1)).isoformat())) == {}
    clock.advance(days=1)
    assert list(products_of(fetch("xml-feed", diff=release.isoformat()))) == ["1004"]
    assert products_of(fetch("xml-feed", diff="last")) == {}


def test_csv_differential_rows_have_the_same_columns_and_leave_deletions_out(ctx, fetch: Fetch, clock) -> None:
    fetch("csv-feed")  # a full fetch counts as the last fetch too
    clock.advance(minutes=5)
    merchants.change_catalog_products(ctx, "shop-a", "EUR", add=[], remove=[1002])
    import_catalog(ctx, changed_catalog(**{"1003": {"shortDescription": "Now with a description"}}))
    clock.advance(minutes=5)
    reply = fetch("csv-feed", diff="last")
    assert reply.text.split("\n")[0] == SAMPLE_HEADER
    rows = rows_of(reply)
    assert [r["Nexway Product ID"] for r in rows] == ["1003"]  # 1002 left: no column could say so
    assert rows[0]["Short description"] == "Now with a description"


def test_each_catalogue_feeds_its_own_products_and_currency(fetch: Fetch, world: World) -> None:
    reply = fetch("usd", secret=world.a.other_secret)
    found = products_of(reply)
    assert list(found) == ["1002"]
    assert found["1002"].find("prices") is None  # it has no USD price
    assert found["1002"].find("crossUpSell") is None


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
    catalog = changed_catalog(
        **{
            "1001": {
                "name": hostile,
                "shortDescription": "line one\nline\ttwo\r\n",
                "texts": {"fr": {"name": hostile, "shortDescription": "ligne un\nligne\tdeux\r\n"}},
            }
        }
    )
    catalog["publishers"][0]["name"] = 'Pub "&" <Co>'
    catalog["categories"][0]["subcategories"][0]["labels"]["en"] = "<Security & more>"
    import_catalog(ctx, catalog)
    p = products_of(fetch("xml-feed"))["1001"]
    expected = hostile.replace("\x01", "\ufffd").replace("\x1f", "\ufffd")
    assert p.findtext("name") == expected
    assert p.findtext("descriptions/description") == "line one\nline\ttwo\n"  # XML normalises \r\n
    assert p.findtext("publisher") == 'Pub "&" <Co>'
    assert p.find("categories/category").text == "<Security & more>"
    assert texts_of(p) == [  # attributes keep their line breaks and tabs
        {"language": "fr", "name": expected, "shortDescription": "ligne un\nligne\tdeux\r\n"}
    ]
    row = rows_of(fetch("csv-feed"))[0]
    assert row["Product Name"] == expected.replace("\ufffd", "\x01", 1).replace("\ufffd", "\x1f", 1)
    assert row["Publisher Name"] == 'Pub "&" <Co>'
