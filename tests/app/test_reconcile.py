"""Reconciliation (scheduled incremental syncs) and the hourly webhook health check."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from stammkunde.app.reconcile import (
    check_webhooks,
    due_shops,
    health_metrics,
    interval,
    reconcile_due,
    webhook_health,
)
from stammkunde.core.job_models import Job, JobState
from stammkunde.core.models import Order
from stammkunde.core.shops import create_shop
from stammkunde.plugins.ingest import sync_shop
from stammkunde.plugins.manager import Plugins
from stammkunde.plugins.shopify import ShopifyAdapter
from stammkunde.plugins.woocommerce import WooCommerceAdapter
from stammkunde.plugins.woocommerce.adapter import WEBHOOK_TOPICS
from tests.fakes.shopify import FakeClock, FakeShopify
from tests.fakes.woocommerce import FakeWooCommerce

KEY = "test-secret-key"
AT = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
BASE = "https://sk.example.com"


def plugins_with(*adapters: object) -> Plugins:
    """A plugin manager whose platforms are these adapter instances (plus csv)."""
    from stammkunde.plugins import hookimpl

    class TestPlugin:
        @hookimpl
        def register_platforms(self, register):  # type: ignore[no-untyped-def]
            for a in adapters:
                register(a)

    manager = Plugins(load_entry_points=False)
    manager.platforms()
    for name in ("stammkunde.plugins.woocommerce", "stammkunde.plugins.shopify"):
        manager.pm.unregister(name=name)
    manager.register(TestPlugin(), name="reconcile-test")
    return manager


@pytest.fixture
def store() -> Iterator[FakeWooCommerce]:
    with FakeWooCommerce() as fake:
        yield fake


def add_woo_shop(sessions: sessionmaker[Session], store: FakeWooCommerce, name: str = "woo",
                 **settings: object) -> None:
    conn = store.connection(name)
    with sessions.begin() as s:
        create_shop(s, name, "woocommerce", domain=store.url, secret_key=KEY,
                    credentials={k: v.reveal() for k, v in conn.credentials.items()},
                    settings={**conn.options, **settings})


def add_job(sessions: sessionmaker[Session], shop: str, created: datetime,
            state: str = JobState.DONE) -> None:
    from stammkunde.core.store import get_shop

    with sessions.begin() as s:
        s.add(Job(id=f"{shop}-{created.timestamp():.0f}-{state}", kind="sync",
                  shop_id=get_shop(s, shop).id, state=state, created_at=created))


def test_the_interval_is_15_minutes_unless_the_shop_or_the_environment_says_otherwise() -> None:
    assert interval({}, {}) == timedelta(minutes=15)
    assert interval({}, {"STAMMKUNDE_RECONCILE_MINUTES": "5"}) == timedelta(minutes=5)
    assert interval({"reconcile_minutes": 60}, {"STAMMKUNDE_RECONCILE_MINUTES": "5"}) == \
        timedelta(minutes=60)
    assert interval({"reconcile_minutes": 0}, {}) is None


def test_due_are_the_api_shops_whose_last_sync_is_an_interval_old(sessions, store) -> None:
    plugins = plugins_with(WooCommerceAdapter(now=store.data.now))
    for name in ("never", "old", "recent", "running", "off"):
        add_woo_shop(sessions, store, name, **({"reconcile_minutes": 0} if name == "off" else {}))
    with sessions.begin() as s:
        create_shop(s, "file", "csv")               # imported from files: nothing to sync
    add_job(sessions, "old", AT - timedelta(minutes=15))
    add_job(sessions, "recent", AT - timedelta(minutes=14))
    add_job(sessions, "running", AT - timedelta(hours=2), JobState.RUNNING)
    with sessions() as s:
        assert due_shops(s, plugins, at=AT, env={}) == ["never", "old"]
        assert due_shops(s, plugins, at=AT, env={"STAMMKUNDE_RECONCILE_MINUTES": "10"}) == [
            "never", "old", "recent"]


def test_a_delivery_lost_to_an_outage_is_stored_by_the_next_reconciliation(sessions,
                                                                           store) -> None:
    adapter = WooCommerceAdapter(sleep=lambda s: None, now=store.data.now)
    plugins = plugins_with(adapter)
    add_woo_shop(sessions, store)
    store.data.add_order(email="a@example.org", total="10.00")
    store.data.advance(minutes=1)
    sync_shop(sessions, plugins, "woo", secret_key=KEY)
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Order)) == 1
    # the receiver was down: WooCommerce dropped this order's webhook and will not retry
    store.data.advance(minutes=3)
    store.data.add_order(email="b@example.org", total="20.00")
    store.data.advance(minutes=12)
    ran: list[str] = []

    def run_now(name: str) -> str:
        ran.append(name)
        sync_shop(sessions, plugins, name, secret_key=KEY)
        return name

    assert reconcile_due(sessions, plugins, run_now, env={}) == ["woo"]
    with sessions() as s:
        assert sorted(s.scalars(select(Order.total))) == [Decimal("10.00"), Decimal("20.00")]


def test_woocommerce_webhooks_switched_off_are_switched_on_and_missing_ones_recreated(
        sessions, store) -> None:
    adapter = WooCommerceAdapter(sleep=lambda s: None, now=store.data.now)
    plugins = plugins_with(adapter)
    add_woo_shop(sessions, store, webhook_base_url=BASE)
    adapter.subscribe_webhooks(store.connection("woo"), BASE)
    hooks = {h["topic"]: h for h in store.data.webhooks.values()}
    hooks["order.updated"]["status"] = "disabled"    # after failed deliveries
    hooks["customer.updated"]["status"] = "paused"   # by an admin
    del store.data.webhooks[hooks["order.created"]["id"]]

    (result,) = check_webhooks(sessions, plugins, None, secret_key=KEY, at=AT)
    assert (result.reenabled, result.recreated) == (
        ("order.updated", "customer.updated"), ("order.created",))
    by_topic = {h["topic"]: h["status"] for h in store.data.webhooks.values()}
    assert by_topic == dict.fromkeys(WEBHOOK_TOPICS, "active")
    assert len(store.data.webhooks) == len(WEBHOOK_TOPICS)
    with sessions() as s:
        health = webhook_health(s)
    assert health == {"woo": {"checked_at": "2026-12-02T12:00:00Z", "state": "repaired",
                              "repaired": 3, "message": "re-enabled 2: order.updated, "
                              "customer.updated; recreated 1: order.created"}}
    text = health_metrics(health, at=AT + timedelta(minutes=30))
    assert 'stammkunde_webhook_repairs{shop="woo"} 3' in text
    assert 'stammkunde_webhook_check_age_seconds{shop="woo"} 1800' in text
    # a second check finds everything active and changes nothing
    (again,) = check_webhooks(sessions, plugins, None, secret_key=KEY, at=AT + timedelta(hours=1))
    assert (again.reenabled, again.recreated, again.message) == ((), (), "all 7 subscriptions "
                                                                 "active")
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Job).where(Job.kind == "webhooks")) == 2


def test_missing_shopify_subscriptions_are_recreated(sessions) -> None:
    clock = FakeClock()
    adapter = ShopifyAdapter(sleep=clock.sleep, clock=clock)
    with FakeShopify(clock=clock) as fake:
        conn = fake.connection("berlin")
        with sessions.begin() as s:
            create_shop(s, "berlin", "shopify", domain=fake.domain, secret_key=KEY,
                        credentials={"access_token": fake.token},
                        settings={**conn.options, "webhook_base_url": BASE})
        adapter.subscribe_webhooks(conn, BASE)
        gone = [w for w in fake.data.webhooks.values() if w["topic"] == "ORDERS_UPDATED"]
        del fake.data.webhooks[gone[0]["id"]]
        (result,) = check_webhooks(sessions, plugins_with(adapter), None, secret_key=KEY, at=AT)
        assert (result.reenabled, result.recreated) == ((), ("orders/updated",))
        assert sorted(w["topic"] for w in fake.data.webhooks.values()).count("ORDERS_UPDATED") == 1
        assert fake.stats["refused"] == 0


def test_readyz_shows_the_last_webhook_check(sessions, store, tmp_path, database_url) -> None:
    from stammkunde.app.web import create_app
    from stammkunde.core.config import Settings

    plugins = plugins_with(WooCommerceAdapter(sleep=lambda s: None, now=store.data.now))
    add_woo_shop(sessions, store, webhook_base_url=BASE)
    check_webhooks(sessions, plugins, None, secret_key=KEY, at=AT)
    app = create_app({"TESTING": True}, Settings(home=tmp_path, database_url=database_url,
                                                 secret_key=KEY))
    body = app.test_client().get("/readyz").get_json()
    assert body["status"] == "ok"
    assert body["webhooks"]["woo"]["state"] == "repaired"
    assert body["webhooks"]["woo"]["repaired"] == len(WEBHOOK_TOPICS)
    metrics = app.test_client().get("/metrics").get_data(as_text=True)
    assert f'stammkunde_webhook_repairs{{shop="woo"}} {len(WEBHOOK_TOPICS)}' in metrics
