"""The receiver's order of work: size, signature, inbox, commit, answer; then processing."""

from __future__ import annotations

import json
from decimal import Decimal

from _receiver_helpers import DOMAIN, SHOP_SECRET, post
from sqlalchemy import func, select

from stammkunde.app.web import app_context
from stammkunde.core.inbox_models import InboxDelivery
from stammkunde.core.models import Order
from tests.testshop import DOMAIN as DOMAIN_HEADER
from tests.testshop import order_body, signed_headers


def inbox(app):
    with app_context(app).sessions() as s:
        return s.scalars(select(InboxDelivery).order_by(InboxDelivery.id)).all()


def orders(app):
    with app_context(app).sessions() as s:
        return {o.platform_id: o for o in s.scalars(select(Order))}


def test_signed_delivery_is_stored_acknowledged_and_processed(app):
    client = app.test_client()
    body = order_body("1001", updated_at="2024-05-01T10:00:00Z", total="25.50",
                      email="anna@example.com")
    resp = post(client, body, delivery_id="evt-1")
    assert resp.status_code == 200
    assert resp.json == {"status": "stored"}
    [row] = inbox(app)
    assert (row.platform, row.shop_domain, row.delivery_id, row.topic, row.status) == (
        "testshop", DOMAIN, "evt-1", "orders/create", "processed")
    assert row.body is None  # dropped once processed: the inbox keeps no personal data
    assert row.attempts == 1
    assert orders(app)["1001"].total == Decimal("25.50")


def test_duplicate_delivery_is_acknowledged_and_stored_once(app):
    client = app.test_client()
    body = order_body("1001", updated_at="2024-05-01T10:00:00Z")
    assert post(client, body, delivery_id="evt-1").json == {"status": "stored"}
    resp = post(client, body, delivery_id="evt-1")
    assert resp.status_code == 200
    assert resp.json == {"status": "duplicate"}
    assert len(inbox(app)) == 1
    assert len(orders(app)) == 1


def test_wrong_signature_is_401_and_stores_nothing(app):
    client = app.test_client()
    body = order_body("1001", updated_at="2024-05-01T10:00:00Z")
    resp = post(client, body, secret="not-the-secret")
    assert resp.status_code == 401
    headers = signed_headers(body, SHOP_SECRET, topic="orders/create", shop_domain=DOMAIN,
                             delivery_id="x")
    tampered = client.post("/webhooks/testshop", data=body + b" ", headers=headers)
    assert tampered.status_code == 401
    unsigned = client.post("/webhooks/testshop", data=body, headers={DOMAIN_HEADER: DOMAIN})
    assert unsigned.status_code == 401
    assert inbox(app) == [] and orders(app) == {}


def test_unknown_shop_without_app_secret_is_401(app):
    body = order_body("1001", updated_at="2024-05-01T10:00:00Z")
    resp = post(app.test_client(), body, domain="other.example")
    assert resp.status_code == 401
    assert resp.json["reason"] == "no webhook secret for this shop"
    assert inbox(app) == []


def test_over_the_size_limit_is_413_before_anything_else(make_app, sqlite_url):
    app = make_app(sqlite_url, WEBHOOK_MAX_BYTES=100)
    client = app.test_client()
    body = b"{" + b" " * 100 + b"}"  # 102 bytes, correctly signed
    assert post(client, body).status_code == 413
    assert post(client, b"{" + b" " * 97 + b"}", topic="x/ignored").status_code == 200  # 99
    assert [r.topic for r in inbox(app)] == ["x/ignored"]


def test_unknown_platform_is_404(app):
    resp = app.test_client().post("/webhooks/nosuch", data=b"{}")
    assert resp.status_code == 404
    resp = app.test_client().post("/webhooks/csv", data=b"{}")  # a platform without webhooks
    assert resp.status_code == 404


