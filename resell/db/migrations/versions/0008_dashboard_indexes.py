"""indexes of the back office's dashboard, stock and deliveries pages

orders (created_at, currency, merchant_id, status, id) and order_lines (order_id, product_id,
quantity, retailer_unit_price) (the orders of the last days, read from the indexes alone), orders (cancelled_at, created_at, currency, merchant_id, status, id) (partial:
the cancelled orders, taken off the kept days and listed),
serials (product_id, status) (counts per pool from the index alone), outbox: (kind, id), the failed events (partial
on last_error) and the order an event names (an expression index, ix_outbox_order).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 21:40:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

# the SQL of resell.db.tables.OutboxOrder, per database
OUTBOX_ORDER = {
    'sqlite': "CAST(coalesce(json_extract(payload, '$.orderNumber'), "
    "json_extract(payload, '$.message.data.orderNumber')) AS TEXT)",
    'postgresql': "(coalesce(payload ->> 'orderNumber', ((payload -> 'message') -> 'data') ->> 'orderNumber'))",
}


def upgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index(
            'ix_orders_created_at', ['created_at', 'currency', 'merchant_id', 'status', 'id'], unique=False
        )
        batch_op.create_index(
            'ix_orders_cancelled_at',
            ['cancelled_at', 'created_at', 'currency', 'merchant_id', 'status', 'id'],
            unique=False,
            sqlite_where=sa.text('cancelled_at IS NOT NULL'),
            postgresql_where=sa.text('cancelled_at IS NOT NULL'),
        )
    with op.batch_alter_table('order_lines', schema=None) as batch_op:
        batch_op.create_index('ix_order_lines_order_product', ['order_id', 'product_id', 'quantity', 'retailer_unit_price'], unique=False)
    with op.batch_alter_table('serials', schema=None) as batch_op:
        batch_op.create_index('ix_serials_product_status', ['product_id', 'status'], unique=False)
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_kind', ['kind', 'id'], unique=False)
        batch_op.create_index(
            'ix_outbox_failed',
            ['id'],
            unique=False,
            sqlite_where=sa.text('last_error IS NOT NULL'),
            postgresql_where=sa.text('last_error IS NOT NULL'),
        )
    dialect = op.get_bind().dialect.name
    op.execute(f"CREATE INDEX ix_outbox_order ON outbox ({OUTBOX_ORDER[dialect]})")


def downgrade() -> None:
    op.execute("DROP INDEX ix_outbox_order")
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_failed')
        batch_op.drop_index('ix_outbox_kind')
    with op.batch_alter_table('serials', schema=None) as batch_op:
        batch_op.drop_index('ix_serials_product_status')
    with op.batch_alter_table('order_lines', schema=None) as batch_op:
        batch_op.drop_index('ix_order_lines_order_product')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index('ix_orders_cancelled_at')
        batch_op.drop_index('ix_orders_created_at')
