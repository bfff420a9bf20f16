"""install nonces for the WooCommerce key exchange

Revision ID: 0004_woocommerce
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa


revision = '0004_woocommerce'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('install_nonces',
    sa.Column('nonce_hash', sa.String(length=64), nullable=False),
    sa.Column('platform', sa.String(length=40), nullable=False),
    sa.Column('store_url', sa.String(length=255), nullable=False),
    sa.Column('shop_name', sa.String(length=100), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('nonce_hash', name=op.f('pk_install_nonces'))
    )
    with op.batch_alter_table('install_nonces', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_install_nonces_expires_at'), ['expires_at'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('install_nonces', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_install_nonces_expires_at'))
    op.drop_table('install_nonces')
