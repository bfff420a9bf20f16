"""offer deliveries per channel, marketing opt-outs, customer locale, simulated platform state

Revision ID: 0010_i16_offers
Revises: 0006_campaigns
Create Date: 2026-12-02 12:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0010_i16_offers'
down_revision = '0006_campaigns'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('locale', sa.String(length=16), nullable=True))

    op.create_table('campaign_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('assignment_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('attempted_at', sa.DateTime(), nullable=True),
    sa.Column('sent_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['assignment_id'], ['campaign_assignments.id'], name=op.f('fk_campaign_deliveries_assignment_id_campaign_assignments'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_campaign_deliveries_campaign_id_campaigns'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign_deliveries')),
    sa.UniqueConstraint('assignment_id', 'channel', name=op.f('uq_campaign_deliveries_assignment_id'))
    )
    with op.batch_alter_table('campaign_deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_campaign_deliveries_campaign_channel_status', ['campaign_id', 'channel', 'status'], unique=False)

    op.create_table('marketing_optouts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=True),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_marketing_optouts_campaign_id_campaigns'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_marketing_optouts_person_id_persons')),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_marketing_optouts_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_marketing_optouts')),
    sa.UniqueConstraint('shop_id', 'person_id', name=op.f('uq_marketing_optouts_shop_id'))
    )
    with op.batch_alter_table('marketing_optouts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_marketing_optouts_person_id'), ['person_id'], unique=False)

    op.create_table('simulated_discounts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('code_key', sa.String(length=64), nullable=False),
    sa.Column('customer_platform_id', sa.String(length=255), nullable=True),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.Column('minimum_order', sa.BigInteger(), nullable=True),
    sa.Column('starts_at', sa.DateTime(), nullable=False),
    sa.Column('ends_at', sa.DateTime(), nullable=True),
    sa.Column('usage_limit', sa.Integer(), nullable=False),
    sa.Column('used', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_simulated_discounts_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_simulated_discounts')),
    sa.UniqueConstraint('shop_id', 'code_key', name=op.f('uq_simulated_discounts_shop_id'))
    )
    op.create_table('simulated_customer_tags',
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.Column('customer_platform_id', sa.String(length=255), nullable=False),
    sa.Column('tag', sa.String(length=255), nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_simulated_customer_tags_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('shop_id', 'customer_platform_id', 'tag', name=op.f('pk_simulated_customer_tags'))
    )
    op.create_table('simulated_customer_fields',
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.Column('customer_platform_id', sa.String(length=255), nullable=False),
    sa.Column('namespace', sa.String(length=64), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_simulated_customer_fields_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('shop_id', 'customer_platform_id', 'namespace', 'key', name=op.f('pk_simulated_customer_fields'))
    )


def downgrade() -> None:
    op.drop_table('simulated_customer_fields')
    op.drop_table('simulated_customer_tags')
    op.drop_table('simulated_discounts')
    with op.batch_alter_table('marketing_optouts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_marketing_optouts_person_id'))
    op.drop_table('marketing_optouts')
    with op.batch_alter_table('campaign_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_campaign_deliveries_campaign_channel_status')
    op.drop_table('campaign_deliveries')
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_column('locale')
