"""Privacy and lifecycle topics through the receiver; logs stay free of personal data."""

from __future__ import annotations

import json
import logging

from _receiver_helpers import post
from sqlalchemy import select

from stammkunde.app.web import app_context
from stammkunde.core.inbox_models import AuditLog, InboxDelivery
from stammkunde.core.models import Customer, Shop
from stammkunde.webhooks.logs import JsonFormatter
from tests.testshop import order_body


def test_privacy_topics_end_to_end_with_clean_logs(app, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="stammkunde")
    client = app.test_client()
    post(client, order_body("1", updated_at="2024-05-01T10:00:00Z", customer_id="c1",
                            email="anna.schmidt@example.com"), delivery_id="o1")
    who = {"customer": {"id": "c1", "email": "anna.schmidt@example.com"},
           "data_request": {"id": 77}}
    assert post(client, json.dumps(who).encode(), topic="customers/data_request",
                delivery_id="p1").status_code == 200
    [export] = (tmp_path / "home" / "exports" / "one").glob("data-request-*.json")
    data = json.loads(export.read_text())
    assert data["request_id"] == "77"
    assert [o["platform_id"] for o in data["customers"][0]["orders"]] == ["1"]

    post(client, json.dumps({"customer": {"id": "c1"}, "orders_to_redact": ["1"]}).encode(),
         topic="customers/redact", delivery_id="p2")
    with app_context(app).sessions() as s:
        c1 = s.scalar(select(Customer).where(Customer.platform_id == "c1"))
        assert c1.email is None and c1.redacted_at is not None

    post(client, b"{}", topic="app/uninstalled", delivery_id="p3")
    with app_context(app).sessions() as s:
        shop = s.scalar(select(Shop))
        assert shop.uninstalled_at is not None and shop.credentials is None

    # credentials are gone, so the shop/redact (48 h later) needs the app-wide secret
    app.extensions["stammkunde.webhooks"].env = {"STAMMKUNDE_TESTSHOP_SECRET": "app"}
    assert post(client, b"{}", topic="shop/redact", delivery_id="p4",
                secret="app").status_code == 200
    with app_context(app).sessions() as s:
        assert s.scalars(select(Shop)).all() == []
        actions = [(a.action, a.reference) for a in s.scalars(select(AuditLog)
                                                              .order_by(AuditLog.id))]
        [redact_row] = s.scalars(select(InboxDelivery)).all()
    assert actions == [("customer_data_request", "testshop:p1"),
                       ("customer_redact", "testshop:p2"),
                       ("app_uninstalled", "testshop:p3"),
                       ("shop_redact", "testshop:p4")]
    assert (redact_row.delivery_id, redact_row.status, redact_row.body) == (
        "p4", "processed", None)

    lines = [JsonFormatter().format(r) for r in caplog.records]
    assert any('"outcome": "stored"' in line for line in lines)
    assert any('"action": "customer_redact"' in line for line in lines)
    text = "\n".join(lines).lower()
    assert "anna" not in text and "schmidt" not in text and "@" not in text
