"""install nonces

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
