"""The canonical model as SQLAlchemy tables; every row is scoped by shop.

Money columns hold exact integers of 1/10,000 of a currency unit (see :mod:`money`), so SQLite and
PostgreSQL sum them identically. Times are stored as naive UTC and returned aware. Orders also carry
``created_ts`` (epoch seconds) and ``created_month`` (month in the shop's time zone): the metrics
aggregate over them in SQL without dialect-specific date functions.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

from stammkunde.core.money import from_units, to_units

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Money(TypeDecorator[Decimal]):
    """Decimal in Python, exact integer of 1/10,000 units in the database."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Any) -> int | None:
        """Convert a Decimal to stored units."""
        return None if value is None else to_units(Decimal(value))

    def process_result_value(self, value: int | None, dialect: Any) -> Decimal | None:
        """Convert stored units back to a Decimal."""
        return None if value is None else from_units(value)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetime in Python, naive UTC in the database."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Store as naive UTC; refuse naive input."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: times must be timezone-aware")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Return as aware UTC."""
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    """Declarative base with a stable constraint naming convention for migrations."""

    metadata = MetaData(naming_convention=NAMING)


def _now() -> datetime:
    return datetime.now(UTC)


class Shop(Base):
    """A connected store (or a CSV-fed till): the scope of every other row."""

    __tablename__ = "shops"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    platform: Mapped[str] = mapped_column(String(40))
    domain: Mapped[str | None] = mapped_column(String(255))
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    locale: Mapped[str | None] = mapped_column(String(16))
    credentials: Mapped[bytes | None] = mapped_column(LargeBinary)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    installed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    uninstalled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Person(Base):
    """One human across shops and sources, merged by normalised e-mail."""

    __tablename__ = "persons"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)


class Customer(Base):
    """A person as one shop knows them: an account, or a guest known only by e-mail."""

    __tablename__ = "customers"
    __table_args__ = (UniqueConstraint("shop_id", "platform_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    platform_id: Mapped[str] = mapped_column(String(255))
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    is_guest: Mapped[bool] = mapped_column(Boolean, default=False)
    email: Mapped[str | None] = mapped_column(String(320))
    first_name: Mapped[str | None] = mapped_column(String(255))
    last_name: Mapped[str | None] = mapped_column(String(255))
    accepts_marketing: Mapped[bool | None] = mapped_column(Boolean)
    locale: Mapped[str | None] = mapped_column(String(16))  # e.g. "de" or "en-GB"; None: the shop's
    tags: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    redacted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    person: Mapped[Person] = relationship()


class Order(Base):
    """An order; ``person_id`` is copied from the customer so metrics group without a join."""

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("shop_id", "platform_id"),
        # Covers the metrics' one pass over a shop's orders in (person, time) order, so the
        # database reads the index alone, sequentially (core/metrics.py).
        Index("ix_orders_history", "shop_id", "person_id", "created_ts", "id", "created_month",
              "total", "refunded", "refund_ts", "cancelled_ts", "is_test", "deleted_at",
              "channel"),
        Index("ix_orders_shop_channel", "shop_id", "channel"),
        Index("ix_orders_shop_ts", "shop_id", "created_ts"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    platform_id: Mapped[str] = mapped_column(String(255))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_ts: Mapped[int] = mapped_column(BigInteger)
    created_month: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16))
    is_test: Mapped[bool] = mapped_column(Boolean, default=False)
    cancelled_ts: Mapped[int | None] = mapped_column(BigInteger)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    currency: Mapped[str] = mapped_column(String(3))
    total: Mapped[Decimal] = mapped_column(Money)
    channel: Mapped[str] = mapped_column(String(64), default="online")
    fingerprint: Mapped[str | None] = mapped_column(String(32))
    # Sum and latest instant of the refunds below, kept by a flush hook (see end of module),
    # so a report as of now subtracts refunds without touching the refunds table.
    refunded: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    refund_ts: Mapped[int | None] = mapped_column(BigInteger)

    refunds: Mapped[list[Refund]] = relationship(cascade="all, delete-orphan", lazy="selectin")
    discounts: Mapped[list[OrderDiscount]] = relationship(
        cascade="all, delete-orphan", lazy="selectin"
    )
    lines: Mapped[list[OrderLine]] = relationship(cascade="all, delete-orphan", lazy="selectin")


class Refund(Base):
    """Money returned on an order; ``created_ts`` lets point-in-time reports ignore later ones."""

    __tablename__ = "refunds"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    platform_id: Mapped[str | None] = mapped_column(String(255))
    amount: Mapped[Decimal] = mapped_column(Money)
    created_ts: Mapped[int] = mapped_column(BigInteger)


class OrderDiscount(Base):
    """A discount code used on an order (``code_key`` is its case-folded match form)."""

    __tablename__ = "order_discounts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(255))
    code_key: Mapped[str] = mapped_column(String(255), index=True)


class OrderLine(Base):
    """A line item of an order."""

    __tablename__ = "order_lines"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    price: Mapped[Decimal] = mapped_column(Money)
    sku: Mapped[str | None] = mapped_column(String(255))
    product_id: Mapped[str | None] = mapped_column(String(255))
    title: Mapped[str | None] = mapped_column(Text)


class Event(Base):
    """Non-purchase activity (sign-up, review, newsletter, referral) for loyalty points."""

    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("shop_id", "platform_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    platform_id: Mapped[str] = mapped_column(String(255))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    kind: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    occurred_ts: Mapped[int] = mapped_column(BigInteger)
    points: Mapped[int | None] = mapped_column(Integer)


class SyncState(Base):
    """A resumable checkpoint: the adapter's cursor after the last stored batch."""

    __tablename__ = "sync_state"
    shop_id: Mapped[int] = mapped_column(
        ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True
    )
    resource: Mapped[str] = mapped_column(String(64), primary_key=True)
    cursor: Mapped[str | None] = mapped_column(Text)
    high_water: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)


class Campaign(Base):
    """An offer to a target group, measured against a holdout (:mod:`stammkunde.core.campaigns`).

    A campaign with a ``schedule`` is a recurring play: it is never pushed itself, it spawns one
    instance (``parent_id`` pointing at it) each time it is due.
    """

    __tablename__ = "campaigns"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    template: Mapped[str | None] = mapped_column(String(64))
    target: Mapped[dict[str, Any]] = mapped_column(JSON)
    offer_kind: Mapped[str] = mapped_column(String(16))  # "percentage" or "fixed_amount"
    offer_value: Mapped[Decimal] = mapped_column(Money)
    minimum_order: Mapped[Decimal | None] = mapped_column(Money)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    valid_days: Mapped[int | None] = mapped_column(Integer)  # recurring: each instance's validity
    shared_code: Mapped[str | None] = mapped_column(String(64))
    code_prefix: Mapped[str] = mapped_column(String(16), default="SK")
    code_secret: Mapped[str] = mapped_column(String(64))
    holdout: Mapped[float] = mapped_column(Float, default=0.1)
    cap_days: Mapped[int] = mapped_column(Integer, default=14)
    tag: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default="draft")
    schedule: Mapped[str | None] = mapped_column(String(32))
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaigns.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pushed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    shop: Mapped[Shop] = relationship()


