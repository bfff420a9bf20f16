"""customer roll-up: expected purchases and 90 % intervals of expected purchases and CLV

Revision ID: 0008_i19_clv
Revises: 0007_jobs
"""
from alembic import op
import sqlalchemy as sa


revision = '0008_i19_clv'
down_revision = '0007_jobs'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('customer_rollup') as batch:
        batch.add_column(sa.Column('expected_purchases', sa.Float(), nullable=True))
        batch.add_column(sa.Column('expected_purchases_low', sa.Float(), nullable=True))
        batch.add_column(sa.Column('expected_purchases_high', sa.Float(), nullable=True))
        batch.add_column(sa.Column('predicted_clv_low', sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column('predicted_clv_high', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('customer_rollup') as batch:
        batch.drop_column('predicted_clv_high')
        batch.drop_column('predicted_clv_low')
        batch.drop_column('expected_purchases_high')
        batch.drop_column('expected_purchases_low')
        batch.drop_column('expected_purchases')
