"""The end users' languages: gettext catalogues, the choice of a language, dates and sizes per locale.

The translations live in `resell/locale/<lang>/LC_MESSAGES/messages.po`, the only files a translator
edits (docs/fulfilment.md, "Translating"). A process compiles each catalogue in memory the first
time it needs it (babel.messages.pofile -> mofile), so no `.mo` file is built, committed or shipped:
what runs is always what the `.po` says, from a checkout and from a wheel alike.

Everything shown to an end user (the delivery email, the locker, the download pages) renders through
`translations(lang)` and the formatters below, so that the email and the locker say the same thing
the same way ("22 décembre 2026", "19,1 Mo").
"""

from __future__ import annotations

import datetime as dt
import io
from functools import lru_cache
from importlib import resources

from babel import Locale, UnknownLocaleError
from babel.core import negotiate_locale
from babel.dates import format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import Translations
from babel.units import format_unit

DEFAULT = "en"
# The languages the end-user surfaces speak, in the order the language switcher lists them.
LANGUAGES = ("en", "fr", "de", "es", "it", "pt", "nl", "pl", "sv", "ja")
DOMAIN = "messages"


def supported(code: str | None) -> str | None:
    """`fr_FR`, `fr`, `FR-ca` -> "fr"; None when the language is not one we translate."""
    language = (code or "").strip().replace("-", "_").split("_")[0].lower()
    return language if language in LANGUAGES else None


def language_of(customer_language: str | None) -> str:
    """An order's `customer_language` (`fr_FR`) -> the language it is served in; English when untranslated."""
    return supported(customer_language) or DEFAULT


def negotiate(accept_language: str | None) -> str | None:
    """The best of our languages for an `Accept-Language` header (quality values honoured), or None."""
    wanted: list[tuple[float, int, str]] = []
    for i, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if tag and tag != "*" and quality > 0:
            wanted.append((-quality, i, tag.replace("-", "_")))
    preferred = [tag for _, _, tag in sorted(wanted)]
    found = negotiate_locale(preferred, LANGUAGES, sep="_")
    if found is None:  # "fr_CH" matches no "fr_CH" in our list: try its language alone
        found = negotiate_locale([tag.split("_")[0] for tag in preferred], LANGUAGES, sep="_")
    return supported(found)


def locale_dir() -> str:
    return str(resources.files("resell") / "locale")


def _compile(language: str) -> bytes:
    """The `.mo` bytes of a language's `.po` (fuzzy entries left out, as msgfmt does)."""
    po = resources.files("resell") / "locale" / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    with po.open("rb") as source:
        catalog = read_po(source, locale=language, domain=DOMAIN)
    out = io.BytesIO()
    write_mo(out, catalog, use_fuzzy=False)
    return out.getvalue()


@lru_cache(maxsize=len(LANGUAGES))
def translations(language: str) -> Translations:
    """The compiled catalogue of one of LANGUAGES (English: the msgids themselves, through en's .po)."""
    if language not in LANGUAGES:
        raise ValueError(f"not a supported language: {language!r}")
    return Translations(io.BytesIO(_compile(language)), domain=DOMAIN)


@lru_cache(maxsize=len(LANGUAGES))
def display_name(language: str) -> str:
    """The language's name in itself, for the switcher ("Français", "日本語")."""
    try:
        name = Locale.parse(language).get_display_name(language) or language
    except UnknownLocaleError:
        return language
    return name[:1].upper() + name[1:]


def long_date(day: dt.date, language: str) -> str:
    """22 December 2026 as the locale writes it in full: "December 22, 2026", "22 décembre 2026", "2026年12月22日"."""
    return format_date(day, "long", locale=language)


_UNITS = ("digital-kilobyte", "digital-megabyte", "digital-gigabyte")


def file_size(size: int, language: str) -> str:
    """A file size with one decimal in the locale's unit and spacing: "19.1 MB", "19,1 Mo", "19,1 MB".

    Binary multiples (a "MB" of 1,048,576 bytes), as file managers show them; never below 0.1 kB."""
    value = max(size, 0) / 1024
    unit = _UNITS[0]
    for unit in _UNITS:
        if value < 1024 or unit == _UNITS[-1]:
            break
        value /= 1024
    shown = format_decimal(max(round(value, 1), 0.1), format="#,##0.#", locale=language)
    return format_unit(shown, unit, length="short", locale=language)
