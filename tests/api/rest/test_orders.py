"""createOrder, getOrderData, cancelOrder, getDownloadInfo, updateDownloadTime over real HTTP."""

from __future__ import annotations

import copy
import datetime as dt
import time
from typing import Any

import pytest

from resell.config import Settings
from resell.services.catalog_import import import_catalog
from resell.services.context import Context
from tests.conftest import TEST_CATALOG, Merchant, World, only_on, order_body
from tests.statements_support import driver_statements, selects, transaction_commands, without_files


def test_create_order_returns_serials_files_end_date_and_remark(shop_a: Merchant, world: World, clock) -> None:
    reply = shop_a.call("POST", "/order/new", order_body("PON-1", (1001, 2), (1002, 1)))
    assert reply.status_code == 201, reply.text
    data = reply.json()
    assert data["responseCode"] == 0 and data["responseMessage"] == "OK"
    assert data["partnerOrderNumber"] == "PON-1"
    assert isinstance(data["orderNumber"], int)
    first, second = data["orderLines"]
    assert first["productRef"] == 1001
    assert len(first["lineItems"]) == 2
    serials = [item["serials"][0]["data"] for item in first["lineItems"]]
    assert len(set(serials)) == 2 and set(serials) <= set(world.serials[1001])
    assert first["lineItems"][0]["serials"][0] == {"data": serials[0], "encoding": "text", "charset": "utf-8",
                                                   "fileName": ""}
    assert first["lineItems"][0]["subscriptionId"] is None
    assert first["files"][0]["label"] == "Installer" and first["files"][0]["size"] == 1234
    assert first["files"][0]["url"].startswith("http://resell.test/download/")
    assert first["dateEndDownload"] == (clock.now.date() + dt.timedelta(days=21)).isoformat()
    assert first["remark"] == f"Hi Ada Lovelace: Serial and files, order {data['orderNumber']}"
    assert second["lineItems"][0]["serials"] == []
    assert "downloadManager" in data and "digitalLockerLink" in first


def test_get_order_data_reads_back_the_created_order(shop_a: Merchant) -> None:
    created = shop_a.call("POST", "/order/new", order_body("PON-2", (1003, 1))).json()
    read = shop_a.call("GET", "/order/PON-2")
    assert read.status_code == 200
    data = read.json()
    assert data["orderNumber"] == created["orderNumber"]
    assert data["orderLines"] == created["orderLines"]


def test_duplicate_partner_order_number_is_1010_and_creates_nothing(shop_a: Merchant, world: World) -> None:
    assert shop_a.call("POST", "/order/new", order_body("DUP", (1003, 1))).status_code == 201
    again = shop_a.call("POST", "/order/new", order_body("DUP", (1003, 1)))
    assert again.status_code == 200
    assert again.json()["responseCode"] == 1010
    assert again.json()["orderNumber"] is None and again.json()["orderLines"] == []
    stock = shop_a.call("GET", "/order/DUP").json()
    assert len(stock["orderLines"]) == 1


@pytest.mark.parametrize(
    ("lines", "code"),
    [
        (((999999, 1),), 1020),  # an unknown product
        (((1003, 6),), 1044),  # more than the pool holds
        (((1001, 1),), 0),  # nothing else wrong: the duplicate is found when the order is inserted
    ],
)
def test_a_duplicate_partner_order_number_is_1010_whatever_else_is_wrong_with_it(
    shop_a: Merchant, lines: tuple[tuple[int, int], ...], code: int
) -> None:
    """1010 comes first, though only an order refused for something else looks for it before writing."""
    assert shop_a.call("POST", "/order/new", order_body("FIRST", *lines)).json()["responseCode"] == code
    assert shop_a.call("POST", "/order/new", order_body("DUP-2", (1002, 1))).status_code == 201
    again = shop_a.call("POST", "/order/new", order_body("DUP-2", *lines))
    assert again.status_code == 200 and again.json()["responseCode"] == 1010
    assert len(shop_a.call("GET", "/order/DUP-2").json()["orderLines"][0]["lineItems"]) == 1


