"""Canonical records: what adapters hand to the core, whatever platform they speak.

Money is ``Decimal`` and times are timezone-aware UTC ``datetime`` objects. The core rejects a
record that breaks either rule, so an adapter bug surfaces at the boundary and not in a metric.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum


class OrderStatus(StrEnum):
    """Canonical order status; adapters map platform statuses onto these four."""

    PENDING = "pending"
    PAID = "paid"
    REFUNDED = "refunded"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class LineItem:
    """One line of an order."""

    quantity: int
    price: Decimal
    sku: str | None = None
    product_id: str | None = None
    title: str | None = None


@dataclass(frozen=True, slots=True)
class Refund:
    """Money given back on an order at a point in time."""

    amount: Decimal
    created_at: datetime
    platform_id: str | None = None


@dataclass(frozen=True, slots=True)
class OrderRecord:
    """An order as the platform last described it.

    ``customer_id`` is the platform's customer id (``None`` for guests); ``email`` identifies a
    guest and links customers across shops. At least one of them must be set. ``updated_at``
    decides which of two versions of the same order wins (newer wins; ties keep the stored one).
    ``cancelled_at`` dates a cancellation so reports as of an earlier instant still count the order.
    """

    platform_id: str
    created_at: datetime
    total: Decimal
    currency: str
    status: OrderStatus = OrderStatus.PAID
    updated_at: datetime | None = None
    customer_id: str | None = None
    email: str | None = None
    refunds: tuple[Refund, ...] = ()
    discount_codes: tuple[str, ...] = ()
    channel: str | None = None
    is_test: bool = False
    cancelled_at: datetime | None = None
    line_items: tuple[LineItem, ...] = ()
    customer_name: str | None = None


@dataclass(frozen=True, slots=True)
class CustomerRecord:
    """A customer account as the platform last described it.

    ``accepts_marketing`` and ``tags`` are ``None`` when the source does not say (a Shopify
    ``customers/update`` webhook carries neither since 2025-01): a stored value is then kept,
    never overwritten. ``()`` means "no tags".
    """

    platform_id: str
    email: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    first_name: str | None = None
    last_name: str | None = None
    accepts_marketing: bool | None = None
    tags: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class EventRecord:
    """Non-purchase activity that may earn points (sign-up, review, newsletter, referral)."""

    platform_id: str
    kind: str
    occurred_at: datetime
    customer_id: str | None = None
    email: str | None = None
    points: int | None = None


@dataclass(frozen=True, slots=True)
class RefundRecord:
    """A refund reported on its own (e.g. a ``refunds/create`` webhook), maybe before its order.

    ``order_id`` is the platform id of the order. The core attaches the refund when the order is
    stored, however late it arrives; ``platform_id`` makes a repeated report a no-op.
    """

    order_id: str
    amount: Decimal
    created_at: datetime
    platform_id: str | None = None


@dataclass(frozen=True, slots=True)
class OrderDeleted:
    """The platform deleted an order (it no longer counts anywhere)."""

    platform_id: str
    deleted_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class CustomerDeleted:
    """The platform deleted a customer account (orders stay, as a guest's)."""

    platform_id: str


@dataclass(frozen=True, slots=True)
class CustomerDataRequest:
    """A privacy request: export everything stored about one customer."""

    customer_id: str | None = None
    email: str | None = None
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class CustomerRedact:
    """A privacy request: remove a customer's personal data, keep anonymous aggregates."""

    customer_id: str | None = None
    email: str | None = None
    order_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ShopRedact:
    """A privacy request: delete all of the shop's data."""


@dataclass(frozen=True, slots=True)
class AppUninstalled:
    """The merchant removed the app: credentials go, jobs stop."""


Record = (
    OrderRecord
    | CustomerRecord
    | EventRecord
    | RefundRecord
    | OrderDeleted
    | CustomerDeleted
    | CustomerDataRequest
    | CustomerRedact
    | ShopRedact
    | AppUninstalled
)


@dataclass(frozen=True, slots=True)
class Batch:
    """A page of records from a sync, with the cursor that resumes right after it."""

    records: tuple[Record, ...]
    cursor: str | None = None
    total: int | None = None
    meta: dict[str, object] = field(default_factory=dict)
