"""Webhook deliveries: signature, the creation ping, topics and their records."""

from __future__ import annotations

from decimal import Decimal

import pytest

from stammkunde.core.records import CustomerDeleted, CustomerRecord, OrderDeleted, OrderRecord
from stammkunde.plugins.adapter import WebhookRejected
from stammkunde.plugins.woocommerce import WooCommerceAdapter
from stammkunde.plugins.woocommerce.webhooks import sign
from tests.fakes.woocommerce import FakeWooCommerce

SECRET = "whsec-test"


def test_signature_is_base64_hmac_sha256_of_the_raw_body() -> None:
    # printf '{"id":1}' | openssl dgst -sha256 -hmac secret -binary | base64
    assert sign(b'{"id":1}', "secret") == "A971iWIMgT8Zj9A9eWfikrFj7wQ16/Qwcc4OlRl2PLc="


def test_valid_delivery_gives_its_envelope(fake: FakeWooCommerce,
                                           adapter: WooCommerceAdapter) -> None:
    order = fake.data.add_order(email="a@example.org", total="12.00")
    headers, body = fake.delivery("order.created", order, delivery_id="abc123")
    env = adapter.verify_webhook(headers, body, SECRET)
    assert env.topic == "order.created" and not env.is_ping
    assert env.shop_domain == fake.url
    assert env.delivery_id.startswith("abc123:") and env.raw_body == body
    (rec,) = adapter.parse_webhook(env)
    assert isinstance(rec, OrderRecord) and rec.total == Decimal("12.00")


def test_header_names_are_case_insensitive(fake: FakeWooCommerce,
                                           adapter: WooCommerceAdapter) -> None:
    headers, body = fake.delivery("customer.updated", {"id": 3, "email": "c@example.org"})
    env = adapter.verify_webhook({k.lower(): v for k, v in headers.items()}, body, SECRET)
    assert env.topic == "customer.updated"


def test_same_delivery_id_different_events_do_not_collide(
        fake: FakeWooCommerce, adapter: WooCommerceAdapter) -> None:
    # WooCommerce derives the id from webhook id + current second
    h1, b1 = fake.delivery("order.updated", {"id": 1}, delivery_id="same")
    h2, b2 = fake.delivery("order.updated", {"id": 2}, delivery_id="same")
    e1, e2 = adapter.verify_webhook(h1, b1, SECRET), adapter.verify_webhook(h2, b2, SECRET)
    assert e1.delivery_id != e2.delivery_id
    assert adapter.verify_webhook(h1, b1, SECRET).delivery_id == e1.delivery_id


def test_bad_signature_is_rejected_with_401(fake: FakeWooCommerce,
                                            adapter: WooCommerceAdapter) -> None:
    headers, body = fake.delivery("order.created", {"id": 1}, secret="other-secret")
    with pytest.raises(WebhookRejected) as info:
        adapter.verify_webhook(headers, body, SECRET)
    assert info.value.status == 401


def test_tampered_body_is_rejected(fake: FakeWooCommerce, adapter: WooCommerceAdapter) -> None:
    headers, body = fake.delivery("order.created", {"id": 1, "total": "1.00"})
    with pytest.raises(WebhookRejected):
        adapter.verify_webhook(headers, body.replace(b"1.00", b"9.00"), SECRET)


def test_unsigned_creation_ping_is_a_ping(fake: FakeWooCommerce,
                                          adapter: WooCommerceAdapter) -> None:
    headers, body = fake.ping(webhook_id=42)
    env = adapter.verify_webhook(headers, body, SECRET)
    assert env.is_ping and env.topic == "ping" and env.delivery_id == "ping:42"
    assert adapter.parse_webhook(env) == []


@pytest.mark.parametrize("body", [b"webhook_id=42&x=1", b'{"id": 1}', b"webhook_id=abc", b""])
def test_anything_else_unsigned_is_rejected(body: bytes, adapter: WooCommerceAdapter) -> None:
    with pytest.raises(WebhookRejected) as info:
        adapter.verify_webhook({"Content-Type": "application/json"}, body, SECRET)
    assert info.value.status == 401


