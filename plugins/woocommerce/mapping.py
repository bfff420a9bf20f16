"""WooCommerce REST API v3 JSON → canonical records.

Shapes: https://developer.woocommerce.com/docs/apis/rest-api/v3/orders/ and
https://developer.woocommerce.com/docs/apis/rest-api/v3/customers/ (webhook payloads are the same
JSON the REST API returns for the resource).

Status mapping (WooCommerce → canonical):

============== =========== =====================================================================
pending        pending     order received, awaiting payment
checkout-draft pending     block checkout started, not submitted
on-hold        pending     awaiting payment confirmation (e.g. bank transfer)
processing     paid        payment received, not yet shipped
completed      paid        fulfilled
refunded       refunded    refunded in full (refund rows come from the ``refunds`` array)
cancelled      cancelled   cancelled by merchant or customer
failed         cancelled   payment failed or was declined; never paid
trash          (deleted)   the order is in the bin: an ``OrderDeleted`` record, not a status
other          pending     statuses added by plugins, unless the shop option ``status_map``
                           (e.g. ``{"shipped": "paid"}``) says otherwise
============== =========== =====================================================================

Times: ``*_gmt`` fields are UTC without an offset; they are used, never the site-local ones.
Money: decimal strings (and a few JSON numbers, read as Decimal, never float).
Guests: ``customer_id`` 0 means a guest checkout, identified by ``billing.email``.
Channel: ``created_via`` – ``checkout``/``store-api`` (web shop) → ``online``; anything with
``pos`` → ``pos``; ``admin`` → ``admin`` (phone/manual orders); ``rest-api`` → ``api``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from stammkunde.core.errors import InvalidRecord
from stammkunde.core.identity import normalize_email
from stammkunde.core.money import parse_money
from stammkunde.core.records import (
    CustomerRecord,
    LineItem,
    OrderDeleted,
    OrderRecord,
    OrderStatus,
    Refund,
)

STATUS_MAP: dict[str, OrderStatus] = {
    "pending": OrderStatus.PENDING,
    "checkout-draft": OrderStatus.PENDING,
    "on-hold": OrderStatus.PENDING,
    "processing": OrderStatus.PAID,
    "completed": OrderStatus.PAID,
    "refunded": OrderStatus.REFUNDED,
    "cancelled": OrderStatus.CANCELLED,
    "failed": OrderStatus.CANCELLED,
}
DELETED_STATUSES = frozenset({"trash"})
ONLINE_VIA = frozenset({"", "checkout", "store-api"})


def gmt(value: Any) -> datetime | None:
    """Parse a WooCommerce ``*_gmt`` timestamp ("2024-03-01T10:15:00") as aware UTC."""
    if value in (None, ""):
        return None
    text = str(value).strip().replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidRecord(f"not an ISO 8601 timestamp: {value!r}") from exc
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def money(value: Any, what: str = "amount") -> Decimal:
    """Parse a money string ("12.50") or Decimal into a finite Decimal; empty means 0."""
    if value in (None, ""):
        return Decimal(0)
    return parse_money(value, field=what, error=InvalidRecord)


def map_status(status: str, overrides: Mapping[str, str] | None = None) -> OrderStatus:
    """Return the canonical status for a WooCommerce order status (see the module table)."""
    key = (status or "").strip().lower().removeprefix("wc-")
    if overrides and key in overrides:
        return OrderStatus(str(overrides[key]).lower())
    return STATUS_MAP.get(key, OrderStatus.PENDING)


def channel_of(created_via: str | None) -> str:
    """Return the sales channel for ``created_via``."""
    via = (created_via or "").strip().lower()
    if via in ONLINE_VIA:
        return "online"
    if "pos" in re.split(r"[^a-z]+", via):
        return "pos"
    if via == "rest-api":
        return "api"
    return via


def refund_entries(order: Mapping[str, Any]) -> list[tuple[str, Decimal]]:
    """Return (refund id, positive amount) for each entry of an order's ``refunds`` array.

    The array carries ``{"id", "reason", "total"}`` with ``total`` a negative string ("-10.00").
    """
    out = []
    for entry in order.get("refunds") or ():
        amount = money(entry.get("total"), "refund total")
        out.append((str(entry.get("id")), abs(amount)))
    return out


def order_record(
    order: Mapping[str, Any],
    *,
    shop_currency: str = "EUR",
    refund_dates: Mapping[str, datetime] | None = None,
    status_map: Mapping[str, str] | None = None,
) -> OrderRecord | OrderDeleted | None:
    """Map one order JSON to a record; None for an order that names nobody (no account, no e-mail).

    Refunds are dated from ``refund_dates`` (refund id → creation time, from the refunds
    endpoint); a refund missing there is dated at the order's last modification.
    """
    pid = str(order["id"])
    status_text = str(order.get("status") or "").lower()
    modified = gmt(order.get("date_modified_gmt"))
    created = gmt(order.get("date_created_gmt")) or modified
    if status_text in DELETED_STATUSES:
        return OrderDeleted(platform_id=pid, deleted_at=modified)
    if created is None:
        raise InvalidRecord(f"order {pid} has no date_created_gmt")
    customer_id = str(order.get("customer_id") or 0)
    customer_id = None if customer_id == "0" else customer_id
    billing = order.get("billing") or {}
    email = (billing.get("email") or "").strip() or None
    if customer_id is None and normalize_email(email) is None:
        return None
    total = money(order.get("total"), f"total of order {pid}")
    status = map_status(status_text, status_map)
    dates = refund_dates or {}
    refunds = [
        Refund(amount=amount, created_at=dates.get(rid) or modified or created, platform_id=rid)
        for rid, amount in refund_entries(order)
    ]
    if status == OrderStatus.REFUNDED and not refunds and total > 0:
        # WooCommerce creates a refund when an order is set to "refunded"; if a plugin bypassed
        # that, the order was still refunded in full.
        refunds = [Refund(amount=total, created_at=modified or created, platform_id=None)]
    name = " ".join(p for p in (billing.get("first_name"), billing.get("last_name")) if p)
    return OrderRecord(
        platform_id=pid,
        created_at=created,
        updated_at=modified,
        total=total,
        currency=str(order.get("currency") or shop_currency).upper(),
        status=status,
        customer_id=customer_id,
        email=email,
        refunds=tuple(refunds),
        discount_codes=tuple(
            str(c.get("code")).strip() for c in order.get("coupon_lines") or ()
            if str(c.get("code") or "").strip()
        ),
        channel=channel_of(order.get("created_via")),
        line_items=tuple(_line(li) for li in order.get("line_items") or ()),
        customer_name=name or None,
    )


def _line(item: Mapping[str, Any]) -> LineItem:
    quantity = int(item.get("quantity") or 0)
    if item.get("price") not in (None, ""):
        price = money(item.get("price"), "line price")
    else:
        total = money(item.get("total"), "line total")
        price = total / quantity if quantity else total
    product = item.get("variation_id") or item.get("product_id")
    return LineItem(
        quantity=quantity,
        price=price,
        sku=(item.get("sku") or None),
        product_id=str(product) if product else None,
        title=item.get("name") or None,
    )


def customer_record(customer: Mapping[str, Any]) -> CustomerRecord:
    """Map one customer JSON to a CustomerRecord."""
    return CustomerRecord(
        platform_id=str(customer["id"]),
        email=(customer.get("email") or "").strip() or None,
        created_at=gmt(customer.get("date_created_gmt")),
        updated_at=gmt(customer.get("date_modified_gmt")) or gmt(customer.get("date_created_gmt")),
        first_name=customer.get("first_name") or None,
        last_name=customer.get("last_name") or None,
    )