def test_whole_order_refused_when_one_line_is_short(shop_a: Merchant) -> None:
    reply = shop_a.call("POST", "/order/new", order_body("SHORT", (1001, 1), (1003, 6)))
    assert reply.json()["responseCode"] == 1044
    assert shop_a.call("GET", "/order/SHORT").json()["responseCode"] == 1010
    # the 1001 serial was not consumed: all five 1003 serials can still be sold together with it
    assert shop_a.call("POST", "/order/new", order_body("FULL", (1001, 1), (1003, 5))).status_code == 201


def test_unknown_product_refuses_the_whole_order_with_1020(shop_a: Merchant) -> None:
    reply = shop_a.call("POST", "/order/new", order_body("X", (1001, 1), (999999, 1)))
    assert reply.status_code == 200
    data = reply.json()
    assert data["responseCode"] == 1020
    assert data == {"partnerOrderNumber": "X", "orderNumber": None, "orderLines": [], "downloadManager": None,
                    "responseCode": 1020, "responseMessage": "product reference doesn't exist"}


def test_pre_order_is_refused_with_1051(shop_a: Merchant) -> None:
    assert shop_a.call("POST", "/order/new", order_body("PRE", (1004, 1))).json()["responseCode"] == 1051


def test_currency_not_the_catalogues_is_1021(shop_a: Merchant) -> None:
    body = order_body("CUR", (1001, 1), currency="USD")
    assert shop_a.call("POST", "/order/new", body).json()["responseCode"] == 1021


def test_option_rules(shop_a: Merchant, clock) -> None:
    assert shop_a.call("POST", "/order/new", order_body("O1", (1090, 1))).json()["responseCode"] == 1043
    assert shop_a.call("POST", "/order/new", order_body("O2", (1003, 1), (1090, 1))).json()["responseCode"] == 1042
    assert shop_a.call("POST", "/order/new", order_body("O3", (1001, 1), (1091, 1))).json()["responseCode"] == 410
    extended = shop_a.call("POST", "/order/new", order_body("O4", (1001, 1), (1090, 1)))
    assert extended.status_code == 201
    expected = (clock.now.date() + dt.timedelta(days=21)).replace(year=clock.now.year + 1)
    assert extended.json()["orderLines"][0]["dateEndDownload"] == expected.isoformat()


def test_subscription_product_gets_a_real_subscription_id(shop_a: Merchant) -> None:
    data = shop_a.call("POST", "/order/new", order_body("SUB", (1005, 2))).json()
    ids = [item["subscriptionId"] for item in data["orderLines"][0]["lineItems"]]
    assert all(isinstance(i, int) for i in ids) and len(set(ids)) == 2


def test_cancel_revokes_and_stops_downloads(shop_a: Merchant, clock) -> None:
    shop_a.call("POST", "/order/new", order_body("C1", (1001, 1)))
    clock.advance(days=2)
    reply = shop_a.call("PUT", "/order/cancel", {"partnerOrderNumber": "C1", "reasonCode": 3, "comment": "meh"})
    data = reply.json()
    assert data["responseCode"] == 0, data
    assert data["newDownloadEndDate"] == clock.now.date().isoformat()
    again = shop_a.call("PUT", "/order/cancel", {"partnerOrderNumber": "C1", "reasonCode": 3})
    assert again.json()["responseCode"] == 1011
    info = shop_a.call("GET", "/order/C1/download").json()
    assert info["downloadEndDate"] == clock.now.date().isoformat()
    extend = shop_a.call("PUT", "/order/download", {"partnerOrderNumber": "C1", "value": "P7D"})
    assert extend.json()["responseCode"] == 1011


