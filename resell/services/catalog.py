"""What a merchant may read of the catalogue: categories, operating systems, stock levels, cross/up-sells."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

import pycountry
from sqlalchemy import Connection, bindparam, select

from resell.db.kept import KeptRows, only_found
from resell.db.prepared import Prepared
from resell.db.tables import (
    categories,
    category_labels,
    operating_systems,
    option_eligibility,
    product_links,
    product_prices,
    products,
)
from resell.domain import codes
from resell.domain.codes import Refusal
from resell.domain.product_texts import ProductText, choose_text
from resell.domain.request_fields import is_blank, lenient_int, positive_int
from resell.services import stock
from resell.services.context import Caller, Context
from resell.services.product_texts import translations
from resell.services.tenancy import catalog_products_query

FALLBACK_LANGUAGE = "en"


def parse_language(value: object, missing: int, invalid: int) -> list[str]:
    """One ISO 639-1 code or a comma-separated list (`"FR,EN,ES"`), lower-cased, in order."""
    if is_blank(value):
        raise Refusal(missing)
    if not isinstance(value, str):
        raise Refusal(invalid)
    languages = []
    for part in value.split(","):
        code = part.strip().replace("-", "_").split("_")[0].lower()
        if len(code) != 2 or pycountry.languages.get(alpha_2=code) is None:
            raise Refusal(invalid)
        languages.append(code)
    return languages


# ---------------------------------------------------------------- categories and operating systems


@dataclass(frozen=True)
class Category:
    id: int
    label: str
    subcategories: list[Category]


def _pick_label(labels: dict[str, str], language: str) -> str:
    return labels.get(language) or labels.get(FALLBACK_LANGUAGE) or next(iter(labels.values()), "")


def list_categories(ctx: Context, raw_language: object) -> list[Category]:
    """The category tree with labels in `language` (English, then any label, where one is missing)."""
    language = parse_language(raw_language, missing=codes.MALFORMED, invalid=codes.LANGUAGE_UNKNOWN)[0]
    with ctx.db.read() as conn:
        rows = conn.execute(select(categories).order_by(categories.c.position, categories.c.id)).all()
        labels: dict[int, dict[str, str]] = defaultdict(dict)
        for cat_id, lang, label in conn.execute(select(category_labels)):
            labels[cat_id][lang] = label
    children: dict[int | None, list] = defaultdict(list)
    for row in rows:
        children[row.parent_id].append(row)

    def build(parent: int | None) -> list[Category]:
        return [Category(r.id, _pick_label(labels[r.id], language), build(r.id)) for r in children[parent]]

    return build(None)


def list_operating_systems(ctx: Context) -> list[tuple[int, str]]:
    with ctx.db.read() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                select(operating_systems.c.id, operating_systems.c.label).order_by(operating_systems.c.id)
            )
        ]  # type: ignore[misc]


# ---------------------------------------------------------------- stock status


@dataclass(frozen=True)
class StockItem:
    product_ref: int | None
    status: int | None
    code: int


# the product and its serials available, counted as far as its status needs, in one statement
_STOCK_PRODUCT = Prepared(
    catalog_products_query(
        None,
        products.c.ref,
        products.c.serial_source,
        products.c.status,
        products.c.almost_out_threshold,
        stock.available_column(bindparam("ref")).label("available"),
    ).where(products.c.ref == bindparam("ref"))
)


# A product's stock status by (catalogue, ref), kept (db/kept.py) RESELL_CACHE_SECONDS, never past this
# process's next write; an unknown ref is read each time. Shops poll it, and the status is advisory
# (the contract, business rule 1: createOrder counts again under its lock). On SQLite too: there the
# read is local, yet a statement, its cursor and its converters are a quarter of the call (README,
# "Benchmark", has the measure).
_KEPT_STATUSES: KeptRows[int | None] = KeptRows(until_write=True)


def _stock_status(ctx: Context, conn: Connection, catalog_id: int, ref: int) -> int | None:
    """getStockStatus's 100/200/300 for the product `ref` of the catalogue, None if it has none such."""

    def read() -> int | None:
        row = _STOCK_PRODUCT.first(conn, catalog_id=catalog_id, ref=ref)
        return None if row is None else stock.status_of(row)

    return _KEPT_STATUSES.get(ctx.db, (catalog_id, ref), ctx.settings.cache_seconds, read, keep=only_found)[0]


