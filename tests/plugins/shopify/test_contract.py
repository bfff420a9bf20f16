"""The Shopify adapter passes the adapter contract kit against the fake Shopify."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from stammkunde.plugins.adapter import ShopConnection
from stammkunde.plugins.shopify import ShopifyAdapter
from stammkunde.plugins.shopify.oauth import query_hmac
from stammkunde.plugins.testing import AdapterContract, WebhookSample
from tests.fakes.shopify import FakeShopify
from tests.plugins.shopify.conftest import SECRET, delivery, payload

TOPICS = ("orders/create", "orders/updated", "orders/paid", "orders/cancelled", "refunds/create",
          "customers/create", "customers/update", "app/uninstalled", "customers/data_request",
          "customers/redact", "shop/redact")


class TestShopifyContract(AdapterContract):
    """Small pages so every resume point is exercised."""

    @pytest.fixture
    def adapter(self, adapter: ShopifyAdapter) -> ShopifyAdapter:
        return adapter

    @pytest.fixture
    def shop(self, fake: FakeShopify) -> ShopConnection:
        return fake.connection(page_size=7, customer_page_size=10, bulk_threshold=None)

    @pytest.fixture
    def webhook_secret(self) -> str:
        return SECRET

    @pytest.fixture
    def signature_header(self) -> str:
        return "X-Shopify-Hmac-Sha256"

    @pytest.fixture
    def webhook_samples(self) -> Sequence[WebhookSample]:
        out = []
        for i, topic in enumerate(TOPICS):
            body = payload(topic.replace("/", "_"))
            out.append(WebhookSample(delivery(topic, body, event_id=f"evt-{i}"), body, topic))
        return out

    @pytest.fixture
    def install_query(self) -> tuple[dict[str, str], str]:
        query = {"code": "0907a61c0c8d55e99db179b68161bc00", "host": "YWRtaW4uc2hvcGlmeS5jb20v",
                 "shop": "example.myshopify.com", "state": "nonce-1", "timestamp": "1700000000"}
        return {**query, "hmac": query_hmac(query, SECRET)}, SECRET

    @pytest.fixture
    def platform_counts(self, fake: FakeShopify) -> dict[str, int]:
        return {"orders": fake.data.orders.count(), "customers": fake.data.customers.count()}

    @pytest.fixture
    def count_discounts(self, fake: FakeShopify) -> Callable[[], int]:
        return lambda: len(fake.data.codes)
