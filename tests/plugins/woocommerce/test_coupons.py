"""Coupons out (batched, idempotent by code, resumable) and segments as customer meta data."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from itertools import islice

import pytest

from stammkunde.core.errors import UserError
from stammkunde.plugins.adapter import DiscountOffer, DiscountTarget
from stammkunde.plugins.woocommerce import WooCommerceAdapter
from stammkunde.plugins.woocommerce.client import WooError
from tests.fakes.woocommerce import FakeWooCommerce

OFFER = DiscountOffer(title="Wir vermissen dich", kind="percentage", value=Decimal("15"),
                      starts_at=datetime(2024, 6, 1, tzinfo=UTC),
                      ends_at=datetime(2024, 6, 30, 22, 0, tzinfo=UTC),
                      minimum_order=Decimal("30.00"), code_prefix="SK")


def targets(n: int, prefix: str = "SK-WB-") -> list[DiscountTarget]:
    return [DiscountTarget(str(i), f"k{i}@example.org", f"{prefix}{i:05d}") for i in range(n)]


def test_each_code_is_restricted_to_its_customer(fake: FakeWooCommerce,
                                                 adapter: WooCommerceAdapter) -> None:
    (result,) = adapter.push_discounts(fake.connection(), OFFER, targets(1))
    assert result.status == "created"
    (coupon,) = fake.data.coupons.values()
    assert str(coupon["id"]) == result.platform_id
    assert coupon["code"] == "sk-wb-00000"  # WooCommerce lower-cases codes
    assert coupon["discount_type"] == "percent" and coupon["amount"] == "15"
    assert coupon["email_restrictions"] == ["k0@example.org"]
    assert coupon["usage_limit"] == 1 and coupon["usage_limit_per_user"] == 1
    assert coupon["individual_use"] is True
    assert coupon["minimum_amount"] == "30.00"
    assert coupon["date_expires_gmt"] == "2024-06-30T22:00:00"


def test_fixed_amount_is_a_fixed_cart_coupon(fake: FakeWooCommerce,
                                             adapter: WooCommerceAdapter) -> None:
    offer = DiscountOffer(title="5 €", kind="fixed_amount", value=Decimal("5.00"),
                          starts_at=OFFER.starts_at)
    list(adapter.push_discounts(fake.connection(), offer, targets(1)))
    (coupon,) = fake.data.coupons.values()
    assert coupon["discount_type"] == "fixed_cart" and coupon["amount"] == "5.00"


def test_batches_respect_the_documented_maximum(fake: FakeWooCommerce,
                                                adapter: WooCommerceAdapter) -> None:
    results = list(adapter.push_discounts(fake.connection(), OFFER, targets(250)))
    assert [r.status for r in results].count("created") == 250
    assert fake.count("POST", "coupons/batch") == 3  # ceil(250 / 100)
    assert fake.count("GET", "coupons") == 1  # one prefix search finds nothing
    assert len(fake.data.coupons) == 250


def test_store_with_a_lower_batch_limit_is_met_by_halving(adapter: WooCommerceAdapter) -> None:
    with FakeWooCommerce(batch_limit=40) as fake:
        results = list(adapter.push_discounts(fake.connection(), OFFER, targets(100)))
        assert {r.status for r in results} == {"created"} and len(fake.data.coupons) == 100
        # 100 refused (413), then 50 refused, then chunks of 25
        assert fake.count("POST", "coupons/batch") == 2 + 4


def test_crashed_push_resumes_without_duplicates(fake: FakeWooCommerce,
                                                 adapter: WooCommerceAdapter) -> None:
    fake.fail(500, times=None, path="coupons/batch", after=2)  # the store dies after 2 batches
    conn = fake.connection(max_retries=1)
    done = []
    with pytest.raises(WooError):
        done.extend(adapter.push_discounts(conn, OFFER, targets(450)))
    assert len(done) == 200 and len(fake.data.coupons) == 200
    fake.clear_failures()
    fake.calls.clear()
    again = list(adapter.push_discounts(conn, OFFER, targets(450)))
    status = {r.code: r.status for r in again}
    assert len(again) == 450
    assert sum(s == "exists" for s in status.values()) == 200
    assert all(status[f"SK-WB-{i:05d}"] == "exists" for i in range(200))
    assert sum(s == "created" for s in status.values()) == 250
    assert len(fake.data.coupons) == 450
    assert len({c["code"] for c in fake.data.coupons.values()}) == 450
    # lookups: a prefix search paged over the 200 existing codes; creates: ceil(250 / 100)
    assert fake.count("GET", "coupons") == 2 and fake.count("POST", "coupons/batch") == 3


def test_interrupted_consumer_and_rerun(fake: FakeWooCommerce,
                                        adapter: WooCommerceAdapter) -> None:
    list(islice(adapter.push_discounts(fake.connection(), OFFER, targets(300)), 100))
    again = list(adapter.push_discounts(fake.connection(), OFFER, targets(300)))
    assert [r.status for r in again].count("exists") == 100
    assert len(fake.data.coupons) == 300


def test_codes_without_a_common_prefix_are_still_never_duplicated(
        fake: FakeWooCommerce, adapter: WooCommerceAdapter) -> None:
    mixed = [DiscountTarget(str(i), None, code) for i, code in
             enumerate(["alpha1", "beta2", "gamma3"])]
    list(adapter.push_discounts(fake.connection(), OFFER, mixed))
    fake.calls.clear()
    again = list(adapter.push_discounts(fake.connection(), OFFER, mixed))
    assert {r.status for r in again} == {"exists"}
    assert fake.count("GET", "coupons") == 3  # a few codes: one exact lookup each
    assert fake.count("POST", "coupons/batch") == 0


def test_code_taken_between_lookup_and_create_is_reported_exists(
        fake: FakeWooCommerce, adapter: WooCommerceAdapter) -> None:
    many = [DiscountTarget(str(i), None, f"{'xyz'[i % 3]}{i}") for i in range(30)]
    fake.api.dispatch("POST", "coupons", {}, {"code": "X0"})  # no prefix → no lookups
    results = {r.code: r.status for r in adapter.push_discounts(fake.connection(), OFFER, many)}
    assert results["x0"] == "exists" and list(results.values()).count("created") == 29
    assert fake.count("GET", "coupons") == 0


def test_same_code_for_two_customers_fails_the_second(fake: FakeWooCommerce,
                                                      adapter: WooCommerceAdapter) -> None:
    twice = [DiscountTarget("1", None, "SK-A"), DiscountTarget("2", None, "sk-a")]
    results = list(adapter.push_discounts(fake.connection(), OFFER, twice))
    assert [(r.customer_id, r.status) for r in results] == [("1", "created"), ("2", "failed")]


def test_shared_code_is_one_coupon_limited_to_the_segment(
        fake: FakeWooCommerce, adapter: WooCommerceAdapter) -> None:
    offer = DiscountOffer(title="VIP", kind="percentage", value=Decimal("10"),
                          starts_at=OFFER.starts_at, shared_code="VIP2024",
                          usage_limit_per_customer=2)
    people = [*targets(3), DiscountTarget("x", None, "")]
    results = list(adapter.push_discounts(fake.connection(), offer, people))
    assert sorted(r.status for r in results) == ["created"] * 3 + ["failed"]
    (coupon,) = fake.data.coupons.values()
    assert coupon["code"] == "vip2024" and coupon["usage_limit"] is None
    assert coupon["email_restrictions"] == ["k0@example.org", "k1@example.org",
                                            "k2@example.org"]
    assert coupon["usage_limit_per_user"] == 2
    rerun = list(adapter.push_discounts(fake.connection(), offer,
                                        [*targets(3), DiscountTarget("9", "neu@example.org", "")]))
    assert [r.status for r in rerun] == ["exists"] * 3 + ["failed"]
    assert len(fake.data.coupons) == 1  # never overwritten


def test_bad_offer_is_refused_before_any_call(fake: FakeWooCommerce,
                                              adapter: WooCommerceAdapter) -> None:
    bad = DiscountOffer(title="x", kind="free_shipping", value=Decimal(1),
                        starts_at=OFFER.starts_at)
    with pytest.raises(UserError, match="offer kind"):
        list(adapter.push_discounts(fake.connection(), bad, targets(1)))
    assert fake.count("POST", "coupons/batch") == 0


def test_segments_become_customer_meta_data(fake: FakeWooCommerce,
                                            adapter: WooCommerceAdapter) -> None:
    a = fake.data.add_customer("a@example.org")
    b = fake.data.add_customer("b@example.org")
    result = adapter.tag_customers(fake.connection(), "Win-back 2024",
                                   [str(a["id"]), str(b["id"]), "999", "guest:x@example.org"])
    assert result[str(a["id"])] == "ok" and result[str(b["id"])] == "ok"
    assert result["999"] == "Invalid resource ID."
    assert "guest" in result["guest:x@example.org"]
    assert a["meta_data"] == [{"id": 1, "key": "stammkunde_segment_win_back_2024",
                               "value": "yes"}]
    adapter.tag_customers(fake.connection(), "Win-back 2024", [str(a["id"])], remove=True)
    assert a["meta_data"][0]["value"] == ""
    assert fake.count("POST", "customers/batch") == 2


def test_crowded_prefix_switches_to_lookups_by_code(fake: FakeWooCommerce,
                                                    adapter: WooCommerceAdapter) -> None:
    for n in range(450):
        fake.api.dispatch("POST", "coupons", {}, {"code": f"sk-alt-{n}"})
    fake.api.dispatch("POST", "coupons", {}, {"code": "sk-a2"})
    mine = [DiscountTarget("1", None, "SK-A1"), DiscountTarget("2", None, "SK-A2")]
    results = list(adapter.push_discounts(fake.connection(), OFFER, mine))
    assert [r.status for r in results] == ["created", "exists"]
    # page 1 of the "sk-a" search (of 5 pages), then one exact lookup per code instead of 4 pages
    assert fake.count("GET", "coupons") == 1 + 2
