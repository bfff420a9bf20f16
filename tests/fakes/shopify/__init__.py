"""A fake Shopify for tests and benchmarks: ``with FakeShopify() as shop: ...``."""

from tests.fakes.shopify.data import FakeData
from tests.fakes.shopify.server import Bucket, FakeClock, FakeShopify

__all__ = ["Bucket", "FakeClock", "FakeData", "FakeShopify"]
