"""Working the inbox off at scale: a bad delivery fails alone inside its batch, the newest version
of an order wins within one batch, concurrent workers claim different deliveries (PostgreSQL:
SKIP LOCKED), planner statistics are refreshed while a backlog is worked off, the order locks of
a batch are taken in one sorted sweep, and acknowledgements survive a dropped connection."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from _receiver_helpers import post
from sqlalchemy import create_engine, select, text

from stammkunde.app.web import app_context
from stammkunde.core.inbox_models import InboxDelivery
from stammkunde.core.models import Order
from stammkunde.webhooks import inbox as inbox_module
from stammkunde.webhooks.inbox import Processor, lock_keys
from stammkunde.webhooks.receiver import EXTENSION
from tests.testshop import order_body


def _store(app, deliveries):
    client = app.test_client()
    for delivery_id, body in deliveries:
        assert post(client, body, delivery_id=delivery_id).json["status"] == "stored"


def _inbox(app):
    with app_context(app).sessions() as s:
        return [(r.delivery_id, r.status, r.attempts, r.error is not None)
                for r in s.scalars(select(InboxDelivery).order_by(InboxDelivery.id))]


def _totals(app):
    with app_context(app).sessions() as s:
        return {o.platform_id: o.total for o in s.scalars(select(Order))}


def _processor(app) -> Processor:
    return app.extensions[EXTENSION].processor()


def test_bad_delivery_fails_alone_without_splitting_the_batch(make_app, db_url, monkeypatch):
    app = make_app(db_url, WEBHOOK_PROCESSING="worker")
    _store(app, [
        ("a", order_body("1", updated_at="2024-05-01T10:00:00Z", total="10.00")),
        ("b", b'{"id": "2", "total": "not money"}'),
        ("c", order_body("3", updated_at="2024-05-01T10:00:00Z", total="30.00")),
    ])
    processor = _processor(app)

    def one_by_one(inbox_id: int) -> str:
        raise AssertionError("the batch was split into single deliveries")

    monkeypatch.setattr(processor, "process", one_by_one)
    result = processor.process_pending()
    assert (result.processed, result.failed) == ([1, 3], [2])
    assert _inbox(app) == [("a", "processed", 1, False), ("b", "failed", 1, True),
                           ("c", "processed", 1, False)]
    assert _totals(app) == {"1": Decimal("10.00"), "3": Decimal("30.00")}
    monkeypatch.undo()
    assert _processor(app).replay([2]).failed == [2]  # still failing, replayable, counted
    assert _inbox(app)[1] == ("b", "failed", 2, True)


def test_newest_version_wins_within_one_batch_in_either_order(make_app, db_url):
    app = make_app(db_url, WEBHOOK_PROCESSING="worker")
    _store(app, [
        ("n1", order_body("1", updated_at="2024-05-01T12:00:00Z", total="12.00")),  # newer
        ("o1", order_body("1", updated_at="2024-05-01T10:00:00Z", total="10.00")),  # first
        ("o2", order_body("2", updated_at="2024-05-01T10:00:00Z", total="20.00")),
        ("n2", order_body("2", updated_at="2024-05-01T12:00:00Z", total="22.00")),
    ])
    assert len(_processor(app).process_pending().processed) == 4
    assert _totals(app) == {"1": Decimal("12.00"), "2": Decimal("22.00")}


@pytest.mark.postgres
def test_concurrent_workers_claim_different_deliveries(make_app, pg_url):
    app = make_app(pg_url, WEBHOOK_PROCESSING="worker")
    _store(app, [(f"d{i}", order_body(str(i), updated_at="2024-05-01T10:00:00Z"))
                 for i in range(1, 7)])
    other = create_engine(pg_url)
    try:
        with other.connect() as conn, conn.begin():
            # Another worker is busy with the three oldest deliveries (its claim is held).
            held = conn.execute(text("SELECT id FROM webhook_inbox ORDER BY id LIMIT 3 "
                                     "FOR UPDATE")).scalars().all()
            assert held == [1, 2, 3]
            outcome: dict[str, object] = {}
            worker = threading.Thread(target=lambda: outcome.update(
                result=_processor(app).process_pending()))
            worker.start()
            worker.join(20)
            assert not worker.is_alive(), "a worker waited for another worker's claim"
            assert outcome["result"].processed == [4, 5, 6]  # type: ignore[attr-defined]
        assert _processor(app).process_pending().processed == [1, 2, 3]
    finally:
        other.dispose()
    assert [status for _, status, _, _ in _inbox(app)] == ["processed"] * 6
    assert sorted(_totals(app)) == ["1", "2", "3", "4", "5", "6"]


@pytest.mark.postgres
def test_statistics_are_refreshed_while_a_backlog_is_worked_off(make_app, pg_url, monkeypatch):
    monkeypatch.setattr(inbox_module, "ANALYZE_FIRST", 2)
    app = make_app(pg_url, WEBHOOK_PROCESSING="worker")
    _store(app, [(f"d{i}", order_body(str(i), updated_at="2024-05-01T10:00:00Z"))
                 for i in range(1, 4)])
    processor = Processor(app_context(app).sessions, app_context(app).plugins,
                          app_context(app).settings.home / "exports")

    def analysed() -> bool:
        with app_context(app).sessions() as s:
            return s.scalar(text("SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables "
                                 "WHERE relname = 'orders'"))

    assert processor.refresh_statistics(1) is False
    assert not analysed()
    assert len(processor.process_pending().processed) == 3
    assert analysed()


def test_lock_keys_are_sorted_and_one_per_order():
    keys = lock_keys(1, ["b", "a", "b", "c"])
    assert keys == sorted(keys) and len(keys) == 3
    assert lock_keys(2, ["a"])[0] not in keys  # another shop's order: another lock


@pytest.mark.postgres
def test_acknowledgement_survives_a_dropped_connection(make_app, pg_url):
    app = make_app(pg_url, WEBHOOK_PROCESSING="worker")
    client = app.test_client()
    body = order_body("1", updated_at="2024-05-01T10:00:00Z")
    assert post(client, body, delivery_id="d1").json["status"] == "stored"
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:  # the server drops every other connection (a restart)
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
    finally:
        admin.dispose()
    body2 = order_body("2", updated_at="2024-05-01T10:00:00Z")
    assert post(client, body2, delivery_id="d2").json["status"] == "stored"
    assert post(client, body2, delivery_id="d2").json["status"] == "duplicate"
    assert [d for d, _, _, _ in _inbox(app)] == ["d1", "d2"]
