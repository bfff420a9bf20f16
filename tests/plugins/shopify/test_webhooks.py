"""Shopify webhooks: signature on the raw body, envelope headers, every topic's records."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from stammkunde.core.records import (
    AppUninstalled,
    CustomerDataRequest,
    CustomerRecord,
    CustomerRedact,
    LineItem,
    OrderRecord,
    OrderStatus,
    Refund,
    RefundRecord,
    ShopRedact,
)
from stammkunde.plugins.adapter import WebhookRejected
from stammkunde.plugins.shopify import ShopifyAdapter
from tests.plugins.shopify.conftest import SECRET, delivery, payload

ADAPTER = ShopifyAdapter()


def parse(topic: str, name: str | None = None) -> list:
    body = payload(name or topic.replace("/", "_"))
    env = ADAPTER.verify_webhook(delivery(topic, body), body, SECRET)
    return ADAPTER.parse_webhook(env)


def test_signature_is_base64_hmac_sha256_of_the_raw_body() -> None:
    body = payload("orders_create")
    expected = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
    env = ADAPTER.verify_webhook({"x-shopify-hmac-sha256": expected,  # header case does not matter
                                  "x-shopify-topic": "orders/create",
                                  "x-shopify-webhook-id": "w1"}, body, SECRET)
    assert env.topic == "orders/create"
    assert env.delivery_id == "w1"


@pytest.mark.parametrize("headers_change, body_change, status", [
    ({"X-Shopify-Hmac-Sha256": "bm90IHRoZSByaWdodCBzaWduYXR1cmU="}, b"", 401),
    ({}, b"\n", 401),                                   # one byte more: not the signed body
    ({"X-Shopify-Topic": ""}, b"", 400),
])
def test_bad_deliveries_are_refused(headers_change: dict, body_change: bytes,
                                    status: int) -> None:
    body = payload("orders_create")
    headers = {**delivery("orders/create", body), **headers_change}
    with pytest.raises(WebhookRejected) as info:
        ADAPTER.verify_webhook(headers, body + body_change, SECRET)
    assert info.value.status == status


def test_reformatted_json_is_refused() -> None:
    """Signatures cover bytes, not meaning: re-serialised JSON is a different body."""
    import json

    body = payload("orders_create")
    headers = delivery("orders/create", body)
    compact = json.dumps(json.loads(body), separators=(",", ":")).encode()
    with pytest.raises(WebhookRejected):
        ADAPTER.verify_webhook(headers, compact, SECRET)


def test_envelope_reads_the_shopify_headers() -> None:
    body = payload("orders_create")
    env = ADAPTER.verify_webhook(delivery("orders/create", body, event_id="98880550-7158-44d4"),
                                 body, SECRET)
    assert env.platform == "shopify"
    assert env.shop_domain == "example.myshopify.com"
    assert env.delivery_id == "98880550-7158-44d4"          # the event id wins over webhook id
    assert env.triggered_at == datetime(2024, 3, 5, 15, 15, 3, 123456, tzinfo=UTC)
    assert "X-Shopify-Hmac-Sha256" not in env.headers
    legacy = ADAPTER.verify_webhook(delivery("orders/create", body, event_id=None), body, SECRET)
    assert legacy.delivery_id == "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"
    assert ADAPTER.shop_domain_from_headers({"x-shopify-shop-domain": "Example.myshopify.com"}
                                            ) == "example.myshopify.com"


def test_secrets_come_from_the_shop_then_the_app() -> None:
    from stammkunde.plugins.adapter import Secret, ShopConnection

    shop = ShopConnection("s", "shopify", "a.myshopify.com",
                          credentials={"webhook_secret": Secret("custom")})
    env = {"STAMMKUNDE_SHOPIFY_API_SECRET": "public"}
    assert ADAPTER.webhook_secrets(shop, env) == ["custom", "public"]
    assert ADAPTER.webhook_secrets(None, env) == ["public"]


def test_orders_create() -> None:
    (order,) = parse("orders/create")
    assert order == OrderRecord(
        platform_id="820982911946154508",
        created_at=datetime(2024, 3, 5, 15, 15, tzinfo=UTC),
        updated_at=datetime(2024, 3, 5, 15, 15, 2, tzinfo=UTC),
        total=Decimal("403.00"), currency="USD", status=OrderStatus.PAID,
        customer_id="115310627314723954", email="jon@example.com",
        discount_codes=("WELCOME10",), channel="web",
        line_items=(
            LineItem(1, Decimal("199.00"), "IPOD2008PINK", "632910392", "IPod Nano - 8GB"),
            LineItem(2, Decimal("104.50"), "IPOD2008BLACK", "632910392", "IPod Nano - 8GB"),
        ),
    )


def test_orders_updated_carries_its_refunds() -> None:
    (order,) = parse("orders/updated")
    assert order.status == OrderStatus.PAID                    # partially refunded stays paid
    assert order.refunds == (Refund(Decimal("104.50"), datetime(2024, 3, 8, 13, 59, tzinfo=UTC),
                                    "509562969"),)
    assert order.updated_at == datetime(2024, 3, 8, 14, 0, tzinfo=UTC)


def test_orders_paid_for_a_guest_at_the_till() -> None:
    (order,) = parse("orders/paid")
    assert (order.customer_id, order.email, order.channel) == (None, "guest@example.com", "pos")
    assert order.created_at == datetime(2024, 3, 6, 10, 58, tzinfo=UTC)


def test_orders_cancelled() -> None:
    (order,) = parse("orders/cancelled")
    assert order.status == OrderStatus.CANCELLED
    assert order.cancelled_at == datetime(2024, 3, 5, 17, 0, tzinfo=UTC)


def test_refunds_create_counts_only_successful_refund_transactions() -> None:
    (refund,) = parse("refunds/create")
    assert refund == RefundRecord(order_id="450789469", amount=Decimal("30.00"),
                                  created_at=datetime(2024, 4, 1, 12, 0, tzinfo=UTC),
                                  platform_id="929361464")


def test_customers_create_and_update() -> None:
    (created,) = parse("customers/create")
    assert created == CustomerRecord(
        platform_id="706405506930370084", email="bob@example.com",
        created_at=datetime(2024, 2, 1, 14, 0, tzinfo=UTC),
        updated_at=datetime(2024, 2, 1, 14, 0, tzinfo=UTC),
        first_name="Bob", last_name="Biller", accepts_marketing=None, tags=None)
    (updated,) = parse("customers/update")
    # current payloads say nothing about consent and tags: None keeps what a sync stored
    assert (updated.email, updated.accepts_marketing, updated.tags) == (
        "bob.new@example.com", None, None)


def test_privacy_and_uninstall_topics() -> None:
    assert parse("app/uninstalled") == [AppUninstalled()]
    assert parse("customers/data_request") == [
        CustomerDataRequest(customer_id="191167", email="john@example.com", request_id="9999")]
    assert parse("customers/redact") == [
        CustomerRedact(customer_id="191167", email="john@example.com",
                       order_ids=("299938", "280263", "220458"))]
    assert parse("shop/redact") == [ShopRedact()]


def test_unknown_topic_gives_no_records() -> None:
    assert parse("products/update", "orders_create") == []


def test_malformed_payload_is_a_400_naming_no_person() -> None:
    body = b'{"id": 1, "email": "secret@example.com"}'
    env = ADAPTER.verify_webhook(delivery("orders/create", body), body, SECRET)
    with pytest.raises(WebhookRejected) as info:
        ADAPTER.parse_webhook(env)
    assert info.value.status == 400
    assert "secret@example.com" not in str(info.value)


def test_a_current_customers_update_keeps_the_consent_and_tags_a_sync_stored(sessions) -> None:
    """The sync (GraphQL) stores consent and tags; a customers/update without them keeps both."""
    from sqlalchemy import select

    from stammkunde.core.models import Customer
    from stammkunde.core.shops import create_shop
    from stammkunde.core.store import store_records
    from stammkunde.plugins.shopify.mapping import customer_from_graphql

    synced = customer_from_graphql({
        "id": "gid://shopify/Customer/706405506930370084", "legacyResourceId": "706405506930370084",
        "firstName": "Bob", "lastName": "Biller", "createdAt": "2024-02-01T14:00:00Z",
        "updatedAt": "2024-02-05T00:00:00Z", "tags": ["vip", "newsletter"],
        "defaultEmailAddress": {"emailAddress": "bob@example.com", "marketingState": "SUBSCRIBED"}})
    (updated,) = parse("customers/update")  # 2024-02-10, a new e-mail, no consent, no tags
    with sessions.begin() as s:
        shop = create_shop(s, "s", "shopify")
        store_records(s, shop, [synced])
        assert store_records(s, shop, [updated]).updated == 1
        row = s.scalar(select(Customer))
        assert (row.email, row.accepts_marketing, row.tags) == (
            "bob.new@example.com", True, "vip,newsletter")
