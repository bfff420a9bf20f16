"""A small signed platform (``testshop``) for receiver tests, fault tests and benchmarks.

It speaks like the real platforms do, with less ceremony: the body is JSON, signed with
HMAC-SHA256 over the raw bytes (base64 in ``X-Testshop-Hmac-Sha256``); the topic, the shop's
domain, the delivery id and the trigger time travel in headers. An unsigned body of the form
``webhook_id=<n>`` is a ping (as WooCommerce sends when a webhook is created). The signing secret
is the shop's ``webhook_secret`` credential, else the app-wide ``STAMMKUNDE_TESTSHOP_SECRET``.

Register it with ``plugins_for_test(TestshopPlugin())``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

from stammkunde.core.errors import InvalidRecord
from stammkunde.core.money import parse_money
from stammkunde.core.records import (
    AppUninstalled,
    CustomerDataRequest,
    CustomerRecord,
    CustomerRedact,
    LineItem,
    OrderDeleted,
    OrderRecord,
    OrderStatus,
    Record,
    Refund,
    RefundRecord,
    ShopRedact,
)
from stammkunde.plugins.adapter import (
    Capability,
    PlatformAdapter,
    WebhookEnvelope,
    WebhookRejected,
)
from stammkunde.plugins.hookspecs import hookimpl

SIGNATURE = "X-Testshop-Hmac-Sha256"
TOPIC = "X-Testshop-Topic"
DOMAIN = "X-Testshop-Shop-Domain"
DELIVERY = "X-Testshop-Delivery-Id"
TRIGGERED = "X-Testshop-Triggered-At"
PING = re.compile(rb"^webhook_id=\d{1,20}$")


def sign(body: bytes, secret: str) -> str:
    """Return the signature header value for a body."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def signed_headers(
    body: bytes, secret: str, *, topic: str, shop_domain: str, delivery_id: str,
    triggered_at: str | None = None,
) -> dict[str, str]:
    """Return the headers a testshop delivery carries."""
    headers = {SIGNATURE: sign(body, secret), TOPIC: topic, DOMAIN: shop_domain,
               DELIVERY: delivery_id, "Content-Type": "application/json"}
    if triggered_at:
        headers[TRIGGERED] = triggered_at
    return headers


def order_body(
    order_id: str, *, updated_at: str, total: str = "10.00", customer_id: str | None = "c1",
    email: str | None = None, status: str = "paid", created_at: str | None = None,
    refunds: list[dict[str, str]] | None = None, cancelled_at: str | None = None,
    currency: str = "EUR", lines: list[dict[str, Any]] | None = None,
    discount_codes: list[str] | None = None,
) -> bytes:
    """Return the JSON body of an order delivery."""
    data: dict[str, Any] = {
        "id": order_id, "created_at": created_at or updated_at, "updated_at": updated_at,
        "total": total, "currency": currency, "status": status,
        "customer": {"id": customer_id, "email": email},
        "refunds": refunds or [], "cancelled_at": cancelled_at,
        "line_items": lines or [], "discount_codes": discount_codes or [],
    }
    return json.dumps(data).encode()


def _instant(value: Any, what: str) -> datetime:
    if not isinstance(value, str):
        raise InvalidRecord(f"{what} is missing or not a string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRecord(f"{what} is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        raise InvalidRecord(f"{what} has no UTC offset")
    return parsed


def _money(value: Any, what: str) -> Decimal:
    if isinstance(value, float):
        raise InvalidRecord(f"{what} is not a decimal string")
    return parse_money(value, field=what, error=InvalidRecord)


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


class TestshopAdapter(PlatformAdapter):
    """The testshop platform: signed JSON webhooks, per-shop or app-wide secret."""

    __test__ = False  # not a pytest test class

    name: ClassVar[str] = "testshop"
    display_name: ClassVar[str] = "Test shop (signed webhooks)"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.WEBHOOKS})
    webhook_secret_env: ClassVar[str | None] = "STAMMKUNDE_TESTSHOP_SECRET"

    def configure_shop(self, options: Mapping[str, str | None]) -> Any:
        """Accept a domain and a webhook secret."""
        from stammkunde.plugins.adapter import ShopSetup

        creds = {"webhook_secret": options["webhook_secret"]} if options.get(
            "webhook_secret") else {}
        return ShopSetup(domain=options.get("domain"), credentials=creds)

    def shop_domain_from_headers(self, headers: Mapping[str, str]) -> str | None:
        """Return the shop domain header (unverified)."""
        return headers.get(DOMAIN) or None

    def verify_webhook(
        self, headers: Mapping[str, str], raw_body: bytes, secret: str
    ) -> WebhookEnvelope:
        """Check the HMAC over the raw body; an unsigned ``webhook_id=<n>`` body is a ping."""
        given = headers.get(SIGNATURE)
        if not given:
            if PING.match(raw_body):
                return WebhookEnvelope(platform=self.name, topic="ping", shop_domain=None,
                                       delivery_id="ping", raw_body=raw_body, is_ping=True)
            raise WebhookRejected("missing signature", 401)
        if not hmac.compare_digest(given.encode(), sign(raw_body, secret).encode()):
            raise WebhookRejected("signature does not match", 401)
        topic, delivery = headers.get(TOPIC), headers.get(DELIVERY)
        if not topic or not delivery:
            raise WebhookRejected("missing topic or delivery id header", 400)
        triggered = headers.get(TRIGGERED)
        try:
            triggered_at = _instant(triggered, "triggered at") if triggered else None
        except InvalidRecord:
            raise WebhookRejected("bad trigger time header", 400) from None
        return WebhookEnvelope(
            platform=self.name, topic=topic, shop_domain=headers.get(DOMAIN) or None,
            delivery_id=delivery, raw_body=raw_body, triggered_at=triggered_at,
            headers={TOPIC: topic},
        )

    def parse_webhook(self, envelope: WebhookEnvelope) -> list[Record]:
        """Turn a delivery into canonical records."""
        try:
            data = json.loads(envelope.raw_body)
        except (ValueError, UnicodeDecodeError):
            raise InvalidRecord("body is not JSON") from None
        if not isinstance(data, dict):
            raise InvalidRecord("body is not a JSON object")
        handler = PARSERS.get(envelope.topic)
        return handler(data, envelope) if handler else []


