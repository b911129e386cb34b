"""The tables of resell, as SQLAlchemy Core.

Core rather than ORM mappings: the hot paths (createOrder, stock allocation) read and write rows
in bulk, one round trip per table, and the services stay explicit about what they touch.
The Alembic migrations under `migrations/` create exactly this schema, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# BIGINT ids on PostgreSQL, INTEGER PRIMARY KEY (the rowid) on SQLite.
Id = BigInteger().with_variant(Integer(), "sqlite")
Money = Numeric(14, 4, asdecimal=True)


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Timestamps stored in UTC and always read back tz-aware (SQLite would return naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: resell stores UTC instants only")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


Timestamp = UtcDateTime()

# ---------------------------------------------------------------- catalogue

publishers = Table(
    "publishers",
    metadata,
    Column("id", Id, primary_key=True),
    Column("key", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("delivers_directly", Boolean, nullable=False, default=False),
    # serials generated on demand by the publisher (products with serial_source = generator)
    Column("keygen_url", String(500)),
    # where revoked serials are reported (signed callback through the outbox)
    Column("callback_url", String(500)),
)

products = Table(
    "products",
    metadata,
    Column("id", Id, primary_key=True),
    Column("ref", BigInteger, nullable=False, unique=True),
    Column("name", String(300), nullable=False),
    # software | game | option
    Column("type", String(20), nullable=False, default="software"),
    # available | not_available (withdrawn from sale)
    Column("status", String(20), nullable=False, default="available"),
    Column("release_date", Date, index=True),  # differential feeds look up the products released in a window
    # download_serial | serial | download | locker
    Column("delivery_mode", String(20), nullable=False, default="download_serial"),
    # pool (serials imported by the operator) | none (no serial) | generator (publisher on demand)
    Column("serial_source", String(20), nullable=False, default="none"),
    Column("publisher_id", Id, ForeignKey("publishers.id"), nullable=False),
    Column("short_description", Text, nullable=False, default=""),
    Column("image_small", String(500)),
    Column("remark_template", Text, nullable=False, default=""),
    # status 200 ("almost out") when available serials <= this, 300 when none
    Column("almost_out_threshold", Integer, nullable=False, default=10),
    Column("subscription_period", String(20)),  # ISO 8601, e.g. P1Y; null: not a subscription
    # for type=option: download_extension | backup_dvd
    Column("option_kind", String(30)),
    Column("option_period", String(20)),  # download extension length, ISO 8601
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
)

product_texts = Table(
    "product_texts",
    metadata,
    # A product's texts in one language (docs/catalog-format.md, `texts`); a null field is not translated.
    Column("product_id", Id, ForeignKey("products.id", ondelete="CASCADE"), primary_key=True),
    Column("language", String(8), primary_key=True),  # ISO 639-1, lower case: "fr"
    Column("name", String(300)),
    Column("short_description", Text),
    Column("remark_template", Text),
)

product_files = Table(
    "product_files",
    metadata,
    Column("id", Id, primary_key=True),
    Column("product_id", Id, ForeignKey("products.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("position", Integer, nullable=False, default=0),
    Column("label", String(300), nullable=False),
    Column("type", String(30), nullable=False, default="install"),
    Column("file_name", String(300), nullable=False),
    Column("size", BigInteger, nullable=False, default=0),
    Column("sha256", String(64)),
    Column("group", String(100), nullable=False, default=""),
    # where the storage backend keeps the bytes (null: not uploaded yet, metadata only)
    Column("storage_key", String(500)),
    Column("content_type", String(100), nullable=False, default="application/octet-stream"),
)

product_prices = Table(
    "product_prices",
    metadata,
    Column("product_id", Id, ForeignKey("products.id", ondelete="CASCADE"), primary_key=True),
    Column("currency", String(3), primary_key=True),
    Column("amount_duty_free", Money, nullable=False),
    Column("vat_rate", Numeric(6, 3, asdecimal=True), nullable=False, default=0),
)

categories = Table(
    "categories",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=False),
    Column("parent_id", Id, ForeignKey("categories.id"), index=True),
    Column("position", Integer, nullable=False, default=0),
)

category_labels = Table(
    "category_labels",
    metadata,
    Column("category_id", Id, ForeignKey("categories.id", ondelete="CASCADE"), primary_key=True),
    Column("language", String(8), primary_key=True),
    Column("label", String(200), nullable=False),
)

product_categories = Table(
    "product_categories",
    metadata,
    Column("product_id", Id, ForeignKey("products.id", ondelete="CASCADE"), primary_key=True),
    Column("category_id", Id, ForeignKey("categories.id", ondelete="CASCADE"), primary_key=True),
)

operating_systems = Table(
    "operating_systems",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=False),
    Column("label", String(100), nullable=False),
)

product_operating_systems = Table(
    "product_operating_systems",
    metadata,
    Column("product_id", Id, ForeignKey("products.id", ondelete="CASCADE"), primary_key=True),
    Column("os_id", Id, ForeignKey("operating_systems.id", ondelete="CASCADE"), primary_key=True),
)

product_links = Table(
    "product_links",
    metadata,
    Column("product_id", Id, ForeignKey("products.id", ondelete="CASCADE"), primary_key=True),
    Column("linked_product_id", Id, ForeignKey("products.id", ondelete="CASCADE"), primary_key=True),
    Column("kind", String(10), primary_key=True),  # up | cross
)

option_eligibility = Table(
    "option_eligibility",
    metadata,
    Column("option_product_id", Id, ForeignKey("products.id", ondelete="CASCADE"), primary_key=True),
    Column("product_id", Id, ForeignKey("products.id", ondelete="CASCADE"), primary_key=True),
)

# ---------------------------------------------------------------- merchants

merchants = Table(
    "merchants",
    metadata,
    Column("id", Id, primary_key=True),
    Column("realm", String(100), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("client_secret_hash", String(64), nullable=False),
    # every token carries the generation it was issued in; the operator's `resell merchant revoke-tokens`
    # moves it on, which refuses all tokens issued before (a counter, not a time: no two events share a value)
    Column("token_generation", Integer, nullable=False, default=0),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", Timestamp, nullable=False),
)

# the shop's name and look on the end user's surfaces (resell.domain.branding); no row: none set
merchant_branding = Table(
    "merchant_branding",
    metadata,
    Column("merchant_id", Id, ForeignKey("merchants.id"), primary_key=True),
    Column("display_name", String(100), nullable=True),
    Column("logo_url", String(500), nullable=True),
    Column("support_email", String(254), nullable=True),
    Column("support_url", String(500), nullable=True),
    Column("accent", String(7), nullable=True),
    Column("sender_name", String(100), nullable=True),
    Column("reply_to", String(254), nullable=True),
    Column("updated_at", Timestamp, nullable=False),
)

catalogs = Table(
    "catalogs",
    metadata,
    Column("id", Id, primary_key=True),
    Column("merchant_id", Id, ForeignKey("merchants.id"), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("secret_hash", String(64), nullable=False, unique=True),
    Column("currency", String(3), nullable=False),
    Column("cancel_period_days", Integer, nullable=False, default=30),
    # 1053: the merchant's configuration demands a unit price or total on each line
    Column("requires_amounts", Boolean, nullable=False, default=False),
    # the platform emails the end user every order of this catalogue (not only direct-delivery ones)
    Column("delivery_email", Boolean, nullable=False, default=False),
    Column("created_at", Timestamp, nullable=False),
    # A sandbox catalogue (its secret starts with `test_`): the twin of the live catalogue it names,
    # whose products, prices, currency and cancel period it uses (resell.services.sandbox); its orders
    # are test orders (orders.test).
    Column("sandbox", Boolean, nullable=False, default=False, server_default=false()),
    Column("live_catalog_id", Id, ForeignKey("catalogs.id"), index=True),
)

# A sandbox catalogue's test clock (docs/merchants.md, "Test clocks"): once the merchant advances it,
# the subscriptions of the catalogue's orders live on `frozen_time` instead of the wall clock
# (resell.services.test_clocks). A sandbox without a row follows the wall clock.
test_clocks = Table(
    "test_clocks",
    metadata,
    Column("catalog_id", Id, ForeignKey("catalogs.id", ondelete="CASCADE"), primary_key=True),
    Column("frozen_time", Timestamp, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
)

catalog_products = Table(
    "catalog_products",
    metadata,
    Column("catalog_id", Id, ForeignKey("catalogs.id", ondelete="CASCADE"), primary_key=True),
    Column("product_id", Id, ForeignKey("products.id", ondelete="CASCADE"), primary_key=True),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("jti", String(64), primary_key=True),
    Column("merchant_id", Id, ForeignKey("merchants.id"), nullable=False, index=True),
    # the sign-in it descends from (the tokens' `sid`, kept across refreshes): a replayed refresh
    # token revokes the whole family
    Column("family", String(36), nullable=False, index=True),
    Column("expires_at", Timestamp, nullable=False),
    # set when the token is used (rotation) or revoked (reset, replay, operator)
    Column("revoked_at", Timestamp),
)

# ---------------------------------------------------------------- stock

serials = Table(
    "serials",
    metadata,
    Column("id", Id, primary_key=True),
    Column("product_id", Id, ForeignKey("products.id"), nullable=False),
    Column("value", String(500), nullable=False),
    # available | assigned | revoked
    Column("status", String(10), nullable=False, default="available"),
    Column("imported_at", Timestamp, nullable=False),
    UniqueConstraint("product_id", "value"),
    # the stock pages count serials per product and status from the index alone
    Index("ix_serials_product_status", "product_id", "status"),
    # allocation scans only what is still available: the index stays small as stock is sold
    Index(
        "ix_serials_available",
        "product_id",
        "id",
        sqlite_where=text("status = 'available'"),
        postgresql_where=text("status = 'available'"),
    ),
    # support finds an order by a serial the end user reads out (any product)
    Index("ix_serials_value", "value"),
)

# The backstop of "a serial is handed out at most once, ever": one row per serial, never deleted.
serial_assignments = Table(
    "serial_assignments",
    metadata,
    Column("serial_id", Id, ForeignKey("serials.id"), primary_key=True),
    Column("line_item_id", Id, ForeignKey("line_items.id"), nullable=False, index=True),
    # differential feeds look up the serials sold in a window (a product that ran out)
    Column("assigned_at", Timestamp, nullable=False, index=True),
    Column("revoked_at", Timestamp),
)

# The last stock level the worker saw per pooled product (getStockStatus's 100 / 200 / 300): a change
# into 200 or 300 is reported as stock.low / stock.out.
stock_levels = Table(
    "stock_levels",
    metadata,
    Column("product_id", Id, ForeignKey("products.id", ondelete="CASCADE"), primary_key=True),
    Column("status", Integer, nullable=False),
    Column("changed_at", Timestamp, nullable=False),
)

# ---------------------------------------------------------------- orders

orders = Table(
    "orders",
    metadata,
    Column("id", Id, primary_key=True),  # the platform order number (orderNumber)
    Column("merchant_id", Id, ForeignKey("merchants.id"), nullable=False),
    Column("catalog_id", Id, ForeignKey("catalogs.id"), nullable=False),
    Column("partner_order_number", String(100), nullable=False),
    Column("status", String(12), nullable=False, default="active"),  # active | cancelled
    Column("order_date", Timestamp, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("customer_email", String(320), nullable=False),
    Column("customer_language", String(10)),
    Column("customer_partner_id", String(100)),
    Column("customer", JSON, nullable=False),
    Column("payment", JSON),
    Column("discounts", JSON),
    Column("metadata", JSON),
    Column("marketing_program_id", String(100)),
    Column("affiliate_id", BigInteger),
    Column("download_end_date", Date, nullable=False),
    Column("cancelled_at", Timestamp),
    Column("cancel_reason", Integer),
    Column("cancel_comment", Text),
    # renewals: the order of generation 0, and this order's generation
    Column("parent_order_id", Id, ForeignKey("orders.id")),
    Column("generation", Integer, nullable=False, default=0),
    # set on renewal orders: the subscription that made it (the first, when several renew together)
    Column("renewed_subscription_id", Id),
    Column("created_at", Timestamp, nullable=False),
    # placed through a sandbox catalogue: TEST- serials, no real stock, no email sent, left out of
    # stock counts, statements and the dashboard, purgeable (resell.services.sandbox)
    Column("test", Boolean, nullable=False, default=False, server_default=false()),
    # a partnerOrderNumber is the merchant's own, once in its live orders and once in its sandbox
    UniqueConstraint("merchant_id", "partner_order_number", "test"),
    Index("ix_orders_merchant_partner_id", "merchant_id", "customer_partner_id"),
    Index("ix_orders_merchant_email", "merchant_id", "customer_email"),
    # the monthly statements (services/reports.py): a merchant's orders placed in a month, and those
    # cancelled in it (few orders are: the partial index costs an order nothing until it is cancelled)
    Index("ix_orders_merchant_id_created_at", "merchant_id", "created_at"),
    Index(
        "ix_orders_cancelled",
        "merchant_id",
        "cancelled_at",
        sqlite_where=text("cancelled_at IS NOT NULL"),
        postgresql_where=text("cancelled_at IS NOT NULL"),
    ),
    # the back office's dashboard reads the orders of the last days (from the index alone), the latest
    # cancellations
    Index("ix_orders_created_at", "created_at", "currency", "merchant_id", "status", "id"),
    Index(
        "ix_orders_cancelled_at",
        "cancelled_at",
        "created_at",
        "currency",
        "merchant_id",
        "status",
        "id",
        sqlite_where=text("cancelled_at IS NOT NULL"),
        postgresql_where=text("cancelled_at IS NOT NULL"),
    ),
    # the support search (resell/services/order_search.py): newest first, one index per filter,
    # the order id last so that a page is read in index order (keyset pagination)
    Index("ix_orders_lower_email", text("lower(customer_email)"), "id"),
    Index("ix_orders_partner_order_number", "partner_order_number"),
    Index("ix_orders_merchant_id", "merchant_id", "id"),
    Index("ix_orders_status_id", "status", "id"),
    Index("ix_orders_order_date", "order_date", "id"),
    # an order's renewal orders (its audit trail on the back office's order page)
    Index("ix_orders_parent_order_id", "parent_order_id"),
    # a catalogue's orders: the subscriptions due on a sandbox's test clock (services/sandbox_clock.py)
    Index("ix_orders_catalog_id", "catalog_id", "id"),
)

order_lines = Table(
    "order_lines",
    metadata,
    Column("id", Id, primary_key=True),
    Column("order_id", Id, ForeignKey("orders.id"), nullable=False, index=True),
    Column("position", Integer, nullable=False),
    Column("product_id", Id, ForeignKey("products.id"), nullable=False),
    Column("product_ref", BigInteger, nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("vat_rate", Numeric(6, 3, asdecimal=True)),
    Column("amount_duty_free", Money),
    Column("amount_total", Money),
    # What the merchant is billed per unit (services/reports.py): the catalogue's retailer price, duty-free,
    # in the order's currency, and its VAT rate, as they stood when the order was placed (the columns
    # above are what the merchant sent). Null: the product had no price in that currency.
    Column("retailer_unit_price", Money),
    Column("retailer_vat_rate", Numeric(6, 3, asdecimal=True)),
    Column("end_user_email", String(320)),
    Column("discounts", JSON),
    Column("remark", Text, nullable=False, default=""),
    # random, unguessable: download links are built from it (resell.domain.links)
    Column("download_token", String(32), nullable=False, unique=True),
    # the dashboard sums the lines of many orders from the index alone
    Index("ix_order_lines_order_product", "order_id", "product_id", "quantity", "retailer_unit_price"),
)

# One line item per unit of quantity: it holds that unit's serial and subscription.
line_items = Table(
    "line_items",
    metadata,
    Column("id", Id, primary_key=True),
    Column("order_line_id", Id, ForeignKey("order_lines.id"), nullable=False, index=True),
    Column("position", Integer, nullable=False),
    # on renewal orders: the subscription whose new term this item holds (no FK: subscriptions point here)
    Column("renews_subscription_id", Id),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", Id, primary_key=True),
    Column("order_id", Id, ForeignKey("orders.id"), nullable=False, index=True),
    Column("line_item_id", Id, ForeignKey("line_items.id"), nullable=False, unique=True),
    Column("product_id", Id, ForeignKey("products.id"), nullable=False),
    Column("period", String(20), nullable=False),
    Column("generation", Integer, nullable=False, default=0),
    # ACTIVE | CANCELLED | TERMINATED | EXPIRED | RENEWAL_PENDING
    Column("status", String(20), nullable=False, default="ACTIVE"),
    Column("currency", String(3), nullable=False),
    Column("amount", Money),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Column("expires_at", Timestamp, nullable=False),
    Column("next_change_at", Timestamp),
    Column("renewal_attempts", Integer, nullable=False, default=0),
    Column("last_renewal_error", Text),
    Index("ix_subscriptions_due", "status", "next_change_at"),
)

# ---------------------------------------------------------------- fulfilment

# Download counters per order line and file (getDownloadInfo's dates and counts).
download_stats = Table(
    "download_stats",
    metadata,
    Column("order_line_id", Id, ForeignKey("order_lines.id"), primary_key=True),
    Column("file_id", Id, ForeignKey("product_files.id"), primary_key=True),
    Column("starts", Integer, nullable=False, default=0),
    Column("completes", Integer, nullable=False, default=0),
    Column("first_download_at", Timestamp),
    Column("last_download_at", Timestamp),
    # The bytes served to this link since its last complete download (resell.domain.ranges spans), and
    # the stored object they are bytes of: a file replaced since starts over.
    Column("served_ranges", Text, nullable=False, default="", server_default=""),
    Column("served_object", String(500)),
)

# Backup DVDs to ship to the order's delivery address.
shipments = Table(
    "shipments",
    metadata,
    Column("id", Id, primary_key=True),
    Column("order_id", Id, ForeignKey("orders.id"), nullable=False, index=True),
    Column("status", String(12), nullable=False, default="pending"),  # pending | shipped | cancelled
    Column("address", JSON, nullable=False),
    Column("items", JSON, nullable=False),  # [{"productRef", "name", "quantity"}]
    Column("created_at", Timestamp, nullable=False),
    Column("shipped_at", Timestamp),
    Column("cancelled_at", Timestamp),
    Column("tracking", String(200)),
)

# ---------------------------------------------------------------- merchant integrations

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", Id, primary_key=True),
    # whose endpoint: a merchant's (merchant events), or, with merchant_id null, a publisher's
    # (publisher_id: stock events of its products) or the operator's (both null: every stock event)
    Column("merchant_id", Id, ForeignKey("merchants.id"), nullable=True, index=True),
    Column("publisher_id", Id, ForeignKey("publishers.id"), nullable=True, index=True),
    Column("url", String(1000), nullable=False),
    Column("events", JSON, nullable=False),
    # the signing secret is derived from the platform key and this salt: never stored in clear
    Column("secret_salt", String(64), nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", Timestamp, nullable=False),
    Column("disabled_at", Timestamp),
    Column("disabled_reason", Text),
    Column("removed_at", Timestamp),  # removed by its owner: kept for its delivery log, never delivered to
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Id, primary_key=True),
    Column("endpoint_id", Id, ForeignKey("webhook_endpoints.id"), nullable=False, index=True),
    Column("event_id", String(36), nullable=False, index=True),
    Column("attempt", Integer, nullable=False),
    Column("at", Timestamp, nullable=False),
    Column("status_code", Integer),
    Column("error", Text),
    Column("duration_ms", Integer),
)

feed_configs = Table(
    "feed_configs",
    metadata,
    Column("id", Id, primary_key=True),
    Column("catalog_id", Id, ForeignKey("catalogs.id"), nullable=False),
    Column("provider", String(100), nullable=False),
    Column("name", String(100), nullable=False),  # the `config` query parameter
    Column("format", String(10), nullable=False, default="xml"),  # xml | csv
    Column("language", String(8), nullable=False, default="en"),
    Column("last_fetch_at", Timestamp),
    Column("created_at", Timestamp, nullable=False),
    UniqueConstraint("catalog_id", "provider", "name"),
)

# What changed in a catalogue and when: the differential and incremental feeds read it.
catalog_changes = Table(
    "catalog_changes",
    metadata,
    Column("id", Id, primary_key=True),
    Column("catalog_id", Id, ForeignKey("catalogs.id"), nullable=False),
    Column("product_id", Id, ForeignKey("products.id"), nullable=False),
    Column("action", String(10), nullable=False),  # insert | update | delete
    Column("at", Timestamp, nullable=False),
    Index("ix_catalog_changes_catalog_at", "catalog_id", "at"),
)

# ---------------------------------------------------------------- staff (the back office, /admin)

# People who sign in to the back office. A role bound to an owner names it in the matching column
# (publisher -> publisher_id); resell.domain.staff says which role needs which. `session_generation`
# is in every session cookie: bumping it (disable, new password) ends every session of the account.
staff_accounts = Table(
    "staff_accounts",
    metadata,
    Column("id", Id, primary_key=True),
    Column("email", String(320), nullable=False, unique=True),  # lower-cased
    Column("password_hash", String(200), nullable=False),  # argon2id
    Column("role", String(20), nullable=False),
    Column("publisher_id", Id, ForeignKey("publishers.id")),
    Column("merchant_id", Id, ForeignKey("merchants.id")),  # a merchant account's merchant (role "merchant")
    Column("totp_secret", String(64)),  # base32; none: password only
    Column("totp_last_step", BigInteger),  # the 30-second step of the last code accepted: no code twice
    Column("active", Boolean, nullable=False, default=True),
    Column("disabled_at", Timestamp),
    Column("must_change_password", Boolean, nullable=False, default=True),
    Column("session_generation", Integer, nullable=False, default=1),
    Column("created_at", Timestamp, nullable=False),
    Column("last_sign_in_at", Timestamp),
)

# ---------------------------------------------------------------- the sandbox

# The emails a test order would have sent, rendered and kept instead (never sent): the merchant reads
# them (resell.services.sandbox). `event_id`: the outbox event that rendered it (kept once).
sandbox_emails = Table(
    "sandbox_emails",
    metadata,
    Column("id", Id, primary_key=True),
    Column("merchant_id", Id, ForeignKey("merchants.id"), nullable=False),
    Column("order_id", Id, ForeignKey("orders.id"), nullable=False, index=True),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("kind", String(50), nullable=False),  # delivery
    Column("to", String(320), nullable=False),
    Column("subject", String(500), nullable=False),
    Column("text", Text, nullable=False),
    Column("html", Text, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Index("ix_sandbox_emails_merchant_id", "merchant_id", "id"),
)

# ---------------------------------------------------------------- events

# Append-only: who changed what, when, from what to what. Webhooks are built from these.
audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Id, primary_key=True),
    Column("at", Timestamp, nullable=False),
    Column("actor", String(120), nullable=False),
    Column("entity", String(30), nullable=False),
    Column("entity_id", String(100), nullable=False),
    Column("action", String(50), nullable=False),
    Column("before", JSON),
    Column("after", JSON),
    Index("ix_audit_events_entity", "entity", "entity_id"),
)

class OutboxOrder(FunctionElement[str]):
    """SQL: the order number an outbox payload names, as text (None when it names none).

    An event names it as `orderNumber`; a webhook delivery inside its message (`message.data.orderNumber`).
    Written as literal SQL, the same in the index `ix_outbox_order` as in the queries, so that both
    databases use that index.
    """

    type = String()
    name = "outbox_order"
    inherit_cache = True


@compiles(OutboxOrder, "sqlite")
def _outbox_order_sqlite(element: OutboxOrder, compiler: SQLCompiler, **kw: object) -> str:
    p = compiler.process(element.clauses, **kw)
    return (
        f"CAST(coalesce(json_extract({p}, '$.orderNumber'), "
        f"json_extract({p}, '$.message.data.orderNumber')) AS TEXT)"
    )


@compiles(OutboxOrder, "postgresql")
@compiles(OutboxOrder)
def _outbox_order_postgresql(element: OutboxOrder, compiler: SQLCompiler, **kw: object) -> str:
    p = compiler.process(element.clauses, **kw)
    # parenthesised as PostgreSQL prints it back, so that Alembic sees the index unchanged
    return f"coalesce({p} ->> 'orderNumber', (({p} -> 'message') -> 'data') ->> 'orderNumber')"


# Side effects (emails, webhooks, publisher calls) written in the transaction that caused them and
# delivered by the worker after commit, at least once, each with its stable event id.
outbox = Table(
    "outbox",
    metadata,
    Column("id", Id, primary_key=True),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("kind", String(50), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("available_at", Timestamp, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("delivered_at", Timestamp),
    Index(
        "ix_outbox_pending",
        "available_at",
        sqlite_where=text("delivered_at IS NULL"),
        postgresql_where=text("delivered_at IS NULL"),
    ),
    # the deliveries page lists one kind (emails, webhooks ...) newest first
    Index("ix_outbox_kind", "kind", "id"),
    # the deliveries page and the dashboard list the events that failed (retrying or given up): few rows
    Index(
        "ix_outbox_failed",
        "id",
        sqlite_where=text("last_error IS NOT NULL"),
        postgresql_where=text("last_error IS NOT NULL"),
    ),
)
# "the events of order N" (an order's page, the deliveries filtered by order)
Index("ix_outbox_order", OutboxOrder(outbox.c.payload))