class Assignment(Base):
    """One targeted person's arm in a campaign (treatment, holdout or capped) and push state."""

    __tablename__ = "campaign_assignments"
    __table_args__ = (
        UniqueConstraint("campaign_id", "person_id"),
        Index("ix_campaign_assignments_campaign_push", "campaign_id", "push_status"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    customer_platform_id: Mapped[str] = mapped_column(String(255))
    arm: Mapped[str] = mapped_column(String(16))  # "treatment", "holdout", "capped"
    code: Mapped[str | None] = mapped_column(String(64))
    code_key: Mapped[str | None] = mapped_column(String(64), index=True)
    capped_by: Mapped[int | None] = mapped_column(Integer)  # campaign whose contact capped them
    push_status: Mapped[str | None] = mapped_column(String(16))  # pending/created/exists/failed
    push_reason: Mapped[str | None] = mapped_column(Text)
    platform_discount_id: Mapped[str | None] = mapped_column(String(255))
    pushed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    tag_status: Mapped[str | None] = mapped_column(String(16))  # pending/ok/failed
    tagged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ContactLog(Base):
    """That a person was offered something by a campaign: the shared frequency cap counts these."""

    __tablename__ = "contact_log"
    __table_args__ = (
        UniqueConstraint("person_id", "campaign_id"),
        Index("ix_contact_log_person_at", "person_id", "contacted_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"),
                                             index=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    contacted_at: Mapped[datetime] = mapped_column(UTCDateTime)


class InstallNonce(Base):
    """A pending app installation: the single-use nonce sent to the platform, stored hashed."""

    __tablename__ = "install_nonces"
    nonce_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    platform: Mapped[str] = mapped_column(String(40))
    store_url: Mapped[str] = mapped_column(String(255))
    shop_name: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A reconnect started from a signed-in dashboard session of this shop (None: a new store).
    rebind_shop_id: Mapped[int | None] = mapped_column(Integer)


@event.listens_for(Session, "before_flush")
def _refund_totals(session: Session, _context: Any, _instances: Any) -> None:
    """Keep ``Order.refunded`` / ``Order.refund_ts`` equal to the order's refunds."""
    for obj in (*session.new, *session.dirty):
        if isinstance(obj, Order):
            refunds = obj.refunds
            obj.refunded = sum((r.amount for r in refunds), Decimal(0))
            obj.refund_ts = max((r.created_ts for r in refunds), default=None)


# Server-side dashboard sessions (revocable); tables of the webhook inbox, privacy audit and
# out-of-order changes (kept in their own modules).
from stammkunde.core import access as _access  # noqa: E402, F401
from stammkunde.core import inbox_models as _inbox_models  # noqa: E402, F401

# Background jobs, cached results, the customer roll-up and spent login links.
from stammkunde.core import job_models as _job_models  # noqa: E402, F401

# Offer deliveries per channel, marketing opt-outs and the simulated platform's local state.
from stammkunde.core import offer_models as _offer_models  # noqa: E402, F401
