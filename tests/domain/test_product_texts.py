"""choose_text: the one rule that picks a product's texts for an end user's language."""

from __future__ import annotations

from resell.domain.product_texts import ProductText, Translation, choose_text, is_language, text_language

DEFAULT = ProductText("Adventure Pack", "Three games.", "Install %GAMENAME%.")
TEXTS = {
    "fr": Translation("Pack Aventure", "Trois jeux.", "Installez %GAMENAME%."),
    "de": Translation(name="Abenteuer-Paket"),  # only the name is translated
}


def test_the_customers_language_gets_its_texts() -> None:
    assert choose_text(DEFAULT, TEXTS, "fr_FR") == ProductText("Pack Aventure", "Trois jeux.", "Installez %GAMENAME%.")
    assert choose_text(DEFAULT, TEXTS, "FR-ca") == choose_text(DEFAULT, TEXTS, "fr")


def test_an_untranslated_field_falls_back_field_by_field() -> None:
    assert choose_text(DEFAULT, TEXTS, "de_DE") == ProductText("Abenteuer-Paket", "Three games.", "Install %GAMENAME%.")


def test_a_language_without_texts_or_no_language_gets_the_default() -> None:
    for language in ("es_ES", "en_US", None, "", "x"):
        assert choose_text(DEFAULT, TEXTS, language) == DEFAULT


def test_language_codes() -> None:
    assert text_language("fr_FR") == "fr" and text_language("en_XE") == "en" and text_language(None) is None
    assert is_language("fr") and is_language("DE") and not is_language("xx") and not is_language("fra")
