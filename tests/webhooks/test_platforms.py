"""The receiver with the real Shopify and WooCommerce adapters (payload shapes from their tests)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from decimal import Decimal
from pathlib import Path

import pytest
from _receiver_helpers import SECRET_KEY
from sqlalchemy import func, select

from stammkunde.app.web import app_context
from stammkunde.core.inbox_models import InboxDelivery, PendingRefund
from stammkunde.core.models import Order
from stammkunde.core.shops import create_shop

PAYLOADS = Path(__file__).resolve().parents[1] / "plugins" / "shopify" / "payloads"
DOMAIN = "jon-shop.myshopify.com"


def shopify_post(client, body: bytes, topic: str, event_id: str, secret: str):
    signature = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest())
    headers = {"X-Shopify-Hmac-Sha256": signature.decode(), "X-Shopify-Topic": topic,
               "X-Shopify-Shop-Domain": DOMAIN, "X-Shopify-Event-Id": event_id,
               "X-Shopify-Triggered-At": "2024-04-01T12:00:01Z",
               "Content-Type": "application/json"}
    return client.post("/webhooks/shopify", data=body, headers=headers, buffered=True)


@pytest.fixture
def shopify_app(make_app, sqlite_url):
    app = make_app(sqlite_url, shop=False,
                   WEBHOOK_ENV={"STAMMKUNDE_SHOPIFY_API_SECRET": "app-secret"})
    with app_context(app).sessions() as s, s.begin():
        create_shop(s, "jon", "shopify", domain=DOMAIN,
                    credentials={"webhook_secret": "shop-secret"}, secret_key=SECRET_KEY)
    return app


def test_shopify_refund_before_its_order_through_the_receiver(shopify_app):
    client = shopify_app.test_client()
    refund = (PAYLOADS / "refunds_create.json").read_bytes()
    resp = shopify_post(client, refund, "refunds/create", "evt-refund", "shop-secret")
    assert resp.status_code == 200 and resp.json == {"status": "stored"}
    with app_context(shopify_app).sessions() as s:
        assert s.scalar(select(func.count()).select_from(PendingRefund)) == 1

    order = json.loads((PAYLOADS / "orders_create.json").read_text())
    order["id"] = 450789469  # the order the refund belongs to
    body = json.dumps(order).encode()
    # signed with the public app's secret (environment) instead of the shop's own
    assert shopify_post(client, body, "orders/create", "evt-order", "app-secret").json == {
        "status": "stored"}
    assert shopify_post(client, body, "orders/create", "evt-order", "app-secret").json == {
        "status": "duplicate"}
    assert shopify_post(client, body, "orders/create", "evt-x", "wrong").status_code == 401
    with app_context(shopify_app).sessions() as s:
        stored = s.scalar(select(Order).where(Order.platform_id == "450789469"))
        # 403.00 total; of the refund's two transactions only the successful 30.00 counts
        assert stored.total == Decimal("403.00")
        assert [(r.platform_id, r.amount) for r in stored.refunds] == [
            ("929361464", Decimal("30.00"))]
        assert s.scalar(select(func.count()).select_from(PendingRefund)) == 0
        rows = s.scalars(select(InboxDelivery).order_by(InboxDelivery.id)).all()
        assert [(r.delivery_id, r.status) for r in rows] == [
            ("evt-refund", "processed"), ("evt-order", "processed")]


def test_woocommerce_creation_ping_is_answered_without_a_shop(app):
    resp = app.test_client().post("/webhooks/woocommerce", data=b"webhook_id=42",
                                  content_type="application/x-www-form-urlencoded")
    assert resp.status_code == 200
    assert resp.json == {"status": "ping"}
    with app_context(app).sessions() as s:
        assert s.scalar(select(func.count()).select_from(InboxDelivery)) == 0
