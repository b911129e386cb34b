"""staff_accounts.merchant_id: a back-office account bound to one merchant (role "merchant")

A merchant account sees its own merchant's credentials, webhooks, orders and statements only
(resell.domain.staff.BOUND_ROLES). A nullable column: online-safe, existing accounts keep NULL.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 01:00:00
"""

import sqlalchemy as sa
from alembic import op


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("staff_accounts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("merchant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True)
        )
        batch_op.create_foreign_key("fk_staff_accounts_merchant_id_merchants", "merchants", ["merchant_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("staff_accounts", schema=None) as batch_op:
        batch_op.drop_constraint("fk_staff_accounts_merchant_id_merchants", type_="foreignkey")
        batch_op.drop_column("merchant_id")
