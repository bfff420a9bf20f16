"""The TinyShop adapter: paginated orders and customers, signed webhooks.

TinyShop's API (see ``fake.py``): ``GET /orders?after=<id>&limit=<n>&since=<iso>`` returns
``{"items": [...], "next": <id or null>}``, the same for ``/customers``; webhooks carry
``X-Tiny-Topic``, ``X-Tiny-Delivery`` and ``X-Tiny-Signature`` (hex HMAC-SHA256 of the body).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

import requests

from stammkunde.core.records import Batch, CustomerRecord, OrderRecord, OrderStatus, Record
from stammkunde.plugins import (
    Capability,
    PlatformAdapter,
    ShopConnection,
    WebhookEnvelope,
    WebhookRejected,
)

PAGE = 3


def _instant(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def order_record(item: Mapping[str, Any]) -> OrderRecord:
    """Map a TinyShop order to the canonical record (money as Decimal, times aware UTC)."""
    return OrderRecord(
        platform_id=str(item["id"]), created_at=_instant(item["created"]),  # type: ignore[arg-type]
        updated_at=_instant(item["updated"]), total=Decimal(item["total"]),
        currency=item["currency"], status=OrderStatus(item["status"]),
        customer_id=str(item["customer"]) if item.get("customer") else None,
        email=item.get("email"))


def customer_record(item: Mapping[str, Any]) -> CustomerRecord:
    """Map a TinyShop customer to the canonical record."""
    return CustomerRecord(platform_id=str(item["id"]), email=item.get("email"),
                          created_at=_instant(item["created"]),
                          updated_at=_instant(item["updated"]))


class TinyShopAdapter(PlatformAdapter):
    """Orders and customers from TinyShop's JSON API; webhooks for new orders."""

    name: ClassVar[str] = "tinyshop"
    display_name: ClassVar[str] = "TinyShop (example)"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.SYNC, Capability.WEBHOOKS})

    def _pages(self, shop: ShopConnection, path: str, since: datetime | None,
               cursor: str | None, mapper: Any) -> Iterator[Batch]:
        after = int(cursor) if cursor else 0
        while True:
            params: dict[str, Any] = {"after": after, "limit": PAGE}
            if since is not None:
                params["since"] = since.isoformat()
            resp = requests.get(f"{shop.options['base_url']}/{path}", params=params, timeout=10)
            resp.raise_for_status()
            page = resp.json()
            records = tuple(mapper(item) for item in page["items"])
            if page["items"]:
                after = page["items"][-1]["id"]
            yield Batch(records, cursor=str(after))
            if page["next"] is None:
                return

    def fetch_orders(self, shop: ShopConnection, since: datetime | None = None,
                     cursor: str | None = None) -> Iterator[Batch]:
        """Yield orders page by page; the cursor is the last order id seen."""
        return self._pages(shop, "orders", since, cursor, order_record)

    def fetch_customers(self, shop: ShopConnection, since: datetime | None = None,
                        cursor: str | None = None) -> Iterator[Batch]:
        """Yield customers page by page; the cursor is the last customer id seen."""
        return self._pages(shop, "customers", since, cursor, customer_record)

    def verify_webhook(self, headers: Mapping[str, str], raw_body: bytes,
                       secret: str) -> WebhookEnvelope:
        """Check ``X-Tiny-Signature`` over the raw body in constant time."""
        lower = {k.lower(): v for k, v in headers.items()}
        given = lower.get("x-tiny-signature", "")
        expected = hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()
        if not given or not hmac.compare_digest(expected, given):
            raise WebhookRejected("bad or missing X-Tiny-Signature", 401)
        return WebhookEnvelope(platform=self.name, topic=lower.get("x-tiny-topic", ""),
                               shop_domain=lower.get("x-tiny-shop"),
                               delivery_id=lower.get("x-tiny-delivery", ""), raw_body=raw_body)

    def parse_webhook(self, envelope: WebhookEnvelope, shop: ShopConnection) -> list[Record]:
        """``order.saved`` carries an order; other topics are ignored.

        ``shop`` holds the shop's currency and options; TinyShop orders name their currency, so
        nothing here depends on it (a platform whose payloads do not would use ``shop.currency``).
        """
        if envelope.topic != "order.saved":
            return []
        return [order_record(json.loads(envelope.raw_body))]

    def subscribe_webhooks(self, shop: ShopConnection, base_url: str) -> list[str]:
        """Register our receiver URL with TinyShop."""
        resp = requests.post(f"{shop.options['base_url']}/webhooks",
                             json={"url": f"{base_url.rstrip('/')}/webhooks/tinyshop"}, timeout=10)
        resp.raise_for_status()
        return ["order.saved"]
