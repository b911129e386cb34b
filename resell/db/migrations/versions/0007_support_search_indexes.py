"""the support search's indexes: orders by lower(email), partnerOrderNumber, merchant, status and date
(each ending in the order id, for keyset pages), serials by value

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 21:45:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_orders_lower_email', 'orders', [sa.text('lower(customer_email)'), 'id'], unique=False)
    op.create_index('ix_orders_partner_order_number', 'orders', ['partner_order_number'], unique=False)
    op.create_index('ix_orders_merchant_id', 'orders', ['merchant_id', 'id'], unique=False)
    op.create_index('ix_orders_status_id', 'orders', ['status', 'id'], unique=False)
    op.create_index('ix_orders_order_date', 'orders', ['order_date', 'id'], unique=False)
    op.create_index('ix_serials_value', 'serials', ['value'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_serials_value', table_name='serials')
    op.drop_index('ix_orders_order_date', table_name='orders')
    op.drop_index('ix_orders_status_id', table_name='orders')
    op.drop_index('ix_orders_merchant_id', table_name='orders')
    op.drop_index('ix_orders_partner_order_number', table_name='orders')
    op.drop_index('ix_orders_lower_email', table_name='orders')
