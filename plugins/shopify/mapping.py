"""Shopify shapes -> canonical records, for GraphQL nodes (sync) and REST payloads (webhooks).

GraphQL fields: https://shopify.dev/docs/api/admin-graphql/2026-10/objects/Order and
.../objects/Customer. Webhook bodies are the REST resources
(https://shopify.dev/docs/api/webhooks/2026-10: orders/*, refunds/create, customers/*).
Platform ids are the numeric ids (``legacyResourceId``), the same in GraphQL and webhooks, so a
webhook and a sync describe the same order under the same id.

Money is taken in the *shop's* currency, which Shopify gives next to the buyer's (presentment)
currency: ``shopMoney`` of a GraphQL ``MoneyBag``, ``shop_money`` of a REST ``*_set``. A REST
refund transaction is paid in the buyer's currency; it is converted at the order's own rate
(shop money / presentment money of ``total_price_set``), and a refund reported on its own
(``refunds/create``) in another currency carries that currency, which the core refuses.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from stammkunde.core.errors import InvalidRecord
from stammkunde.core.money import parse_money
from stammkunde.core.records import (
    CustomerRecord,
    LineItem,
    OrderRecord,
    OrderStatus,
    Refund,
    RefundRecord,
)

Node = Mapping[str, Any]

# displayFinancialStatus / financial_status -> canonical status (cancellation wins over all).
FINANCIAL_STATUS = {
    "pending": OrderStatus.PENDING,
    "authorized": OrderStatus.PENDING,
    "partially_paid": OrderStatus.PENDING,
    "paid": OrderStatus.PAID,
    "partially_refunded": OrderStatus.PAID,
    "refunded": OrderStatus.REFUNDED,
    "voided": OrderStatus.CANCELLED,
    "expired": OrderStatus.CANCELLED,
}


def legacy_id(gid: str | int | None) -> str | None:
    """Return the numeric id of a GraphQL gid ("gid://shopify/Order/42" -> "42")."""
    if gid is None:
        return None
    text = str(gid)
    return text.rsplit("/", 1)[-1].split("?", 1)[0] if text.startswith("gid://") else text


def gid(kind: str, legacy: str | int) -> str:
    """Return the GraphQL gid of a numeric id ("Customer", 42 -> "gid://shopify/Customer/42")."""
    return str(legacy) if str(legacy).startswith("gid://") else f"gid://shopify/{kind}/{legacy}"


def instant(text: str | None) -> datetime | None:
    """Parse Shopify's ISO 8601 timestamps ("2024-05-01T10:00:00-04:00", "...Z") to UTC."""
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text)  # Python 3.11+ reads "Z" itself
    except (TypeError, ValueError):
        parsed = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    zone = parsed.tzinfo
    if zone is UTC:
        return parsed
    if zone is None:  # Shopify always sends an offset; treat a bare one as UTC
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


ZERO = Decimal(0)
#: Parsed amounts by their text: a sync meets the same prices and totals again and again, and a
#: Decimal never changes, so each text goes through ``parse_money`` once (until the cache fills).
_AMOUNTS: dict[str, Decimal] = {}
AMOUNTS_CACHED = 1 << 16


def money(value: Any, what: str = "amount") -> Decimal:
    """Parse a decimal amount as Shopify sends it (a string; absent means zero)."""
    if value is None or value == "":
        return ZERO
    if type(value) is str:
        known = _AMOUNTS.get(value)
        if known is not None:
            return known
        parsed = parse_money(value, field=what, error=InvalidRecord)
        if len(_AMOUNTS) >= AMOUNTS_CACHED:
            _AMOUNTS.clear()
        _AMOUNTS[value] = parsed
        return parsed
    return parse_money(value, field=what, error=InvalidRecord)


def _shop_money(money_bag: Node | None) -> tuple[Decimal, str | None]:
    shop = (money_bag or {}).get("shopMoney") or {}
    return money(shop.get("amount"), "shopMoney amount"), shop.get("currencyCode")


def _rest_money(money_set: Node | None, key: str = "shop_money",
                what: str = "amount") -> tuple[Decimal, str] | None:
    """Amount and currency of a REST ``*_set`` in the shop's (or presentment) money, if given."""
    part = (money_set or {}).get(key) if isinstance(money_set, Mapping) else None
    if not isinstance(part, Mapping) or part.get("amount") in (None, ""):
        return None
    return money(part.get("amount"), f"{what}.{key}"), str(part.get("currency_code") or "").upper()


