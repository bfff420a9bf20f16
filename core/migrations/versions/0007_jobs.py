"""background jobs, cached reports, customer roll-up, spent login links

Revision ID: 0007_jobs
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa


revision = '0007_jobs'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('jobs',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('shop_id', sa.Integer(), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('step', sa.String(length=64), nullable=True),
    sa.Column('done', sa.BigInteger(), nullable=False),
    sa.Column('total', sa.BigInteger(), nullable=True),
    sa.Column('errors', sa.Integer(), nullable=False),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_jobs_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_jobs'))
    )
    op.create_index('ix_jobs_shop_created', 'jobs', ['shop_id', 'created_at'], unique=False)
    op.create_table('report_cache',
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('computed_at', sa.DateTime(), nullable=False),
    sa.Column('seconds', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_report_cache_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('shop_id', 'kind', name=op.f('pk_report_cache'))
    )
    op.create_table('customer_rollup',
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.String(length=255), nullable=True),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('orders', sa.Integer(), nullable=False),
    sa.Column('net_revenue', sa.BigInteger(), nullable=False),
    sa.Column('first_ts', sa.BigInteger(), nullable=False),
    sa.Column('last_ts', sa.BigInteger(), nullable=False),
    sa.Column('channel', sa.String(length=64), nullable=True),
    sa.Column('segment', sa.String(length=40), nullable=True),
    sa.Column('stage', sa.String(length=40), nullable=True),
    sa.Column('tier', sa.String(length=40), nullable=True),
    sa.Column('points', sa.BigInteger(), nullable=True),
    sa.Column('predicted_clv', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_customer_rollup_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('shop_id', 'person_id', name=op.f('pk_customer_rollup'))
    )
    op.create_index('ix_customer_rollup_net', 'customer_rollup', ['shop_id', 'net_revenue', 'person_id'], unique=False)
    op.create_index('ix_customer_rollup_orders', 'customer_rollup', ['shop_id', 'orders', 'person_id'], unique=False)
    op.create_index('ix_customer_rollup_last', 'customer_rollup', ['shop_id', 'last_ts', 'person_id'], unique=False)
    op.create_index('ix_customer_rollup_first', 'customer_rollup', ['shop_id', 'first_ts', 'person_id'], unique=False)
    op.create_index('ix_customer_rollup_segment', 'customer_rollup', ['shop_id', 'segment', 'net_revenue', 'person_id'], unique=False)
    op.create_index('ix_customer_rollup_stage', 'customer_rollup', ['shop_id', 'stage', 'net_revenue', 'person_id'], unique=False)
    op.create_index('ix_customer_rollup_tier', 'customer_rollup', ['shop_id', 'tier', 'net_revenue', 'person_id'], unique=False)
    op.create_table('spent_logins',
    sa.Column('nonce', sa.String(length=64), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('nonce', name=op.f('pk_spent_logins'))
    )


def downgrade() -> None:
    op.drop_table('spent_logins')
    op.drop_index('ix_customer_rollup_tier', table_name='customer_rollup')
    op.drop_index('ix_customer_rollup_stage', table_name='customer_rollup')
    op.drop_index('ix_customer_rollup_segment', table_name='customer_rollup')
    op.drop_index('ix_customer_rollup_first', table_name='customer_rollup')
    op.drop_index('ix_customer_rollup_last', table_name='customer_rollup')
    op.drop_index('ix_customer_rollup_orders', table_name='customer_rollup')
    op.drop_index('ix_customer_rollup_net', table_name='customer_rollup')
    op.drop_table('customer_rollup')
    op.drop_table('report_cache')
    op.drop_index('ix_jobs_shop_created', table_name='jobs')
    op.drop_table('jobs')
