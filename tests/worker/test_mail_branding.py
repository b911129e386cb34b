"""The delivery email in the shop's name, through the outbox to a real SMTP server (aiosmtpd): From the
shop's sender name at the platform's address (RFC 2047 for "Acmé"), Reply-To its support, its name,
logo and support contact in both parts, its own order number beside the platform's."""

from __future__ import annotations

import lxml.html

from resell.services import branding, delivery_mail
from resell.services import subscriptions as subscription_service
from resell.services.context import Context
from resell.worker import dispatcher
from tests.conftest import Merchant, World
from tests.delivery_support import SmtpSink
from tests.worker.test_mail import create, direct, parts, settings, sink, smtp_port  # noqa: F401 (fixtures)

BRAND = {
    "display_name": "Acmé Shop",
    "logo_url": "https://cdn.acme.test/logo.png?v=1&x=<2>",
    "support_email": "help@acme.example.com",
    "support_url": "https://acme.example.com/help",
    "accent": "#7a1f5f",
}


def test_a_branded_shops_email_comes_from_the_shop(
    ctx: Context,
    shop_a: Merchant,
    direct: bytes,  # noqa: F811
    sink: SmtpSink,  # noqa: F811
) -> None:
    branding.set_branding(ctx, "shop-a", BRAND)
    order = create(shop_a, "ACME-PON-7", (1301, 1), language="fr_FR")
    number = order["orderNumber"]
    dispatcher.run_pass(ctx)
    (message,) = sink.messages
    assert sink.envelopes[0][0] == "orders@shop.test"  # the platform's address, whoever the shop
    sender = message["From"].addresses[0]
    assert (sender.display_name, sender.addr_spec) == ("Acmé Shop", "orders@shop.test")
    assert str(message["Reply-To"]) == "help@acme.example.com"
    assert message["Message-ID"].endswith("@shop.test>")
    text, html = parts(message)
    text = text.replace("\r\n", "\n")
    assert text.startswith("Bonjour Ada,\n")
    assert f"Numéro de commande\u00a0: {number}" in text
    assert "Numéro de commande chez Acmé Shop\u00a0: ACME-PON-7" in text
    assert "Cet e-mail vous est envoyé pour le compte de la boutique Acmé Shop." in text
    assert "Contactez Acmé Shop\u00a0: help@acme.example.com https://acme.example.com/help" in text
    assert "Merci de ne pas répondre" not in text  # replies go to the shop's support
    root = lxml.html.document_fromstring(html)
    (logo,) = root.xpath("//img")
    assert logo.get("alt") == "Acmé Shop" and logo.get("src") == BRAND["logo_url"]
    assert "background:#7a1f5f" in root.xpath("//img/..")[0].get("style")
    shown = root.text_content()
    assert "Numéro de commande chez Acmé Shop\u00a0: ACME-PON-7" in " ".join(shown.split(" "))
    assert root.xpath('//a[@href="mailto:help@acme.example.com"]') and root.xpath(
        '//a[@href="https://acme.example.com/help"]'
    )


def test_the_sender_name_and_reply_to_when_set_and_the_merchants_name_without_branding(
    ctx: Context,
    shop_a: Merchant,
    direct: bytes,  # noqa: F811
    sink: SmtpSink,  # noqa: F811
) -> None:
    create(shop_a, "PLAIN-1", (1301, 1))
    dispatcher.run_pass(ctx)  # what the email says is read when it is sent
    branding.set_branding(
        ctx, "shop-a", {"display_name": "Acmé", "sender_name": "Acmé Orders", "reply_to": "orders@acme.example.com"}
    )
    create(shop_a, "OWN-2", (1301, 1))
    dispatcher.run_pass(ctx)
    plain, own = sink.messages
    assert plain["From"].addresses[0].display_name == "shop-a"  # the merchant's own name, never anonymous
    assert plain["Reply-To"] is None
    text, _ = parts(plain)
    assert "sent on behalf of shop-a. Please do not reply to this email." in text
    assert "Order number at shop-a: PLAIN-1" in text and "your shop" not in text
    assert own["From"].addresses[0].display_name == "Acmé Orders"
    assert str(own["Reply-To"]) == "orders@acme.example.com"
    assert "Please do not reply" not in parts(own)[0] and "Contact Acmé" not in parts(own)[0]  # no support set


def test_a_renewal_email_is_in_the_shops_name_with_the_renewals_own_number(
    ctx: Context,
    shop_a: Merchant,
    world: World,
    sink: SmtpSink,  # noqa: F811
    clock,  # noqa: ANN001
) -> None:
    branding.set_branding(ctx, "shop-a", {"display_name": "Acmé Shop", "support_email": "help@acme.example.com"})
    assert delivery_mail.set_every_order(ctx, "shop-a", "EUR", True) == 1
    create(shop_a, "BR-SUB", (1005, 1), language="de_DE")
    dispatcher.run_pass(ctx)
    clock.advance(days=366)
    assert subscription_service.renew_due(ctx).renewal_orders == ["BR-SUB-1"]
    dispatcher.run_pass(ctx)
    renewal = sink.messages[-1]
    assert renewal["From"].addresses[0].display_name == "Acmé Shop"
    assert str(renewal["Reply-To"]) == "help@acme.example.com"
    text, html = parts(renewal)
    for body in (text, html):
        assert "Bestellnummer bei Acmé Shop: BR-SUB-1" in body.replace("<strong>", "").replace("</strong>", "")
        assert "im Auftrag von Acmé Shop versendet" in body
