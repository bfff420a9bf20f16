"""Tables of offers on their way to the customer: deliveries per channel, marketing opt-outs,
and the state of the built-in simulated platform (codes, tags, customer fields kept locally).

Imported by :mod:`stammkunde.core.models`, so ``Base.metadata`` (and Alembic) sees them.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from stammkunde.core.models import Base, Money, UTCDateTime, _now


class DeliveryStatus:
    """The life of one member's offer in one channel."""

    PENDING = "pending"  # not attempted yet
    SENDING = "sending"  # handed to the channel; no answer stored yet
    SENT = "sent"
    SKIPPED = "skipped"  # not sent on purpose: no consent, opted out, no e-mail address
    FAILED = "failed"  # the channel refused it; ``--retry-failed`` tries again
    UNKNOWN = "unknown"  # interrupted mid-send by a crash: may have arrived, never re-sent
    ALL = (PENDING, SENDING, SENT, SKIPPED, FAILED, UNKNOWN)


class Delivery(Base):
    """One treatment member's offer sent (or not) through one channel of a campaign."""

    __tablename__ = "campaign_deliveries"
    __table_args__ = (
        UniqueConstraint("assignment_id", "channel"),
        Index("ix_campaign_deliveries_campaign_channel_status", "campaign_id", "channel",
              "status"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    assignment_id: Mapped[int] = mapped_column(
        ForeignKey("campaign_assignments.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING)
    reason: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    attempted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class MarketingOptOut(Base):
    """A person asked this shop for no more offers (unsubscribe link): every campaign skips them."""

    __tablename__ = "marketing_optouts"
    __table_args__ = (UniqueConstraint("shop_id", "person_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaigns.id", ondelete="SET NULL"))
    source: Mapped[str] = mapped_column(String(32))  # "link" or "one-click" (RFC 8058)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)


class SimulatedDiscount(Base):
    """A discount code as the built-in simulated platform keeps it (the demo's shop side)."""

    __tablename__ = "simulated_discounts"
    __table_args__ = (UniqueConstraint("shop_id", "code_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(64))
    code_key: Mapped[str] = mapped_column(String(64))
    customer_platform_id: Mapped[str | None] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[Decimal] = mapped_column(Money)
    minimum_order: Mapped[Decimal | None] = mapped_column(Money)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    usage_limit: Mapped[int] = mapped_column(Integer, default=1)
    used: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)


class SimulatedCustomerTag(Base):
    """A tag on a customer of the simulated platform."""

    __tablename__ = "simulated_customer_tags"
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"),
                                         primary_key=True)
    customer_platform_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    tag: Mapped[str] = mapped_column(String(255), primary_key=True)


class SimulatedCustomerField(Base):
    """A custom field (metafield) on a customer of the simulated platform."""

    __tablename__ = "simulated_customer_fields"
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"),
                                         primary_key=True)
    customer_platform_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    namespace: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
