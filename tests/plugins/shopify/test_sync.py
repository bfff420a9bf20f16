"""Shopify sync: pages, increments, bulk export, pacing by the cost bucket, retries, resume."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from stammkunde.core.models import Order, SyncState
from stammkunde.core.records import OrderRecord
from stammkunde.core.shops import create_shop
from stammkunde.plugins.ingest import sync_shop
from stammkunde.plugins.manager import plugins_for_test
from stammkunde.plugins.shopify import ShopifyAdapter
from stammkunde.plugins.shopify.client import ShopifyError, ThrottleState
from stammkunde.plugins.shopify.mapping import instant
from tests.fakes.shopify import FakeClock, FakeShopify
from tests.storecount import stores_and_commits


def all_records(batches) -> list:
    return [r for b in batches for r in b.records]


def test_pages_follow_the_cursor_to_the_end(fake: FakeShopify, adapter: ShopifyAdapter) -> None:
    batches = list(adapter.fetch_orders(fake.connection(page_size=7, bulk_threshold=None)))
    assert [len(b.records) for b in batches] == [7] * 8 + [4]          # 60 orders
    ids = [r.platform_id for r in all_records(batches)]
    assert sorted(ids) == sorted(fake.data.orders.nodes)
    assert fake.stats["op_OrdersPage"] == 9
    assert json.loads(batches[-1].cursor)["mode"] == "page"


def test_increment_asks_only_for_changes_since(fake: FakeShopify,
                                               adapter: ShopifyAdapter) -> None:
    since = datetime(2024, 6, 1, tzinfo=UTC)
    got = all_records(adapter.fetch_orders(fake.connection(page_size=7), since=since))
    expected = {k for k, n in fake.data.orders.nodes.items() if instant(n["updatedAt"]) > since}
    assert {r.platform_id for r in got} == expected
    assert 0 < len(expected) < 60


def test_customers_are_mapped(fake: FakeShopify, adapter: ShopifyAdapter) -> None:
    customers = all_records(adapter.fetch_customers(fake.connection(customer_page_size=10)))
    assert len(customers) == 25
    first = min(customers, key=lambda c: int(c.platform_id))
    node = fake.data.customers.nodes["1001"]
    assert first.platform_id == "1001"
    assert first.email == "customer1@example.com"
    assert first.created_at == instant(node["createdAt"])
    assert first.accepts_marketing is (node["defaultEmailAddress"]["marketingState"]
                                       == "SUBSCRIBED")


def test_bulk_export_gives_the_same_records_as_pages(fake: FakeShopify,
                                                     adapter: ShopifyAdapter,
                                                     clock: FakeClock) -> None:
    fake.bulk_polls = 3
    paged = all_records(adapter.fetch_orders(fake.connection(page_size=7, bulk_threshold=None)))
    bulk = list(adapter.fetch_orders(fake.connection(name="bulk", bulk_threshold=50,
                                                     bulk_batch=25, poll_interval=5.0)))
    assert [len(b.records) for b in bulk] == [25, 25, 10]
    key = lambda r: int(r.platform_id)  # noqa: E731
    assert sorted(all_records(bulk), key=key) == sorted(paged, key=key)
    assert any(r.line_items for r in all_records(bulk))       # children joined via __parentId
    assert fake.stats["op_BulkPoll"] == 3
    assert clock.sleeps.count(5.0) == 2                       # two waits between three polls


def test_bulk_export_resumes_inside_the_file(fake: FakeShopify,
                                             adapter: ShopifyAdapter) -> None:
    conn = fake.connection(bulk_threshold=50, bulk_batch=25)
    first = next(iter(adapter.fetch_orders(conn)))
    assert json.loads(first.cursor)["done"] == 25
    rest = all_records(adapter.fetch_orders(conn, cursor=first.cursor))
    assert len(rest) == 35
    assert not {r.platform_id for r in rest} & {r.platform_id for r in first.records}
    assert fake.stats["op_BulkRun"] == 1                      # resuming starts no new export


def test_wait_is_computed_from_the_bucket() -> None:
    state = ThrottleState(maximum=1000, available=100, restore_rate=50, at=0.0)
    assert state.available_at(2.0) == 200
    assert state.wait_for(982, 2.0) == pytest.approx((982 - 200) / 50)   # 15.64 s
    assert state.wait_for(150, 2.0) == 0
    assert state.available_at(100.0) == 1000                             # never above maximum


def test_pacing_never_hits_the_limit_and_waits_just_enough(fake: FakeShopify,
                                                           adapter: ShopifyAdapter,
                                                           clock: FakeClock) -> None:
    """A realistic bucket (1000 points, 50/s): zero THROTTLED, no point of waiting wasted."""
    fake.data.generate(orders=400, customers=50, seed=3)
    conn = fake.connection(page_size=20, bulk_threshold=None)
    got = all_records(adapter.fetch_orders(conn))
    assert len(got) == 400
    assert fake.stats["throttled"] == 0
    assert fake.stats.get("served_429", 0) == 0
    waited = [lvl - req for lvl, req in fake.levels[1:] if lvl < fake.bucket.maximum]
    assert waited and max(waited) < 1.0 + 1e-6      # each query ran as soon as its cost was there
    # points are conserved: spent = initial 1000 + restored (50/s x elapsed) - left over, and
    # no restoring was wasted on a full bucket, so the run took exactly the time it had to
    elapsed = clock.now - 1000.0
    assert elapsed == pytest.approx((fake.cost_used - 1000 + fake.bucket.level()) / 50)
    assert elapsed > 0


def test_429_and_5xx_are_retried_after_retry_after_or_backoff(
        fake: FakeShopify, adapter: ShopifyAdapter, clock: FakeClock) -> None:
    fake.fail_next(429, retry_after=2.5)
    fake.fail_next(503)
    got = all_records(adapter.fetch_orders(fake.connection(page_size=30, bulk_threshold=None)))
    assert len(got) == 60
    assert clock.sleeps[:2] == [2.5, 2.0]             # Retry-After, then backoff 1 s x 2^1
    stats = adapter.client(fake.connection(page_size=30, bulk_threshold=None)).stats
    assert (stats.http_429, stats.http_5xx) == (1, 1)


def test_persistent_5xx_gives_up_with_a_clear_error(fake: FakeShopify,
                                                    adapter: ShopifyAdapter) -> None:
    fake.fail_next(502, times=10)
    with pytest.raises(ShopifyError, match="502 7 times"):
        list(adapter.fetch_orders(fake.connection(bulk_threshold=None)))


def test_a_page_too_costly_for_the_bucket_is_halved(fake: FakeShopify,
                                                    adapter: ShopifyAdapter) -> None:
    batches = list(adapter.fetch_orders(fake.connection(page_size=40, bulk_threshold=None)))
    assert len(all_records(batches)) == 60
    assert fake.stats["max_cost_exceeded"] == 1
    assert len(batches[0].records) == 20


def test_killed_sync_resumes_where_it_stopped(sessions) -> None:
    """sync_shop stops after two batches (a crash); the next run fetches only what is left."""
    with FakeShopify(maximum=1e9, restore_rate=1e9) as fake:
        fake.data.generate(orders=60, customers=25)
        with sessions() as session, session.begin():
            create_shop(session, "fake", "shopify", domain=fake.domain,
                        credentials={"access_token": fake.token}, secret_key="k",
                        settings={"base_url": fake.base_url, "page_size": 7,
                                  "customer_page_size": 10, "bulk_threshold": None,
                                  "poll_interval": 0})
        with plugins_for_test() as plugins:
            first = sync_shop(sessions, plugins, "fake", secret_key="k",
                              resources=("orders",), max_batches=2)
            assert first.stats["orders"].inserted == 14
            with sessions() as session:
                state = session.scalar(select(SyncState))
                assert json.loads(state.cursor)["mode"] == "page"
            calls_before = fake.stats["op_OrdersPage"]
            second = sync_shop(sessions, plugins, "fake", secret_key="k")
        assert second.resumed == {"customers": False, "orders": True}
        assert second.stats["orders"].inserted == 46
        assert second.stats["orders"].updated == 0           # nothing fetched twice
        assert fake.stats["op_OrdersPage"] - calls_before == 7   # 46 orders in pages of 7
        with sessions() as session:
            assert session.scalar(select(func.count()).select_from(Order)) == 60


def test_graphql_order_mapping_by_hand() -> None:
    from decimal import Decimal

    from stammkunde.core.records import OrderStatus, Refund
    from stammkunde.plugins.shopify.mapping import order_from_graphql

    node = {"id": "gid://shopify/Order/7", "legacyResourceId": "7",
            "createdAt": "2024-01-31T23:30:00-02:00", "updatedAt": "2024-02-02T10:00:00Z",
            "cancelledAt": None, "test": True, "displayFinancialStatus": "REFUNDED",
            "currencyCode": "EUR", "email": None, "sourceName": "pos", "discountCodes": ["A"],
            "totalPriceSet": {"shopMoney": {"amount": "20.00", "currencyCode": "EUR"}},
            "customer": None,
            "refunds": [{"id": "gid://shopify/Refund/1", "createdAt": "2024-02-01T10:00:00Z",
                         "totalRefundedSet": {"shopMoney": {"amount": "15.00"}}},
                        {"id": "gid://shopify/Refund/2", "createdAt": "2024-02-02T10:00:00Z",
                         "totalRefundedSet": {"shopMoney": {"amount": "9.90"}}}],
            "lineItems": {"edges": []}}
    order = order_from_graphql(node)
    assert order == OrderRecord(
        platform_id="7", created_at=datetime(2024, 2, 1, 1, 30, tzinfo=UTC),
        updated_at=datetime(2024, 2, 2, 10, 0, tzinfo=UTC), total=Decimal("20.00"),
        currency="EUR", status=OrderStatus.REFUNDED, is_test=True,
        customer_id=None,                  # a till sale without any customer: unattributed
        refunds=(Refund(Decimal("15.00"), datetime(2024, 2, 1, 10, 0, tzinfo=UTC), "1"),
                 Refund(Decimal("5.00"), datetime(2024, 2, 2, 10, 0, tzinfo=UTC), "2")),
        discount_codes=("A",), channel="pos")


def test_an_expired_bulk_file_starts_a_new_export(fake: FakeShopify,
                                                  adapter: ShopifyAdapter) -> None:
    conn = fake.connection(bulk_threshold=50, bulk_batch=25)
    first = next(iter(adapter.fetch_orders(conn)))
    fake.data.bulk_files.clear()                       # Shopify keeps the file for 7 days
    again = all_records(adapter.fetch_orders(conn, cursor=first.cursor))
    assert len(again) == 60                            # everything again; storing is idempotent
    assert fake.stats["op_BulkRun"] == 2


def test_customer_mapping_reads_default_email_address_or_the_older_fields() -> None:
    from stammkunde.core.records import CustomerRecord
    from stammkunde.plugins.shopify.mapping import customer_from_graphql

    base = {"id": "gid://shopify/Customer/5", "firstName": "Ann", "lastName": None,
            "createdAt": "2024-01-01T00:00:00Z", "updatedAt": "2024-01-02T00:00:00+01:00",
            "tags": ["vip"]}
    expected = CustomerRecord(platform_id="5", email="ann@example.com",
                              created_at=datetime(2024, 1, 1, tzinfo=UTC),
                              updated_at=datetime(2024, 1, 1, 23, 0, tzinfo=UTC),
                              first_name="Ann", accepts_marketing=True, tags=("vip",))
    current = {**base, "defaultEmailAddress": {"emailAddress": "ann@example.com",
                                               "marketingState": "SUBSCRIBED"}}
    older = {**base, "email": "ann@example.com",
             "emailMarketingConsent": {"marketingState": "SUBSCRIBED"}}
    assert customer_from_graphql(current) == expected
    assert customer_from_graphql(older) == expected


def test_killed_bulk_sync_resumes_inside_the_export(sessions) -> None:
    with FakeShopify(maximum=1e9, restore_rate=1e9) as fake:
        fake.data.generate(orders=60, customers=25)
        with sessions() as session, session.begin():
            create_shop(session, "big", "shopify", domain=fake.domain,
                        credentials={"access_token": fake.token}, secret_key="k",
                        settings={"base_url": fake.base_url, "bulk_threshold": 20,
                                  "bulk_batch": 25, "poll_interval": 0})
        with plugins_for_test() as plugins:
            sync_shop(sessions, plugins, "big", secret_key="k", resources=("orders",),
                      max_batches=1)
            second = sync_shop(sessions, plugins, "big", secret_key="k", resources=("orders",))
        assert second.resumed == {"orders": True}
        assert (second.stats["orders"].inserted, second.stats["orders"].updated) == (35, 0)
        assert fake.stats["op_BulkRun"] == 1
        with sessions() as session:
            assert session.scalar(select(func.count()).select_from(Order)) == 60


def test_the_fakes_generated_orders_read_as_the_nodes_add_order_builds() -> None:
    """Generated orders are compact specs; their nodes and bulk lines are what add_order and
    ``json.dumps`` give, so a big shop's export is the same file a small shop's would be."""
    from tests.fakes.shopify.data import FakeData, OrderSpec

    data = FakeData()
    data.generate(orders=300, customers=40)
    other = FakeData()
    for key in data.orders.nodes:
        spec = data.orders.nodes.specs[key]
        assert isinstance(spec, OrderSpec)
        other.add_order(spec.legacy, spec.created, list(spec.lines), customer=spec.customer,
                        email=spec.email, status=spec.status, cancelled=spec.cancelled,
                        test=spec.test, refunds=spec.refunds, codes=spec.codes,
                        source=spec.source, currency=spec.currency)
    assert not other.orders.nodes.specs and len(other.orders.nodes) == 300
    assert dict(data.orders.nodes) == dict(other.orders.nodes)
    assert data.orders.keys() == other.orders.keys()
    for grouped in (True, False):
        assert data.bulk_file("orders", grouped) == other.bulk_file("orders", grouped)
    lines = data.bulk_file("orders").decode().splitlines()
    first = data.orders.nodes[str(data.orders.keys()[0][1])]
    assert json.loads(lines[0]) == {k: v for k, v in first.items() if k != "lineItems"}
    # a node put over a spec replaces it, and odd text is escaped as json.dumps escapes it
    data.orders.put(dict(first, email='zoë"@example.com'))
    assert 'zo\\u00eb\\"@example.com' in data.bulk_file("orders").decode()


def test_bulk_lines_are_read_across_chunks_and_a_bad_line_is_named() -> None:
    from stammkunde.plugins.shopify.sync import _objects, _roots

    text = (b'{"id":"gid://shopify/Order/1","n":1}\n{"quantity":2,"__parentId":'
            b'"gid://shopify/Order/1"}\r\n\n  \n{"id":"gid://shopify/Order/2","n":"\xc3\xa4"}')
    for size in (1, 7, 64, len(text)):
        chunks = [text[i:i + size] for i in range(0, len(text), size)]
        assert list(_roots(_objects(chunks))) == [
            ({"id": "gid://shopify/Order/1", "n": 1}, [{"quantity": 2}]),
            ({"id": "gid://shopify/Order/2", "n": "ä"}, [])]
    with pytest.raises(ShopifyError, match="bulk file line 3 is not JSON"):
        list(_objects([b'{"a":1}\n{"b":2}\n{"c":\n{"d":4}\n']))
    many = b'{"a":1}\n' * 249 + b'{"c":\n' + b'{"a":1}\n' * 10
    with pytest.raises(ShopifyError, match="bulk file line 250 is not JSON"):
        list(_objects([many[:1001], many[1001:]]))
    with pytest.raises(ShopifyError, match="bulk file line 2 is not JSON: Extra data"):
        list(_objects([b'{"a":1}\n{"b":2},{"c":3}\n']))
    with pytest.raises(ShopifyError, match="holds list, not an object"):
        list(_roots(_objects([b'{"a":1}\n[1]\n'])))


def test_each_page_is_stored_in_one_transaction(sessions, monkeypatch: pytest.MonkeyPatch) -> None:
    """A paged (not bulk) sync stores a page per store call and transaction, not an order."""
    with FakeShopify(maximum=1e9, restore_rate=1e9) as fake:
        fake.data.generate(orders=60, customers=25)
        with sessions() as session, session.begin():
            create_shop(session, "fake", "shopify", domain=fake.domain,
                        credentials={"access_token": fake.token}, secret_key="k",
                        settings={"base_url": fake.base_url, "page_size": 12,
                                  "bulk_threshold": None, "poll_interval": 0})
        with stores_and_commits(monkeypatch, sessions.kw["bind"]) as (stored, commits), \
                plugins_for_test() as plugins:
            sync_shop(sessions, plugins, "fake", secret_key="k", resources=("orders",))
    assert stored == [12] * 5
    # one commit per page, plus the sync's own bookkeeping at the end (cursor, statistics, stale)
    assert len(stored) < len(commits) <= len(stored) + 3


def test_the_fake_reuses_an_export_until_its_shop_changes() -> None:
    from tests.fakes.shopify.data import FakeData

    data = FakeData()
    data.generate(orders=20, customers=5)
    first = data.bulk_export("orders")
    assert data.bulk_export("orders") is first
    assert data.bulk_export("orders", grouped=False) is not first
    data.orders.put(dict(data.orders.nodes["500001"], email="new@example.com"))
    again = data.bulk_export("orders")
    assert again is not first and b'"new@example.com"' in again.body()
    path = first.path
    del first
    data.exports.clear()
    import gc

    gc.collect()
    assert not path.exists()                          # a dropped export's file is removed
