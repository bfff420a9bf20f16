"""pending refunds and install nonces

Revision ID: 0003_shopify
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0003_shopify"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pending_refunds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("platform_id", sa.String(length=255), nullable=False),
        sa.Column("order_platform_id", sa.String(length=255), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("created_ts", sa.BigInteger(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["shop_id"], ["shops.id"],
                                name=op.f("fk_pending_refunds_shop_id_shops"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_refunds")),
        sa.UniqueConstraint("shop_id", "platform_id", name=op.f("uq_pending_refunds_shop_id")),
    )
    op.create_index(op.f("ix_pending_refunds_shop_id"), "pending_refunds", ["shop_id"])
    op.create_index(op.f("ix_pending_refunds_order_platform_id"), "pending_refunds",
                    ["order_platform_id"])
    op.create_table(
        "install_states",
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("platform", sa.String(length=40), nullable=False),
        sa.Column("shop_domain", sa.String(length=255), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("nonce", name=op.f("pk_install_states")),
    )


def downgrade() -> None:
    op.drop_table("install_states")
    op.drop_index(op.f("ix_pending_refunds_order_platform_id"), table_name="pending_refunds")
    op.drop_index(op.f("ix_pending_refunds_shop_id"), table_name="pending_refunds")
    op.drop_table("pending_refunds")
