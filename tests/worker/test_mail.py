"""Delivery emails through the outbox to a real SMTP server (aiosmtpd): content, languages, retries."""

from __future__ import annotations

import datetime as dt
import subprocess
from collections.abc import Iterator
from pathlib import Path

import lxml.html
import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from babel.dates import format_date
from sqlalchemy import select

from resell.config import Settings
from resell.db.tables import outbox
from resell.services import delivery_mail, stock
from resell.services import subscriptions as subscription_service
from resell.services.catalog_import import import_catalog
from resell.services.context import Context
from resell.worker import dispatcher
from tests.conftest import Merchant, World, order_body
from tests.delivery_support import SmtpSink, attach, free_port, mail_settings, sell

DIRECT_CATALOG = {
    "publishers": [{"key": "direct", "name": "Direct Publisher", "deliversDirectly": True}],
    "products": [
        {
            "ref": 1301,
            "name": "Direct Game",
            "publisher": "direct",
            "serialSource": "pool",
            "deliveryMode": "download_serial",
            "remark": "Hi %FIRSTNAME%: <b>start %GAMENAME%</b>, order %IDTRAN%<script>x()</script>",
            "files": [{"label": "Game installer", "fileName": "game.exe", "size": 1, "group": "Windows"}],
            "prices": [{"currency": "EUR", "amountDutyFree": 20}],
        }
    ],
}


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def settings(tmp_path: Path, db_url: str, smtp_port: int) -> Settings:
    return mail_settings(tmp_path, db_url, smtp_port)


@pytest.fixture
def direct(ctx: Context, world: World) -> bytes:
    """Product 1301, whose publisher delivers directly, in shop-a's catalogues, with a stored file."""
    import_catalog(ctx, DIRECT_CATALOG)
    stock.import_serials(ctx, 1301, [f"DIRECT-{i:03d}" for i in range(10)])
    sell(ctx, "shop-a", 1301)
    return attach(ctx, 1301, "game.exe", 2_500_000)


@pytest.fixture
def sink(smtp_port: int) -> Iterator[SmtpSink]:
    server = SmtpSink(smtp_port)
    yield server
    server.stop()


def mail_events(ctx: Context) -> list:
    with ctx.db.read() as conn:
        return conn.execute(select(outbox).where(outbox.c.kind == "mail.delivery").order_by(outbox.c.id)).all()


def create(shop: Merchant, pon: str, *lines: tuple[int, int], language: str = "en_US", **extra) -> dict:
    body = order_body(pon, *lines, **extra)
    body["customer"]["language"] = language
    reply = shop.call("POST", "/order/new", body)
    assert reply.status_code == 201, reply.text
    return reply.json()


def parts(message) -> tuple[str, str]:
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    return text, html


def test_a_direct_delivery_product_is_emailed_after_commit(
    ctx: Context, shop_a: Merchant, direct: bytes, sink: SmtpSink, clock
) -> None:
    order = create(shop_a, "MAIL-1", (1301, 1), (1001, 1))
    number = order["orderNumber"]
    events = mail_events(ctx)
    assert len(events) == 1 and events[0].delivered_at is None  # queued by createOrder, nothing sent yet
    assert sink.messages == []
    direct_line, other_line = order["orderLines"]
    assert events[0].payload == {
        "orderNumber": number,
        "to": "buyer@example.com",
        "lineIds": [events[0].payload["lineIds"][0]],
    }

    stats = dispatcher.run_pass(ctx)
    assert stats.kinds.get("mail.delivery") == 1
    (message,) = sink.messages
    assert sink.envelopes == [("orders@shop.test", ["buyer@example.com"])]
    assert message["To"] == "buyer@example.com"
    assert message["From"] == "shop-a <orders@shop.test>"  # the shop, at RESELL_MAIL_FROM's address
    assert message["Subject"] == f"Your order {number}: Direct Game"
    assert message["Message-ID"] == f"<{events[0].event_id}@shop.test>"
    assert message["Content-Language"] == "en"
    text, html = parts(message)
    serial = direct_line["lineItems"][0]["serials"][0]["data"]
    url = direct_line["files"][0]["url"]
    end = format_date(dt.date.fromisoformat(direct_line["dateEndDownload"]), "long", locale="en")
    for body in (text, html):
        assert str(number) in body and serial in body and url in body
        assert f"until {end}" in body
        assert f"http://resell.test/locker?order={number}" in body
        assert other_line["lineItems"][0]["serials"][0]["data"] not in body  # not a direct-delivery product
        assert "2.4 MB" in body
    assert f"Hi Ada: start Direct Game, order {number}" in text
    assert f"Hi Ada: <b>start Direct Game</b>, order {number}" in html
    assert "script" not in html and "x()" not in html
    assert "Hello Ada," in text
    assert dispatcher.run_pass(ctx).delivered == 0 and len(sink.messages) == 1  # sent once