def stock_statuses(ctx: Context, caller: Caller, raw_refs: object) -> list[StockItem]:
    """One item per requested ref; an unknown or malformed ref is an item with its code, not a refusal.

    A refused ref that is a number is echoed as given (-1 stays -1, contract 3), so that the client
    can pass it on; anything else is echoed as null. More refs than the stock_max_refs setting
    refuse the whole call (101) before any is read: the answer runs on the event loop.
    """
    if raw_refs is None:
        raise Refusal(codes.STOCK_REFS_MISSING)
    if not isinstance(raw_refs, list):
        raw_refs = [raw_refs]
    limit = ctx.settings.stock_max_refs
    if len(raw_refs) > limit:
        raise Refusal(codes.STOCK_REFS_NOT_VALID, f"productRefs not valid: more than {limit} in one call")
    parsed: list[tuple[int | None, int]] = []
    for raw in raw_refs:
        if is_blank(raw):
            parsed.append((None, codes.STOCK_REFS_MISSING))
            continue
        try:
            ref = lenient_int(raw)
        except ValueError:
            parsed.append((None, codes.STOCK_REFS_NOT_VALID))
            continue
        parsed.append((ref, codes.OK) if ref > 0 else (ref, codes.STOCK_REFS_NOT_VALID))
    refs = {ref for ref, code in parsed if code == codes.OK and ref is not None}
    statuses: dict[int, int] = {}
    # each product's status from its own statement: a serial sold between two changes nothing they promise
    with ctx.db.read(snapshot=False) as conn:
        for ref in refs:
            status = _stock_status(ctx, conn, caller.catalog_id, ref)
            if status is not None:
                statuses[ref] = status
    items = []
    for item_ref, code in parsed:
        if code or item_ref is None:
            items.append(StockItem(item_ref, None, code))
        elif item_ref not in statuses:
            items.append(StockItem(item_ref, None, codes.PRODUCT_NOT_FOUND))
        else:
            items.append(StockItem(item_ref, statuses[item_ref], codes.OK))
    return items


# ---------------------------------------------------------------- cross-sells, up-sells, options


@dataclass(frozen=True)
class Suggestion:
    ref: int
    type: str  # option | up | cross
    name: str
    amount_duty_free: Decimal | None
    currency: str
    short_description: str
    language: str
    image_small: str | None


def cross_up_sell(ctx: Context, caller: Caller, raw_language: object, raw_products: object) -> list[Suggestion]:
    """Up-sells and cross-sells of the cart's products, and the options every cart product may take; names
    and short descriptions in the request's (first) language where the catalogue gives them."""
    if raw_products is None or raw_products == [] or not isinstance(raw_products, list):
        raise Refusal(codes.CART_MISSING)
    cart: list[int] = []
    for item in raw_products:
        if not isinstance(item, dict):
            raise Refusal(codes.CART_PRODUCT_REF_MISSING)
        cart.append(
            positive_int(
                item.get("productRef"), missing=codes.CART_PRODUCT_REF_MISSING, invalid=codes.CART_PRODUCT_REF_NOT_VALID
            )
        )
        positive_int(
            item.get("quantity"),
            missing=codes.CART_QUANTITY_MISSING,
            invalid=codes.CART_QUANTITY_NOT_VALID,
            maximum=1000,
        )
    language = parse_language(
        raw_language, missing=codes.SUGGESTION_LANGUAGE_MISSING, invalid=codes.SUGGESTION_LANGUAGE_NOT_VALID
    )[0]
    with ctx.db.read() as conn:
        sold = catalog_products_query(caller, products.c.id, products.c.ref)
        in_cart = {r.ref: r.id for r in conn.execute(sold.where(products.c.ref.in_(cart)))}
        if set(cart) - set(in_cart):
            raise Refusal(codes.PRODUCT_NOT_FOUND)
        cart_ids = set(in_cart.values())
        suggested: dict[int, str] = {}
        for kind in ("up", "cross"):
            for (linked,) in conn.execute(
                select(product_links.c.linked_product_id).where(
                    product_links.c.product_id.in_(cart_ids), product_links.c.kind == kind
                )
            ):
                if linked not in cart_ids:
                    suggested.setdefault(linked, kind)
        eligible: dict[int, set[int]] = defaultdict(set)
        for option_id, product_id in conn.execute(select(option_eligibility)):
            eligible[option_id].add(product_id)
        for option_id, products_ok in eligible.items():
            if cart_ids <= products_ok and option_id not in cart_ids:
                suggested[option_id] = "option"
        if not suggested:
            return []
        rows = conn.execute(
            catalog_products_query(
                caller,
                products.c.id,
                products.c.ref,
                products.c.name,
                products.c.short_description,
                products.c.image_small,
                product_prices.c.amount_duty_free,
            )
            .outerjoin(
                product_prices,
                (product_prices.c.product_id == products.c.id) & (product_prices.c.currency == caller.currency),
            )
            .where(products.c.id.in_(list(suggested)), products.c.status == "available")
            .order_by(products.c.ref)
        ).all()
        found = translations(conn, [r.id for r in rows], language)  # names and descriptions in `language`
    texts = {
        r.id: choose_text(ProductText(r.name, r.short_description, ""), found.get(r.id, {}), language) for r in rows
    }
    order = {"option": 0, "up": 1, "cross": 2}
    return sorted(
        (
            Suggestion(
                ref=r.ref,
                type=suggested[r.id],
                name=texts[r.id].name,
                amount_duty_free=r.amount_duty_free,
                currency=caller.currency,
                short_description=texts[r.id].short_description,
                language=language.upper(),
                image_small=r.image_small,
            )
            for r in rows
        ),
        key=lambda s: (order[s.type], s.ref),
    )
