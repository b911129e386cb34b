"""The locker's "getting back in": the delivery email again, the list of an address's orders, both to a
real SMTP server; the same answer and the same sign-in page whether or not an order exists; a stranger
typing someone's order number or email address never uses up the owner's emails, and a mailbox gets at
most so many a day; a cancelled order read as cancelled; a renewal order as complete as the first."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from babel.dates import format_date
from sqlalchemy import select, update

from resell.config import Settings
from resell.db.tables import outbox, products
from resell.services import branding, delivery_mail
from resell.services import subscriptions as subscription_service
from resell.services.context import Context
from resell.worker import dispatcher
from tests.conftest import Merchant, World, order_body
from tests.delivery_support import SmtpSink, attach, free_port, mail_settings, wait_until

RESENT = "If an order with this number exists, its delivery email is on its way again"
LISTED = "If we have orders for this email address, their list is on its way to it."


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def settings(tmp_path: Path, db_url: str, smtp_port: int) -> Settings:
    return mail_settings(
        tmp_path,
        db_url,
        smtp_port,
        locker_recovery_rate_limit_ip="8/hour",
        locker_resend_rate_limit_order_ip="2/day",
        locker_resend_rate_limit_order="5/day",
        locker_order_list_rate_limit_email_ip="2/day",
        locker_order_list_rate_limit_email="5/day",
    )


@pytest.fixture
def sink(smtp_port: int) -> Iterator[SmtpSink]:
    server = SmtpSink(smtp_port)
    yield server
    server.stop()


def new_order(shop: Merchant, pon: str, *lines: tuple[int, int], language: str = "en_US", email: str = "") -> dict:
    body = order_body(pon, *lines)
    body["customer"]["language"] = language
    if email:
        body["customer"]["email"] = email
    reply = shop.call("POST", "/order/new", body)
    assert reply.status_code == 201, reply.text
    return reply.json()


def events(ctx: Context, kind: str) -> list:
    with ctx.db.read() as conn:
        return conn.execute(select(outbox).where(outbox.c.kind == kind).order_by(outbox.c.id)).all()


def parts(message) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    return text, html


def settled(ctx: Context, kind: str, count: int) -> list:
    """The outbox events of a kind once there are `count` (the forms queue them after answering),
    and a moment more, so that an event that should not come would have come."""
    wait_until(lambda: len(events(ctx, kind)) >= count, what=f"{count} {kind}")
    time.sleep(0.5)
    return events(ctx, kind)


def strip_number(page: str, number: object) -> str:
    return page.replace(f'value="{number}"', 'value=""').replace(f"order={number}", "order=")


# ---------------------------------------------------------------- the sign-in page tells nothing


def test_the_sign_in_page_is_the_same_bytes_whether_or_not_the_order_exists(
    shop_a: Merchant, http: httpx.Client, world: World
) -> None:
    first = new_order(shop_a, "LEAK-1", (1003, 1), language="fr_FR")["orderNumber"]
    headers = {"Accept-Language": "de"}
    before = {n: http.get(f"/locker?order={n}", headers=headers) for n in range(first + 1, first + 4)}
    created = new_order(shop_a, "LEAK-2", (1003, 1), language="fr_FR")["orderNumber"]
    assert created in before  # the number asked for before it existed
    after = http.get(f"/locker?order={created}", headers=headers)
    assert after.status_code == before[created].status_code == 200
    assert after.content == before[created].content  # byte for byte
    varying = {"date", "x-request-id"}
    assert {k: v for k, v in after.headers.items() if k not in varying} == {
        k: v for k, v in before[created].headers.items() if k not in varying
    }
    assert 'lang="de"' in after.text  # the browser's language, not the order's
    missing = http.get(f"/locker?order={created + 50}", headers=headers)
    assert strip_number(missing.text, created + 50) == strip_number(after.text, created)
    # the email's link carries the order's language
    assert 'html lang="fr"' in http.get(f"/locker?order={created}&lang=fr", headers=headers).text


def test_the_delivery_emails_locker_link_carries_its_language(
    ctx: Context, shop_a: Merchant, world: World, sink: SmtpSink
) -> None:
    delivery_mail.set_every_order(ctx, "shop-a", None, True)
    number = new_order(shop_a, "LINK-1", (1003, 1), language="ja_JP")["orderNumber"]
    dispatcher.run_pass(ctx)
    (message,) = sink.messages
    for body in parts(message):
        assert f"http://resell.test/locker?order={number}&lang=ja" in body.replace("&amp;", "&")


# ---------------------------------------------------------------- "send me my order email again"


def test_the_email_again_goes_to_the_orders_address_only_and_the_answer_tells_nothing(
    ctx: Context, shop_a: Merchant, http: httpx.Client, world: World, sink: SmtpSink
) -> None:
    order = new_order(shop_a, "AGAIN-1", (1001, 1), (1003, 1), language="fr_FR")
    number = order["orderNumber"]
    serials = [line["lineItems"][0]["serials"][0]["data"] for line in order["orderLines"]]
    assert events(ctx, "mail.delivery") == []  # this catalogue sends no delivery email by itself

    existing = http.post("/locker/resend", data={"orderNumber": str(number), "lang": "en"})
    missing = http.post("/locker/resend", data={"orderNumber": str(number + 1000), "lang": "en"})
    assert existing.status_code == missing.status_code == 200
    assert existing.content == missing.content and RESENT in existing.text
    (event,) = settled(ctx, "mail.delivery", 1)
    assert event.payload["to"] == "buyer@example.com" and event.payload["orderNumber"] == number

    dispatcher.run_pass(ctx)
    (message,) = sink.messages
    assert sink.envelopes == [("orders@shop.test", ["buyer@example.com"])]
    assert message["Subject"] == f"Votre commande {number}\u00a0: Serial and files, Serial only"
    text, html = parts(message)
    for serial in serials:
        assert serial in text and serial in html

    # per order and address: beyond the limit, the same answer and nothing more sent
    again = http.post("/locker/resend", data={"orderNumber": f"00{number}", "lang": "en"})
    third = http.post("/locker/resend", data={"orderNumber": str(number), "lang": "en"})
    assert again.content == third.content == existing.content
    assert len(settled(ctx, "mail.delivery", 2)) == 2  # the second request; the third is past 2/day


def test_a_stranger_guessing_order_numbers_does_not_use_up_the_customers_resends(
    ctx: Context,
    shop_a: Merchant,
    http: httpx.Client,
    from_ip: Callable[[str], httpx.Client],
    world: World,
    sink: SmtpSink,
) -> None:
    """Order numbers follow each other: a stranger asking again and again for an order's email from
    their own address spends their own allowance on it (2/day here), and the customer, asking from
    theirs, still gets the email."""
    number = new_order(shop_a, "GUESS-1", (1003, 1))["orderNumber"]
    stranger = from_ip("127.0.0.2")
    answers = [stranger.post("/locker/resend", data={"orderNumber": str(number), "lang": "en"}) for _ in range(4)]
    assert len(settled(ctx, "mail.delivery", 2)) == 2  # two sent, then nothing more for this address
    dispatcher.run_pass(ctx)
    assert len(sink.messages) == 2

    mine = http.post("/locker/resend", data={"orderNumber": str(number), "lang": "en"})
    assert mine.status_code == 200 and all(a.content == mine.content for a in answers)
    (*_, event) = settled(ctx, "mail.delivery", 3)
    assert event.payload["orderNumber"] == number
    dispatcher.run_pass(ctx)
    assert len(sink.messages) == 3  # the customer's own request reached the SMTP server
    assert sink.envelopes[-1] == ("orders@shop.test", ["buyer@example.com"])
    assert f"Your order {number}" in sink.messages[-1]["Subject"]


def test_an_orders_resends_from_all_addresses_together_are_capped(
    ctx: Context,
    shop_a: Merchant,
    http: httpx.Client,
    from_ip: Callable[[str], httpx.Client],
    world: World,
    sink: SmtpSink,
) -> None:
    """Whoever asks, one order's mailbox gets at most RESELL_LOCKER_RESEND_RATE_LIMIT_ORDER emails
    again a day (5 here), each address within its own allowance; past it, the same answer and
    nothing sent."""
    number = new_order(shop_a, "BOMB-1", (1003, 1))["orderNumber"]
    other = new_order(shop_a, "BOMB-2", (1003, 1))["orderNumber"]
    assert events(ctx, "mail.delivery") == []
    answers = []
    for address in ("127.0.0.2", "127.0.0.3", "127.0.0.4"):
        for _ in range(2):  # each address within its own 2/day on this order
            answers.append(from_ip(address).post("/locker/resend", data={"orderNumber": str(number), "lang": "en"}))
    answers.append(http.post("/locker/resend", data={"orderNumber": str(number), "lang": "en"}))
    assert {a.status_code for a in answers} == {200}
    assert all(a.content == answers[0].content for a in answers) and RESENT in answers[0].text
    assert len(settled(ctx, "mail.delivery", 5)) == 5  # 7 asked, 5 sent
    dispatcher.run_pass(ctx)
    assert len(sink.messages) == 5
    assert all(recipients == ["buyer@example.com"] for _, recipients in sink.envelopes)

    # the cap is the order's: another order asked for from the same addresses still goes
    http.post("/locker/resend", data={"orderNumber": str(other), "lang": "en"})
    assert [e.payload["orderNumber"] for e in settled(ctx, "mail.delivery", 6)][5:] == [other]


def test_a_cancelled_order_is_not_emailed_again(
    ctx: Context, shop_a: Merchant, http: httpx.Client, world: World, sink: SmtpSink
) -> None:
    number = new_order(shop_a, "AGAIN-2", (1003, 1))["orderNumber"]
    live = new_order(shop_a, "AGAIN-3", (1003, 1))["orderNumber"]
    shop_a.call("PUT", "/order/cancel", {"partnerOrderNumber": "AGAIN-2", "reasonCode": 2})
    reply = http.post("/locker/resend", data={"orderNumber": str(number)})
    assert reply.status_code == 200 and RESENT in reply.text
    http.post("/locker/resend", data={"orderNumber": str(live)})
    assert [e.payload["orderNumber"] for e in settled(ctx, "mail.delivery", 1)] == [live]


def test_the_recovery_forms_are_throttled_per_client_address(
    shop_a: Merchant, http: httpx.Client, world: World, sink: SmtpSink
) -> None:
    for i in range(8):
        form = {"orderNumber": str(900_000 + i)} if i % 2 else {"email": f"x{i}@example.com"}
        assert http.post("/locker/resend" if i % 2 else "/locker/forgot", data=form).status_code == 200
    refused = http.post("/locker/forgot", data={"email": "y@example.com"})
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    assert "Too many attempts" in refused.text


# ---------------------------------------------------------------- "forgot my order number"


def test_forgot_my_order_number_emails_the_list_of_that_address_grouped_by_shop(
    ctx: Context, shop_a: Merchant, shop_b: Merchant, http: httpx.Client, world: World, sink: SmtpSink, clock
) -> None:
    zoe = "zoe@example.com"
    a1 = new_order(shop_a, "ACME-77", (1001, 1), email=zoe)["orderNumber"]
    clock.advance(days=2)
    a2 = new_order(shop_a, "ACME-78", (1003, 1), email=zoe)["orderNumber"]
    b1 = new_order(shop_b, "B-9", (1003, 1), email=zoe)["orderNumber"]
    other = new_order(shop_a, "ACME-79", (1003, 1), email="someone@example.com")["orderNumber"]
    shop_a.call("PUT", "/order/cancel", {"partnerOrderNumber": "ACME-78", "reasonCode": 2})

    asked = http.post("/locker/forgot", data={"email": "Zoe@Example.com", "lang": "fr"})
    nobody = http.post("/locker/forgot", data={"email": "nobody@example.com", "lang": "fr"})
    assert asked.status_code == nobody.status_code == 200
    assert asked.content == nobody.content and 'html lang="fr"' in asked.text
    assert "Si nous avons des commandes" in asked.text
    assert len(settled(ctx, "mail.order_list", 2)) == 2  # queued either way: the asker learns nothing

    dispatcher.run_pass(ctx)
    (message,) = sink.messages  # none for the address without an order
    assert sink.envelopes == [("orders@shop.test", ["Zoe@Example.com"])]
    assert message["Subject"] == "Vos 3 commandes"
    assert message["Content-Language"] == "fr"
    text, html = parts(message)
    for body in (text, html):
        for number in (a1, a2, b1):
            assert f"http://resell.test/locker?order={number}&lang=fr" in body.replace("&amp;", "&")
        assert f"order={other}&" not in body.replace("&amp;", "&") and "ACME-79" not in body
        assert "ACME-77" in body and "ACME-78" in body and "B-9" in body
        assert "Serial and files" in body and "Annulée" in body
        assert "28 novembre 2026" in body  # the order's date (orderDate), as the locale writes it
    assert text.count("Commandes passées chez shop-a") == 1 and text.count("Commandes passées chez shop-b") == 1
    assert text.index("ACME-78") < text.index("ACME-77")  # within a shop, the newest order first

    # per email address and client address: past the limit, the same answer and no email
    http.post("/locker/forgot", data={"email": "zoe@example.com", "lang": "fr"})
    third = http.post("/locker/forgot", data={"email": "ZOE@example.com", "lang": "fr"})
    assert third.content == asked.content
    assert len(settled(ctx, "mail.order_list", 3)) == 3


def test_a_stranger_typing_someones_email_address_does_not_use_up_their_order_lists(
    ctx: Context,
    shop_a: Merchant,
    http: httpx.Client,
    from_ip: Callable[[str], httpx.Client],
    world: World,
    sink: SmtpSink,
) -> None:
    """Anyone may type an email address: what they ask for from their own address counts against their
    own allowance on it (2/day here), so its owner still gets the list; from all addresses together,
    one mailbox gets at most RESELL_LOCKER_ORDER_LIST_RATE_LIMIT_EMAIL lists a day (5 here)."""
    zoe = "zoe@example.com"
    number = new_order(shop_a, "LIST-1", (1003, 1), email=zoe)["orderNumber"]
    stranger = from_ip("127.0.0.2")
    answers = [stranger.post("/locker/forgot", data={"email": zoe, "lang": "en"}) for _ in range(4)]
    assert len(settled(ctx, "mail.order_list", 2)) == 2  # two queued, then nothing more for this address

    mine = http.post("/locker/forgot", data={"email": zoe, "lang": "en"})
    assert mine.status_code == 200 and all(a.content == mine.content for a in answers)
    assert len(settled(ctx, "mail.order_list", 3)) == 3
    dispatcher.run_pass(ctx)
    assert len(sink.messages) == 3 and all(recipients == [zoe] for _, recipients in sink.envelopes)
    assert f"order={number}&" in parts(sink.messages[-1])[0]

    # the cap from all addresses together: two more from a third address, then nothing for anyone
    for _ in range(3):
        from_ip("127.0.0.3").post("/locker/forgot", data={"email": zoe, "lang": "en"})
    http.post("/locker/forgot", data={"email": zoe, "lang": "en"})
    assert len(settled(ctx, "mail.order_list", 5)) == 5
    dispatcher.run_pass(ctx)
    assert len(sink.messages) == 5


def test_a_sandbox_order_is_kept_not_sent_again_and_left_out_of_the_list(
    ctx: Context, shop_a: Merchant, http: httpx.Client, world: World, sink: SmtpSink
) -> None:
    """A test order's email is its merchant's to read (resell.services.sandbox), never a real person's:
    "send it again" keeps it once more, and the list of an address's orders leaves test orders out. The
    list names the shop by its display name."""
    branding.set_branding(ctx, "shop-a", {"display_name": "Acmé Shop"})
    tester = Merchant(str(shop_a.http.base_url), shop_a.creds)
    tester.secret = world.a.sandbox_secret
    test_order = new_order(tester, "SB-AGAIN", (1003, 1), email="zoe@example.com")["orderNumber"]
    live_order = new_order(shop_a, "LIVE-1", (1003, 1), email="zoe@example.com")["orderNumber"]

    assert http.post("/locker/resend", data={"orderNumber": str(test_order)}).status_code == 200
    assert len(settled(ctx, "mail.sandbox", 2)) == 2  # the first order's and the one asked for
    assert events(ctx, "mail.delivery") == []

    http.post("/locker/forgot", data={"email": "zoe@example.com"})
    settled(ctx, "mail.order_list", 1)
    dispatcher.run_pass(ctx)
    (message,) = sink.messages  # the list only: nothing of the test order reached the SMTP server
    text, _ = parts(message)
    assert f"order={live_order}&" in text and f"order={test_order}&" not in text and "SB-AGAIN" not in text
    assert "Acmé Shop" in text and "shop-a" not in text


# ---------------------------------------------------------------- a cancelled order, a renewal order


def test_a_cancelled_order_reads_as_cancelled_on_the_locker_and_the_download_page(
    ctx: Context, shop_a: Merchant, http: httpx.Client, world: World
) -> None:
    attach(ctx, 1001, "setup.exe", 1000)
    order = new_order(shop_a, "CANCEL-1", (1001, 1))
    url = order["orderLines"][0]["files"][0]["url"].removeprefix("http://resell.test")
    shop_a.call("PUT", "/order/cancel", {"partnerOrderNumber": "CANCEL-1", "reasonCode": 2})
    page = locker_page(http, order)
    assert "This order was cancelled on" in page and 'class="card product"' not in page
    assert "please contact the shop you bought it from: shop-a." in page
    refused = http.get(url)
    assert refused.status_code == 410 and "was cancelled on" in refused.text
    assert "serial numbers stay" not in refused.text and "no longer work" in refused.text


def test_a_renewal_orders_email_and_locker_are_as_complete_as_the_first_orders(
    ctx: Context, shop_a: Merchant, http: httpx.Client, world: World, sink: SmtpSink, clock
) -> None:
    attach(ctx, 1005, "yearly.exe", 4000)
    with ctx.db.write() as conn:
        conn.execute(update(products).where(products.c.ref == 1005).values(remark_template="Run %GAMENAME% once."))
    delivery_mail.set_every_order(ctx, "shop-a", None, True)
    first = new_order(shop_a, "SUB-1", (1005, 1))
    status = {"partnerOrderNumber": "SUB-1", "subscriptionId": first["orderLines"][0]["lineItems"][0]["subscriptionId"]}

    def term_end() -> str:
        day = shop_a.call("POST", "/subscription", status).json()["expiration_datetime"][:10]
        return format_date(dt.date.fromisoformat(day), "long", locale="en")

    first_end = term_end()

    def locker_shows(order: dict, next_date: str) -> None:
        page = locker_page(http, order)
        assert order["orderLines"][0]["lineItems"][0]["serials"][0]["data"] in page
        assert "/download/" in page and "Run Yearly once." in page
        assert f"Your subscription renews on {next_date}." in page

    locker_shows(first, first_end)
    dispatcher.run_pass(ctx)
    clock.now = clock.now.replace(year=clock.now.year + 1) + dt.timedelta(minutes=1)
    assert subscription_service.renew_due(ctx).renewed == 1
    renewal = shop_a.call("GET", "/order/SUB-1-1").json()
    assert renewal["responseCode"] == 0
    dispatcher.run_pass(ctx)
    first_mail, renewal_mail = sink.messages
    next_end = term_end()
    assert next_end != first_end

    def contents(order: dict, message, next_date: str) -> list[str]:  # type: ignore[no-untyped-def]
        serial = order["orderLines"][0]["lineItems"][0]["serials"][0]["data"]
        file_url = order["orderLines"][0]["files"][0]["url"]
        text, html = parts(message)
        found = []
        for body in (text, html):
            found += [
                f"serial:{serial in body}",
                f"file:{file_url in body}",
                f"instructions:{'Run Yearly once.' in body}",
                f"renews:{f'Your subscription renews on {next_date}.' in body}",
                f"locker:{'/locker?order=' + str(order['orderNumber']) in body}",
            ]
        return found

    expected = [f"{what}:True" for what in ("serial", "file", "instructions", "renews", "locker")] * 2
    assert contents(first, first_mail, first_end) == expected  # sent when it was bought
    assert contents(renewal, renewal_mail, next_end) == expected
    assert "renewed" in renewal_mail["Subject"]

    locker_shows(renewal, next_end)


def locker_page(http: httpx.Client, order: dict) -> str:
    with httpx.Client(base_url=str(http.base_url)) as visitor:
        signed_in = visitor.post("/locker", data={"orderNumber": order["orderNumber"], "email": "buyer@example.com"})
        assert signed_in.status_code == 303
        return visitor.get("/locker/order").text