def test_a_name_holding_markup_is_text_in_the_email(
    ctx: Context, shop_a: Merchant, direct: bytes, sink: SmtpSink
) -> None:
    body = order_body("MAIL-NAME", (1301, 1))
    name = '<a href="https://evil.example/">Ada</a>'
    body["customer"]["locationInvoice"]["firstName"] = name
    assert shop_a.call("POST", "/order/new", body).status_code == 201
    dispatcher.run_pass(ctx)
    (message,) = sink.messages
    text, html = parts(message)
    root = lxml.html.document_fromstring(html)
    assert not root.xpath('//a[contains(@href, "evil.example")]')  # no link came from the name
    assert root.xpath("//b")[0].text_content() == "start Direct Game"  # the product's own HTML stays HTML
    shown = root.text_content()
    assert f"Hello {name}," in shown and f"Hi {name}: start Direct Game" in shown  # shown as typed
    assert f"Hello {name}," in text and f"Hi {name}: start Direct Game" in text


def test_no_email_for_refused_orders_nor_for_products_delivered_by_the_merchant(
    ctx: Context, shop_a: Merchant, direct: bytes, sink: SmtpSink
) -> None:
    refused = shop_a.call("POST", "/order/new", order_body("MAIL-2", (1301, 1), (1003, 6)))
    assert refused.json()["responseCode"] == 1044
    create(shop_a, "MAIL-3", (1001, 1), (1003, 1))
    assert mail_events(ctx) == []
    dispatcher.run_pass(ctx)
    assert sink.messages == []


def test_the_catalogue_setting_emails_every_order(ctx: Context, shop_a: Merchant, world: World, sink: SmtpSink) -> None:
    assert delivery_mail.set_every_order(ctx, "shop-a", "EUR", True) == 1
    order = create(shop_a, "MAIL-4", (1001, 1), (1003, 1))
    dispatcher.run_pass(ctx)
    (message,) = sink.messages
    text, _ = parts(message)
    for line in order["orderLines"]:
        assert line["lineItems"][0]["serials"][0]["data"] in text
    assert message["Subject"] == f"Your order {order['orderNumber']}: Serial and files, Serial only"
    assert delivery_mail.set_every_order(ctx, "shop-a", None, False) == 2
    create(shop_a, "MAIL-5", (1001, 1))
    dispatcher.run_pass(ctx)
    assert len(sink.messages) == 1


@pytest.mark.parametrize(
    ("language", "subject", "intro", "locale"),
    [
        ("fr_FR", "Votre commande {n}\u00a0: Direct Game", "Bonjour Ada,", "fr"),
        ("de_DE", "Ihre Bestellung {n}: Direct Game", "Hallo Ada,", "de"),
        ("fr", "Votre commande {n}\u00a0: Direct Game", "Bonjour Ada,", "fr"),
        ("es_ES", "Su pedido {n}: Direct Game", "Hola, Ada:", "es"),
        ("zh_CN", "Your order {n}: Direct Game", "Hello Ada,", "en"),
    ],
)
def test_the_email_speaks_the_customers_language(
    ctx: Context, shop_a: Merchant, direct: bytes, sink: SmtpSink, language: str, subject: str, intro: str, locale: str
) -> None:
    order = create(shop_a, "MAIL-LANG", (1301, 1), language=language)
    dispatcher.run_pass(ctx)
    (message,) = sink.messages
    assert message["Subject"] == subject.format(n=order["orderNumber"])
    assert message["Content-Language"] == locale
    text, html = parts(message)
    end = format_date(dt.date.fromisoformat(order["orderLines"][0]["dateEndDownload"]), "long", locale=locale)
    assert end in text and end in html
    assert text.startswith(intro)
    if locale == "fr":
        assert "Numéro de série\u00a0:" in text and "2,4\u202fMo" in text  # CLDR: a narrow no-break space
    if locale == "de":
        assert "Seriennummer" in text and "bis einschließlich" in text


