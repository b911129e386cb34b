"""product_texts: a product's name, short description and remark per language

The end user reads them in the delivery and renewal emails and in the digital locker, in the order's
customer language, else the product's default (resell.domain.product_texts.choose_text). A new table:
online-safe.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 01:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'product_texts',
        sa.Column('product_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('language', sa.String(length=8), nullable=False),
        sa.Column('name', sa.String(length=300), nullable=True),
        sa.Column('short_description', sa.Text(), nullable=True),
        sa.Column('remark_template', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ['product_id'], ['products.id'], name=op.f('fk_product_texts_product_id_products'), ondelete='CASCADE'
        ),
        sa.PrimaryKeyConstraint('product_id', 'language', name=op.f('pk_product_texts')),
    )


def downgrade() -> None:
    op.drop_table('product_texts')
