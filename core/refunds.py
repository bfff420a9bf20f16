"""Refunds that arrive on their own: applied to their order, or kept until the order arrives.

Shopify sends ``refunds/create`` as its own webhook, and deliveries come in any order, so a refund
can precede the order it belongs to. Such a refund waits in ``pending_refunds`` and is attached
when the order is stored; a refund whose id the order already carries is never counted twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, ForeignKey, Integer, String, UniqueConstraint, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column
from stammkunde.core.errors import InvalidRecord
from stammkunde.core.models import Base, Money, Order, Refund, Shop, UTCDateTime
from stammkunde.core.records import RefundRecord
from stammkunde.core.timeutil import epoch_seconds, now


class PendingRefund(Base):
    """A refund whose order has not been stored yet."""

    __tablename__ = "pending_refunds"
    __table_args__ = (UniqueConstraint("shop_id", "platform_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    platform_id: Mapped[str] = mapped_column(String(255))
    order_platform_id: Mapped[str] = mapped_column(String(255), index=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    created_ts: Mapped[int] = mapped_column(BigInteger)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


def _validate(rec: RefundRecord) -> None:
    if not rec.platform_id or not rec.order_id:
        raise InvalidRecord("refund without platform id or order id")
    if rec.created_at.tzinfo is None or rec.created_at.utcoffset() is None:
        raise InvalidRecord(f"created_at of refund {rec.platform_id!r} is a naive datetime")
    if not isinstance(rec.amount, Decimal) or not rec.amount.is_finite() or rec.amount < 0:
        raise InvalidRecord(f"refund {rec.platform_id!r} must be a non-negative Decimal")


def _add_to_order(order: Order, platform_id: str, amount: Decimal, created_ts: int) -> bool:
    """Attach a refund unless the order already has it; cap it at what is left to refund."""
    if any(r.platform_id == platform_id for r in order.refunds):
        return False
    left = order.total - sum((r.amount for r in order.refunds), Decimal(0))
    order.refunds.append(Refund(platform_id=platform_id, amount=min(amount, max(left, Decimal(0))),
                                created_ts=created_ts))
    return True


def apply_refunds(
    session: Session, shop: Shop, records: Sequence[RefundRecord]
) -> tuple[int, int, int]:
    """Apply refunds to known orders or keep them pending; return (added, unchanged, pending)."""
    added = unchanged = pending = 0
    for rec in records:
        _validate(rec)
        order = session.scalar(select(Order).where(Order.shop_id == shop.id,
                                                   Order.platform_id == rec.order_id))
        if order is not None:
            if _add_to_order(order, rec.platform_id, rec.amount, epoch_seconds(rec.created_at)):
                added += 1
            else:
                unchanged += 1
            continue
        waiting = session.scalar(select(PendingRefund).where(
            PendingRefund.shop_id == shop.id, PendingRefund.platform_id == rec.platform_id))
        if waiting is not None:
            unchanged += 1
            continue
        session.add(PendingRefund(shop_id=shop.id, platform_id=rec.platform_id,
                                  order_platform_id=rec.order_id, amount=rec.amount,
                                  created_ts=epoch_seconds(rec.created_at)))
        pending += 1
    session.flush()
    return added, unchanged, pending


def attach_pending(session: Session, shop: Shop, orders: Sequence[Order]) -> int:
    """Attach waiting refunds to freshly stored orders and forget them; return how many."""
    by_id = {o.platform_id: o for o in orders}
    if not by_id:
        return 0
    waiting = list(session.scalars(select(PendingRefund).where(
        PendingRefund.shop_id == shop.id,
        PendingRefund.order_platform_id.in_(list(by_id)))))
    for row in waiting:
        _add_to_order(by_id[row.order_platform_id], row.platform_id, row.amount, row.created_ts)
    if waiting:
        session.execute(delete(PendingRefund).where(
            PendingRefund.id.in_([w.id for w in waiting])))
    return len(waiting)
