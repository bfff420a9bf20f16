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
        create_shop(s, "jon", "shopify", domain=DOMAIN, currency="USD",
                    credentials={"webhook_secret": "shop-secret"}, secret_key=SECRET_KEY)
    return app


def _usd_refund() -> bytes:
    return (PAYLOADS / "refunds_create.json").read_bytes().replace(b'"EUR"', b'"USD"')


def test_shopify_refund_before_its_order_through_the_receiver(shopify_app):
    client = shopify_app.test_client()
    refund = _usd_refund()
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


def _order(**changes) -> dict:
    order = json.loads((PAYLOADS / "orders_create.json").read_text())
    order.update(changes)
    return order


def _inbox(app) -> list[tuple[str, str, str | None]]:
    with app_context(app).sessions() as s:
        return [(r.delivery_id, r.status, r.error) for r in
                s.scalars(select(InboxDelivery).order_by(InboxDelivery.id))]


def test_shopify_order_in_the_buyers_currency_counts_in_shop_money(shopify_app):
    # A Canadian buyer paid 547.00 CAD; Shopify gives the shop's money (403.00 USD) next to it,
    # and a refund paid back in CAD is converted at the order's own rate (403 / 547).
    order = _order(id=7001, presentment_currency="CAD", total_price_set={
        "shop_money": {"amount": "403.00", "currency_code": "USD"},
        "presentment_money": {"amount": "547.00", "currency_code": "CAD"}},
        refunds=[{"id": 55, "created_at": "2024-03-06T10:00:00-05:00", "transactions": [
            {"kind": "refund", "status": "success", "amount": "54.70", "currency": "CAD"}]}])
    client = shopify_app.test_client()
    assert shopify_post(client, json.dumps(order).encode(), "orders/create", "evt-cad",
                        "shop-secret").json == {"status": "stored"}
    with app_context(shopify_app).sessions() as s:
        stored = s.scalar(select(Order).where(Order.platform_id == "7001"))
        assert (stored.total, stored.currency) == (Decimal("403.00"), "USD")
        # 54.70 × 403 / 547 = 40.30
        assert [r.amount for r in stored.refunds] == [Decimal("40.30")]
    assert _inbox(shopify_app) == [("evt-cad", "processed", None)]


def test_shopify_order_in_another_shop_currency_fails_visibly_and_replays(shopify_app):
    from stammkunde.webhooks.inbox import Processor

    client = shopify_app.test_client()
    body = (PAYLOADS / "orders_create.json").read_bytes().replace(b'"USD"', b'"EUR"')
    assert shopify_post(client, body, "orders/create", "evt-eur", "shop-secret").json == {
        "status": "stored"}
    (row,) = _inbox(shopify_app)
    assert row[:2] == ("evt-eur", "failed")
    assert row[2] == ("InvalidRecord: order '820982911946154508' is in EUR, not in the shop's "
                      "currency USD")
    refund = (PAYLOADS / "refunds_create.json").read_bytes()  # transactions in EUR
    shopify_post(client, refund, "refunds/create", "evt-eur-refund", "shop-secret")
    assert _inbox(shopify_app)[1] == (
        "evt-eur-refund", "failed",
        "InvalidRecord: refund '929361464' of order '450789469' is in EUR, not in the shop's "
        "currency USD")
    from stammkunde.core.store import get_shop

    with app_context(shopify_app).sessions() as s, s.begin():
        assert s.scalar(select(func.count()).select_from(Order)) == 0
        assert s.scalar(select(func.count()).select_from(PendingRefund)) == 0
        # The merchant corrects the shop's currency; the kept deliveries replay.
        get_shop(s, "jon").currency = "EUR"
    ctx = app_context(shopify_app)
    result = Processor(ctx.sessions, ctx.plugins, ctx.settings.home / "exports").replay(
        all_failed=True)
    assert len(result.processed) == 2
    with app_context(shopify_app).sessions() as s:
        stored = s.scalar(select(Order).where(Order.platform_id == "820982911946154508"))
        assert (stored.total, stored.currency) == (Decimal("403.00"), "EUR")