def _status(financial: str | None, cancelled: datetime | None) -> OrderStatus:
    if cancelled is not None:
        return OrderStatus.CANCELLED
    return FINANCIAL_STATUS.get((financial or "paid").lower(), OrderStatus.PAID)


def _cap_refunds(refunds: list[Refund], total: Decimal) -> tuple[Refund, ...]:
    """Keep refunds within the order total (refunded shipping or duties can exceed it)."""
    if not refunds:
        return ()
    out, left = [], total
    for refund in sorted(refunds, key=lambda r: r.created_at):
        amount = min(refund.amount, left)
        left -= amount
        out.append(Refund(amount=amount, created_at=refund.created_at,
                          platform_id=refund.platform_id))
    return tuple(out)


def _who(customer: Node | None, email: str | None) -> tuple[str | None, str | None]:
    """An order's customer id, or its e-mail for guests (neither for an anonymous till sale).

    The store counts an order without either as unattributed (core.store.attributable).
    """
    cid = legacy_id((customer or {}).get("id"))
    mail = email or (customer or {}).get("email")
    return cid, mail


def order_from_graphql(node: Node, line_items: Iterable[Node] | None = None) -> OrderRecord:
    """Map a GraphQL ``Order`` node (lines from ``lineItems`` or bulk child lines)."""
    oid = str(node.get("legacyResourceId") or legacy_id(node["id"]))
    total, currency = _shop_money(node.get("totalPriceSet"))
    created = instant(node["createdAt"])
    assert created is not None
    cancelled = instant(node.get("cancelledAt"))
    refunds = [
        Refund(amount=_shop_money(r.get("totalRefundedSet"))[0],
               created_at=instant(r.get("createdAt")) or created,
               platform_id=legacy_id(r.get("id")))
        for r in node.get("refunds") or []
    ]
    if line_items is None:
        line_items = [e["node"] for e in ((node.get("lineItems") or {}).get("edges") or [])]
    cid, email = _who(node.get("customer"), node.get("email"))
    return OrderRecord(
        platform_id=oid,
        created_at=created,
        updated_at=instant(node.get("updatedAt")),
        total=total,
        currency=(currency or node.get("currencyCode") or "EUR").upper(),
        status=_status(node.get("displayFinancialStatus"), cancelled),
        cancelled_at=cancelled,
        is_test=bool(node.get("test")),
        customer_id=cid,
        email=email,
        refunds=_cap_refunds(refunds, total),
        discount_codes=tuple(node.get("discountCodes") or ()),
        channel=(node.get("sourceName") or None),
        line_items=tuple(
            LineItem(quantity=int(li.get("quantity") or 0),
                     price=_shop_money(li.get("originalUnitPriceSet"))[0],
                     sku=li.get("sku") or None,
                     product_id=legacy_id((li.get("product") or {}).get("id")),
                     title=li.get("title"))
            for li in line_items
        ),
    )


def customer_from_graphql(node: Node) -> CustomerRecord:
    """Map a GraphQL ``Customer`` node (``defaultEmailAddress``, or the older ``email``)."""
    address = node.get("defaultEmailAddress") or {}
    consent = address.get("marketingState") or \
        (node.get("emailMarketingConsent") or {}).get("marketingState")
    return CustomerRecord(
        platform_id=str(node.get("legacyResourceId") or legacy_id(node["id"])),
        email=address.get("emailAddress") or node.get("email") or None,
        created_at=instant(node.get("createdAt")),
        updated_at=instant(node.get("updatedAt")),
        first_name=node.get("firstName") or None,
        last_name=node.get("lastName") or None,
        accepts_marketing=None if consent is None else consent.upper() == "SUBSCRIBED",
        tags=tuple(node["tags"]) if node.get("tags") is not None else None,
    )


def _refund_transactions(refund: Node) -> list[Node]:
    return [t for t in refund.get("transactions") or []
            if t.get("kind") == "refund" and t.get("status", "success") == "success"]


def refund_amount(refund: Node) -> Decimal:
    """A REST refund's money back: its successful ``refund`` transactions."""
    return sum((money(t.get("amount"), "refund amount") for t in _refund_transactions(refund)),
               Decimal(0))


def _refund_currency(refund: Node) -> str | None:
    """The currency the refund's transactions were paid in (None when they do not say)."""
    found = {str(t["currency"]).upper() for t in _refund_transactions(refund) if t.get("currency")}
    return found.pop() if len(found) == 1 else None