def test_cancel_period_and_reason_codes(shop_a: Merchant, clock) -> None:
    shop_a.call("POST", "/order/new", order_body("C2", (1003, 1)))
    assert shop_a.call("PUT", "/order/cancel", {"partnerOrderNumber": "C2"}).json()["responseCode"] == 100
    assert shop_a.call("PUT", "/order/cancel", {"partnerOrderNumber": "C2", "reasonCode": 7}).json()[
        "responseCode"] == 101
    assert shop_a.call("PUT", "/order/cancel", {"reasonCode": 2}).json()["responseCode"] == 110
    assert shop_a.call("PUT", "/order/cancel", {"partnerOrderNumber": "nope", "reasonCode": 2}).json()[
        "responseCode"] == 1010
    clock.advance(days=31)
    assert shop_a.call("PUT", "/order/cancel", {"partnerOrderNumber": "C2", "reasonCode": "2"}).json()[
        "responseCode"] == 1020


def test_update_download_time_with_periods_and_dates(shop_a: Merchant, clock) -> None:
    created = shop_a.call("POST", "/order/new", order_body("D1", (1002, 1))).json()
    end = dt.date.fromisoformat(created["orderLines"][0]["dateEndDownload"])
    reply = shop_a.call("PUT", "/order/download", {"partnerOrderNumber": "D1", "value": "P1Y5M2D"}).json()
    assert reply["responseCode"] == 0
    new_end = dt.date.fromisoformat(reply["newDownloadEndDate"])
    assert (new_end.year, new_end.month) in {(end.year + 1, end.month + 5), (end.year + 2, end.month - 7)}
    reply = shop_a.call("PUT", "/order/download", {"partnerOrderNumber": "D1", "value": "2030-01-31"}).json()
    assert reply["newDownloadEndDate"] == "2030-01-31"
    assert shop_a.call("GET", "/order/D1/download").json()["downloadEndDate"] == "2030-01-31"
    for bad in ["tomorrow", "P1.5Y", "PT5H", "2030-02-30", 7]:
        assert shop_a.call("PUT", "/order/download", {"partnerOrderNumber": "D1", "value": bad}).json()[
            "responseCode"] == 111, bad
    assert shop_a.call("PUT", "/order/download", {"partnerOrderNumber": "D1"}).json()["responseCode"] == 110


def test_another_merchants_order_does_not_exist(shop_a: Merchant, shop_b: Merchant) -> None:
    shop_a.call("POST", "/order/new", order_body("MINE", (1003, 1)))
    assert shop_b.call("GET", "/order/MINE").json()["responseCode"] == 1010
    assert shop_b.call("GET", "/order/MINE/download").json()["responseCode"] == 1010
    assert shop_b.call("PUT", "/order/cancel", {"partnerOrderNumber": "MINE", "reasonCode": 2}).json()[
        "responseCode"] == 1010
    assert shop_b.call("PUT", "/order/download", {"partnerOrderNumber": "MINE", "value": "P1D"}).json()[
        "responseCode"] == 1010
    # and B may use the same partnerOrderNumber for its own order
    assert shop_b.call("POST", "/order/new", order_body("MINE", (1003, 1))).status_code == 201


# ---------------------------------------------------------------- limits (docs/limits.md)


