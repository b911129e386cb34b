"""The shop's branding values (resell.domain.branding): what is refused and why, the WCAG contrast
rule of the accent colour, the fallbacks end users see, and the From header of the shop's emails."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

import pytest

from resell.domain.branding import (
    Branding,
    BrandingError,
    check,
    contrast_ratio,
    darker_passing,
    sender_address,
    shop,
)


def test_values_are_trimmed_and_normalised() -> None:
    done = check(
        Branding(),
        {
            "display_name": "  Acmé Shop ",
            "logo_url": "https://cdn.acme.test/logo.png",
            "support_email": "Help@ACME.example.com",
            "support_url": "https://acme.example.com/help",
            "accent": "1F3A5F",
            "sender_name": "Acmé Orders",
            "reply_to": "orders@acme.example.com",
        },
    )
    assert done == Branding(
        display_name="Acmé Shop",
        logo_url="https://cdn.acme.test/logo.png",
        support_email="Help@acme.example.com",
        support_url="https://acme.example.com/help",
        accent="#1f3a5f",
        sender_name="Acmé Orders",
        reply_to="orders@acme.example.com",
    )


def test_fields_not_named_keep_their_values_and_blank_clears() -> None:
    before = Branding(display_name="Acme", accent="#1f3a5f")
    after = check(before, {"accent": "", "support_email": "help@acme.example.com"})
    assert after == Branding(display_name="Acme", support_email="help@acme.example.com")


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("logo_url", "http://acme.test/logo.png", "must start with https://"),
        ("logo_url", "javascript:alert(1)", "must start with https://"),
        ("logo_url", "https://user:pw@acme.example.com/x.png", "no user name or password"),
        ("logo_url", "https:///nohost.png", "must name a host"),
        ("support_url", "https://acme.test/a b", "no spaces"),
        ("support_email", "not-an-address", "not a valid email address"),
        ("reply_to", "a@b@c.test", "not a valid email address"),
        ("accent", "red", "#rrggbb"),
        ("accent", "#12345", "#rrggbb"),
        ("display_name", "Acme\r\nBcc: victim@example.com", "no control characters"),
        ("sender_name", "x" * 101, "at most 100 characters"),
    ],
)
def test_a_refused_value_names_its_field_and_why(field: str, value: str, reason: str) -> None:
    with pytest.raises(BrandingError) as refused:
        check(Branding(), {field: value})
    assert list(refused.value.problems) == [field]
    assert reason in refused.value.problems[field]


def test_every_refused_field_is_named_at_once() -> None:
    with pytest.raises(BrandingError) as refused:
        check(Branding(), {"logo_url": "http://x.test/l.png", "accent": "#ffff00", "display_name": "Fine"})
    assert set(refused.value.problems) == {"logo_url", "accent"}
    assert str(refused.value).startswith("logo URL: must start with https://; accent colour: #ffff00")


def test_wcag_contrast_ratios() -> None:
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast_ratio("#ffffff", "#ffffff") == pytest.approx(1.0)
    assert contrast_ratio("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)  # the lightest AA grey
    assert contrast_ratio("#777777", "#ffffff") < 4.5


def test_an_accent_without_aa_contrast_is_refused_with_a_darker_shade_that_passes() -> None:
    with pytest.raises(BrandingError) as refused:
        check(Branding(), {"accent": "#FFCC00"})
    why = refused.value.problems["accent"]
    suggestion = darker_passing("#ffcc00")
    assert "#ffcc00 has a contrast of 1.5" in why and "4.5:1" in why and suggestion in why
    assert contrast_ratio(suggestion, "#ffffff") >= 4.5
    assert check(Branding(), {"accent": suggestion}).accent == suggestion  # the suggestion is accepted
    assert check(Branding(), {"accent": "#767676"}).accent == "#767676"  # exactly passing


def test_end_users_see_the_merchants_name_without_branding() -> None:
    plain = shop("Shop A")
    assert (plain.name, plain.sender, plain.reply_address, plain.has_support) == ("Shop A", "Shop A", None, False)
    branded = shop("Shop A", Branding(display_name="Acmé", support_email="help@acme.example.com"))
    assert (branded.name, branded.sender, branded.reply_address) == ("Acmé", "Acmé", "help@acme.example.com")
    own = shop(
        "Shop A", Branding(sender_name="Acmé Orders", support_email="h@acme.example.com", reply_to="r@acme.example.com")
    )
    assert (own.sender, own.reply_address) == ("Acmé Orders", "r@acme.example.com")


def test_the_from_header_is_the_shop_at_the_platforms_address_encoded() -> None:
    address = sender_address(shop("Acmé Shop, Inc."), "resell <no-reply@mail.resell.test>")
    assert address.addr_spec == "no-reply@mail.resell.test"
    message = EmailMessage()
    message["From"] = address
    message.set_content("x")
    wire = message.as_bytes()
    assert b"Acm\xc3\xa9" not in wire and b"=?utf-8?" in wire  # RFC 2047 on the wire
    read = email.message_from_bytes(wire, policy=email.policy.default)
    assert read["From"].addresses[0].display_name == "Acmé Shop, Inc."
    assert read["From"].addresses[0].addr_spec == "no-reply@mail.resell.test"
