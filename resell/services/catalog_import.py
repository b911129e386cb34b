"""Load a catalogue from the documented JSON format (docs/catalog-format.md), as an upsert.

Products are matched by `ref`: importing the same file twice changes nothing, and a later file
updates names, prices, files and links in place. Serials are not part of this format; they come
through `resell stock import`.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

import pycountry
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import Connection, delete, select

from resell.db.engine import inserted_id
from resell.db.tables import (
    categories,
    category_labels,
    download_stats,
    operating_systems,
    option_eligibility,
    product_categories,
    product_files,
    product_links,
    product_operating_systems,
    product_prices,
    product_texts,
    products,
    publishers,
)
from resell.domain.periods import is_period
from resell.domain.product_texts import is_language
from resell.domain.signing import check_publisher_url
from resell.services import catalog_changes
from resell.services.audit_log import audit
from resell.services.context import Context
from resell.services.orders import forget_product_files


class CatalogImportError(ValueError):
    """The file does not follow docs/catalog-format.md; the message says where."""


class _Model(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")


class PublisherIn(_Model):
    key: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1)
    delivers_directly: bool = Field(False, alias="deliversDirectly")
    keygen_url: str | None = Field(None, alias="keygenUrl")
    callback_url: str | None = Field(None, alias="callbackUrl")

    @field_validator("keygen_url", "callback_url")
    @classmethod
    def _publisher_url(cls, value: str | None) -> str | None:
        return check_publisher_url(value) if value else None


class OperatingSystemIn(_Model):
    id: int
    label: str = Field(min_length=1)


class CategoryIn(_Model):
    id: int
    labels: dict[str, str]
    subcategories: list[CategoryIn] = []

    @field_validator("labels")
    @classmethod
    def _languages(cls, labels: dict[str, str]) -> dict[str, str]:
        if not labels:
            raise ValueError("at least one label")
        return {lang.lower(): label for lang, label in labels.items()}


class FileIn(_Model):
    label: str
    file_name: str = Field(alias="fileName")
    size: int = Field(0, ge=0)
    sha256: str | None = Field(None, pattern=r"^[0-9a-fA-F]{64}$")
    group: str = ""
    type: str = "install"


class PriceIn(_Model):
    currency: str
    amount_duty_free: Decimal = Field(alias="amountDutyFree", ge=0)
    vat_rate: Decimal = Field(Decimal(0), alias="vatRate", ge=0, le=100)

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        if pycountry.currencies.get(alpha_3=value.upper()) is None:
            raise ValueError(f"{value!r} is not an ISO 4217 currency")
        return value.upper()


class OptionIn(_Model):
    kind: Literal["download_extension", "backup_dvd"]
    period: str | None = None
    eligible_refs: list[int] = Field([], alias="eligibleRefs")


class TextsIn(_Model):
    """A product's texts in one language; a key left out shows the product's default there."""

    name: str | None = Field(None, min_length=1)
    short_description: str | None = Field(None, alias="shortDescription")
    remark: str | None = None


class ProductIn(_Model):
    ref: int = Field(gt=0)
    name: str = Field(min_length=1)
    publisher: str
    type: Literal["software", "game", "option"] = "software"
    status: Literal["available", "not_available"] = "available"
    release_date: dt.date | None = Field(None, alias="releaseDate")
    delivery_mode: Literal["download_serial", "serial", "download", "locker"] = Field(
        "download_serial", alias="deliveryMode"
    )
    serial_source: Literal["pool", "none", "generator"] = Field("none", alias="serialSource")
    short_description: str = Field("", alias="shortDescription")
    image_small: str | None = Field(None, alias="imageSmall")
    remark: str = ""
    almost_out_threshold: int = Field(10, alias="almostOutThreshold", ge=0)
    subscription_period: str | None = Field(None, alias="subscriptionPeriod")
    option: OptionIn | None = None
    files: list[FileIn] = []
    prices: list[PriceIn] = []
    categories: list[int] = []
    operating_systems: list[int] = Field([], alias="operatingSystems")
    up_sells: list[int] = Field([], alias="upSells")
    cross_sells: list[int] = Field([], alias="crossSells")
    texts: dict[str, TextsIn] = {}

    @field_validator("texts")
    @classmethod
    def _text_languages(cls, texts: dict[str, TextsIn]) -> dict[str, TextsIn]:
        bad = [code for code in texts if not is_language(code)]
        if bad:
            raise ValueError(f"texts: {', '.join(map(repr, bad))} not an ISO 639-1 language code such as 'fr' or 'de'")
        lowered = {code.lower(): text for code, text in texts.items()}
        if len(lowered) != len(texts):
            raise ValueError("texts: a language is given twice (keys are compared in lower case)")
        return lowered

    @model_validator(mode="after")
    def _consistent(self) -> ProductIn:
        if self.subscription_period is not None and not is_period(self.subscription_period):
            raise ValueError(f"subscriptionPeriod {self.subscription_period!r} is not an ISO 8601 period")
        if (self.type == "option") != (self.option is not None):
            raise ValueError("a product of type 'option' needs an 'option' block, and only it may have one")
        if self.option and self.option.kind == "download_extension" and not is_period(self.option.period or ""):
            raise ValueError("a download_extension option needs an ISO 8601 'period'")
        return self


class CatalogIn(_Model):
    publishers: list[PublisherIn] = []
    operating_systems: list[OperatingSystemIn] = Field([], alias="operatingSystems")
    categories: list[CategoryIn] = []
    products: list[ProductIn] = []


def parse_catalog(data: Any) -> CatalogIn:
    try:
        return CatalogIn.model_validate(data)
    except ValidationError as exc:
        lines = [f"  {'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()]
        raise CatalogImportError("the catalogue file is not valid:\n" + "\n".join(lines)) from None


def _upsert(conn: Connection, table, key: dict[str, Any], values: dict[str, Any]) -> int:  # type: ignore[no-untyped-def]
    where = [table.c[k] == v for k, v in key.items()]
    row = conn.execute(select(table.c.id).where(*where)).first()
    if row is None:
        return inserted_id(conn.execute(table.insert().values(**key, **values)))
    conn.execute(table.update().where(*where).values(**values))
    return row.id


def _import_categories(conn: Connection, items: list[CategoryIn], parent: int | None) -> None:
    for position, cat in enumerate(items):
        _upsert(conn, categories, {"id": cat.id}, {"parent_id": parent, "position": position})
        conn.execute(delete(category_labels).where(category_labels.c.category_id == cat.id))
        conn.execute(
            category_labels.insert(),
            [{"category_id": cat.id, "language": lang, "label": label} for lang, label in cat.labels.items()],
        )
        _import_categories(conn, cat.subcategories, cat.id)


def _sync_files(conn: Connection, product_id: int, files: list[FileIn]) -> None:
    """Files are matched by file name and updated in place: their ids (in links already given to end users)
    and their stored bytes survive a re-import; for a stored file, size and SHA-256 stay those of the bytes."""
    existing = {
        row.file_name: row
        for row in conn.execute(select(product_files).where(product_files.c.product_id == product_id))
    }
    for i, f in enumerate(files):
        values: dict[str, Any] = {"position": i, "label": f.label, "type": f.type, "group": f.group}
        row = existing.pop(f.file_name, None)
        if row is None or row.storage_key is None:
            values |= {"size": f.size, "sha256": f.sha256.lower() if f.sha256 else None}
        if row is None:
            conn.execute(product_files.insert().values(product_id=product_id, file_name=f.file_name, **values))
        else:
            conn.execute(product_files.update().where(product_files.c.id == row.id).values(**values))
    if existing:  # withdrawn from the product: their counters go with them
        gone = [row.id for row in existing.values()]
        conn.execute(delete(download_stats).where(download_stats.c.file_id.in_(gone)))
        conn.execute(delete(product_files).where(product_files.c.id.in_(gone)))


def import_catalog(ctx: Context, data: Any, actor: str = "operator") -> dict[str, int]:
    """Upsert everything in `data`; returns counts per kind. One transaction: all or nothing."""
    catalog = parse_catalog(data)
    now = ctx.now()
    with ctx.db.write() as conn:
        feed_data_before = catalog_changes.snapshot(conn, [p.ref for p in catalog.products])
        publisher_ids = {}
        for pub in catalog.publishers:
            publisher_ids[pub.key] = _upsert(
                conn,
                publishers,
                {"key": pub.key},
                {
                    "name": pub.name,
                    "delivers_directly": pub.delivers_directly,
                    "keygen_url": pub.keygen_url,
                    "callback_url": pub.callback_url,
                },
            )
        for os_ in catalog.operating_systems:
            _upsert(conn, operating_systems, {"id": os_.id}, {"label": os_.label})
        _import_categories(conn, catalog.categories, None)

        known_publishers = dict(conn.execute(select(publishers.c.key, publishers.c.id)).all())
        product_ids: dict[int, int] = {}
        for p in catalog.products:
            if p.publisher not in known_publishers:
                raise CatalogImportError(f"product {p.ref}: unknown publisher {p.publisher!r}")
            values = {
                "name": p.name,
                "type": p.type,
                "status": p.status,
                "release_date": p.release_date,
                "delivery_mode": p.delivery_mode,
                "serial_source": p.serial_source,
                "publisher_id": known_publishers[p.publisher],
                "short_description": p.short_description,
                "image_small": p.image_small,
                "remark_template": p.remark,
                "almost_out_threshold": p.almost_out_threshold,
                "subscription_period": p.subscription_period,
                "option_kind": p.option.kind if p.option else None,
                "option_period": p.option.period if p.option else None,
                "updated_at": now,
            }
            existing = conn.execute(select(products.c.id).where(products.c.ref == p.ref)).first()
            if existing is None:
                pid = inserted_id(conn.execute(products.insert().values(ref=p.ref, created_at=now, **values)))
                audit(conn, now, actor, "product", p.ref, "created", after={"name": p.name})
            else:
                pid = existing.id
                conn.execute(products.update().where(products.c.id == pid).values(**values))
                audit(conn, now, actor, "product", p.ref, "updated", after={"name": p.name})
            product_ids[p.ref] = pid
            for table in (product_prices, product_categories, product_operating_systems, product_texts):
                conn.execute(delete(table).where(table.c.product_id == pid))
            if p.texts:
                conn.execute(
                    product_texts.insert(),
                    [
                        {
                            "product_id": pid,
                            "language": language,
                            "name": text.name,
                            "short_description": text.short_description,
                            "remark_template": text.remark,
                        }
                        for language, text in p.texts.items()
                    ],
                )
            _sync_files(conn, pid, p.files)
            if p.prices:
                conn.execute(
                    product_prices.insert(),
                    [
                        {
                            "product_id": pid,
                            "currency": pr.currency,
                            "amount_duty_free": pr.amount_duty_free,
                            "vat_rate": pr.vat_rate,
                        }
                        for pr in p.prices
                    ],
                )
            if p.categories:
                conn.execute(
                    product_categories.insert(),
                    [{"product_id": pid, "category_id": c} for c in dict.fromkeys(p.categories)],
                )
            if p.operating_systems:
                conn.execute(
                    product_operating_systems.insert(),
                    [{"product_id": pid, "os_id": o} for o in dict.fromkeys(p.operating_systems)],
                )

        # Links may point at products defined later in the file, or imported earlier.
        all_ids = dict(conn.execute(select(products.c.ref, products.c.id)).all())

        def ids_of(ref: int, refs: list[int], what: str) -> list[int]:
            unknown = [r for r in refs if r not in all_ids]
            if unknown:
                raise CatalogImportError(f"product {ref}: {what} names unknown product refs {unknown}")
            return [all_ids[r] for r in dict.fromkeys(refs)]

        for p in catalog.products:
            pid = product_ids[p.ref]
            conn.execute(delete(product_links).where(product_links.c.product_id == pid))
            links = [
                {"product_id": pid, "linked_product_id": i, "kind": "up"} for i in ids_of(p.ref, p.up_sells, "upSells")
            ]
            links += [
                {"product_id": pid, "linked_product_id": i, "kind": "cross"}
                for i in ids_of(p.ref, p.cross_sells, "crossSells")
            ]
            if links:
                conn.execute(product_links.insert(), links)
            conn.execute(delete(option_eligibility).where(option_eligibility.c.option_product_id == pid))
            if p.option and p.option.eligible_refs:
                conn.execute(
                    option_eligibility.insert(),
                    [
                        {"option_product_id": pid, "product_id": i}
                        for i in ids_of(p.ref, p.option.eligible_refs, "option.eligibleRefs")
                    ],
                )
        catalog_changes.record_updates(conn, now, feed_data_before)  # what the differential feeds report
    forget_product_files(ctx.db)
    return {
        "publishers": len(catalog.publishers),
        "operatingSystems": len(catalog.operating_systems),
        "categories": len(catalog.categories),
        "products": len(catalog.products),
    }
