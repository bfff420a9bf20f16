"""Historic and incremental sync through ``sync_shop``: counts, refunds, resume, shifting pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from stammkunde.core.errors import UserError
from stammkunde.core.models import Customer, Order, Refund, SyncState
from stammkunde.core.records import OrderRecord
from stammkunde.core.store import get_shop, store_records
from stammkunde.plugins.ingest import sync_shop
from stammkunde.plugins.manager import Plugins
from stammkunde.plugins.woocommerce import WooCommerceAdapter
from stammkunde.plugins.woocommerce.mapping import order_record
from tests.fakes.woocommerce import FakeWooCommerce
from tests.storecount import stores_and_commits

from .conftest import SECRET_KEY, plugins_with

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def fill(fake: FakeWooCommerce, n: int) -> list[dict]:
    """n orders of 10.00 for alternating account / guest, one minute apart."""
    anna = fake.data.add_customer("anna@example.org", "Anna", "Alt", created=T0)
    orders = []
    for i in range(n):
        when = T0 + timedelta(minutes=i)
        if i % 2:
            orders.append(fake.data.add_order(customer_id=anna["id"], created=when))
        else:
            orders.append(fake.data.add_order(email=f"gast{i}@example.net", created=when))
    fake.data.clock = T0 + timedelta(days=1)
    return orders


def count(factory: sessionmaker[Session], model: type) -> int:
    with factory() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def sync(factory: sessionmaker[Session], plugins: Plugins, **kw: object):  # type: ignore[no-untyped-def]
    return sync_shop(factory, plugins, "woo", secret_key=SECRET_KEY, **kw)  # type: ignore[arg-type]


def test_historic_sync_stores_everything_with_the_minimum_of_calls(
        fake: FakeWooCommerce, factory: sessionmaker[Session], plugins: Plugins,
        shop: str) -> None:
    orders = fill(fake, 250)
    fake.data.refund(orders[3]["id"], "4.00", when=T0 + timedelta(hours=5))
    fake.data.refund(orders[4]["id"], "10.00", when=T0 + timedelta(hours=6))
    fake.data.advance(minutes=1)  # the window ends (exclusively) at the sync's start
    result = sync(factory, plugins)
    assert result.stats["orders"].inserted == 250
    assert result.stats["customers"].inserted == 1
    assert count(factory, Order) == 250
    # one account plus 125 guests known by e-mail
    assert count(factory, Customer) == 126
    with factory() as session:
        refunds = {(r.amount, r.created_ts) for r in session.scalars(select(Refund))}
        statuses = dict(session.execute(select(Order.platform_id, Order.status)).all())
    assert refunds == {(Decimal("4.00"), int((T0 + timedelta(hours=5)).timestamp())),
                       (Decimal("10.00"), int((T0 + timedelta(hours=6)).timestamp()))}
    assert statuses[str(orders[4]["id"])] == "refunded"
    assert statuses[str(orders[3]["id"])] == "paid"
    # customers: 1 page, refunds: 1 page, orders: ceil(250 / 100) = 3 pages
    assert [r for _, r, _ in fake.calls] == ["customers", "refunds", "orders", "orders", "orders"]


def test_resume_after_crash_reads_each_order_once(
        fake: FakeWooCommerce, factory: sessionmaker[Session], plugins: Plugins,
        shop: str) -> None:
    fill(fake, 250)
    first = sync(factory, plugins, max_batches=2)  # customers finish, orders stop after page 2
    assert first.stats["orders"].inserted == 200
    with factory() as session:
        state = session.get(SyncState, (get_shop(session, "woo").id, "orders"))
        assert state is not None and '"pos":200' in (state.cursor or "")
    fake.calls.clear()
    second = sync(factory, plugins)
    assert second.resumed["orders"] is True
    assert second.stats["orders"].inserted == 50 and second.stats["orders"].unchanged == 0
    order_calls = [p for _, r, p in fake.calls if r == "orders"]
    assert [p.get("page") for p in order_calls] == ["3"]
    assert count(factory, Order) == 250


@pytest.mark.parametrize("change", ["modify", "delete"])
def test_orders_leaving_the_window_mid_sync_do_not_shift_others_out(
        change: str, fake: FakeWooCommerce, factory: sessionmaker[Session], plugins: Plugins,
        shop: str) -> None:
    orders = fill(fake, 250)
    sync(factory, plugins, max_batches=2)
    fake.data.advance(hours=1)
    early = orders[5]["id"]  # on page 1, already stored
    if change == "modify":
        fake.data.modify_order(early, status="cancelled")
    else:
        fake.data.delete_order(early)
    sync(factory, plugins)
    assert count(factory, Order) == 250  # nothing skipped: order 201 moved to position 199
    with factory() as session:
        status = session.scalar(select(Order.status).where(Order.platform_id == str(early)))
    assert status == "paid"  # the change is after this sync's window ...
    fake.data.advance(hours=1)
    sync(factory, plugins)  # ... and the next incremental sync picks it up
    with factory() as session:
        status = session.scalar(select(Order.status).where(Order.platform_id == str(early)))
    assert status == ("cancelled" if change == "modify" else "paid")


def test_incremental_sync_asks_only_for_changes(
        fake: FakeWooCommerce, factory: sessionmaker[Session], plugins: Plugins,
        shop: str) -> None:
    orders = fill(fake, 30)
    sync(factory, plugins)
    fake.data.advance(hours=2)
    fake.data.modify_order(orders[0]["id"], status="cancelled")
    fake.data.refund(orders[1]["id"], "2.50")
    fake.data.advance(minutes=1)
    fake.calls.clear()
    result = sync(factory, plugins)
    assert result.stats["orders"].updated == 2
    params = next(p for _, r, p in fake.calls if r == "orders")
    # since = last window's upper bound minus the 10-minute overlap
    assert params["modified_after"] == "2024-01-01T23:50:00"
    assert params["modified_before"] == "2024-01-02T02:01:00"
    # no full refund scan in an incremental sync: the new refund is looked up by id
    refund_calls = [p for _, r, p in fake.calls if r == "refunds"]
    assert len(refund_calls) == 1 and "include" in refund_calls[0]


def test_store_without_refunds_endpoint_falls_back_to_order_refunds(
        factory: sessionmaker[Session], shop: str, fake: FakeWooCommerce,
        plugins: Plugins) -> None:
    fake.api.refunds_endpoint = False
    orders = fill(fake, 3)
    fake.data.refund(orders[0]["id"], "3.00", when=T0 + timedelta(hours=9))
    fake.data.advance(minutes=1)
    sync(factory, plugins)
    with factory() as session:
        ts = session.scalar(select(Refund.created_ts))
    assert ts == int((T0 + timedelta(hours=9)).timestamp())
    assert fake.count("GET", f"orders/{orders[0]['id']}/refunds") == 1


def test_incremental_customer_sync_keeps_only_changed_customers(
        fake: FakeWooCommerce, adapter: WooCommerceAdapter) -> None:
    fake.data.add_customer("old@example.org", created=T0)
    fake.data.clock = T0 + timedelta(days=3)
    fake.data.add_customer("new@example.org")
    batches = list(adapter.fetch_customers(fake.connection(), since=T0 + timedelta(days=1)))
    assert [r.email for b in batches for r in b.records] == ["new@example.org"]  # type: ignore[union-attr]


def test_orders_nobody_can_be_attributed_to_are_counted_not_stored(
        fake: FakeWooCommerce, adapter: WooCommerceAdapter) -> None:
    fake.data.add_order(email="", created_via="pos-rest-api")
    fake.data.add_order(email="kunde@example.org", created_via="pos-rest-api")
    fake.data.advance(minutes=1)
    (batch,) = adapter.fetch_orders(fake.connection())
    assert len(batch.records) == 1 and batch.meta["unattributed"] == 1
    assert batch.records[0].channel == "pos"  # type: ignore[union-attr]


def test_damaged_cursor_is_a_clear_error(fake: FakeWooCommerce,
                                         adapter: WooCommerceAdapter) -> None:
    with pytest.raises(UserError, match="damaged"):
        list(adapter.fetch_orders(fake.connection(), cursor="{not json"))
    with pytest.raises(UserError, match="belongs to customers"):
        list(adapter.fetch_orders(fake.connection(),
                                  cursor='{"resource":"customers","after":null,"before":null}'))


def test_older_version_never_overwrites_a_newer_one(factory: sessionmaker[Session],
                                                   shop: str) -> None:
    base = {"id": 900, "customer_id": 0, "billing": {"email": "x@example.org"},
            "date_created_gmt": "2024-05-01T10:00:00", "total": "20.00", "refunds": []}
    newer = order_record({**base, "status": "cancelled",
                          "date_modified_gmt": "2024-05-03T10:00:00"})
    older = order_record({**base, "status": "processing",
                          "date_modified_gmt": "2024-05-02T10:00:00"})
    assert isinstance(newer, OrderRecord) and isinstance(older, OrderRecord)
    with factory() as session, session.begin():
        shop_row = get_shop(session, "woo")
        assert store_records(session, shop_row, [newer]).inserted == 1
        assert store_records(session, shop_row, [older]).stale == 1
    with factory() as session:
        assert session.scalar(select(Order.status)) == "cancelled"


def test_retries_during_sync_are_invisible_in_the_data(
        fake: FakeWooCommerce, factory: sessionmaker[Session], plugins: Plugins, shop: str,
        sleeps: list) -> None:
    fill(fake, 120)
    fake.fail(429, times=1, retry_after="3", path="orders")
    fake.fail(502, times=1, path="customers")
    sync(factory, plugins)
    assert count(factory, Order) == 120
    assert sleeps == [1.0, 3.0]


def test_sync_command_line_uses_the_adapter(fake: FakeWooCommerce, adapter: WooCommerceAdapter,
                                            factory: sessionmaker[Session], shop: str) -> None:
    fill(fake, 5)
    result = sync(factory, plugins_with(adapter), since=T0 - timedelta(days=1))
    assert result.stats["orders"].inserted == 5


def test_resuming_after_the_last_full_page_asks_by_offset(
        fake: FakeWooCommerce, adapter: WooCommerceAdapter) -> None:
    fill(fake, 200)
    batches = list(adapter.fetch_orders(fake.connection()))
    assert [len(b.records) for b in batches] == [100, 100]
    fake.calls.clear()
    (last,) = adapter.fetch_orders(fake.connection(), cursor=batches[-1].cursor)
    assert last.records == ()
    (_, _, params), = [c for c in fake.calls if c[1] == "orders"]
    assert params["offset"] == "200" and "page" not in params  # page 3 would be a 400


def test_customers_of_every_wordpress_role_are_synced(factory: sessionmaker[Session],
                                                      fake: FakeWooCommerce, shop: str,
                                                      plugins: Plugins) -> None:
    """GET customers lists only role=customer unless asked for role=all (WooCommerce's
    class-wc-rest-customers-v1-controller.php get_items): a subscriber who buys is a customer."""
    fake.data.add_customer("kundin@example.org")
    fake.data.add_customer("abonnent@example.org", role="subscriber")
    fake.data.add_customer("chefin@example.org", role="shop_manager")
    fake.data.advance(minutes=5)
    sync(factory, plugins)
    with factory() as session:
        assert sorted(session.scalars(select(Customer.email))) == [
            "abonnent@example.org", "chefin@example.org", "kundin@example.org"]


def test_each_page_is_stored_in_one_transaction(
        fake: FakeWooCommerce, factory: sessionmaker[Session], plugins: Plugins, shop: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A page of orders is one store call in one transaction, not one per order."""
    fill(fake, 250)
    fake.data.advance(minutes=1)
    with stores_and_commits(monkeypatch, factory.kw["bind"]) as (stored, commits):
        sync(factory, plugins, resources=("orders",))
    assert stored == [100, 100, 50]
    # one commit per page, plus the sync's own bookkeeping at the end (cursor, statistics, stale)
    assert len(stored) < len(commits) <= len(stored) + 3
