"""WooCommerce webhook deliveries: signature check, the creation ping, and payload parsing.

A delivery carries ``X-WC-Webhook-Source`` (the store's home URL), ``-Topic`` (``order.updated``),
``-Resource``, ``-Event``, ``-ID`` (the webhook), ``-Delivery-ID`` and ``-Signature``: the base64
HMAC-SHA256 of the raw body keyed with the webhook's secret. The body is the resource as the REST
API returns it; for ``*.deleted`` only ``{"id": …}``. When a webhook is created WooCommerce first
POSTs an unsigned ping ``webhook_id=<id>`` and disables the webhook unless it gets a 200.
(``WC_Webhook::deliver``, ``generate_signature`` and ``deliver_ping`` in WooCommerce core.)

WooCommerce derives the delivery id from the webhook id and the current *second*, so two different
events of one webhook within a second share it; the envelope's ``delivery_id`` therefore also
includes a digest of the body: a duplicate delivery keeps its id, distinct events never collide.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from stammkunde.core.errors import InvalidRecord
from stammkunde.core.records import CustomerDeleted, OrderDeleted, Record
from stammkunde.plugins.adapter import WebhookEnvelope, WebhookRejected
from stammkunde.plugins.woocommerce.mapping import customer_record, order_record
from stammkunde.plugins.woocommerce.store_url import normalize_store_url

PLATFORM = "woocommerce"
PING = re.compile(rb"^webhook_id=\d+$")
ORDER_TOPICS = frozenset({"order.created", "order.updated", "order.restored"})
CUSTOMER_TOPICS = frozenset({"customer.created", "customer.updated"})


def header(headers: Mapping[str, str], name: str) -> str | None:
    """Return a header value, matching the name without regard to case."""
    value = headers.get(name)
    if value is not None:
        return value
    lower = name.lower()
    for key, val in headers.items():
        if key.lower() == lower:
            return val
    return None


def sign(raw_body: bytes, secret: str) -> str:
    """Return the signature WooCommerce sends for this body: base64 HMAC-SHA256."""
    digest = hmac.new(secret.encode(), raw_body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify(headers: Mapping[str, str], raw_body: bytes, secret: str) -> WebhookEnvelope:
    """Check a delivery's signature in constant time; answer the unsigned creation ping."""
    signature = header(headers, "X-WC-Webhook-Signature")
    source = header(headers, "X-WC-Webhook-Source")
    shop = _source(source)
    if signature is None:
        body = raw_body.strip()
        if PING.match(body) and header(headers, "X-WC-Webhook-Topic") is None:
            webhook_id = body.split(b"=", 1)[1].decode()
            return WebhookEnvelope(platform=PLATFORM, topic="ping", shop_domain=shop,
                                   delivery_id=f"ping:{webhook_id}", raw_body=raw_body,
                                   headers=dict(headers), is_ping=True)
        raise WebhookRejected("missing X-WC-Webhook-Signature header", 401)
    if not secret:
        raise WebhookRejected("no webhook secret is configured for this shop", 401)
    if not hmac.compare_digest(signature.strip().encode(), sign(raw_body, secret).encode()):
        raise WebhookRejected("invalid X-WC-Webhook-Signature", 401)
    topic = header(headers, "X-WC-Webhook-Topic")
    if not topic:
        raise WebhookRejected("missing X-WC-Webhook-Topic header", 400)
    resource = header(headers, "X-WC-Webhook-Resource")
    event = header(headers, "X-WC-Webhook-Event")
    if resource and event and f"{resource}.{event}".lower() != topic.strip().lower():
        raise WebhookRejected(f"X-WC-Webhook-Topic {topic!r} contradicts resource {resource!r} "
                              f"and event {event!r}", 400)
    delivery = header(headers, "X-WC-Webhook-Delivery-ID")
    if not delivery:
        raise WebhookRejected("missing X-WC-Webhook-Delivery-ID header", 400)
    digest = hashlib.sha256(raw_body).hexdigest()[:16]
    return WebhookEnvelope(platform=PLATFORM, topic=topic.strip().lower(), shop_domain=shop,
                           delivery_id=f"{delivery.strip()}:{digest}", raw_body=raw_body,
                           headers={k: v for k, v in headers.items()
                                    if k.lower().startswith("x-wc-webhook-")
                                    and k.lower() != "x-wc-webhook-signature"})


def source_of(headers: Mapping[str, str]) -> str | None:
    """Return the normalised store URL of ``X-WC-Webhook-Source`` (what ``Shop.domain`` holds)."""
    return _source(header(headers, "X-WC-Webhook-Source"))


def _source(source: str | None) -> str | None:
    if not source:
        return None
    try:
        return normalize_store_url(source, allow_http=True)
    except Exception:
        return None


def parse(envelope: WebhookEnvelope, *, currency: str = "EUR",
          status_map: Mapping[str, str] | None = None) -> list[Record]:
    """Turn a verified delivery into records; topics we do not use give an empty list.

    Refunds in a webhook payload carry no date: they are dated at the order's last modification
    (exact for the refund that triggered the delivery); the sync dates them exactly.
    """
    if envelope.is_ping:
        return []
    topic = envelope.topic
    if topic not in ORDER_TOPICS | CUSTOMER_TOPICS | {"order.deleted", "customer.deleted"}:
        return []
    payload = _json(envelope.raw_body)
    if "id" not in payload:
        raise InvalidRecord(f"{topic} payload has no id")
    if topic == "order.deleted":
        return [OrderDeleted(platform_id=str(payload["id"]))]
    if topic == "customer.deleted":
        return [CustomerDeleted(platform_id=str(payload["id"]))]
    if topic in CUSTOMER_TOPICS:
        return [customer_record(payload)]
    rec = order_record(payload, shop_currency=currency, status_map=status_map)
    return [] if rec is None else [rec]


def _json(raw: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(raw, parse_float=Decimal)
    except ValueError as exc:
        raise InvalidRecord("webhook body is not JSON") from exc
    if not isinstance(payload, dict):
        raise InvalidRecord("webhook body is not a JSON object")
    return payload
