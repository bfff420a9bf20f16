"""The kit fails adapters that break the contract (each test runs one kit check on a broken one)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import ClassVar

import pytest

from stammkunde.core.records import Batch, OrderRecord
from stammkunde.plugins.adapter import (
    Capability,
    PlatformAdapter,
    ShopConnection,
    WebhookEnvelope,
    WebhookRejected,
)
from stammkunde.plugins.testing import AdapterContract, WebhookSample

SHOP = ShopConnection(name="t", platform="mem")
START = datetime(2024, 1, 1, tzinfo=UTC)


def order(i: int, **change: object) -> OrderRecord:
    fields = dict(platform_id=str(i), created_at=START + timedelta(days=i),
                  total=Decimal("10.00"), currency="EUR", customer_id=f"c{i % 3}")
    return OrderRecord(**{**fields, **change})  # type: ignore[arg-type]


class InMemory(PlatformAdapter):
    """Six orders in pages of two; subclasses break one rule each."""

    name: ClassVar[str] = "mem"
    display_name: ClassVar[str] = "In memory"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.SYNC,
                                                               Capability.WEBHOOKS})
    orders: ClassVar[list[OrderRecord]] = [order(i) for i in range(6)]

    def page(self, start: int) -> list[OrderRecord]:
        return self.orders[start:start + 2]

    def fetch_orders(self, shop, since=None, cursor=None) -> Iterator[Batch]:  # type: ignore[no-untyped-def]
        start = int(cursor or 0)
        while start < len(self.orders):
            yield Batch(tuple(self.page(start)), cursor=str(start + 2))
            start += 2

    fetch_customers = fetch_orders

    def verify_webhook(self, headers, raw_body, secret) -> WebhookEnvelope:  # type: ignore[no-untyped-def]
        expected = hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, headers.get("X-Sig", "")):
            raise WebhookRejected("bad signature")
        return WebhookEnvelope("mem", "order", None, "d1", raw_body)

    def parse_webhook(self, envelope: WebhookEnvelope, shop) -> list:  # type: ignore[no-untyped-def]
        return [self.orders[0]]

    def subscribe_webhooks(self, shop, base_url) -> list[str]:  # type: ignore[no-untyped-def]
        return ["order"]


class Repeats(InMemory):
    def page(self, start: int) -> list[OrderRecord]:
        return self.orders[max(0, start - 1):start + 2]       # overlaps the previous page


class Skips(InMemory):
    def page(self, start: int) -> list[OrderRecord]:
        return self.orders[start + 1:start + 2]               # drops one per page


class FloatMoney(InMemory):
    orders: ClassVar[list[OrderRecord]] = [order(i, total=10.0) for i in range(6)]


class NaiveTimes(InMemory):
    orders: ClassVar[list[OrderRecord]] = [
        order(i, created_at=datetime(2024, 1, 1 + i)) for i in range(6)]


class TrustsAnySignature(InMemory):
    def verify_webhook(self, headers, raw_body, secret) -> WebhookEnvelope:  # type: ignore[no-untyped-def]
        return WebhookEnvelope("mem", "order", None, "d1", raw_body)


class ClaimsTags(InMemory):
    capabilities: ClassVar[frozenset[Capability]] = InMemory.capabilities | {Capability.TAGS}


KIT = AdapterContract()


def sample(secret: str = "s") -> list[WebhookSample]:
    body = b'{"id": 1}'
    return [WebhookSample({"X-Sig": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()},
                          body)]


def test_the_reference_adapter_passes() -> None:
    KIT.test_resume_from_every_cursor(InMemory(), SHOP, "orders")
    KIT.test_fetch_yields_canonical_batches(InMemory(), SHOP, "orders", {"orders": 6})
    KIT.test_webhook_bad_signature_rejected(InMemory(), sample(), "s", "X-Sig", "body")
    KIT.test_capabilities_match_implementation(InMemory())


def test_full_fetch_catches_repeats() -> None:
    with pytest.raises(AssertionError, match="repeated a record"):
        KIT.test_fetch_yields_canonical_batches(Repeats(), SHOP, "orders")


def test_full_fetch_catches_gaps_when_the_fake_says_how_many_it_holds() -> None:
    with pytest.raises(AssertionError, match="gave 3 records; the platform holds 6"):
        KIT.test_fetch_yields_canonical_batches(Skips(), SHOP, "orders", {"orders": 6})


class ResumesWrong(InMemory):
    """A full fetch is right, but a cursor resumes one record too early."""

    def fetch_orders(self, shop, since=None, cursor=None) -> Iterator[Batch]:  # type: ignore[no-untyped-def]
        return super().fetch_orders(shop, since, str(int(cursor) - 1) if cursor else None)


def test_resume_catches_a_cursor_that_resumes_in_the_wrong_place() -> None:
    with pytest.raises(AssertionError, match="repeated or skipped"):
        KIT.test_resume_from_every_cursor(ResumesWrong(), SHOP, "orders")


@pytest.mark.parametrize("broken, message", [(FloatMoney(), "Decimal"),
                                             (NaiveTimes(), "timezone-aware UTC")])
def test_fetch_catches_float_money_and_naive_times(broken: InMemory, message: str) -> None:
    with pytest.raises(AssertionError, match=message):
        KIT.test_fetch_yields_canonical_batches(broken, SHOP, "orders")


@pytest.mark.parametrize("tamper", ["body", "signature", "missing", "secret", "empty"])
def test_signature_check_catches_an_adapter_that_trusts_everything(tamper: str) -> None:
    with pytest.raises(pytest.fail.Exception):
        KIT.test_webhook_bad_signature_rejected(TrustsAnySignature(), sample(), "s", "X-Sig",
                                                tamper)


def test_capabilities_catch_a_claim_without_implementation() -> None:
    with pytest.raises(AssertionError, match="declares tags but lacks tag_customers"):
        KIT.test_capabilities_match_implementation(ClaimsTags())
