"""TinyShop runs Stammkunde's adapter contract kit against its fake."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
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
        body = json.dumps(fake.orders[0]).encode()
        signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        headers = {"X-Tiny-Topic": "order.saved", "X-Tiny-Delivery": "d-1",
                   "X-Tiny-Signature": signature}
        return [WebhookSample(headers, body, "order.saved")]

    @pytest.fixture
    def sample_file(self, fake: FakeTinyShop, tmp_path: Path) -> tuple[Path, str | None]:
        path = tmp_path / "tinyshop-orders.json"
        path.write_text(json.dumps({"orders": fake.orders}), encoding="utf-8")
        return path, None
