"""indexes for the feed's status changes: products.release_date, serial_assignments.assigned_at

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 18:40:00.000000
"""

from alembic import op


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_products_release_date'), ['release_date'], unique=False)
    with op.batch_alter_table('serial_assignments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_serial_assignments_assigned_at'), ['assigned_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('serial_assignments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_serial_assignments_assigned_at'))
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_products_release_date'))