def _refund_in_shop_money(refund: Node, shop_currency: str,
                          rate: Decimal | None) -> Decimal:
    """A REST refund in the shop's money: as paid, or converted at the order's own rate."""
    amount = refund_amount(refund)
    paid_in = _refund_currency(refund)
    if paid_in is None or paid_in == shop_currency or rate is None:
        return amount
    return (amount * rate).quantize(Decimal("0.01"))


def order_from_rest(payload: Node) -> OrderRecord:
    """Map a REST order (orders/create, orders/updated, orders/paid, orders/cancelled)."""
    oid = str(payload["id"])
    created = instant(payload["created_at"])
    assert created is not None
    cancelled = instant(payload.get("cancelled_at"))
    # total_price and currency are the shop's money; total_price_set says so explicitly.
    shop_total = _rest_money(payload.get("total_price_set"), what="total_price_set")
    total, currency = shop_total or (money(payload.get("total_price"), "total_price"),
                                     str(payload.get("currency") or "EUR").upper())
    buyer_total = _rest_money(payload.get("total_price_set"), "presentment_money",
                              what="total_price_set")
    rate = total / buyer_total[0] if buyer_total and buyer_total[0] else None
    refunds = [Refund(amount=_refund_in_shop_money(r, currency, rate),
                      created_at=instant(r.get("created_at")) or created,
                      platform_id=str(r["id"]) if r.get("id") is not None else None)
               for r in payload.get("refunds") or []]
    cid, email = _who(payload.get("customer"), payload.get("email") or None)
    return OrderRecord(
        platform_id=oid,
        created_at=created,
        updated_at=instant(payload.get("updated_at")),
        total=total,
        currency=currency,
        status=_status(payload.get("financial_status"), cancelled),
        cancelled_at=cancelled,
        is_test=bool(payload.get("test")),
        customer_id=cid,
        email=email,
        refunds=_cap_refunds(refunds, total),
        discount_codes=tuple(d["code"] for d in payload.get("discount_codes") or []
                             if d.get("code")),
        channel=payload.get("source_name") or None,
        line_items=tuple(
            LineItem(quantity=int(li.get("quantity") or 0),
                     price=(_rest_money(li.get("price_set"), what="price_set")
                            or (money(li.get("price"), "price"), ""))[0],
                     sku=li.get("sku") or None,
                     product_id=str(li["product_id"]) if li.get("product_id") else None,
                     title=li.get("title"))
            for li in payload.get("line_items") or []
        ),
    )


def refund_from_rest(payload: Node) -> RefundRecord:
    """Map a REST refund (refunds/create): money back on an order that may not be stored yet."""
    created = instant(payload.get("created_at")) or instant(payload.get("processed_at"))
    assert created is not None, "a refund without created_at"
    return RefundRecord(platform_id=str(payload["id"]), order_id=str(payload["order_id"]),
                        amount=refund_amount(payload), created_at=created,
                        currency=_refund_currency(payload))


def customer_from_rest(payload: Node) -> CustomerRecord:
    """Map a REST customer (customers/create, customers/update).

    Since 2025-01 these payloads carry neither ``tags`` nor ``email_marketing_consent``
    (https://shopify.dev/changelog/new-customer-s-webhook-and-changes-to-existing-customer-s-webhooks-payload):
    a field that is absent maps to ``None``, which keeps the stored value; the reconciling sync
    (GraphQL ``Customer.tags`` and ``defaultEmailAddress.marketingState``) brings changes to them.
    """
    consent = payload.get("email_marketing_consent")
    if isinstance(consent, Mapping) and consent.get("state"):
        marketing: bool | None = consent["state"] == "subscribed"
    elif "accepts_marketing" in payload and payload["accepts_marketing"] is not None:
        marketing = bool(payload["accepts_marketing"])
    else:
        marketing = None
    tags = payload.get("tags")
    return CustomerRecord(
        platform_id=str(payload["id"]),
        email=payload.get("email") or None,
        created_at=instant(payload.get("created_at")),
        updated_at=instant(payload.get("updated_at")),
        first_name=payload.get("first_name") or None,
        last_name=payload.get("last_name") or None,
        accepts_marketing=marketing,
        tags=None if tags is None else tuple(t.strip() for t in str(tags).split(",")
                                             if t.strip()),
    )
