"""Reading the products' texts per language (table product_texts, loaded by the catalogue import).

What an end user reads is chosen by resell.domain.product_texts.choose_text, from what `translations`
reads here.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import Connection, select

from resell.db.tables import product_texts
from resell.domain.product_texts import Translation, text_language


def translations(
    conn: Connection, product_ids: Collection[int], language: str | None
) -> dict[int, dict[str, Translation]]:
    """The texts these products have in `language` (a customer language, "fr_FR"): product id -> {"fr": ...},
    what `choose_text` takes."""
    code = text_language(language)
    if code is None or not product_ids:
        return {}
    return {
        row.product_id: {code: Translation(row.name, row.short_description, row.remark_template)}
        for row in conn.execute(
            select(product_texts).where(
                product_texts.c.product_id.in_(set(product_ids)), product_texts.c.language == code
            )
        )
    }

