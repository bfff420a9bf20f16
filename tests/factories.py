"""Small builders for canonical records in tests."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from stammkunde.core.records import OrderRecord, OrderStatus, Refund


def at(text: str) -> datetime:
    """Parse an ISO instant written with Z into aware UTC."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def order(pid: str, when: str, total: str, *, customer: str | None = None,
          email: str | None = None, status: OrderStatus = OrderStatus.PAID,
          refunds: tuple[tuple[str, str], ...] = (), channel: str = "online",
          updated: str | None = None, cancelled: str | None = None, test: bool = False,
          codes: tuple[str, ...] = (), currency: str = "EUR") -> OrderRecord:
    """Build an OrderRecord from short strings."""
    return OrderRecord(
        platform_id=pid, created_at=at(when), total=Decimal(total), currency=currency,
        status=status, customer_id=customer, email=email, channel=channel,
        refunds=tuple(Refund(amount=Decimal(a), created_at=at(w)) for a, w in refunds),
        updated_at=at(updated) if updated else None,
        cancelled_at=at(cancelled) if cancelled else None, is_test=test, discount_codes=codes,
    )
