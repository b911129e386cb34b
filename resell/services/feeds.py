"""Product feeds: each merchant's catalogue as a daily download, full, differential or incremental.

A feed configuration (`feed_configs`, set up with `resell feed configure`) belongs to one catalogue
and names the format (xml or csv) and the language of labels (category labels, and the products' names
and short descriptions when they have texts in it). `open_feed` checks the request and
returns a `Feed` whose `chunks()` stream the products in ref order, a thousand at a time, from one
read transaction: a feed of 100,000 products never sits in memory whole. The renderers
(resell.api.feed) turn the chunks into bytes.

- full: every product of the catalogue;
- `diff=YYYY-MM-DD`: the products whose catalogue data changed since that day (UTC), each with its
  action, insert / update / delete (resell.services.catalog_changes records them);
- `diff=last`: the same since this configuration's previous complete fetch (everything as insert
  the first time). Every complete fetch, whatever its kind, moves `last_fetch_at` to the time the
  fetch started.

A differential feed also lists, as `update`, the products whose feed status moved in the window
though no catalogue data changed: stock coming back is recorded by the serial import itself
(resell.services.catalog_changes); stock running out and a release date passing are found when the
feed is read, from the window's serial assignments and the products released in it (`_Reader._status_moves`).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    case,
    func,
    literal,
    literal_column,
    or_,
    select,
    union_all,
    update,
)

from resell.db.engine import inserted_id
from resell.db.tables import (
    catalog_changes,
    catalog_products,
    catalogs,
    categories,
    category_labels,
    feed_configs,
    merchants,
    product_categories,
    product_files,
    product_links,
    product_operating_systems,
    product_prices,
    product_texts,
    products,
    publishers,
    serial_assignments,
    serials,
)
from resell.domain import codes
from resell.domain.codes import Refusal
from resell.domain.feed import feed_status
from resell.domain.product_texts import ProductText, Translation, choose_text
from resell.domain.request_fields import is_blank
from resell.services import iam
from resell.services.audit_log import audit
from resell.services.catalog import _pick_label
from resell.services.context import Caller, Context
from resell.services.merchants import MerchantError, catalog_of

CHUNK = 1000
FORMATS = ("xml", "csv")
NEW_FOR_DAYS = 30  # the feed's "new" flag
# written into the SQL, not bound, so that SQLite and PostgreSQL may use the partial index of available serials
_AVAILABLE: ColumnElement[str] = literal_column("'available'")


# ---------------------------------------------------------------- configuration (operator)


@dataclass(frozen=True)
class FeedConfig:
    id: int
    catalog_id: int
    catalog_name: str
    currency: str
    provider: str
    name: str
    format: str
    language: str
    last_fetch_at: dt.datetime | None


def _config_query():  # type: ignore[no-untyped-def]
    return select(
        feed_configs.c.id,
        feed_configs.c.catalog_id,
        catalogs.c.name.label("catalog_name"),
        catalogs.c.currency,
        feed_configs.c.provider,
        feed_configs.c.name,
        feed_configs.c.format,
        feed_configs.c.language,
        feed_configs.c.last_fetch_at,
    ).join(catalogs, catalogs.c.id == feed_configs.c.catalog_id)


def configure(
    ctx: Context,
    realm: str,
    currency: str,
    provider: str,
    config: str,
    format: str = "xml",
    language: str = "en",
    actor: str = "operator",
) -> FeedConfig:
    """Create or change the feed `config` of `provider` on the merchant's catalogue in `currency`."""
    provider, config, format, language = provider.strip(), config.strip(), format.strip().lower(), language.strip()
    if not provider or not config or len(provider) > 100 or len(config) > 100:
        raise MerchantError("provider and config must be 1 to 100 characters")
    if format not in FORMATS:
        raise MerchantError(f"format must be one of {', '.join(FORMATS)}, not {format!r}")
    if len(language) != 2 or not language.isalpha():
        raise MerchantError(f"language must be an ISO 639-1 code such as en or fr, not {language!r}")
    now = ctx.now()
    with ctx.db.write() as conn:
        catalog = catalog_of(conn, realm, currency)
        key = (
            feed_configs.c.catalog_id == catalog.id,
            feed_configs.c.provider == provider,
            feed_configs.c.name == config,
        )
        values = {"format": format, "language": language.lower()}
        found = conn.execute(select(feed_configs.c.id).where(*key)).first()
        if found is None:
            config_id = inserted_id(
                conn.execute(
                    feed_configs.insert().values(
                        catalog_id=catalog.id, provider=provider, name=config, created_at=now, **values
                    )
                )
            )
        else:
            config_id = found.id
            conn.execute(update(feed_configs).where(feed_configs.c.id == config_id).values(**values))
        audit(
            conn,
            now,
            actor,
            "merchant",
            realm,
            "feed_configured",
            after={"catalog": catalog.name, "provider": provider, "config": config, **values},
        )
        return FeedConfig(**conn.execute(_config_query().where(feed_configs.c.id == config_id)).one()._mapping)