def test_ping_is_answered_200_and_not_stored(app):
    resp = app.test_client().post("/webhooks/testshop", data=b"webhook_id=17",
                                  content_type="application/x-www-form-urlencoded")
    assert resp.status_code == 200
    assert resp.json == {"status": "ping"}
    assert inbox(app) == []


def test_app_wide_secret_from_the_environment(make_app, sqlite_url):
    app = make_app(sqlite_url, WEBHOOK_ENV={"STAMMKUNDE_TESTSHOP_SECRET": "app-secret"})
    client = app.test_client()
    body = order_body("1001", updated_at="2024-05-01T10:00:00Z")
    # the shop's own secret and the app-wide one are both accepted
    assert post(client, body, delivery_id="a").status_code == 200
    assert post(client, body, delivery_id="b", secret="app-secret").status_code == 200
    # a shop we do not know yet: stored (never lose an order), fails until the shop exists
    resp = post(client, body, delivery_id="c", secret="app-secret", domain="New.Example")
    assert resp.status_code == 200
    row = inbox(app)[-1]
    assert (row.shop_id, row.shop_domain, row.status) == (None, "new.example", "failed")
    assert row.error == ("ProcessingError: no testshop shop with domain 'new.example'; add it "
                         "(`stammkunde shops add`) and replay")
    assert row.body == body  # kept for the replay


def test_payload_that_cannot_be_parsed_is_failed_without_personal_data(app):
    client = app.test_client()
    body = json.dumps({"id": "1001", "created_at": "anna@example.com", "updated_at": "x",
                       "total": "1", "customer": {"email": "anna@example.com"}}).encode()
    resp = post(client, body, delivery_id="bad")
    assert resp.status_code == 200
    [row] = inbox(app)
    assert row.status == "failed"
    assert row.error == "InvalidRecord: created_at is not an ISO 8601 time"
    assert "anna" not in row.error


def test_unexpected_exception_keeps_only_type_and_place(app):
    client = app.test_client()
    body = order_body("1001", updated_at="2024-05-01T10:00:00Z",
                      lines=[{"quantity": "Anna Schmidt", "price": "1"}])
    post(client, body, delivery_id="bad")
    [row] = inbox(app)
    assert row.status == "failed"
    assert row.error.startswith("ValueError in testshop.py:")
    assert row.error.endswith("(message withheld: it may quote the payload)")
    assert "Anna" not in row.error


def test_headers_and_readiness_endpoints(app):
    client = app.test_client()
    assert client.get("/healthz").json == {"status": "ok"}
    assert client.get("/readyz").json == {"status": "ok", "database": "ok",
                                          "migrations": "current",
                                          "inbox_oldest_waiting_seconds": None}


def test_metrics_count_deliveries_and_backlog(app):
    client = app.test_client()
    before = client.get("/metrics").get_data(as_text=True)
    post(client, order_body("1", updated_at="2024-05-01T10:00:00Z"), delivery_id="m1")
    post(client, order_body("1", updated_at="2024-05-01T10:00:00Z"), delivery_id="m1")
    post(client, b"{}", secret="wrong")
    after = client.get("/metrics").get_data(as_text=True)

    def value(text, line_start):
        for line in text.splitlines():
            if line.startswith(line_start):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    stored = 'stammkunde_webhook_deliveries_total{outcome="stored",platform="testshop",' \
             'topic="orders/create"}'
    dup = stored.replace("stored", "duplicate")
    rejected = 'stammkunde_webhook_deliveries_total{outcome="rejected",platform="testshop",' \
               'topic="-"}'
    assert value(after, stored) - value(before, stored) == 1
    assert value(after, dup) - value(before, dup) == 1
    assert value(after, rejected) - value(before, rejected) == 1
    assert 'stammkunde_webhook_inbox_backlog{status="received"} 0.0' in after
    assert "stammkunde_webhook_ack_seconds_bucket" in after
    assert "stammkunde_webhook_processing_seconds_count" in after
    with app_context(app).sessions() as s:
        assert s.scalar(select(func.count(InboxDelivery.id))) == 1
