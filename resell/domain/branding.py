"""A shop's name and look on the end user's surfaces (the delivery email, the locker), and the rules
its values obey, without I/O.

A merchant may set a display name, a logo URL, a support email and URL, an accent colour, and the
sender name and reply-to address of its emails (`resell merchant brand`, the back office's merchant
page: both go through `check`). Unset values fall back: the shop's name is the display name, else
the merchant's name; the sender name is the shop's name; the Reply-To is the reply-to address, else
the support email.

The accent colour is the background of the locker's header under white text and the colour of
links on white, so it must reach WCAG AA's 4.5:1 contrast against white; a colour that does not is
refused, with its ratio and the nearest darker shade that passes.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from email.headerregistry import Address
from email.utils import parseaddr
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email

AA_NORMAL_TEXT = 4.5  # WCAG 2.x success criterion 1.4.3, normal text
WHITE = "#ffffff"
_HEX = re.compile(r"#?([0-9a-fA-F]{6})")
MAX_NAME = 100
MAX_URL = 500
MAX_EMAIL = 254


class BrandingError(ValueError):
    """One or more values refused; `problems` maps each field to the reason (the message lists them all)."""

    def __init__(self, problems: dict[str, str]):
        self.problems = problems
        super().__init__("; ".join(f"{LABELS[name]}: {why}" for name, why in problems.items()))


@dataclass(frozen=True)
class Branding:
    """What a merchant set (None: not set)."""

    display_name: str | None = None
    logo_url: str | None = None
    support_email: str | None = None
    support_url: str | None = None
    accent: str | None = None
    sender_name: str | None = None
    reply_to: str | None = None


FIELDS = tuple(f.name for f in fields(Branding))
# how the CLI's options and the back office's form name each field in an error
LABELS = {
    "display_name": "display name",
    "logo_url": "logo URL",
    "support_email": "support email",
    "support_url": "support URL",
    "accent": "accent colour",
    "sender_name": "sender name",
    "reply_to": "reply-to",
}


@dataclass(frozen=True)
class Shop:
    """The shop as an end user sees it: the merchant's branding with its fallbacks applied."""

    name: str
    logo_url: str | None = None
    support_email: str | None = None
    support_url: str | None = None
    accent: str | None = None
    sender_name: str | None = None
    reply_to: str | None = None

    @property
    def sender(self) -> str:
        return self.sender_name or self.name

    @property
    def reply_address(self) -> str | None:
        return self.reply_to or self.support_email

    @property
    def has_support(self) -> bool:
        return bool(self.support_email or self.support_url)


def shop(merchant_name: str, branding: Branding | None = None) -> Shop:
    b = branding or Branding()
    return Shop(
        name=b.display_name or merchant_name,
        logo_url=b.logo_url,
        support_email=b.support_email,
        support_url=b.support_url,
        accent=b.accent,
        sender_name=b.sender_name,
        reply_to=b.reply_to,
    )


def sender_address(shop: Shop, mail_from: str) -> Address:
    """From: the shop's sender name at the platform's own no-reply address (RESELL_MAIL_FROM's address):
    the mail leaves from the platform's domain, so SPF and DKIM keep passing. The header is encoded
    (RFC 2047) when it is written, so "Acmé Shop" arrives as typed."""
    address = parseaddr(mail_from)[1] or "no-reply@localhost"
    return Address(display_name=shop.sender, addr_spec=address)


# ---------------------------------------------------------------- colours


def _rgb(colour: str) -> tuple[int, int, int]:
    value = colour.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def relative_luminance(colour: str) -> float:
    """WCAG 2.x relative luminance of a #rrggbb colour."""

    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in _rgb(colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: str, b: str) -> float:
    """WCAG contrast ratio of two #rrggbb colours, 1 to 21."""
    la, lb = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def darker_passing(colour: str) -> str:
    """The same hue darkened just enough to reach AA against white."""
    r, g, b = _rgb(colour)
    for step in range(100, -1, -1):
        shade = "#{:02x}{:02x}{:02x}".format(*(round(c * step / 100) for c in (r, g, b)))
        if contrast_ratio(shade, WHITE) >= AA_NORMAL_TEXT:
            return shade
    return "#000000"


# ---------------------------------------------------------------- checking what a merchant sets


def _text(value: str, limit: int) -> str | None:
    if len(value) > limit:
        return f"at most {limit} characters"
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in value):
        return "no control characters or line breaks"
    return None


def _https_url(value: str) -> str | None:
    if len(value) > MAX_URL:
        return f"at most {MAX_URL} characters"
    if any(c.isspace() or unicodedata.category(c) == "Cc" for c in value):
        return "no spaces or control characters"
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (raises on a port that is not a number)
    except ValueError:
        return "not a valid URL"
    if parts.scheme.lower() != "https":
        return "must start with https://"
    if not parts.hostname or parts.username or parts.password:
        return "must name a host (and no user name or password)"
    return None


def _email(value: str) -> tuple[str | None, str]:
    if len(value) > MAX_EMAIL:
        return f"at most {MAX_EMAIL} characters", value
    try:
        return None, validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        return f"not a valid email address ({exc})", value


def _accent(value: str) -> tuple[str | None, str]:
    match = _HEX.fullmatch(value)
    if not match:
        return "a colour as #rrggbb (six hexadecimal digits), e.g. #1f3a5f", value
    colour = "#" + match.group(1).lower()
    ratio = contrast_ratio(colour, WHITE)
    if ratio < AA_NORMAL_TEXT:
        return (
            f"{colour} has a contrast of {ratio:.2f}:1 with white, below the {AA_NORMAL_TEXT}:1 that WCAG AA "
            f"asks for white text on it and for it as text on white; a darker shade that passes: "
            f"{darker_passing(colour)}"
        ), colour
    return None, colour


def check(current: Branding, changes: Mapping[str, str | None]) -> Branding:
    """`current` with `changes` applied (a field -> its new value; "" or None clears it), every new value
    checked and normalised (trimmed, email addresses normalised, colours lower-case with "#").
    Raises BrandingError naming every refused field and why."""
    problems: dict[str, str] = {}
    values: dict[str, str | None] = {}
    for name, raw in changes.items():
        if name not in FIELDS:
            raise ValueError(f"not a branding field: {name!r}")
        value = (raw or "").strip()
        if not value:
            values[name] = None
            continue
        problem: str | None
        if name in ("display_name", "sender_name"):
            problem = _text(value, MAX_NAME)
        elif name in ("logo_url", "support_url"):
            problem = _https_url(value)
        elif name in ("support_email", "reply_to"):
            problem, value = _email(value)
        else:
            problem, value = _accent(value)
        if problem:
            problems[name] = problem
        values[name] = value
    if problems:
        raise BrandingError(problems)
    return replace(current, **values)
