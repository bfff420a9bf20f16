"""dashboard sessions (server-side, revocable) and install nonces bound to a reconnecting shop

Revision ID: 0010_i14_security
Revises: 0004_woocommerce, 0007_jobs
"""
from alembic import op
import sqlalchemy as sa


revision = '0010_i14_security'
down_revision = ('0004_woocommerce', '0007_jobs')  # install_nonces, spent_logins
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('dashboard_sessions',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_dashboard_sessions_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_dashboard_sessions'))
    )
    op.create_index('ix_dashboard_sessions_shop_id', 'dashboard_sessions', ['shop_id'], unique=False)
    op.create_index('ix_dashboard_sessions_expires_at', 'dashboard_sessions', ['expires_at'], unique=False)
    with op.batch_alter_table('install_nonces') as batch:
        batch.add_column(sa.Column('rebind_shop_id', sa.Integer(), nullable=True))
    op.create_index('ix_spent_logins_used_at', 'spent_logins', ['used_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_spent_logins_used_at', table_name='spent_logins')
    with op.batch_alter_table('install_nonces') as batch:
        batch.drop_column('rebind_shop_id')
    op.drop_index('ix_dashboard_sessions_expires_at', table_name='dashboard_sessions')
    op.drop_index('ix_dashboard_sessions_shop_id', table_name='dashboard_sessions')
    op.drop_table('dashboard_sessions')
