"""Fixtures for the Shopify adapter tests: a fake shop on a shared fake clock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stammkunde.plugins.shopify import ShopifyAdapter
from stammkunde.plugins.shopify.webhooks import sign
from tests.fakes.shopify import FakeClock, FakeShopify

PAYLOADS = Path(__file__).with_name("payloads")
SECRET = "hush-app-secret"
NOW = 1_700_000_100.0  # wall-clock seconds the adapter sees (OAuth timestamps)


def payload(name: str) -> bytes:
    """The raw body of a stored webhook payload (``payloads/<name>.json``)."""
    return (PAYLOADS / f"{name}.json").read_bytes()


def delivery(topic: str, body: bytes, secret: str = SECRET, event_id: str | None = "evt-1",
             **extra: str) -> dict[str, str]:
    """The headers Shopify sends with a delivery of ``body`` on ``topic``."""
    headers = {
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": sign(body, secret),
        "X-Shopify-Shop-Domain": "example.myshopify.com",
        "X-Shopify-Webhook-Id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
        "X-Shopify-Triggered-At": "2024-03-05T15:15:03.123456Z",
        "X-Shopify-API-Version": "2026-10",
        "Content-Type": "application/json",
    }
    if event_id is not None:
        headers["X-Shopify-Event-Id"] = event_id
    headers.update(extra)
    return headers


def as_json(body: bytes) -> Any:
    """Parse a payload body."""
    return json.loads(body)


@pytest.fixture
def clock() -> FakeClock:
    """One clock for the fake's bucket and the client's sleeps."""
    return FakeClock()


@pytest.fixture
def fake(clock: FakeClock) -> Iterator[FakeShopify]:
    """A running fake shop with 60 orders and 25 customers."""
    with FakeShopify(clock=clock) as shop:
        shop.data.generate(orders=60, customers=25)
        yield shop


@pytest.fixture
def adapter(clock: FakeClock) -> ShopifyAdapter:
    """The adapter, sleeping on the fake clock."""
    return ShopifyAdapter(sleep=clock.sleep, clock=clock, wall_clock=lambda: NOW)
