"""Webhook deliveries: verify the HMAC on the raw body, then map the REST payload to records.

Shopify signs each delivery with ``X-Shopify-Hmac-Sha256``: the base64 HMAC-SHA256 of the raw
body keyed with the app's client secret (https://shopify.dev/docs/apps/build/webhooks/subscribe/https).
``X-Shopify-Event-Id`` stays the same across redeliveries of one event, so it is the delivery id
used for deduplication; ``X-Shopify-Webhook-Id`` is the fallback for older deliveries.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from stammkunde.core.records import (
    AppUninstalled,
    CustomerDataRequest,
    CustomerDeleted,
    CustomerRedact,
    OrderDeleted,
    Record,
    ShopRedact,
)
from stammkunde.plugins.adapter import WebhookEnvelope, WebhookRejected
from stammkunde.plugins.shopify.mapping import (
    customer_from_rest,
    instant,
    order_from_rest,
    refund_from_rest,
)

SIGNATURE = "X-Shopify-Hmac-Sha256"


def sign(raw_body: bytes, secret: str) -> str:
    """Return the signature Shopify puts in ``X-Shopify-Hmac-Sha256`` for this body."""
    digest = hmac.new(secret.encode(), raw_body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _get(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def shop_domain(headers: Mapping[str, str]) -> str | None:
    """The shop domain a delivery claims in ``X-Shopify-Shop-Domain`` (lower case), or None."""
    return (_get(headers, "X-Shopify-Shop-Domain") or "").strip().lower() or None


def verify(headers: Mapping[str, str], raw_body: bytes, secret: str) -> WebhookEnvelope:
    """Check the signature in constant time and read the envelope headers."""
    given = (_get(headers, SIGNATURE) or "").strip()
    if not given:
        raise WebhookRejected("missing X-Shopify-Hmac-Sha256 header", 401)
    if not secret:
        raise WebhookRejected("no webhook secret configured for this shop", 401)
    if not hmac.compare_digest(sign(raw_body, secret).encode(), given.encode()):
        raise WebhookRejected("X-Shopify-Hmac-Sha256 does not match the body", 401)
    topic = _get(headers, "X-Shopify-Topic")
    if not topic:
        raise WebhookRejected("missing X-Shopify-Topic header", 400)
    delivery = _get(headers, "X-Shopify-Event-Id") or _get(headers, "X-Shopify-Webhook-Id")
    if not delivery:
        raise WebhookRejected("missing X-Shopify-Event-Id and X-Shopify-Webhook-Id", 400)
    try:
        triggered = instant(_get(headers, "X-Shopify-Triggered-At"))
    except ValueError:
        triggered = None
    return WebhookEnvelope(
        platform="shopify", topic=topic.strip().lower(),
        shop_domain=shop_domain(headers),
        delivery_id=delivery.strip(), raw_body=raw_body,
        headers={k: v for k, v in headers.items() if k.lower() != SIGNATURE.lower()},
        triggered_at=triggered,
    )


def _customer_ref(payload: Mapping[str, Any]) -> tuple[str | None, str | None]:
    customer = payload.get("customer") or {}
    cid = customer.get("id")
    return (str(cid) if cid is not None else None), customer.get("email") or None


def _data_request(p: Mapping[str, Any]) -> list[Record]:
    cid, email = _customer_ref(p)
    request = (p.get("data_request") or {}).get("id")
    return [CustomerDataRequest(customer_id=cid, email=email,
                                request_id=str(request) if request is not None else None)]


def _redact(p: Mapping[str, Any]) -> list[Record]:
    cid, email = _customer_ref(p)
    return [CustomerRedact(customer_id=cid, email=email,
                           order_ids=tuple(str(o) for o in p.get("orders_to_redact") or ()))]


TOPICS: dict[str, Callable[[Mapping[str, Any]], list[Record]]] = {
    "orders/create": lambda p: [order_from_rest(p)],
    "orders/updated": lambda p: [order_from_rest(p)],
    "orders/paid": lambda p: [order_from_rest(p)],
    "orders/cancelled": lambda p: [order_from_rest(p)],
    "orders/delete": lambda p: [OrderDeleted(platform_id=str(p["id"]))],
    "refunds/create": lambda p: [refund_from_rest(p)],
    "customers/create": lambda p: [customer_from_rest(p)],
    "customers/update": lambda p: [customer_from_rest(p)],
    "customers/delete": lambda p: [CustomerDeleted(platform_id=str(p["id"]))],
    "app/uninstalled": lambda p: [AppUninstalled()],
    "customers/data_request": _data_request,
    "customers/redact": _redact,
    "shop/redact": lambda p: [ShopRedact()],
}


def parse(envelope: WebhookEnvelope) -> list[Record]:
    """Map a verified delivery to canonical records; topics we do not use give []."""
    handler = TOPICS.get(envelope.topic)
    if handler is None:
        return []
    try:
        payload = json.loads(envelope.raw_body, parse_float=Decimal)
        return handler(payload)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise WebhookRejected(f"malformed {envelope.topic} payload: {exc}", 400) from exc