def list_configs(ctx: Context, realm: str) -> list[FeedConfig]:
    with ctx.db.read() as conn:
        rows = conn.execute(
            _config_query()
            .join(merchants, merchants.c.id == catalogs.c.merchant_id)
            .where(merchants.c.realm == realm)
            .order_by(catalogs.c.currency, feed_configs.c.provider, feed_configs.c.name)
        ).all()
    return [FeedConfig(**r._mapping) for r in rows]


# ---------------------------------------------------------------- what a feed holds


@dataclass(slots=True)
class Price:
    currency: str
    amount_duty_free: Decimal
    vat_rate: Decimal


@dataclass(frozen=True)
class Category:
    id: int
    parent_id: int | None
    label: str


@dataclass(slots=True)
class FeedProduct:
    """One product as the feed shows it; a deleted one carries only its ref and action. `name` and
    `short_description` are in the feed's language when the product has texts in it (as getCrossUpSell
    chooses them: resell.domain.product_texts.choose_text), else the product's own; `texts` lists every
    language the product has a name or short description in."""

    ref: int
    action: str | None  # insert | update | delete in differential feeds, None in a full one
    name: str = ""
    type: str = ""  # software | game | option
    option_kind: str | None = None  # download_extension | backup_dvd for an option
    status: str = ""  # coming_soon | pre_order | available | out_of_stock | not_available
    publisher_id: int = 0
    publisher_key: str = ""
    publisher_name: str = ""
    short_description: str = ""
    image_small: str | None = None
    delivery_mode: str = ""
    release_date: dt.date | None = None
    created_at: dt.datetime | None = None
    is_new: bool = False
    subscription_period: str | None = None
    total_size: int | None = None  # bytes, all files; None: the product has no file
    price: Price | None = None  # in the catalogue's currency
    categories: tuple[Category, ...] = ()
    operating_systems: tuple[int, ...] = ()
    cross_up_sell: tuple[tuple[int, str], ...] = ()  # (ref, "up" | "cross"), products of the same catalogue
    # the product's name and short description per language, by language code; a None field is not translated
    texts: tuple[tuple[str, Translation], ...] = ()


@dataclass
class Feed:
    ctx: Context
    caller: Caller
    config: FeedConfig
    generated_at: dt.datetime
    since: dt.datetime | None  # None: a full feed
    since_inclusive: bool = True  # diff=DATE counts changes from midnight on; diff=last those after the last fetch
    all_inserts: bool = False  # diff=last on a first fetch: the full catalogue, each product an insert
    fetched: bool = field(default=False, init=False)

    @property
    def differential(self) -> bool:
        return self.since is not None or self.all_inserts

    def chunks(self) -> Iterator[list[FeedProduct]]:
        """The products, CHUNK at a time; when the last chunk has been taken, the fetch counts as done."""
        with self.ctx.db.read() as conn:
            yield from _Reader(conn, self).chunks()
        self._mark_fetched()

    def _mark_fetched(self) -> None:
        with self.ctx.db.write() as conn:
            conn.execute(
                update(feed_configs)
                .where(feed_configs.c.id == self.config.id)
                .where((feed_configs.c.last_fetch_at.is_(None)) | (feed_configs.c.last_fetch_at < self.generated_at))
                .values(last_fetch_at=self.generated_at)
            )
        self.fetched = True


