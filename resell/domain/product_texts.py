"""A product's texts for an end user's language: its name, short description and remark template.

The catalogue gives each product default texts, and may give some of them again per language
(docs/catalog-format.md, `texts`). `choose_text` is the one rule that picks what an end user reads,
used by the delivery and renewal emails, the digital locker and getCrossUpSell: the texts of the
end user's language, field by field, else the product's default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pycountry


@dataclass(frozen=True)
class ProductText:
    name: str
    short_description: str
    remark_template: str


@dataclass(frozen=True)
class Translation:
    """One language's texts of a product; a field left None is not translated (the default shows)."""

    name: str | None = None
    short_description: str | None = None
    remark_template: str | None = None


def text_language(code: str | None) -> str | None:
    """`fr_FR`, `fr`, `FR-ca` -> "fr": the ISO 639-1 language of a customer language; None when there is none."""
    language = (code or "").strip().replace("-", "_").split("_")[0].lower()
    return language if len(language) == 2 and language.isalpha() else None


def is_language(code: str) -> bool:
    """Whether `code` is an ISO 639-1 language code, as the catalogue's `texts` keys must be ("fr", "de")."""
    return len(code) == 2 and code.isalpha() and pycountry.languages.get(alpha_2=code.lower()) is not None


def choose_text(default: ProductText, translations: Mapping[str, Translation], language: str | None) -> ProductText:
    """The texts an end user of `language` (a customer language such as "fr_FR") reads: each field in
    their language when the product has it, else the default. Field by field, so a translated name with
    an untranslated remark still shows the translated name."""
    wanted = translations.get(text_language(language) or "")
    if wanted is None:
        return default
    return ProductText(
        name=wanted.name if wanted.name is not None else default.name,
        short_description=(
            wanted.short_description if wanted.short_description is not None else default.short_description
        ),
        remark_template=wanted.remark_template if wanted.remark_template is not None else default.remark_template,
    )
