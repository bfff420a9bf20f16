"""Tables for deliveries and what arrives out of order: the webhook inbox, the privacy audit log,
refunds waiting for their order and tombstones of orders deleted before they arrived.

Imported by :mod:`stammkunde.core.models`, so ``Base.metadata`` (and Alembic) sees them.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from stammkunde.core.models import Base, Money, UTCDateTime, _now


class InboxStatus:
    """The life of a delivery: received (committed, not yet processed), processed, failed."""

    RECEIVED = "received"
    PROCESSED = "processed"
    FAILED = "failed"
    ALL = (RECEIVED, PROCESSED, FAILED)


class InboxDelivery(Base):
    """One webhook delivery, stored before it is acknowledged.

    The key is (platform, shop domain, delivery id): a redelivery of the same event is recognised
    and not stored twice. The shop domain is part of the key because some platforms number
    deliveries per shop (WooCommerce's ``X-WC-Webhook-Delivery-ID`` is a per-site counter), so two
    shops may send the same id. ``body`` is dropped once the delivery is processed: the inbox keeps
    no personal data longer than needed to process or replay a delivery.
    """

    __tablename__ = "webhook_inbox"
    __table_args__ = (
        UniqueConstraint("platform", "shop_domain", "delivery_id",
                         name="uq_webhook_inbox_delivery"),
        Index("ix_webhook_inbox_status_id", "status", "id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(40))
    shop_domain: Mapped[str] = mapped_column(String(255), default="")
    delivery_id: Mapped[str] = mapped_column(String(255))
    topic: Mapped[str] = mapped_column(String(255))
    shop_id: Mapped[int | None] = mapped_column(
        ForeignKey("shops.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), default=InboxStatus.RECEIVED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
    headers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    triggered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditLog(Base):
    """What a privacy or lifecycle request did; no personal data, only a hash of the subject.

    ``shop_id`` is a plain integer (no foreign key): the row must outlive a shop redaction.
    """

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shop_id: Mapped[int | None] = mapped_column(Integer, index=True)
    action: Mapped[str] = mapped_column(String(40))
    subject_hash: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    outcome: Mapped[str] = mapped_column(String(255))
    reference: Mapped[str | None] = mapped_column(String(255))


class PendingRefund(Base):
    """A refund whose order has not arrived yet; attached when the order is stored."""

    __tablename__ = "pending_refunds"
    __table_args__ = (
        UniqueConstraint("shop_id", "order_platform_id", "refund_key",
                         name="uq_pending_refunds_refund"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    order_platform_id: Mapped[str] = mapped_column(String(255))
    refund_key: Mapped[str] = mapped_column(String(255))
    platform_id: Mapped[str | None] = mapped_column(String(255))
    amount: Mapped[Decimal] = mapped_column(Money)
    created_ts: Mapped[int] = mapped_column(BigInteger)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)


class OrderTombstone(Base):
    """An order deleted on the platform before its creation reached us: it must stay deleted."""

    __tablename__ = "order_tombstones"
    shop_id: Mapped[int] = mapped_column(
        ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True
    )
    platform_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    deleted_at: Mapped[datetime] = mapped_column(UTCDateTime)

