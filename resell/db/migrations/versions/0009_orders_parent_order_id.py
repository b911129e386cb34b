"""index on orders.parent_order_id: an order's renewal orders, read by its audit trail (the order page)

Without it, the order page's timeline (resell.services.audit_log.order_trail) scans every order
to find the renewals of one.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 22:45:00
"""

from alembic import op


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index('ix_orders_parent_order_id', ['parent_order_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index('ix_orders_parent_order_id')