@pytest.fixture
def write_turns(ctx: Context, shop_a: Merchant, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Each time createOrder asked for the single writer (a group-commit turn or a transaction)."""
    shop_a.token()  # signed in before: a sign-in writes too
    turns: list[str] = []
    for name in ("write_grouped", "write", "writer_turn"):
        real = getattr(ctx.db, name)

        def spy(*args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            turns.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(ctx.db, name, spy)
    return turns


def test_more_lines_than_the_limit_is_201_before_any_write(
    shop_a: Merchant, settings: Settings, write_turns: list[str]
) -> None:
    limit = settings.order_max_lines
    reply = shop_a.call("POST", "/order/new", order_body("MANY-LINES", *[(1002, 1)] * (limit + 1)))
    assert (reply.status_code, reply.json()["responseCode"]) == (200, 201)
    assert reply.json()["responseMessage"] == f"orderLines not valid: more than {limit} lines"
    assert write_turns == []  # never queued for the writer, never locked any stock
    assert shop_a.call("POST", "/order/new", order_body("LIMIT-LINES", *[(1002, 1)] * limit)).status_code == 201


def test_more_units_than_the_limit_is_221_before_any_write(
    shop_a: Merchant, settings: Settings, write_turns: list[str]
) -> None:
    """100 lines x 1,000 units held the single writer for 10.8 s, stalling every other merchant."""
    limit = settings.order_max_units
    started = time.perf_counter()
    reply = shop_a.call("POST", "/order/new", order_body("MANY-UNITS", *[(1002, 1000)] * settings.order_max_lines))
    assert time.perf_counter() - started < 2
    assert (reply.status_code, reply.json()["responseCode"]) == (200, 221)
    assert reply.json()["responseMessage"] == f"quantity not valid: more than {limit} units in the order"
    assert write_turns == []
    half = limit // 2
    reply = shop_a.call("POST", "/order/new", order_body("LIMIT-UNITS", (1002, half), (1002, limit - half)))
    assert reply.status_code == 201
    assert sum(len(line["lineItems"]) for line in reply.json()["orderLines"]) == limit


def _with_extension_period(period: str) -> dict[str, Any]:
    catalog = copy.deepcopy(TEST_CATALOG)
    (extension,) = [p for p in catalog["products"] if p["ref"] == 1090]
    extension["option"]["period"] = period
    return catalog


@pytest.mark.parametrize(
    ("period", "units", "code"),
    [
        ("P5000Y", 2, 221),  # past year 9999: was an internal error (HTTP 500)
        ("P1000Y", 7, 221),  # past LAST_END_DATE (9000-12-31)
        ("P1000Y", 6, 0),
    ],
)
def test_download_extensions_past_the_last_end_date_are_221(
    shop_a: Merchant, ctx: Context, period: str, units: int, code: int
) -> None:
    import_catalog(ctx, _with_extension_period(period))
    reply = shop_a.call("POST", "/order/new", order_body(f"EXT-{units}", (1002, 1), (1090, units)))
    assert reply.status_code == (201 if code == 0 else 200), reply.text
    assert reply.json()["responseCode"] == code
    if code:
        assert "download window would end after 9000-12-31" in reply.json()["responseMessage"]
        assert shop_a.call("GET", f"/order/EXT-{units}").json()["responseCode"] == 1010  # nothing was created


@pytest.mark.parametrize("value", ["P7000Y", "P9999Y", "P99999999999D", "P1000000000W", "9000-12-31", "9999-12-31"])
def test_update_download_time_past_the_last_end_date_is_111(shop_a: Merchant, value: str) -> None:
    shop_a.call("POST", "/order/new", order_body("FAR", (1002, 1)))
    reply = shop_a.call("PUT", "/order/download", {"partnerOrderNumber": "FAR", "value": value})
    assert reply.status_code == 200
    expected = 0 if value == "9000-12-31" else 111
    assert reply.json()["responseCode"] == expected, reply.text


def test_the_remark_escapes_what_the_buyer_typed_and_keeps_the_products_html(shop_a: Merchant, world: World) -> None:
    body = order_body("PON-REMARK", (1001, 1))
    body["customer"]["locationInvoice"]["firstName"] = "O'Brien & %IDTRAN%"
    body["customer"]["locationInvoice"]["lastName"] = '<a href="https://evil.example/">Lovelace</a>'
    created = shop_a.call("POST", "/order/new", body).json()
    expected = (
        "Hi O&#39;Brien &amp; %IDTRAN% &lt;a href=&#34;https://evil.example/&#34;&gt;Lovelace&lt;/a&gt;: "
        f"Serial and files, order {created['orderNumber']}"
    )
    assert created["orderLines"][0]["remark"] == expected
    assert shop_a.call("GET", "/order/PON-REMARK").json()["orderLines"][0]["remark"] == expected


def test_reading_an_order_reads_its_row_once_and_no_more_statements_for_a_bigger_order(
    ctx: Context, shop_a: Merchant, clock
) -> None:
    """getOrderData and getDownloadInfo read the order row once (the caller's check of it is the
    reply's), with its lines, items and serials, in one statement: as many statements for three
    lines of several units with subscriptions, cancelled or not, as for one unit."""
    small = shop_a.call("POST", "/order/new", order_body("READ-1", (1003, 1))).json()
    big = shop_a.call("POST", "/order/new", order_body("READ-2", (1001, 3), (1002, 1), (1005, 2))).json()

    def read(created: dict[str, Any]) -> None:
        pon = created["partnerOrderNumber"]
        with driver_statements(ctx.db) as sent:
            data = shop_a.call("GET", f"/order/{pon}").json()
        order_reads = selects(sent)
        with driver_statements(ctx.db) as sent:
            info = shop_a.call("GET", f"/order/{pon}/download").json()
        info_reads = selects(sent)
        # the items as createOrder answered them (a cancelled order still lists the serials it revoked)
        assert [line["lineItems"] for line in data["orderLines"]] == [
            line["lineItems"] for line in created["orderLines"]
        ]
        assert info["responseCode"] == 0 and len(info["orderLines"]) == len(created["orderLines"])
        for reads in (order_reads, info_reads):
            assert len([s for s in reads if " FROM orders " in s]) == 1, reads
        # the order with its contents, (getDownloadInfo) the download counters; the products' files
        # when not kept, the caller's catalogue row not at all: kept (db/kept.py,
        # tests/services/test_kept_rows.py)
        assert (without_files(order_reads), without_files(info_reads)) == (1, 2), (order_reads, info_reads)

    read(small)
    read(big)
    assert shop_a.call("GET", "/order/READ-2").json()["orderLines"] == big["orderLines"]
    clock.advance(days=1)
    cancel = shop_a.call("PUT", "/order/cancel", {"partnerOrderNumber": "READ-2", "reasonCode": 3}).json()
    assert cancel["responseCode"] == 0
    read(big)


def test_create_order_picks_and_claims_a_products_serials_in_one_statement(shop_a: Merchant, ctx: Context) -> None:
    """On PostgreSQL each statement is a round trip: the first free serials are locked (skipping
    those a concurrent order holds), set assigned and read back by one UPDATE ... RETURNING."""
    with driver_statements(ctx.db) as sent:
        reply = shop_a.call("POST", "/order/new", order_body("CLAIM-1", (1001, 3), (1002, 1)))
    assert reply.status_code == 201, reply.text
    on_serials = [s for s in sent if "FROM serials" in s or s.startswith("UPDATE serials")]
    assert len(on_serials) == 1 and on_serials[0].startswith("UPDATE serials"), on_serials
    assert "RETURNING" in on_serials[0]
    [line, _] = reply.json()["orderLines"]
    assert len({item["serials"][0]["data"] for item in line["lineItems"]}) == 3


@only_on("postgres")
def test_the_hot_reads_and_the_authentications_send_no_begin_or_commit(shop_a: Merchant) -> None:
    """On PostgreSQL BEGIN and COMMIT are a round trip each. The authentication and the reads whose
    statements need no common snapshot run outside a transaction (Database.shared_read, lazy); a
    createOrder's only transaction is its write, a read that needs one snapshot still gets it."""
    created = shop_a.call("POST", "/order/new", order_body("TRIPS-1", (1001, 1)))
    assert created.status_code == 201, created.text
    with transaction_commands() as sent:
        assert shop_a.call("POST", "/stock", {"productRefs": [1001, 1002]}).json()["responseCode"] == 0
        assert shop_a.call("GET", "/order/TRIPS-1").json()["responseCode"] == 0
        assert shop_a.call("GET", "/order/TRIPS-1/download").json()["responseCode"] == 0
    assert sent == []
    with transaction_commands() as sent:
        assert shop_a.call("POST", "/order/new", order_body("TRIPS-2", (1001, 1))).status_code == 201
    assert [command.split(" ", 1)[0] for command in sent] == ["BEGIN", "COMMIT"]
    with transaction_commands() as sent:
        body = {"language": "EN", "products": [{"productRef": 1001, "quantity": 1}]}
        assert shop_a.call("POST", "/order/crossupsell", body).status_code == 200
    assert sent == ["BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "COMMIT"]
