"""refresh token families: a replayed refresh token revokes every token of its sign-in

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 18:45:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('refresh_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('family', sa.String(length=36), nullable=True))
    # a token issued before families existed is a family of its own
    op.execute("UPDATE refresh_tokens SET family = substr(jti, 1, 36)")
    with op.batch_alter_table('refresh_tokens', schema=None) as batch_op:
        batch_op.alter_column('family', existing_type=sa.String(length=36), nullable=False)
        batch_op.create_index(batch_op.f('ix_refresh_tokens_family'), ['family'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('refresh_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_refresh_tokens_family'))
        batch_op.drop_column('family')