def test_ping_shape_with_a_topic_header_is_not_a_ping(adapter: WooCommerceAdapter) -> None:
    with pytest.raises(WebhookRejected):
        adapter.verify_webhook({"X-WC-Webhook-Topic": "order.created"}, b"webhook_id=1", SECRET)


def test_unknown_topic_is_accepted_and_ignored(fake: FakeWooCommerce,
                                               adapter: WooCommerceAdapter) -> None:
    headers, body = fake.delivery("product.updated", {"id": 5, "name": "Tee"})
    assert adapter.parse_webhook(adapter.verify_webhook(headers, body, SECRET)) == []


def test_each_topic_becomes_its_record(fake: FakeWooCommerce,
                                       adapter: WooCommerceAdapter) -> None:
    order = fake.data.add_order(email="a@example.org", total="30.00")
    fake.data.advance(days=1)
    fake.data.refund(order["id"], "5.00")
    customer = fake.data.add_customer("k@example.org", "Kim", "Lee")

    def parse(topic: str, payload: dict) -> list:
        headers, body = fake.delivery(topic, payload)
        return adapter.parse_webhook(adapter.verify_webhook(headers, body, SECRET))

    for topic in ("order.created", "order.updated", "order.restored"):
        (rec,) = parse(topic, order)
        assert isinstance(rec, OrderRecord) and rec.platform_id == str(order["id"])
        assert rec.refunds[0].amount == Decimal("5.00")
        assert rec.refunds[0].created_at == rec.updated_at  # no refund date in payloads
    assert parse("order.deleted", {"id": order["id"]}) == [OrderDeleted(str(order["id"]))]
    for topic in ("customer.created", "customer.updated"):
        (rec,) = parse(topic, customer)
        assert rec == CustomerRecord(platform_id=str(customer["id"]), email="k@example.org",
                                     created_at=rec.created_at, updated_at=rec.updated_at,
                                     first_name="Kim", last_name="Lee")
    assert parse("customer.deleted", {"id": 7}) == [CustomerDeleted("7")]


def test_signed_non_json_body_is_an_invalid_record(fake: FakeWooCommerce,
                                                   adapter: WooCommerceAdapter) -> None:
    from stammkunde.core.errors import InvalidRecord

    headers, _ = fake.delivery("order.updated", {})
    body = b"not json"
    headers["X-WC-Webhook-Signature"] = sign(body, SECRET)
    env = adapter.verify_webhook(headers, body, SECRET)
    with pytest.raises(InvalidRecord):
        adapter.parse_webhook(env)


def test_shop_is_named_by_the_source_header(fake: FakeWooCommerce,
                                            adapter: WooCommerceAdapter) -> None:
    headers, _ = fake.delivery("order.updated", {"id": 1})
    assert adapter.shop_domain_from_headers(headers) == fake.url  # what Shop.domain holds
    assert adapter.shop_domain_from_headers({}) is None


def test_ping_is_recognised_without_any_secret(fake: FakeWooCommerce,
                                               adapter: WooCommerceAdapter) -> None:
    headers, body = fake.ping()
    assert adapter.verify_webhook(headers, body, "").is_ping
    signed_headers, signed_body = fake.delivery("order.updated", {"id": 1})
    with pytest.raises(WebhookRejected):
        adapter.verify_webhook(signed_headers, signed_body, "")


def test_topic_contradicting_resource_and_event_is_refused(
        fake: FakeWooCommerce, adapter: WooCommerceAdapter) -> None:
    # the signature covers the body only, so the topic header is checked against its siblings
    headers, body = fake.delivery("customer.deleted", {"id": 5})
    headers["X-WC-Webhook-Topic"] = "order.deleted"
    with pytest.raises(WebhookRejected) as info:
        adapter.verify_webhook(headers, body, SECRET)
    assert info.value.status == 400
