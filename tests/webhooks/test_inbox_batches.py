"""The inbox worked off in batches: several deliveries per transaction, same results as one by
one; the age of the oldest waiting delivery in /readyz and /metrics; the server's sweeper."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from decimal import Decimal

from _receiver_helpers import post
from sqlalchemy import func, select, update

from stammkunde.app.web import app_context, start_inbox_sweeper
from stammkunde.core.inbox_models import InboxDelivery
from stammkunde.core.models import Customer, Order, Person
from stammkunde.core.timeutil import now
from stammkunde.webhooks.receiver import EXTENSION
from tests.testshop import order_body


def rows(app):
    with app_context(app).sessions() as s:
        return [(r.delivery_id, r.status, r.body is None)
                for r in s.scalars(select(InboxDelivery).order_by(InboxDelivery.id))]


def orders(app):
    with app_context(app).sessions() as s:
        return {o.platform_id: (o.total, o.refunded, o.deleted_at is not None, o.person_id)
                for o in s.scalars(select(Order))}


def test_a_batch_stores_what_one_by_one_would_and_isolates_a_bad_delivery(make_app, db_url):
    app = make_app(db_url, WEBHOOK_PROCESSING="worker")
    client = app.test_client()
    deliveries = [
        ("d1", "orders/create", order_body("1", updated_at="2024-05-01T10:00:00Z",
                                           total="20.00", email="a@x.de")),
        ("d2", "refunds/create", json.dumps({"order_id": "2", "amount": "5.00", "id": "r1",
                                             "created_at": "2024-05-02T10:00:00Z"}).encode()),
        ("d3", "orders/updated", order_body("1", updated_at="2024-05-01T12:00:00Z",
                                            total="30.00", email="a@x.de")),
        ("d4", "orders/create", order_body("2", updated_at="2024-05-01T11:00:00Z",
                                           total="50.00", customer_id="c2")),
        ("d5", "orders/create", b'{"id": "3", "total": "x"}'),  # bad: fails alone
        ("d6", "orders/updated", order_body("1", updated_at="2024-05-01T11:00:00Z",
                                            total="25.00", email="a@x.de")),  # stale
        ("d7", "orders/create", order_body("4", updated_at="2024-05-03T11:00:00Z",
                                           total="7.00", customer_id=None, email="A@x.de")),
    ]
    for delivery_id, topic, body in deliveries:
        assert post(client, body, topic=topic, delivery_id=delivery_id).json["status"] == "stored"
    assert {status for _, status, _ in rows(app)} == {"received"}
    processor = app.extensions[EXTENSION].processor()
    result = processor.process_pending(batch=10)
    assert (sorted(result.processed), result.failed) == ([1, 2, 3, 4, 6, 7], [5])
    assert rows(app) == [("d1", "processed", True), ("d2", "processed", True),
                         ("d3", "processed", True), ("d4", "processed", True),
                         ("d5", "failed", False), ("d6", "processed", True),
                         ("d7", "processed", True)]
    stored = orders(app)
    assert {k: v[:3] for k, v in stored.items()} == {
        "1": (Decimal("30.00"), Decimal("0"), False),     # newest of three versions
        "2": (Decimal("50.00"), Decimal("5.00"), False),  # refund that came first attached
        "4": (Decimal("7.00"), Decimal("0"), False),
    }
    assert stored["1"][3] == stored["4"][3]  # account and guest with one e-mail: one person
    with app_context(app).sessions() as s:
        assert s.scalar(select(func.count()).select_from(Customer)) == 3
        assert s.scalar(select(func.count()).select_from(Person)) == 2
    assert processor.process_pending(batch=10).processed == []  # nothing left, nothing twice
    assert len(orders(app)) == 3


def test_oldest_waiting_delivery_in_readyz_and_metrics(make_app, sqlite_url):
    app = make_app(sqlite_url, WEBHOOK_PROCESSING="worker")
    client = app.test_client()
    assert client.get("/readyz").json["inbox_oldest_waiting_seconds"] is None
    assert "stammkunde_webhook_inbox_oldest_waiting_seconds 0.0" in client.get(
        "/metrics").get_data(as_text=True)
    post(client, order_body("1", updated_at="2024-05-01T10:00:00Z"), delivery_id="d1")
    with app_context(app).sessions() as s, s.begin():  # it arrived 2 minutes ago
        s.execute(update(InboxDelivery).values(received_at=now() - timedelta(minutes=2)))
    age = client.get("/readyz").json["inbox_oldest_waiting_seconds"]
    assert 120 <= age < 180
    metric = next(line for line in client.get("/metrics").get_data(as_text=True).splitlines()
                  if line.startswith("stammkunde_webhook_inbox_oldest_waiting_seconds "))
    assert 120 <= float(metric.split()[1]) < 180
    app.extensions[EXTENSION].processor().process_pending()
    assert client.get("/readyz").json["inbox_oldest_waiting_seconds"] is None


def test_server_sweeper_processes_only_leftovers_older_than_its_age(make_app, sqlite_url):
    app = make_app(sqlite_url, WEBHOOK_PROCESSING="worker", INBOX_SWEEP_AGE=0.5,
                   INBOX_SWEEP_INTERVAL=0.05)
    client = app.test_client()
    stop = start_inbox_sweeper(app)
    try:
        post(client, order_body("1", updated_at="2024-05-01T10:00:00Z"), delivery_id="d1")
        assert rows(app) == [("d1", "received", False)]  # younger than the sweep age
        deadline = time.monotonic() + 10
        while rows(app)[0][1] != "processed" and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
    assert rows(app) == [("d1", "processed", True)]
    assert list(orders(app)) == ["1"]
