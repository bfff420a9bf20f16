"""Changes that arrive before the order they belong to: refunds and deletions.

Webhooks are delivered at least once and in no particular order, so a ``refunds/create`` or an
``orders/delete`` can reach us before the ``orders/create`` it refers to. Neither is dropped:
a refund waits in ``pending_refunds`` and a deletion leaves a tombstone in ``order_tombstones``;
both are applied when the order is stored (:func:`stammkunde.core.store.upsert_orders` calls
:func:`apply_pending`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from stammkunde.core.errors import InvalidRecord
from stammkunde.core.inbox_models import OrderTombstone, PendingRefund
from stammkunde.core.models import Order, Refund, Shop
from stammkunde.core.money import to_units
from stammkunde.core.records import RefundRecord
from stammkunde.core.timeutil import epoch_seconds


def refund_key(platform_id: str | None, amount: Decimal, created_ts: int) -> str:
    """Return what identifies a refund: its platform id, else its instant and amount."""
    return f"id:{platform_id}" if platform_id else f"at:{created_ts}:{to_units(amount)}"


def _key_of(refund: Refund) -> str:
    return refund_key(refund.platform_id, refund.amount, refund.created_ts)


def validate_refund(rec: RefundRecord) -> None:
    """Raise InvalidRecord when a refund breaks the canonical model's rules."""
    if not rec.order_id:
        raise InvalidRecord("refund without order id")
    if rec.created_at.tzinfo is None or rec.created_at.utcoffset() is None:
        raise InvalidRecord(f"refund of order {rec.order_id!r} has a naive created_at")
    if not isinstance(rec.amount, Decimal) or not rec.amount.is_finite() or rec.amount < 0:
        raise InvalidRecord(f"refund of order {rec.order_id!r} must be a non-negative Decimal")


def store_refunds(
    session: Session, shop: Shop, records: Sequence[RefundRecord]
) -> tuple[int, int, int]:
    """Attach refunds to their orders, or keep them until the order arrives.

    Returns (attached, already known, pending). A refund already on the order is not added twice.
    """
    attached = known = pending = 0
    for rec in records:
        validate_refund(rec)
    order_ids = sorted({r.order_id for r in records})
    orders = {
        o.platform_id: o
        for o in session.scalars(
            select(Order).where(Order.shop_id == shop.id, Order.platform_id.in_(order_ids))
        )
    } if order_ids else {}
    for rec in records:
        ts = epoch_seconds(rec.created_at)
        key = refund_key(rec.platform_id, rec.amount, ts)
        order = orders.get(rec.order_id)
        if order is not None:
            if any(_key_of(r) == key for r in order.refunds):
                known += 1
                continue
            order.refunds.append(Refund(platform_id=rec.platform_id, amount=rec.amount,
                                        created_ts=ts))
            attached += 1
            continue
        exists = session.scalar(
            select(PendingRefund.id).where(
                PendingRefund.shop_id == shop.id,
                PendingRefund.order_platform_id == rec.order_id,
                PendingRefund.refund_key == key,
            )
        )
        if exists is not None:
            known += 1
            continue
        session.add(PendingRefund(shop_id=shop.id, order_platform_id=rec.order_id,
                                  refund_key=key, platform_id=rec.platform_id,
                                  amount=rec.amount, created_ts=ts))
        pending += 1
    session.flush()
    return attached, known, pending


def tombstone(session: Session, shop: Shop, platform_id: str, deleted_at: datetime) -> None:
    """Remember that an order not yet stored was deleted, so its late creation stays deleted."""
    row = session.get(OrderTombstone, (shop.id, platform_id))
    if row is None:
        session.add(OrderTombstone(shop_id=shop.id, platform_id=platform_id,
                                   deleted_at=deleted_at))
    elif deleted_at < row.deleted_at:
        row.deleted_at = deleted_at


def tombstones_for(
    session: Session, shop: Shop, platform_ids: Sequence[str]
) -> dict[str, datetime]:
    """Return deletion instants recorded for orders not stored yet, by platform id."""
    if not platform_ids:
        return {}
    rows = session.scalars(
        select(OrderTombstone).where(
            OrderTombstone.shop_id == shop.id, OrderTombstone.platform_id.in_(platform_ids)
        )
    )
    return {r.platform_id: r.deleted_at for r in rows}


def apply_pending(session: Session, shop: Shop, orders: Sequence[Order]) -> int:
    """Attach waiting refunds to newly stored orders and clear their tombstones; return count."""
    if not orders:
        return 0
    by_id = {o.platform_id: o for o in orders}
    ids = sorted(by_id)
    attached = 0
    waiting = session.scalars(
        select(PendingRefund).where(
            PendingRefund.shop_id == shop.id, PendingRefund.order_platform_id.in_(ids)
        ).order_by(PendingRefund.id)
    ).all()
    for p in waiting:
        order = by_id[p.order_platform_id]
        if not any(_key_of(r) == p.refund_key for r in order.refunds):
            order.refunds.append(Refund(platform_id=p.platform_id, amount=p.amount,
                                        created_ts=p.created_ts))
            attached += 1
        session.delete(p)
    session.execute(
        delete(OrderTombstone).where(
            OrderTombstone.shop_id == shop.id, OrderTombstone.platform_id.in_(ids)
        )
    )
    return attached