def _order(data: dict[str, Any], env: WebhookEnvelope) -> list[Record]:
    customer = data.get("customer") or {}
    if not isinstance(customer, dict):
        raise InvalidRecord("customer is not an object")
    return [OrderRecord(
        platform_id=str(data.get("id") or ""),
        created_at=_instant(data.get("created_at"), "created_at"),
        updated_at=_instant(data.get("updated_at"), "updated_at"),
        total=_money(data.get("total"), "total"),
        currency=str(data.get("currency") or "EUR"),
        status=OrderStatus(data.get("status") or "paid"),
        customer_id=_str(customer.get("id")),
        email=_str(customer.get("email")),
        refunds=tuple(
            Refund(amount=_money(r.get("amount"), "refund amount"),
                   created_at=_instant(r.get("created_at"), "refund created_at"),
                   platform_id=_str(r.get("id")))
            for r in data.get("refunds") or []
        ),
        cancelled_at=(_instant(data["cancelled_at"], "cancelled_at")
                      if data.get("cancelled_at") else None),
        discount_codes=tuple(str(c) for c in data.get("discount_codes") or []),
        line_items=tuple(
            LineItem(quantity=int(li.get("quantity", 1)), price=_money(li.get("price"), "price"),
                     sku=_str(li.get("sku")), title=_str(li.get("title")))
            for li in data.get("line_items") or []
        ),
    )]


def _deleted(data: dict[str, Any], env: WebhookEnvelope) -> list[Record]:
    return [OrderDeleted(platform_id=str(data.get("id") or ""), deleted_at=env.triggered_at)]


def _refund(data: dict[str, Any], env: WebhookEnvelope) -> list[Record]:
    return [RefundRecord(order_id=str(data.get("order_id") or ""),
                         amount=_money(data.get("amount"), "amount"),
                         created_at=_instant(data.get("created_at"), "created_at"),
                         platform_id=_str(data.get("id")))]


def _customer(data: dict[str, Any], env: WebhookEnvelope) -> list[Record]:
    return [CustomerRecord(
        platform_id=str(data.get("id") or ""), email=_str(data.get("email")),
        first_name=_str(data.get("first_name")), last_name=_str(data.get("last_name")),
        updated_at=_instant(data.get("updated_at"), "updated_at"),
        created_at=_instant(data.get("created_at") or data.get("updated_at"), "created_at"),
    )]


def _who(data: dict[str, Any]) -> tuple[str | None, str | None]:
    customer = data.get("customer") or {}
    return _str(customer.get("id")), _str(customer.get("email"))


def _data_request(data: dict[str, Any], env: WebhookEnvelope) -> list[Record]:
    cid, email = _who(data)
    return [CustomerDataRequest(customer_id=cid, email=email,
                                request_id=_str((data.get("data_request") or {}).get("id")))]


def _redact(data: dict[str, Any], env: WebhookEnvelope) -> list[Record]:
    cid, email = _who(data)
    return [CustomerRedact(customer_id=cid, email=email,
                           order_ids=tuple(str(o) for o in data.get("orders_to_redact") or []))]


PARSERS: dict[str, Callable[[dict[str, Any], WebhookEnvelope], list[Record]]] = {
    "orders/create": _order,
    "orders/updated": _order,
    "orders/cancelled": _order,
    "orders/delete": _deleted,
    "refunds/create": _refund,
    "customers/create": _customer,
    "customers/update": _customer,
    "customers/data_request": _data_request,
    "customers/redact": _redact,
    "shop/redact": lambda data, env: [ShopRedact()],
    "app/uninstalled": lambda data, env: [AppUninstalled()],
}


class TestshopPlugin:
    """A plugin object registering the testshop adapter (``plugins_for_test(TestshopPlugin())``)."""

    __test__ = False  # not a pytest test class

    @hookimpl
    def register_platforms(self, register: Callable[[Any], None]) -> None:
        """Register the testshop adapter."""
        register(TestshopAdapter())