def _since(raw: str | None, last_fetch_at: dt.datetime | None) -> dict[str, Any]:
    """The Feed fields that the `diff` parameter sets."""
    if raw is None or is_blank(raw):
        return {"since": None}
    raw = raw.strip()
    if raw.lower() == "last":
        if last_fetch_at is None:
            return {"since": None, "all_inserts": True}
        return {"since": last_fetch_at, "since_inclusive": False}
    try:
        day = dt.date.fromisoformat(raw)
    except ValueError:
        raise Refusal(codes.FEED_DIFF_NOT_VALID) from None
    if len(raw) != 10:  # fromisoformat also takes 20261128
        raise Refusal(codes.FEED_DIFF_NOT_VALID)
    return {"since": dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)}


def open_feed(ctx: Context, secret: str | None, provider: str | None, config: str | None, diff: str | None) -> Feed:
    """Check a feed request: 70/71 for the secret, 100/110 missing provider/config, 121 a bad diff,
    1010 no such configuration on the secret's catalogue."""
    caller = iam.caller_for_secret(ctx, secret)
    if is_blank(provider):
        raise Refusal(codes.FEED_PROVIDER_MISSING)
    if is_blank(config):
        raise Refusal(codes.FEED_CONFIG_MISSING)
    assert provider is not None and config is not None
    with ctx.db.read() as conn:
        row = conn.execute(
            _config_query().where(
                feed_configs.c.catalog_id == caller.catalog_id,
                feed_configs.c.provider == provider.strip(),
                feed_configs.c.name == config.strip(),
            )
        ).first()
    if row is None:
        raise Refusal(codes.FEED_CONFIG_NOT_FOUND)
    found = FeedConfig(**row._mapping)
    return Feed(ctx, caller, found, ctx.now(), **_since(diff, found.last_fetch_at))


# ---------------------------------------------------------------- reading, a chunk at a time


class _Side:
    """A related table streamed in the main query's order (product ref): a merge join, done here so
    that no query has to list a chunk's product ids."""

    def __init__(self, rows: Iterator[Any]) -> None:
        self.rows = rows
        self.head = next(rows, None)

    def take(self, ref: int) -> list[Any]:
        """The rows of product `ref` (each row's first column is the product's ref)."""
        if self.head is None or self.head[0] > ref:
            return []
        found = []
        while self.head is not None and self.head[0] <= ref:
            if self.head[0] == ref:
                found.append(self.head)
            self.head = next(self.rows, None)
        return found


def _in_window(column: Any, since: dt.datetime, inclusive: bool, until: dt.datetime) -> tuple[Any, Any]:
    """`column` from `since` (included for diff=DATE, excluded for diff=last) up to `until`."""
    return (column >= since if inclusive else column > since), column <= until


def _first_release_day(since: dt.datetime, inclusive: bool) -> dt.date:
    """The first day whose start (00:00 UTC, when a release date passes) falls in the window from `since`."""
    since = since.astimezone(dt.UTC)
    day = since.date()
    starts_on_midnight = since == dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    return day if inclusive and starts_on_midnight else day + dt.timedelta(days=1)


