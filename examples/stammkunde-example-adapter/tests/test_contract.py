"""TinyShop runs Stammkunde's adapter contract kit against its fake."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from stammkunde_example import TinyShopAdapter
from stammkunde_example.fake import FakeTinyShop

from stammkunde.plugins import ShopConnection
from stammkunde.plugins.testing import AdapterContract, WebhookSample

SECRET = "tiny-secret"


class TestTinyShop(AdapterContract):
    @pytest.fixture
    def adapter(self) -> TinyShopAdapter:
        return TinyShopAdapter()

    @pytest.fixture
    def fake(self) -> Iterator[FakeTinyShop]:
        with FakeTinyShop() as fake:
            yield fake

    @pytest.fixture
    def shop(self, fake: FakeTinyShop) -> ShopConnection:
        return ShopConnection(name="tiny", platform="tinyshop",
                              options={"base_url": fake.base_url})

    @pytest.fixture
    def platform_counts(self, fake: FakeTinyShop) -> dict[str, int]:
        return {"orders": len(fake.orders), "customers": len(fake.customers)}

    @pytest.fixture
    def webhook_secret(self) -> str:
        return SECRET

    @pytest.fixture
    def signature_header(self) -> str:
        return "X-Tiny-Signature"

    @pytest.fixture
    def webhook_samples(self, fake: FakeTinyShop) -> list[WebhookSample]:
        return [delivery(fake.orders[0])]

    @pytest.fixture
    def order_webhook(self, fake: FakeTinyShop) -> Callable[[str], WebhookSample]:
        """TinyShop's ``order.saved`` webhook carries the order as its API returns it."""
        return lambda platform_id: delivery(
            next(o for o in fake.orders if str(o["id"]) == platform_id))

    @pytest.fixture
    def sample_file(self, fake: FakeTinyShop, tmp_path: Path) -> tuple[Path, str | None]:
        path = tmp_path / "tinyshop-orders.json"
        path.write_text(json.dumps({"orders": fake.orders}), encoding="utf-8")
        return path, None


def delivery(order: dict) -> WebhookSample:
    """A signed ``order.saved`` delivery of one order."""
    body = json.dumps(order).encode()
    signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {"X-Tiny-Topic": "order.saved", "X-Tiny-Delivery": f"d-{order['id']}",
               "X-Tiny-Signature": signature}
    return WebhookSample(headers, body, "order.saved")
