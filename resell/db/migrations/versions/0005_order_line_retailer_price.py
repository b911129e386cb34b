"""order_lines: the retailer price (duty-free, per unit) and its VAT rate recorded when the order is placed;
orders: the indexes of the monthly statements (orders placed, orders cancelled in a month)

A statement bills what was recorded on the line, never today's catalogue. Lines written before this
revision had nothing recorded: they are backfilled from the catalogue's prices as they stand at the
upgrade (the price of the line's product in its order's currency), the best value available for
them; a line whose product has no price in that currency stays empty (NULL), and statements list it
as unpriced.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 21:45:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('order_lines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('retailer_unit_price', sa.Numeric(precision=14, scale=4), nullable=True))
        batch_op.add_column(sa.Column('retailer_vat_rate', sa.Numeric(precision=6, scale=3), nullable=True))
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index('ix_orders_merchant_id_created_at', ['merchant_id', 'created_at'], unique=False)
        batch_op.create_index(
            'ix_orders_cancelled',
            ['merchant_id', 'cancelled_at'],
            unique=False,
            sqlite_where=sa.text('cancelled_at IS NOT NULL'),
            postgresql_where=sa.text('cancelled_at IS NOT NULL'),
        )
    # The backfill: today's catalogue price, the best there is for lines placed before this revision.
    for column, source in (('retailer_unit_price', 'amount_duty_free'), ('retailer_vat_rate', 'vat_rate')):
        op.execute(
            f"UPDATE order_lines SET {column} = ("
            f"SELECT product_prices.{source} FROM product_prices, orders"
            " WHERE orders.id = order_lines.order_id"
            " AND product_prices.product_id = order_lines.product_id"
            " AND product_prices.currency = orders.currency)"
        )


def downgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index('ix_orders_cancelled')
        batch_op.drop_index('ix_orders_merchant_id_created_at')
    # Not in batch mode: on SQLite that copies the table, which line_items' foreign keys forbid once
    # there are orders; SQLite (3.35+) drops a plain column in place.
    op.drop_column('order_lines', 'retailer_vat_rate')
    op.drop_column('order_lines', 'retailer_unit_price')
