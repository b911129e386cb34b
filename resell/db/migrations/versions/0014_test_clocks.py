"""test clocks of sandbox catalogues, and orders by catalogue

test_clocks: a sandbox catalogue's clock (resell.services.test_clocks); the subscriptions of its
orders live on its frozen_time once the merchant advances it. ix_orders_catalog_id: a catalogue's
orders, which advancing a clock reads (the subscriptions due on that clock); built CONCURRENTLY on
PostgreSQL so that orders keep being written meanwhile.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 01:30:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'test_clocks',
        sa.Column('catalog_id', Id, nullable=False),
        sa.Column('frozen_time', sa.DateTime(timezone=True), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['catalog_id'], ['catalogs.id'], name=op.f('fk_test_clocks_catalog_id_catalogs'), ondelete='CASCADE'
        ),
        sa.PrimaryKeyConstraint('catalog_id', name=op.f('pk_test_clocks')),
    )
    if op.get_bind().dialect.name == 'postgresql':
        with op.get_context().autocommit_block():
            op.create_index(
                'ix_orders_catalog_id', 'orders', ['catalog_id', 'id'], unique=False, postgresql_concurrently=True
            )
    else:
        op.create_index('ix_orders_catalog_id', 'orders', ['catalog_id', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_orders_catalog_id', table_name='orders')
    op.drop_table('test_clocks')
