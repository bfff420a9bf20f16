"""The TinyShop adapter: paginated orders and customers, an export file, signed webhooks.

TinyShop's API (see ``fake.py``): ``GET /orders?after=<id>&limit=<n>&since=<iso>`` returns
``{"items": [...], "next": <id or null>}``, the same for ``/customers``; webhooks carry
``X-Tiny-Shop``, ``X-Tiny-Topic``, ``X-Tiny-Delivery`` and ``X-Tiny-Signature`` (hex
HMAC-SHA256 of the body). Its admin exports orders as ``{"orders": [...]}`` (format
``tinyshop-json``), each order shaped as in the API.

Per shop it needs the API's root (option ``base_url``) and, for webhooks, the signing secret
(``webhook_secret``, which every webhook adapter takes):

    stammkunde shops add tiny --platform tinyshop --domain tiny.example \\
        --option base_url=https://api.tiny.example --webhook-secret ...
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import requests

from stammkunde.core.errors import InvalidRecord, UserError
from stammkunde.core.money import parse_money
from stammkunde.core.records import Batch, CustomerRecord, OrderRecord, OrderStatus, Record
from stammkunde.plugins import (
    Capability,
    PlatformAdapter,
    ShopConnection,
    ShopOption,
    WebhookEnvelope,
    WebhookRejected,
)

PAGE = 3
BATCH = 500


def _instant(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def order_record(item: Mapping[str, Any]) -> OrderRecord:
    """Map a TinyShop order to the canonical record (money as Decimal, times aware UTC)."""
    return OrderRecord(
        platform_id=str(item["id"]), created_at=_instant(item["created"]),  # type: ignore[arg-type]
        updated_at=_instant(item["updated"]),
        total=parse_money(item["total"], field="total", error=InvalidRecord),
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
        {Capability.SYNC, Capability.WEBHOOKS, Capability.IMPORT_FILE})
    file_formats: ClassVar[tuple[str, ...]] = ("tinyshop-json",)
    shop_options: ClassVar[tuple[ShopOption, ...]] = (
        ShopOption("base_url", "the root of the shop's TinyShop API", required=True),
    )

    def import_file(self, path: Path, fmt: str | None, shop: ShopConnection) -> Iterator[Batch]:
        """Read TinyShop's order export (``{"orders": [...]}``) in batches."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UserError(f"{Path(path).name} is not a TinyShop export: {exc}") from None
        orders = data.get("orders") if isinstance(data, dict) else None
        if not isinstance(orders, list):
            raise UserError(f"{Path(path).name} is not a TinyShop export (no \"orders\" list)")
        for start in range(0, len(orders), BATCH):
            yield Batch(tuple(order_record(o) for o in orders[start:start + BATCH]),
                        meta={"rows": len(orders)})

    def shop_domain_from_headers(self, headers: Mapping[str, str]) -> str | None:
        """The shop a delivery comes from (``X-Tiny-Shop``), to find its webhook secret."""
        return headers.get("X-Tiny-Shop") or None

    def _pages(self, shop: ShopConnection, path: str, since: datetime | None,
               cursor: str | None, mapper: Any) -> Iterator[Batch]:
        after = int(cursor) if cursor else 0
        while True:
            params: dict[str, Any] = {"after": after, "limit": PAGE}
            if since is not None:
                params["since"] = since.isoformat()
            resp = requests.get(f"{shop.options['base_url']}/{path}", params=params, timeout=10)
            if resp.status_code >= 400:
                raise UserError(f"TinyShop answered {resp.status_code} for /{path}")
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
        if resp.status_code >= 400:
            raise UserError(f"TinyShop answered {resp.status_code} when subscribing webhooks")
        return ["order.saved"]
