"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-28 05:58:35.838088
"""

from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=120), nullable=False),
    sa.Column('entity', sa.String(length=30), nullable=False),
    sa.Column('entity_id', sa.String(length=100), nullable=False),
    sa.Column('action', sa.String(length=50), nullable=False),
    sa.Column('before', sa.JSON(), nullable=True),
    sa.Column('after', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index('ix_audit_events_entity', ['entity', 'entity_id'], unique=False)

    op.create_table('categories',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('parent_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['parent_id'], ['categories.id'], name=op.f('fk_categories_parent_id_categories')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_categories'))
    )
    with op.batch_alter_table('categories', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_categories_parent_id'), ['parent_id'], unique=False)

    op.create_table('merchants',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('realm', sa.String(length=100), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('client_secret_hash', sa.String(length=64), nullable=False),
    sa.Column('token_generation', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_merchants')),
    sa.UniqueConstraint('realm', name=op.f('uq_merchants_realm'))
    )
    op.create_table('operating_systems',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('label', sa.String(length=100), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_operating_systems'))
    )
    op.create_table('outbox',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('event_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=50), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('available_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox')),
    sa.UniqueConstraint('event_id', name=op.f('uq_outbox_event_id'))
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_pending', ['available_at'], unique=False, sqlite_where=sa.text('delivered_at IS NULL'), postgresql_where=sa.text('delivered_at IS NULL'))

    op.create_table('publishers',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('delivers_directly', sa.Boolean(), nullable=False),
    sa.Column('keygen_url', sa.String(length=500), nullable=True),
    sa.Column('callback_url', sa.String(length=500), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_publishers')),
    sa.UniqueConstraint('key', name=op.f('uq_publishers_key'))
    )
    op.create_table('catalogs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('merchant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('cancel_period_days', sa.Integer(), nullable=False),
    sa.Column('requires_amounts', sa.Boolean(), nullable=False),
    sa.Column('delivery_email', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_catalogs_merchant_id_merchants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_catalogs')),
    sa.UniqueConstraint('secret_hash', name=op.f('uq_catalogs_secret_hash'))
    )
    with op.batch_alter_table('catalogs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_catalogs_merchant_id'), ['merchant_id'], unique=False)

    op.create_table('category_labels',
    sa.Column('category_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['category_id'], ['categories.id'], name=op.f('fk_category_labels_category_id_categories'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('category_id', 'language', name=op.f('pk_category_labels'))
    )
    op.create_table('products',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('ref', sa.BigInteger(), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('type', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('release_date', sa.Date(), nullable=True),
    sa.Column('delivery_mode', sa.String(length=20), nullable=False),
    sa.Column('serial_source', sa.String(length=20), nullable=False),
    sa.Column('publisher_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('short_description', sa.Text(), nullable=False),
    sa.Column('image_small', sa.String(length=500), nullable=True),
    sa.Column('remark_template', sa.Text(), nullable=False),
    sa.Column('almost_out_threshold', sa.Integer(), nullable=False),
    sa.Column('subscription_period', sa.String(length=20), nullable=True),
    sa.Column('option_kind', sa.String(length=30), nullable=True),
    sa.Column('option_period', sa.String(length=20), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['publisher_id'], ['publishers.id'], name=op.f('fk_products_publisher_id_publishers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_products')),
    sa.UniqueConstraint('ref', name=op.f('uq_products_ref'))
    )
    op.create_table('refresh_tokens',
    sa.Column('jti', sa.String(length=64), nullable=False),
    sa.Column('merchant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_refresh_tokens_merchant_id_merchants')),
    sa.PrimaryKeyConstraint('jti', name=op.f('pk_refresh_tokens'))
    )
    with op.batch_alter_table('refresh_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_refresh_tokens_merchant_id'), ['merchant_id'], unique=False)

    op.create_table('stock_levels',
    sa.Column('product_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('status', sa.Integer(), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_stock_levels_product_id_products'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('product_id', name=op.f('pk_stock_levels'))
    )
    op.create_table('webhook_endpoints',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('merchant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('publisher_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('url', sa.String(length=1000), nullable=False),
    sa.Column('events', sa.JSON(), nullable=False),
    sa.Column('secret_salt', sa.String(length=64), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('disabled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('disabled_reason', sa.Text(), nullable=True),
    sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_webhook_endpoints_merchant_id_merchants')),
    sa.ForeignKeyConstraint(['publisher_id'], ['publishers.id'], name=op.f('fk_webhook_endpoints_publisher_id_publishers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_endpoints'))
    )
    with op.batch_alter_table('webhook_endpoints', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webhook_endpoints_merchant_id'), ['merchant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_webhook_endpoints_publisher_id'), ['publisher_id'], unique=False)

    op.create_table('catalog_changes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('catalog_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('product_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('action', sa.String(length=10), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['catalog_id'], ['catalogs.id'], name=op.f('fk_catalog_changes_catalog_id_catalogs')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_catalog_changes_product_id_products')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_catalog_changes'))
    )
    with op.batch_alter_table('catalog_changes', schema=None) as batch_op:
        batch_op.create_index('ix_catalog_changes_catalog_at', ['catalog_id', 'at'], unique=False)

    op.create_table('catalog_products',
    sa.Column('catalog_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('product_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['catalog_id'], ['catalogs.id'], name=op.f('fk_catalog_products_catalog_id_catalogs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_catalog_products_product_id_products'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('catalog_id', 'product_id', name=op.f('pk_catalog_products'))
    )
    op.create_table('feed_configs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('catalog_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('provider', sa.String(length=100), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('format', sa.String(length=10), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('last_fetch_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['catalog_id'], ['catalogs.id'], name=op.f('fk_feed_configs_catalog_id_catalogs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_feed_configs')),
    sa.UniqueConstraint('catalog_id', 'provider', 'name', name=op.f('uq_feed_configs_catalog_id_provider_name'))
    )
    op.create_table('option_eligibility',
    sa.Column('option_product_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('product_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['option_product_id'], ['products.id'], name=op.f('fk_option_eligibility_option_product_id_products'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_option_eligibility_product_id_products'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('option_product_id', 'product_id', name=op.f('pk_option_eligibility'))
    )
    op.create_table('orders',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('merchant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('catalog_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('partner_order_number', sa.String(length=100), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('order_date', sa.DateTime(timezone=True), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('customer_email', sa.String(length=320), nullable=False),
    sa.Column('customer_language', sa.String(length=10), nullable=True),
    sa.Column('customer_partner_id', sa.String(length=100), nullable=True),
    sa.Column('customer', sa.JSON(), nullable=False),
    sa.Column('payment', sa.JSON(), nullable=True),
    sa.Column('discounts', sa.JSON(), nullable=True),
    sa.Column('metadata', sa.JSON(), nullable=True),
    sa.Column('marketing_program_id', sa.String(length=100), nullable=True),
    sa.Column('affiliate_id', sa.BigInteger(), nullable=True),
    sa.Column('download_end_date', sa.Date(), nullable=False),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancel_reason', sa.Integer(), nullable=True),
    sa.Column('cancel_comment', sa.Text(), nullable=True),
    sa.Column('parent_order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('generation', sa.Integer(), nullable=False),
    sa.Column('renewed_subscription_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['catalog_id'], ['catalogs.id'], name=op.f('fk_orders_catalog_id_catalogs')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_orders_merchant_id_merchants')),
    sa.ForeignKeyConstraint(['parent_order_id'], ['orders.id'], name=op.f('fk_orders_parent_order_id_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_orders')),
    sa.UniqueConstraint('merchant_id', 'partner_order_number', name=op.f('uq_orders_merchant_id_partner_order_number'))
    )
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index('ix_orders_merchant_email', ['merchant_id', 'customer_email'], unique=False)
        batch_op.create_index('ix_orders_merchant_partner_id', ['merchant_id', 'customer_partner_id'], unique=False)

    op.create_table('product_categories',
    sa.Column('product_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('category_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['category_id'], ['categories.id'], name=op.f('fk_product_categories_category_id_categories'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_product_categories_product_id_products'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('product_id', 'category_id', name=op.f('pk_product_categories'))
    )
    op.create_table('product_files',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('product_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('label', sa.String(length=300), nullable=False),
    sa.Column('type', sa.String(length=30), nullable=False),
    sa.Column('file_name', sa.String(length=300), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('group', sa.String(length=100), nullable=False),
    sa.Column('storage_key', sa.String(length=500), nullable=True),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_product_files_product_id_products'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_product_files'))
    )
    with op.batch_alter_table('product_files', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_product_files_product_id'), ['product_id'], unique=False)

    op.create_table('product_links',
    sa.Column('product_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('linked_product_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.ForeignKeyConstraint(['linked_product_id'], ['products.id'], name=op.f('fk_product_links_linked_product_id_products'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_product_links_product_id_products'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('product_id', 'linked_product_id', 'kind', name=op.f('pk_product_links'))
    )
    op.create_table('product_operating_systems',
    sa.Column('product_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('os_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['os_id'], ['operating_systems.id'], name=op.f('fk_product_operating_systems_os_id_operating_systems'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_product_operating_systems_product_id_products'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('product_id', 'os_id', name=op.f('pk_product_operating_systems'))
    )
    op.create_table('product_prices',
    sa.Column('product_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('amount_duty_free', sa.Numeric(precision=14, scale=4), nullable=False),
    sa.Column('vat_rate', sa.Numeric(precision=6, scale=3), nullable=False),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_product_prices_product_id_products'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('product_id', 'currency', name=op.f('pk_product_prices'))
    )
    op.create_table('serials',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('product_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('value', sa.String(length=500), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('imported_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_serials_product_id_products')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_serials')),
    sa.UniqueConstraint('product_id', 'value', name=op.f('uq_serials_product_id_value'))
    )
    with op.batch_alter_table('serials', schema=None) as batch_op:
        batch_op.create_index('ix_serials_available', ['product_id', 'id'], unique=False, sqlite_where=sa.text("status = 'available'"), postgresql_where=sa.text("status = 'available'"))

    op.create_table('webhook_deliveries',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('endpoint_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('event_id', sa.String(length=36), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('duration_ms', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['endpoint_id'], ['webhook_endpoints.id'], name=op.f('fk_webhook_deliveries_endpoint_id_webhook_endpoints')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_deliveries'))
    )
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webhook_deliveries_endpoint_id'), ['endpoint_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_webhook_deliveries_event_id'), ['event_id'], unique=False)

    op.create_table('order_lines',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('product_ref', sa.BigInteger(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('vat_rate', sa.Numeric(precision=6, scale=3), nullable=True),
    sa.Column('amount_duty_free', sa.Numeric(precision=14, scale=4), nullable=True),
    sa.Column('amount_total', sa.Numeric(precision=14, scale=4), nullable=True),
    sa.Column('end_user_email', sa.String(length=320), nullable=True),
    sa.Column('discounts', sa.JSON(), nullable=True),
    sa.Column('remark', sa.Text(), nullable=False),
    sa.Column('download_token', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_order_lines_order_id_orders')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_order_lines_product_id_products')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_lines')),
    sa.UniqueConstraint('download_token', name=op.f('uq_order_lines_download_token'))
    )
    with op.batch_alter_table('order_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_order_lines_order_id'), ['order_id'], unique=False)

    op.create_table('shipments',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('address', sa.JSON(), nullable=False),
    sa.Column('items', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('shipped_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('tracking', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_shipments_order_id_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shipments'))
    )
    with op.batch_alter_table('shipments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_shipments_order_id'), ['order_id'], unique=False)

    op.create_table('download_stats',
    sa.Column('order_line_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('file_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('starts', sa.Integer(), nullable=False),
    sa.Column('completes', sa.Integer(), nullable=False),
    sa.Column('first_download_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_download_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['file_id'], ['product_files.id'], name=op.f('fk_download_stats_file_id_product_files')),
    sa.ForeignKeyConstraint(['order_line_id'], ['order_lines.id'], name=op.f('fk_download_stats_order_line_id_order_lines')),
    sa.PrimaryKeyConstraint('order_line_id', 'file_id', name=op.f('pk_download_stats'))
    )
    op.create_table('line_items',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('order_line_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('renews_subscription_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.ForeignKeyConstraint(['order_line_id'], ['order_lines.id'], name=op.f('fk_line_items_order_line_id_order_lines')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_line_items'))
    )
    with op.batch_alter_table('line_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_line_items_order_line_id'), ['order_line_id'], unique=False)

    op.create_table('serial_assignments',
    sa.Column('serial_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('line_item_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('assigned_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['line_item_id'], ['line_items.id'], name=op.f('fk_serial_assignments_line_item_id_line_items')),
    sa.ForeignKeyConstraint(['serial_id'], ['serials.id'], name=op.f('fk_serial_assignments_serial_id_serials')),
    sa.PrimaryKeyConstraint('serial_id', name=op.f('pk_serial_assignments'))
    )
    with op.batch_alter_table('serial_assignments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_serial_assignments_line_item_id'), ['line_item_id'], unique=False)

    op.create_table('subscriptions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('line_item_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('product_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('period', sa.String(length=20), nullable=False),
    sa.Column('generation', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('amount', sa.Numeric(precision=14, scale=4), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('next_change_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('renewal_attempts', sa.Integer(), nullable=False),
    sa.Column('last_renewal_error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['line_item_id'], ['line_items.id'], name=op.f('fk_subscriptions_line_item_id_line_items')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_subscriptions_order_id_orders')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_subscriptions_product_id_products')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subscriptions')),
    sa.UniqueConstraint('line_item_id', name=op.f('uq_subscriptions_line_item_id'))
    )
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.create_index('ix_subscriptions_due', ['status', 'next_change_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_subscriptions_order_id'), ['order_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subscriptions_order_id'))
        batch_op.drop_index('ix_subscriptions_due')

    op.drop_table('subscriptions')
    with op.batch_alter_table('serial_assignments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_serial_assignments_line_item_id'))

    op.drop_table('serial_assignments')
    with op.batch_alter_table('line_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_line_items_order_line_id'))

    op.drop_table('line_items')
    op.drop_table('download_stats')
    with op.batch_alter_table('shipments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_shipments_order_id'))

    op.drop_table('shipments')
    with op.batch_alter_table('order_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_order_lines_order_id'))

    op.drop_table('order_lines')
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webhook_deliveries_event_id'))
        batch_op.drop_index(batch_op.f('ix_webhook_deliveries_endpoint_id'))

    op.drop_table('webhook_deliveries')
    with op.batch_alter_table('serials', schema=None) as batch_op:
        batch_op.drop_index('ix_serials_available', sqlite_where=sa.text("status = 'available'"), postgresql_where=sa.text("status = 'available'"))

    op.drop_table('serials')
    op.drop_table('product_prices')
    op.drop_table('product_operating_systems')
    op.drop_table('product_links')
    with op.batch_alter_table('product_files', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_product_files_product_id'))

    op.drop_table('product_files')
    op.drop_table('product_categories')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index('ix_orders_merchant_partner_id')
        batch_op.drop_index('ix_orders_merchant_email')

    op.drop_table('orders')
    op.drop_table('option_eligibility')
    op.drop_table('feed_configs')
    op.drop_table('catalog_products')
    with op.batch_alter_table('catalog_changes', schema=None) as batch_op:
        batch_op.drop_index('ix_catalog_changes_catalog_at')

    op.drop_table('catalog_changes')
    with op.batch_alter_table('webhook_endpoints', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webhook_endpoints_publisher_id'))
        batch_op.drop_index(batch_op.f('ix_webhook_endpoints_merchant_id'))

    op.drop_table('webhook_endpoints')
    op.drop_table('stock_levels')
    with op.batch_alter_table('refresh_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_refresh_tokens_merchant_id'))

    op.drop_table('refresh_tokens')
    op.drop_table('products')
    op.drop_table('category_labels')
    with op.batch_alter_table('catalogs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_catalogs_merchant_id'))

    op.drop_table('catalogs')
    op.drop_table('publishers')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_pending', sqlite_where=sa.text('delivered_at IS NULL'), postgresql_where=sa.text('delivered_at IS NULL'))

    op.drop_table('outbox')
    op.drop_table('operating_systems')
    op.drop_table('merchants')
    with op.batch_alter_table('categories', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_categories_parent_id'))

    op.drop_table('categories')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_events_entity')

    op.drop_table('audit_events')