def test_an_smtp_server_that_is_down_delays_the_email_but_never_loses_it(
    ctx: Context, shop_a: Merchant, direct: bytes, smtp_port: int, clock
) -> None:
    create(shop_a, "MAIL-DOWN", (1301, 1))  # the API does not wait for mail: the order is made
    (event,) = mail_events(ctx)
    assert dispatcher.run_pass(ctx).retried == 1
    (row,) = mail_events(ctx)
    assert row.delivered_at is None and row.attempts == 1
    assert "Connection" in row.last_error or "refused" in row.last_error.lower()
    assert row.available_at == clock.now + dt.timedelta(minutes=1)
    assert dispatcher.run_pass(ctx).retried == 0  # not due yet
    clock.advance(minutes=1)
    assert dispatcher.run_pass(ctx).retried == 1
    assert mail_events(ctx)[0].available_at == clock.now + dt.timedelta(minutes=2)  # backing off

    sink = SmtpSink(smtp_port)  # the server comes back
    try:
        clock.advance(minutes=2)
        assert dispatcher.run_pass(ctx).delivered == 1
        (message,) = sink.messages
        assert message["Message-ID"] == f"<{event.event_id}@shop.test>"
        (row,) = mail_events(ctx)
        assert row.delivered_at == clock.now and row.attempts == 3 and row.last_error is None
    finally:
        sink.stop()


def test_a_recipient_refused_for_good_closes_the_event_with_the_reason(
    ctx: Context, shop_a: Merchant, direct: bytes, smtp_port: int
) -> None:
    class Refuse:
        async def handle_RCPT(self, server, session, envelope, address, options):  # noqa: N802
            return "550 5.1.1 no such user"

    from aiosmtpd.controller import Controller

    controller = Controller(Refuse(), hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        create(shop_a, "MAIL-550", (1301, 1))
        assert dispatcher.run_pass(ctx).failed == 1
    finally:
        controller.stop()
    (row,) = mail_events(ctx)
    assert row.delivered_at is not None and row.last_error.startswith("gave up: recipient refused")


def test_a_lines_end_user_email_gets_its_own_message(
    ctx: Context, shop_a: Merchant, direct: bytes, sink: SmtpSink
) -> None:
    body = order_body("MAIL-GIFT", (1301, 1), (1301, 1))
    body["orderLines"][1]["endUserEmail"] = "friend@example.com"
    reply = shop_a.call("POST", "/order/new", body)
    assert reply.status_code == 201, reply.text
    first, second = reply.json()["orderLines"]
    dispatcher.run_pass(ctx)
    by_recipient = {m["To"]: parts(m)[0] for m in sink.messages}
    assert set(by_recipient) == {"buyer@example.com", "friend@example.com"}
    assert first["lineItems"][0]["serials"][0]["data"] in by_recipient["buyer@example.com"]
    assert second["lineItems"][0]["serials"][0]["data"] not in by_recipient["buyer@example.com"]
    assert second["lineItems"][0]["serials"][0]["data"] in by_recipient["friend@example.com"]


def test_an_order_cancelled_before_the_email_left_sends_nothing(
    ctx: Context, shop_a: Merchant, direct: bytes, sink: SmtpSink
) -> None:
    create(shop_a, "MAIL-CANCEL", (1301, 1))
    shop_a.call("PUT", "/order/cancel", {"partnerOrderNumber": "MAIL-CANCEL", "reasonCode": 2})
    dispatcher.run_pass(ctx)
    assert sink.messages == []
    assert all(row.delivered_at is not None for row in mail_events(ctx))


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made by openssl."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_starttls_and_authentication(
    ctx: Context, shop_a: Merchant, direct: bytes, smtp_port: int, certificate: tuple[Path, Path], clock
) -> None:
    import ssl

    cert, key = certificate
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    logins: list[tuple[bytes, bool]] = []

    def authenticate(server, session, envelope, mechanism, auth_data):  # type: ignore[no-untyped-def]
        ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"mailer" and auth_data.password == b"s3cret"
        logins.append((auth_data.login, session.ssl is not None))
        return AuthResult(success=ok)

    sink = SmtpSink(smtp_port, tls_context=tls, require_starttls=True, authenticator=authenticate, auth_required=True)
    try:
        ctx.settings.smtp_starttls = True
        # after the refused password, smtplib tries its next AUTH mechanism and aiosmtpd (the test's
        # server) never answers it: the attempt ends at the SMTP timeout, kept short here
        ctx.settings.smtp_timeout_seconds = 3
        ctx.settings.smtp_ca_file = str(cert)
        ctx.settings.smtp_user = "mailer"
        ctx.settings.smtp_password = "wrong"
        create(shop_a, "MAIL-TLS", (1301, 1))
        assert dispatcher.run_pass(ctx).retried == 1  # refused credentials: retried, not lost
        assert sink.messages == [] and logins == [(b"mailer", True)]  # the password went over TLS only
        ctx.settings.smtp_password = "s3cret"
        clock.advance(minutes=1)
        assert dispatcher.run_pass(ctx).delivered == 1
        assert len(sink.messages) == 1 and len(logins) == 2
        ctx.settings.smtp_ca_file = ""  # a certificate nobody vouches for is not trusted
        create(shop_a, "MAIL-TLS-2", (1301, 1))
        assert dispatcher.run_pass(ctx).retried == 1
        assert "CERTIFICATE_VERIFY_FAILED" in mail_events(ctx)[-1].last_error
    finally:
        sink.stop()