class _Reader:
    """One feed's queries, on one connection: the products, and six related tables alongside."""

    def __init__(self, conn: Connection, feed: Feed) -> None:
        self.conn = conn
        self.feed = feed
        self.catalog_id = feed.caller.catalog_id
        self.changed = None
        if feed.since is not None:
            changes = union_all(
                self._recorded(feed.since, feed.since_inclusive, feed.generated_at),
                *self._status_moves(feed.since, feed.since_inclusive, feed.generated_at),
            ).subquery()
            self.changed = (
                select(changes.c.product_id, func.max(changes.c.inserted).label("inserted"))
                .group_by(changes.c.product_id)
                .subquery()
            )

    def _recorded(self, since: dt.datetime, inclusive: bool, until: dt.datetime) -> Select:  # type: ignore[type-arg]
        """The catalogue's recorded changes in the window (resell.services.catalog_changes)."""
        return select(
            catalog_changes.c.product_id,
            case((catalog_changes.c.action == "insert", 1), else_=0).label("inserted"),
        ).where(
            catalog_changes.c.catalog_id == self.catalog_id, *_in_window(catalog_changes.c.at, since, inclusive, until)
        )

    def _status_moves(self, since: dt.datetime, inclusive: bool, until: dt.datetime) -> list[Select]:  # type: ignore[type-arg]
        """The catalogue's products whose status moved in the window with nothing recorded: released in it
        (coming_soon / pre_order -> available), or pooled, sold in it and now without an available serial
        (-> out_of_stock). Both read only what happened in the window (an index on each), not every
        product's stock. Stock coming back is recorded by the serial import."""
        member = (catalog_products.c.product_id == products.c.id) & (catalog_products.c.catalog_id == self.catalog_id)
        # each query starts from its window (an index on it), not from the catalogue
        released_in_window = select(products.c.id).where(
            products.c.release_date.between(_first_release_day(since, inclusive), until.date())
        )
        released = (
            select(products.c.id.label("product_id"), literal(0).label("inserted"))
            .join(catalog_products, member)
            .where(products.c.id.in_(released_in_window))
        )
        sold_in_window = (
            select(serials.c.product_id)
            .join(serial_assignments, serial_assignments.c.serial_id == serials.c.id)
            .where(*_in_window(serial_assignments.c.assigned_at, since, inclusive, until))
        )
        spare = serials.alias("spare")
        left = select(spare.c.id).where(spare.c.product_id == products.c.id, spare.c.status == _AVAILABLE)
        ran_out = (
            select(products.c.id.label("product_id"), literal(0).label("inserted"))
            .join(catalog_products, member)
            .where(products.c.id.in_(sold_in_window), products.c.serial_source == "pool", ~left.exists())
        )
        return [released, ran_out]

    def _scoped(self, query: Select) -> Select:  # type: ignore[type-arg]
        """Only the products the feed covers: the catalogue's, or those changed in the window."""
        if self.changed is None:
            return query.join(
                catalog_products,
                (catalog_products.c.product_id == products.c.id) & (catalog_products.c.catalog_id == self.catalog_id),
            )
        return query.join(self.changed, self.changed.c.product_id == products.c.id)

    def _stream(self, query: Select) -> Iterator[Any]:  # type: ignore[type-arg]
        return iter(self.conn.execution_options(yield_per=CHUNK).execute(query))

    def _main(self) -> Any:
        has_serial = (
            select(serials.c.id)
            .where(serials.c.product_id == products.c.id, serials.c.status == _AVAILABLE)
            .exists()
            .label("has_serial")
        )
        columns: list[Any] = [
            products.c.ref,
            products.c.name,
            products.c.type,
            products.c.option_kind,
            products.c.status,
            products.c.release_date,
            products.c.delivery_mode,
            products.c.serial_source,
            products.c.short_description,
            products.c.image_small,
            products.c.subscription_period,
            products.c.created_at,
            publishers.c.id.label("publisher_id"),
            publishers.c.key.label("publisher_key"),
            publishers.c.name.label("publisher_name"),
            has_serial,
        ]
        if self.changed is not None:
            present = (
                select(catalog_products.c.product_id)
                .where(catalog_products.c.catalog_id == self.catalog_id, catalog_products.c.product_id == products.c.id)
                .exists()
                .label("present")
            )
            columns += [self.changed.c.inserted, present]
        query = select(*columns).select_from(products.join(publishers, publishers.c.id == products.c.publisher_id))
        return self.conn.execution_options(yield_per=CHUNK).execute(self._scoped(query).order_by(products.c.ref))

    def _sides(self) -> dict[str, _Side]:
        sold = catalog_products.alias("sold")
        linked = products.alias("linked")
        queries = {
            "prices": select(  # the catalogue's currency: one price at most
                products.c.ref, product_prices.c.currency, product_prices.c.amount_duty_free, product_prices.c.vat_rate
            )
            .select_from(
                products.join(
                    product_prices,
                    (product_prices.c.product_id == products.c.id)
                    & (product_prices.c.currency == self.feed.caller.currency),
                )
            )
            .order_by(products.c.ref),
            "categories": select(products.c.ref, product_categories.c.category_id)
            .select_from(products.join(product_categories, product_categories.c.product_id == products.c.id))
            .order_by(products.c.ref, product_categories.c.category_id),
            "systems": select(products.c.ref, product_operating_systems.c.os_id)
            .select_from(
                products.join(product_operating_systems, product_operating_systems.c.product_id == products.c.id)
            )
            .order_by(products.c.ref, product_operating_systems.c.os_id),
            "links": select(products.c.ref, linked.c.ref, product_links.c.kind)  # to products of this catalogue only
            .select_from(
                products.join(product_links, product_links.c.product_id == products.c.id)
                .join(linked, linked.c.id == product_links.c.linked_product_id)
                .join(sold, (sold.c.product_id == linked.c.id) & (sold.c.catalog_id == self.catalog_id))
            )
            .order_by(products.c.ref, product_links.c.kind.desc(), linked.c.ref),
            "sizes": select(products.c.ref, func.sum(product_files.c.size))
            .select_from(products.join(product_files, product_files.c.product_id == products.c.id))
            .group_by(products.c.ref)
            .order_by(products.c.ref),
            "texts": select(  # what the feed shows: a language with only a remark has nothing to show
                products.c.ref, product_texts.c.language, product_texts.c.name, product_texts.c.short_description
            )
            .select_from(products.join(product_texts, product_texts.c.product_id == products.c.id))
            .where(or_(product_texts.c.name.is_not(None), product_texts.c.short_description.is_not(None)))
            .order_by(products.c.ref, product_texts.c.language),
        }
        return {name: _Side(self._stream(self._scoped(query))) for name, query in queries.items()}

    def chunks(self) -> Iterator[list[FeedProduct]]:
        feed = self.feed
        language = feed.config.language
        labels = _category_labels(self.conn, language)
        main = self._main()
        sides = self._sides()
        prices, in_categories, systems = sides["prices"], sides["categories"], sides["systems"]
        links, sizes, texts = sides["links"], sides["sizes"], sides["texts"]
        today = feed.generated_at.date()
        new_after = feed.generated_at - dt.timedelta(days=NEW_FOR_DAYS)
        differential = self.changed is not None
        for rows in main.partitions(CHUNK):
            made = []
            for row in rows:
                (ref, name, kind, option_kind, on_sale, release, mode, source, description, image, period, created,
                 publisher_id, publisher_key, publisher_name, has_serial, *diff) = row  # fmt: skip
                price = next((Price(p[1], p[2], p[3]) for p in prices.take(ref)), None)
                category_ids = [c[1] for c in in_categories.take(ref)]
                os_ids = tuple(o[1] for o in systems.take(ref))
                cross_up_sell = tuple((link[1], link[2]) for link in links.take(ref))
                size = sizes.take(ref)
                translated = tuple((t[1], Translation(t[2], t[3])) for t in texts.take(ref))
                if differential and not diff[1]:  # (inserted, present)
                    made.append(FeedProduct(ref=ref, action="delete"))
                    continue
                if differential:
                    action: str | None = "insert" if diff[0] else "update"
                else:
                    action = "insert" if feed.all_inserts else None
                shown = choose_text(ProductText(name, description, ""), dict(translated), language)
                made.append(
                    FeedProduct(
                        ref,
                        action,
                        shown.name,
                        kind,
                        option_kind,
                        feed_status(
                            on_sale=on_sale == "available",
                            release_date=release,
                            today=today,
                            pooled=source == "pool",
                            has_serial=bool(has_serial),
                            has_price=price is not None,
                        ),
                        publisher_id,
                        publisher_key,
                        publisher_name,
                        shown.short_description,
                        image,
                        mode,
                        release,
                        created,
                        created > new_after,
                        period,
                        int(size[0][1] or 0) if size else None,
                        price,
                        tuple(labels[c] for c in category_ids if c in labels),
                        os_ids,
                        cross_up_sell,
                        translated,
                    )
                )
            yield made


def _category_labels(conn: Connection, language: str) -> dict[int, Category]:
    """The categories with their parent and label in the feed's language, read once per feed."""
    labels: dict[int, dict[str, str]] = defaultdict(dict)
    for cat_id, lang, label in conn.execute(select(category_labels)):
        labels[cat_id][lang] = label
    return {
        r.id: Category(r.id, r.parent_id, _pick_label(labels[r.id], language))
        for r in conn.execute(select(categories.c.id, categories.c.parent_id))
    }
