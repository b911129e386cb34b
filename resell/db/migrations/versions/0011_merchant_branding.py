"""merchant_branding: a shop's display name, logo, support contact, accent colour and email sender

A new table (no row: nothing set), so adding it is online-safe.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 01:10:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('merchant_branding',
    sa.Column('merchant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('display_name', sa.String(length=100), nullable=True),
    sa.Column('logo_url', sa.String(length=500), nullable=True),
    sa.Column('support_email', sa.String(length=254), nullable=True),
    sa.Column('support_url', sa.String(length=500), nullable=True),
    sa.Column('accent', sa.String(length=7), nullable=True),
    sa.Column('sender_name', sa.String(length=100), nullable=True),
    sa.Column('reply_to', sa.String(length=254), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_merchant_branding_merchant_id_merchants')),
    sa.PrimaryKeyConstraint('merchant_id', name=op.f('pk_merchant_branding'))
    )


def downgrade() -> None:
    op.drop_table('merchant_branding')
