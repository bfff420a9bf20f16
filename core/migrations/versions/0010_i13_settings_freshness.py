"""shop freshness: when a shop's cached numbers fell behind its data

Revision ID: 0010_i13_settings
Revises: 0008_i19_clv
"""
from alembic import op
import sqlalchemy as sa


revision = '0010_i13_settings'
down_revision = '0008_i19_clv'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('shop_freshness',
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.Column('stale_since', sa.DateTime(), nullable=True),
    sa.Column('refresh_job_id', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_shop_freshness_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('shop_id', name=op.f('pk_shop_freshness'))
    )
    op.create_index(op.f('ix_shop_freshness_stale_since'), 'shop_freshness', ['stale_since'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_shop_freshness_stale_since'), table_name='shop_freshness')
    op.drop_table('shop_freshness')
