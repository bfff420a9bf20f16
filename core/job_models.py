"""Tables of background work and what it caches: job progress, cached reports, the customer
roll-up the dashboard pages through, and spent login links.

Imported by :mod:`stammkunde.core.models`, so ``Base.metadata`` (and Alembic) sees them.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from stammkunde.core.models import Base, Money, UTCDateTime, _now


class JobState:
    """The life of a background job."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    ACTIVE = (QUEUED, RUNNING)
    ALL = (QUEUED, RUNNING, DONE, FAILED)


class Job(Base):
    """One background job and its progress (``done`` of ``total`` items, errors so far)."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_shop_created", "shop_id", "created_at"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    shop_id: Mapped[int | None] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16), default=JobState.QUEUED)
    step: Mapped[str | None] = mapped_column(String(64))
    done: Mapped[int] = mapped_column(BigInteger, default=0)
    total: Mapped[int | None] = mapped_column(BigInteger)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CachedResult(Base):
    """A heavy result computed by a job (e.g. the report), kept per shop and kind."""

    __tablename__ = "report_cache"
    shop_id: Mapped[int] = mapped_column(
        ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)


class CustomerRollup(Base):
    """One row per customer with their figures at the last refresh, indexed for paging."""

    __tablename__ = "customer_rollup"
    __table_args__ = (
        Index("ix_customer_rollup_net", "shop_id", "net_revenue", "person_id"),
        Index("ix_customer_rollup_orders", "shop_id", "orders", "person_id"),
        Index("ix_customer_rollup_last", "shop_id", "last_ts", "person_id"),
        Index("ix_customer_rollup_first", "shop_id", "first_ts", "person_id"),
        Index("ix_customer_rollup_segment", "shop_id", "segment", "net_revenue", "person_id"),
        Index("ix_customer_rollup_stage", "shop_id", "stage", "net_revenue", "person_id"),
        Index("ix_customer_rollup_tier", "shop_id", "tier", "net_revenue", "person_id"),
    )
    shop_id: Mapped[int] = mapped_column(
        ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True
    )
    person_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[str | None] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320))
    orders: Mapped[int] = mapped_column(Integer)
    net_revenue: Mapped[Decimal] = mapped_column(Money)
    first_ts: Mapped[int] = mapped_column(BigInteger)
    last_ts: Mapped[int] = mapped_column(BigInteger)
    channel: Mapped[str | None] = mapped_column(String(64))
    # Scores of the retention engine (RFM segment, lifecycle stage, loyalty tier and points,
    # predicted CLV); NULL when the shop has not been scored.
    segment: Mapped[str | None] = mapped_column(String(40))
    stage: Mapped[str | None] = mapped_column(String(40))
    tier: Mapped[str | None] = mapped_column(String(40))
    points: Mapped[int | None] = mapped_column(BigInteger)
    predicted_clv: Mapped[Decimal | None] = mapped_column(Money)
    # 90 % intervals of predicted CLV and expected purchases over the horizon (migration 0008).
    predicted_clv_low: Mapped[Decimal | None] = mapped_column(Money)
    predicted_clv_high: Mapped[Decimal | None] = mapped_column(Money)
    expected_purchases: Mapped[float | None] = mapped_column(Float)
    expected_purchases_low: Mapped[float | None] = mapped_column(Float)
    expected_purchases_high: Mapped[float | None] = mapped_column(Float)


class SpentLogin(Base):
    """A dashboard login link that was used (links are single use)."""

    __tablename__ = "spent_logins"
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    used_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
