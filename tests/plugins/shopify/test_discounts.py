"""Discount codes and tags in the fake Shopify: limited to the targets, idempotent, few calls."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from stammkunde.plugins.adapter import DiscountOffer, DiscountTarget
from stammkunde.plugins.shopify import ShopifyAdapter
from tests.fakes.shopify import FakeShopify

OFFER = DiscountOffer(title="Come back", kind="fixed_amount", value=Decimal("5.00"),
                      starts_at=datetime(2025, 3, 1, tzinfo=UTC),
                      ends_at=datetime(2025, 3, 31, 22, tzinfo=UTC),
                      minimum_order=Decimal("30.00"))


def targets(n: int, start: int = 1) -> list[DiscountTarget]:
    return [DiscountTarget(str(1000 + i), None, f"BACK-{i:04d}") for i in range(start, start + n)]


@pytest.fixture
def big(fake: FakeShopify) -> FakeShopify:
    fake.data.generate(orders=0, customers=600)
    return fake


def test_one_group_discount_limited_to_its_customers(big: FakeShopify,
                                                     adapter: ShopifyAdapter) -> None:
    results = list(adapter.push_discounts(big.connection(), OFFER, targets(3)))
    assert [(r.customer_id, r.code, r.status) for r in results] == [
        ("1001", "BACK-0001", "created"), ("1002", "BACK-0002", "created"),
        ("1003", "BACK-0003", "created")]
    (discount,) = big.data.discounts.values()
    assert discount["codes"] == ["BACK-0001", "BACK-0002", "BACK-0003"]
    assert discount["customers"] == ["gid://shopify/Customer/1001", "gid://shopify/Customer/1002",
                                     "gid://shopify/Customer/1003"]
    assert discount["appliesOncePerCustomer"] is True
    assert discount["usageLimit"] == 3
    assert discount["customerGets"] == {"value": {"discountAmount": {
        "amount": "5.00", "appliesOnEachItem": False}}, "items": {"all": True}}
    assert discount["minimumRequirement"] == {"subtotal": {"greaterThanOrEqualToSubtotal": "30.00"}}
    assert discount["startsAt"] == "2025-03-01T00:00:00+00:00"
    assert discount["endsAt"] == "2025-03-31T22:00:00+00:00"


def test_calls_for_many_customers_are_the_fewest_the_limits_allow(
        big: FakeShopify, adapter: ShopifyAdapter) -> None:
    """502 targets: 3 lookups of <=250 codes; groups of 250, 250, 2 customers (a discount's
    customer list takes at most 250): 3 creates (1 code each) + 3 bulk adds (249, 249, 1)."""
    conn = big.connection(discount_group_size=600)  # more than Shopify accepts: capped at 250
    results = list(adapter.push_discounts(conn, OFFER, targets(502)))
    assert {r.status for r in results} == {"created"}
    assert len(big.data.codes) == 502
    assert (big.stats["op_CodesLookup"], big.stats["op_DiscountCreate"],
            big.stats["op_CodesBulkAdd"]) == (3, 3, 3)
    assert sorted(len(d["customers"]) for d in big.data.discounts.values()) == [2, 250, 250]
    assert big.stats["refused"] == 0


def test_per_customer_mode_gives_each_their_own_discount(big: FakeShopify,
                                                         adapter: ShopifyAdapter) -> None:
    conn = big.connection(per_customer=True)
    list(adapter.push_discounts(conn, OFFER, targets(4)))
    assert len(big.data.discounts) == 4
    assert sorted(len(d["customers"]) for d in big.data.discounts.values()) == [1, 1, 1, 1]
    assert {d["usageLimit"] for d in big.data.discounts.values()} == {1}


def test_second_push_reports_exists_and_creates_nothing(big: FakeShopify,
                                                        adapter: ShopifyAdapter) -> None:
    conn = big.connection()
    list(adapter.push_discounts(conn, OFFER, targets(5)))
    creates = big.stats["op_DiscountCreate"]
    again = list(adapter.push_discounts(conn, OFFER, targets(7)))  # two new targets
    assert [r.status for r in again] == ["exists"] * 5 + ["created"] * 2
    assert big.stats["op_DiscountCreate"] == creates + 1
    assert len(big.data.codes) == 7


def test_percentage_and_shared_code(big: FakeShopify, adapter: ShopifyAdapter) -> None:
    offer = DiscountOffer(title="VIP", kind="percentage", value=Decimal("15"),
                          starts_at=datetime(2025, 1, 1, tzinfo=UTC), shared_code="VIP15")
    results = list(adapter.push_discounts(big.connection(), offer, targets(3)))
    assert [(r.code, r.status) for r in results] == [("VIP15", "created")] * 3
    (discount,) = big.data.discounts.values()
    assert discount["customerGets"]["value"] == {"percentage": 0.15}
    assert discount["usageLimit"] == 3 and discount["endsAt"] is None


def test_an_existing_code_is_not_created_again_in_a_new_group(big: FakeShopify,
                                                             adapter: ShopifyAdapter) -> None:
    conn = big.connection()
    list(adapter.push_discounts(conn, OFFER, [DiscountTarget("1009", None, "BACK-0002")]))
    results = list(adapter.push_discounts(conn, OFFER, targets(3)))
    assert [r.status for r in results] == ["created", "exists", "created"]


def test_unknown_customer_fails_the_group_with_the_reason(big: FakeShopify,
                                                          adapter: ShopifyAdapter) -> None:
    results = list(adapter.push_discounts(big.connection(), OFFER,
                                          [DiscountTarget("999999", None, "X-1")]))
    assert results[0].status == "failed"
    assert "Customer does not exist" in (results[0].reason or "")


def test_tags_added_and_removed(big: FakeShopify, adapter: ShopifyAdapter) -> None:
    conn = big.connection()
    assert adapter.tag_customers(conn, "winback", ["1001", "1002", "424242"]) == {
        "1001": "ok", "1002": "ok", "424242": "Customer does not exist"}
    assert big.data.customers.nodes["1001"]["tags"] == ["winback"]
    assert adapter.tag_customers(conn, "winback", ["1001"], remove=True) == {"1001": "ok"}
    assert big.data.customers.nodes["1001"]["tags"] == []


def test_webhooks_subscribed_once(big: FakeShopify, adapter: ShopifyAdapter) -> None:
    conn = big.connection()
    topics = adapter.subscribe_webhooks(conn, "https://sk.example.com/")
    assert topics[:2] == ["orders/create", "orders/updated"] and "app/uninstalled" in topics
    assert {w["uri"] for w in big.data.webhooks.values()} == {
        "https://sk.example.com/webhooks/shopify"}
    assert adapter.subscribe_webhooks(conn, "https://sk.example.com") == topics  # idempotent
    assert len(big.data.webhooks) == len(topics)
    assert big.stats["refused"] == 0  # uri, not the deprecated callbackUrl
