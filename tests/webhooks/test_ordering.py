"""Correct under reordering and duplication, through the receiver, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from decimal import Decimal

from _receiver_helpers import post
from sqlalchemy import func, select

from stammkunde.app.web import app_context
from stammkunde.core.inbox_models import InboxDelivery, OrderTombstone, PendingRefund
from stammkunde.core.models import Order
from tests.testshop import TRIGGERED, order_body


def order(app, pid):
    with app_context(app).sessions() as s:
        return s.scalar(select(Order).where(Order.platform_id == pid))


def count(app, model):
    with app_context(app).sessions() as s:
        return s.scalar(select(func.count()).select_from(model))


def statuses(app):
    with app_context(app).sessions() as s:
        return [r.status for r in s.scalars(select(InboxDelivery).order_by(InboxDelivery.id))]


def test_older_version_never_overwrites_newer(make_app, db_url):
    app = make_app(db_url)
    client = app.test_client()
    newer = order_body("1001", created_at="2024-05-01T09:00:00Z",
                       updated_at="2024-05-01T12:00:00Z", total="30.00")
    older = order_body("1001", created_at="2024-05-01T09:00:00Z",
                       updated_at="2024-05-01T10:00:00Z", total="20.00")
    assert post(client, newer, topic="orders/updated", delivery_id="v2").status_code == 200
    assert post(client, older, topic="orders/create", delivery_id="v1").status_code == 200
    stored = order(app, "1001")
    assert stored.total == Decimal("30.00")
    assert stored.updated_at == datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert statuses(app) == ["processed", "processed"]


def test_refund_before_its_order_is_attached_when_the_order_arrives(make_app, db_url):
    app = make_app(db_url)
    client = app.test_client()
    refund = json.dumps({"id": "r1", "order_id": "1001", "amount": "5.00",
                         "created_at": "2024-05-02T08:00:00Z"}).encode()
    assert post(client, refund, topic="refunds/create", delivery_id="r1").status_code == 200
    assert count(app, PendingRefund) == 1
    created = order_body("1001", updated_at="2024-05-01T09:00:00Z", total="40.00")
    post(client, created, topic="orders/create", delivery_id="c1")
    assert [(r.platform_id, r.amount) for r in order(app, "1001").refunds] == [
        ("r1", Decimal("5.00"))]
    assert count(app, PendingRefund) == 0
    # the same refund again (redelivered under a new id) is not added twice
    post(client, refund, topic="refunds/create", delivery_id="r1-again")
    # a newer version that lists the refund keeps one; a newer one without it keeps it too
    listed = order_body("1001", updated_at="2024-05-02T08:00:01Z", total="40.00",
                        refunds=[{"id": "r1", "amount": "5.00",
                                  "created_at": "2024-05-02T08:00:00Z"}])
    post(client, listed, topic="orders/updated", delivery_id="u1")
    silent = order_body("1001", updated_at="2024-05-02T09:00:00Z", total="40.00")
    post(client, silent, topic="orders/updated", delivery_id="u2")
    assert [(r.platform_id, r.amount) for r in order(app, "1001").refunds] == [
        ("r1", Decimal("5.00"))]
    assert statuses(app) == ["processed"] * 5


def test_delete_before_create_keeps_the_order_deleted(make_app, db_url):
    app = make_app(db_url)
    client = app.test_client()
    deleted = json.dumps({"id": "1001"}).encode()
    post(client, deleted, topic="orders/delete", delivery_id="del",
         headers={TRIGGERED: "2024-05-03T00:00:00Z"})
    assert count(app, OrderTombstone) == 1
    post(client, order_body("1001", updated_at="2024-05-01T09:00:00Z"), delivery_id="c1")
    assert order(app, "1001").deleted_at == datetime(2024, 5, 3, tzinfo=UTC)
    assert count(app, OrderTombstone) == 0
    # a late update older than the deletion does not bring it back
    post(client, order_body("1001", updated_at="2024-05-02T09:00:00Z", total="11.00"),
         topic="orders/updated", delivery_id="u1")
    assert order(app, "1001").deleted_at == datetime(2024, 5, 3, tzinfo=UTC)


def test_delete_after_create_marks_the_order_deleted(make_app, db_url):
    app = make_app(db_url)
    client = app.test_client()
    post(client, order_body("7", updated_at="2024-05-01T09:00:00Z"), delivery_id="c7")
    post(client, json.dumps({"id": "7"}).encode(), topic="orders/delete", delivery_id="d7",
         headers={TRIGGERED: "2024-05-04T00:00:00Z"})
    assert order(app, "7").deleted_at == datetime(2024, 5, 4, tzinfo=UTC)


def test_cancellation_is_not_undone_by_an_older_update(make_app, db_url):
    app = make_app(db_url)
    client = app.test_client()
    cancelled = order_body("9", created_at="2024-05-01T09:00:00Z",
                           updated_at="2024-05-01T12:00:00Z", status="cancelled",
                           cancelled_at="2024-05-01T12:00:00Z")
    paid = order_body("9", created_at="2024-05-01T09:00:00Z", updated_at="2024-05-01T10:00:00Z")
    post(client, cancelled, topic="orders/cancelled", delivery_id="x")
    post(client, paid, topic="orders/updated", delivery_id="y")
    stored = order(app, "9")
    assert stored.status == "cancelled"
    assert stored.cancelled_ts == int(datetime(2024, 5, 1, 12, tzinfo=UTC).timestamp())


def test_duplicate_storm_counts_each_order_once(make_app, db_url):
    """24 orders in two versions each; every delivery sent 3 times, shuffled."""
    app = make_app(db_url)
    client = app.test_client()
    deliveries = []
    for n in range(24):
        pid = str(5000 + n)
        for version, hour in ((1, 10), (2, 11)):
            total = f"{n + version}.00"  # v1: n+1, v2: n+2
            body = order_body(pid, created_at="2024-06-01T09:00:00Z",
                              updated_at=f"2024-06-01T{hour}:00:00Z", total=total,
                              customer_id=f"c{n % 7}")
            deliveries.append((f"{pid}-v{version}", body))
    storm = deliveries * 3
    random.Random(7).shuffle(storm)
    answers = [post(client, body, topic="orders/updated", delivery_id=did).json["status"]
               for did, body in storm]
    assert answers.count("stored") == 48
    assert answers.count("duplicate") == 96
    assert count(app, Order) == 24
    assert count(app, InboxDelivery) == 48
    with app_context(app).sessions() as s:
        total = s.scalar(select(func.sum(Order.total)))
    # newest versions win: sum of (n + 2) for n in 0..23 = 276 + 48 = 324
    assert total == Decimal("324.00")
