"""The WooCommerce adapter passes the adapter contract kit against the fake store."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from stammkunde.plugins.adapter import ShopConnection
from stammkunde.plugins.testing import AdapterContract, WebhookSample
from stammkunde.plugins.woocommerce import WooCommerceAdapter
from tests.fakes.woocommerce import FakeWooCommerce

SECRET = "whsec-test"
T0 = datetime(2025, 3, 1, tzinfo=UTC)


@pytest.fixture
def store() -> Iterator[FakeWooCommerce]:
    """A fake store with more than one page of customers (150) and orders (230)."""
    with FakeWooCommerce() as fake:
        data = fake.data
        data.clock = T0
        for n in range(150):
            data.add_customer(f"kunde{n}@example.org", f"Vor{n}", f"Nach{n}",
                              created=T0 - timedelta(days=200))
        statuses = ("completed", "processing", "on-hold", "pending", "cancelled", "failed",
                    "refunded", "checkout-draft")
        for n in range(230):
            when = T0 - timedelta(days=199) + timedelta(hours=n)
            status = statuses[n % len(statuses)]
            if n % 3:
                order = data.add_order(customer_id=n % 150 + 1, status=status, total="40.00",
                                       created=when, coupons=["sommer10"] if n % 5 == 0 else ())
            else:
                order = data.add_order(email=f"gast{n}@example.net", status=status,
                                       total="25.50", created=when, created_via="pos-rest-api")
            if status == "refunded":
                data.refund(order["id"], order["total"], when=when + timedelta(days=1))
            elif n % 11 == 0:
                data.refund(order["id"], "5.00", when=when + timedelta(days=2))
        data.advance(minutes=5)
        yield fake


class TestWooCommerceContract(AdapterContract):
    """Run the kit: sync, webhooks, discounts and tags against the fake store."""

    @pytest.fixture
    def adapter(self, store: FakeWooCommerce) -> WooCommerceAdapter:
        return WooCommerceAdapter(sleep=lambda seconds: None, now=store.data.now)

    @pytest.fixture
    def shop(self, store: FakeWooCommerce) -> ShopConnection:
        return store.connection("contract")

    @pytest.fixture
    def webhook_secret(self) -> str:
        return SECRET

    @pytest.fixture
    def signature_header(self) -> str:
        return "X-WC-Webhook-Signature"

    @pytest.fixture
    def webhook_samples(self, store: FakeWooCommerce) -> Sequence[WebhookSample]:
        order = store.data.orders[max(store.data.orders)]
        refunded = next(o for o in store.data.orders.values() if o["refunds"])
        customer = store.data.customers[1]
        samples = [
            ("order.created", order, True),
            ("order.updated", refunded, True),
            ("order.restored", order, True),
            ("order.deleted", {"id": order["id"]}, True),
            ("customer.created", customer, True),
            ("customer.updated", customer, True),
            ("customer.deleted", {"id": customer["id"]}, True),
            ("coupon.updated", {"id": 5, "code": "x"}, False),
        ]
        out = []
        for topic, payload, expect in samples:
            headers, body = store.delivery(topic, payload, secret=SECRET)
            out.append(WebhookSample(headers, body, topic, expect))
        headers, body = store.ping(webhook_id=3)
        out.append(WebhookSample(headers, body, "ping", expect_records=False))
        return out

    @pytest.fixture
    def count_discounts(self, store: FakeWooCommerce) -> Callable[[], int]:
        return lambda: len(store.data.coupons)