def test_a_renewal_order_gets_its_delivery_email_too(
    ctx: Context, shop_a: Merchant, world: World, sink: SmtpSink, clock
) -> None:
    """A renewal order is written by the same order writer as createOrder, delivery included: with the
    catalogue's delivery email on, the renewal's new serial goes to the customer like the first one."""
    assert delivery_mail.set_every_order(ctx, "shop-a", "EUR", True) == 1
    first = create(shop_a, "MAIL-SUB", (1005, 1))
    dispatcher.run_pass(ctx)
    assert len(sink.messages) == 1
    clock.advance(days=366)
    assert subscription_service.renew_due(ctx).renewal_orders == ["MAIL-SUB-1"]
    renewal = shop_a.call("GET", "/order/MAIL-SUB-1").json()
    (event,) = [e for e in mail_events(ctx) if e.payload["orderNumber"] == renewal["orderNumber"]]
    assert event.payload["to"] == "buyer@example.com"
    dispatcher.run_pass(ctx)
    assert len(sink.messages) == 2
    message = sink.messages[1]
    assert message["Subject"] == f"Your subscription is renewed, order {renewal['orderNumber']}: Yearly"
    text, html = parts(message)
    serial = renewal["orderLines"][0]["lineItems"][0]["serials"][0]["data"]
    assert serial != first["orderLines"][0]["lineItems"][0]["serials"][0]["data"]
    assert serial in text and serial in html


def test_the_operator_resends_the_delivery_email_to_a_corrected_address(
    ctx: Context, world: World, sink: SmtpSink, clock, cli
) -> None:
    """`resell order resend-email N --to` queues it; the worker sends it over SMTP to the new address."""
    from resell.services import orders as order_service
    from tests.renewal_support import caller_of

    view = order_service.submit_order(ctx, caller_of(ctx, world.a), order_body("MAIL-R", (1001, 1)))
    assert mail_events(ctx) == []  # not a direct-delivery product: createOrder sent nothing
    resent = cli("order", "resend-email", str(view.order_number), "--to", "fixed@example.com")
    assert resent.exit_code == 0, resent.output
    clock.advance(seconds=30)  # the CLI queued it by the real clock, a moment after the test's
    assert dispatcher.run_pass(ctx).kinds.get("mail.delivery") == 1
    (message,) = sink.messages
    assert sink.envelopes == [("orders@shop.test", ["fixed@example.com"])]
    assert view.lines[0].line_items[0].serials[0] in message.get_body(("plain",)).get_content()
