"""download_stats: the byte ranges served to a link, so that a complete download is every byte sent

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 18:40:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('download_stats', schema=None) as batch_op:
        batch_op.add_column(sa.Column('served_ranges', sa.Text(), server_default='', nullable=False))
        batch_op.add_column(sa.Column('served_object', sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('download_stats', schema=None) as batch_op:
        batch_op.drop_column('served_object')
        batch_op.drop_column('served_ranges')
