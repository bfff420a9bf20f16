"""A fake Shopify for tests and benchmarks: ``with FakeShopify() as shop: ...``."""

from stammkunde.plugins.shopify.fake.data import FakeData
from stammkunde.plugins.shopify.fake.server import Bucket, FakeClock, FakeShopify

__all__ = ["Bucket", "FakeClock", "FakeData", "FakeShopify"]
