"""Every document the adapter sends, checked against Shopify's own Admin schema; the fake's limits.

The schema is Shopify's published Admin SDL plus the documented overlay up to the pinned version
(tests/fakes/shopify/overlay.py). Costs are worked out by hand from Shopify's documented rules:
objects 1, scalars and enums 0, connections 2 + first x (node cost), mutations 10.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from stammkunde.plugins.adapter import DiscountOffer, DiscountTarget
from stammkunde.plugins.shopify import ShopifyAdapter, discounts
from stammkunde.plugins.shopify import queries as q
from stammkunde.plugins.shopify.client import DEFAULT_API_VERSION
from stammkunde.plugins.shopify.sync import fit_page
from tests.fakes.shopify import FakeShopify, overlay
from tests.fakes.shopify.schema import MAX_QUERY_COST, ShopifyGraphQLError, check, deprecations

OFFER = DiscountOffer(title="Come back", kind="percentage", value=Decimal("10"),
                      starts_at=datetime(2026, 3, 1, tzinfo=UTC),
                      ends_at=datetime(2026, 3, 31, tzinfo=UTC), minimum_order=Decimal("30"))


def _documents() -> dict[str, tuple[str, dict]]:
    """Every document the adapter can send, with variables as the adapter builds them."""
    limited = discounts.discount_input(OFFER, "BACK-1", ["1", "2"], 2)
    everyone = discounts.discount_input(OFFER, "SHARED", None, 2)
    fixed = discounts.discount_input(
        DiscountOffer(title="5 off", kind="fixed_amount", value=Decimal("5.00"),
                      starts_at=OFFER.starts_at), "FIX-1", ["1"], 1)
    tags_vars = {"id0": "gid://shopify/Customer/1", "tags": ["winback"]}
    lookup = {f"k{i}": f"CODE-{i}" for i in range(discounts.LOOKUP_MAX)}
    tags50 = {f"id{i}": f"gid://shopify/Customer/{i}" for i in range(discounts.TAGS_MAX)}
    return {
        "ORDERS_PAGE": (q.ORDERS_PAGE, {"first": 20, "after": None, "query": None}),
        "CUSTOMERS_PAGE": (q.CUSTOMERS_PAGE, {"first": 250, "after": "x",
                                              "query": "updated_at:>'2026-01-01T00:00:00Z'"}),
        "COUNTS": (q.COUNTS, {}),
        # bulk queries run without `first`; as a plain query they need it on each connection
        "BULK_ORDERS": ("query " + q.BULK_ORDERS.replace("orders {", "orders(first: 1) {", 1)
                        .replace("lineItems {", "lineItems(first: 1) {", 1), {}),
        "BULK_CUSTOMERS": ("query " + q.BULK_CUSTOMERS.replace("customers {",
                                                               "customers(first: 1) {", 1), {}),
        "BULK_RUN": (q.BULK_RUN, {"query": q.BULK_ORDERS, "groupObjects": True}),
        "BULK_POLL": (q.BULK_POLL, {"id": "gid://shopify/BulkOperation/1"}),
        "DISCOUNT_CREATE": (q.DISCOUNT_CREATE, {"input": limited}),
        "DISCOUNT_CREATE_ALL": (q.DISCOUNT_CREATE, {"input": everyone}),
        "DISCOUNT_CREATE_FIXED": (q.DISCOUNT_CREATE, {"input": fixed}),
        "CODES_BULK_ADD": (q.CODES_BULK_ADD, {"discountId": "gid://shopify/DiscountCodeNode/1",
                                              "codes": [{"code": "A"}] * 250}),
        "CODES_BULK_POLL": (q.CODES_BULK_POLL, {"id": "gid://shopify/X/1"}),
        "WEBHOOK_CREATE": (q.WEBHOOK_CREATE, {"topic": "ORDERS_CREATE", "sub": {
            "uri": "https://sk.example.com/webhooks/shopify", "format": "JSON"}}),
        "WEBHOOKS_LIST": (q.WEBHOOKS_LIST, {"first": q.WEBHOOKS_PAGE_SIZE, "after": None}),
        "codes_lookup(250)": (q.codes_lookup(discounts.LOOKUP_MAX), lookup),
        "tags_mutation(1)": (q.tags_mutation(1, False), tags_vars),
        "tags_mutation(50, remove)": (q.tags_mutation(discounts.TAGS_MAX, True),
                                      {**tags50, "tags": ["winback"]}),
    }


DOCUMENTS = _documents()


def test_the_pinned_version_is_the_one_the_schema_overlay_describes() -> None:
    assert DEFAULT_API_VERSION == overlay.VERSION == "2026-10"
    assert all(c.version <= overlay.VERSION for c in overlay.CHANGES)
    assert all(c.source.startswith("https://shopify.dev/") for c in overlay.CHANGES)


def test_every_document_of_the_queries_module_is_checked() -> None:
    sent = {n for n in dir(q) if n.isupper() and isinstance(getattr(q, n), str)
            and not n.endswith("_FIELDS")}
    assert sent <= {name for name in DOCUMENTS} | {"BULK_ORDERS", "BULK_CUSTOMERS"}


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_document_validates_without_deprecations_within_the_cost_cap(name: str) -> None:
    document, variables = DOCUMENTS[name]
    assert deprecations(document, variables) == []
    _, _, cost = check(document, variables)
    assert cost <= MAX_QUERY_COST


@pytest.mark.parametrize("name, cost", [
    # 2 + 20 x (Order 1 + totalPriceSet 2 + customer 1 + refunds 3 + lineItems(10) 2 + 10 x 4)
    ("ORDERS_PAGE", 2 + 20 * 49),
    ("CUSTOMERS_PAGE", 2 + 250 * 2),          # Customer 1 + defaultEmailAddress 1
    ("COUNTS", 2),
    ("BULK_POLL", 1),                         # node (an interface), scalars only
    ("DISCOUNT_CREATE", 10),
    ("CODES_BULK_POLL", 1 + 2 + 250 * 2),     # the creation, codes(250) x (code 1 + errors 1)
    ("WEBHOOKS_LIST", 2 + 100 * 1),
    ("codes_lookup(250)", 250),
    ("tags_mutation(50, remove)", 500),       # 10 per mutation field
])
def test_requested_cost_as_shopify_documents_it(name: str, cost: int) -> None:
    document, variables = DOCUMENTS[name]
    assert check(document, variables)[2] == cost


@pytest.mark.parametrize("document, variables, code, words", [
    ("query { orders(first: 1) { edges { node { id nonsense } } } }", {}, None,
     "Cannot query field 'nonsense'"),
    (q.ORDERS_PAGE, {"first": "ten"}, None, "Int cannot represent"),
    ("query { orders { edges { node { id } } } }", {}, None, "first or last"),
    (q.ORDERS_PAGE, {"first": 25}, "MAX_COST_EXCEEDED", "1227"),   # 2 + 25 x 49
    (q.CODES_BULK_ADD, {"discountId": "gid://shopify/DiscountCodeNode/1",
                        "codes": [{"code": "A"}] * 251}, "MAX_INPUT_SIZE_EXCEEDED", "251"),
    (q.WEBHOOK_CREATE, {"topic": "ORDERS_CREATE", "sub": {"callbackUrl": "https://x.example"}},
     "DEPRECATED", "callbackUrl"),
    (q.BULK_RUN, {"query": "{ orders { edges { node { id } } } }"}, None, "groupObjects"),
])
def test_the_schema_refuses_what_shopify_refuses(document: str, variables: dict,
                                                 code: str | None, words: str) -> None:
    with pytest.raises(ShopifyGraphQLError) as info:
        check(document, variables)
    error = info.value.errors[0]
    assert words in error["message"]
    assert (error.get("extensions") or {}).get("code") == code


def test_the_overlay_changes_the_group_objects_default() -> None:
    from tests.fakes.shopify.schema import admin_schema

    field = admin_schema().mutation_type.fields["bulkOperationRunQuery"]  # type: ignore[union-attr]
    assert field.args["groupObjects"].default_value is False


def test_page_sizes_stay_within_the_single_query_cap_on_large_buckets() -> None:
    # 49 points per order: half of a 1,000 bucket fits 10 orders, half of 4,000 would fit 40,
    # but one query may request at most 1,000 points: (1000 - 2) // 49 = 20 orders
    assert fit_page(10, 492, 1000.0) == 10
    assert fit_page(10, 492, 4000.0) == 20
    assert 2 + 20 * 49 <= 1000 < 2 + 21 * 49


def test_a_large_plan_sync_never_asks_for_more_than_1000_points(clock) -> None:
    adapter = ShopifyAdapter(sleep=clock.sleep, clock=clock)
    with FakeShopify(clock=clock, maximum=4000.0, restore_rate=200.0) as fake:
        fake.data.generate(orders=150, customers=5)
        got = [r for b in adapter.fetch_orders(fake.connection(bulk_threshold=None))
               for r in b.records]
        assert len(got) == 150
        assert fake.stats["refused"] == 0 and fake.stats["max_cost_exceeded"] == 0
        assert max(requested for _, requested in fake.levels) == 2 + 20 * 49


def test_guests_get_no_unique_code_and_the_batch_goes_through(fake: FakeShopify,
                                                              adapter: ShopifyAdapter) -> None:
    fake.data.generate(orders=0, customers=3)
    ids = sorted(fake.data.customers.nodes)[:2]
    targets = [DiscountTarget(ids[0], None, "G-1"),
               DiscountTarget("guest:anna@example.com", "anna@example.com", "G-2"),
               DiscountTarget(ids[1], None, "G-3")]
    results = list(adapter.push_discounts(fake.connection(), OFFER, targets))
    assert [(r.code, r.status) for r in results] == [
        ("G-1", "created"), ("G-2", "skipped"), ("G-3", "created")]
    assert results[1].reason == discounts.GUEST_REASON
    (discount,) = fake.data.discounts.values()
    assert discount["customers"] == [f"gid://shopify/Customer/{i}" for i in ids]
    assert fake.stats["refused"] == 0


def test_a_shared_code_reaches_guests_too(fake: FakeShopify, adapter: ShopifyAdapter) -> None:
    fake.data.generate(orders=0, customers=2)
    cid = sorted(fake.data.customers.nodes)[0]
    shared = DiscountOffer(title="All", kind="percentage", value=Decimal("10"),
                           starts_at=OFFER.starts_at, shared_code="WELCOME10")
    targets = [DiscountTarget(cid, None, "x"),
               DiscountTarget("guest:bo@example.com", "bo@example.com", "y")]
    results = list(adapter.push_discounts(fake.connection(), shared, targets))
    assert [(r.code, r.status) for r in results] == [("WELCOME10", "created")] * 2
    (discount,) = fake.data.discounts.values()
    assert discount["context"] == {"all": "ALL"} and discount["usageLimit"] == 2
