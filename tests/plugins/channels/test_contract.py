"""The built-in channels pass the channel contract kit (as a third party's channel would)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from stammkunde.plugins.channels import OfferMessage, SendJob
from stammkunde.plugins.email.channel import EmailChannel
from stammkunde.plugins.shopchannel import ShopChannel
from stammkunde.plugins.shopify import ShopifyAdapter
from stammkunde.plugins.testing import ChannelContract
from tests.fakes.shopify import FakeClock, FakeShopify
from tests.plugins.channels.test_email import Inbox, smtp, write_config  # noqa: F401

MESSAGES = [OfferMessage(key=k, campaign_id=3, person_id=k, customer_id=str(1000 + k),
                         email=f"k{k}@kunde.example", first_name="Kim", locale="de",
                         code=f"SK-{k}", offer_text="10 % Rabatt",
                         expires_at=datetime(2025, 4, 1, tzinfo=UTC)) for k in (1, 2, 3)]


class TestEmailChannel(ChannelContract):
    @pytest.fixture
    def channel(self) -> EmailChannel:
        return EmailChannel()

    @pytest.fixture
    def send_job(self, tmp_path: Path, smtp: tuple[Inbox, int]) -> SendJob:  # noqa: F811
        write_config(tmp_path, smtp[1])
        from stammkunde.plugins.adapter import PlatformAdapter, ShopConnection

        return SendJob(campaign_id=3, campaign_name="c", shop=ShopConnection("laden", "csv"),
                       shop_id=1, shop_locale="de", adapter=PlatformAdapter(), home=tmp_path,
                       secret_key="k", tag=None, env={})

    @pytest.fixture
    def messages(self) -> list[OfferMessage]:
        return MESSAGES

    @pytest.fixture
    def received(self, smtp: tuple[Inbox, int]):  # type: ignore[no-untyped-def]  # noqa: F811
        return lambda: [int(re.search(r"sk3\.(\d+)", str(m["Message-ID"])).group(1))
                        for m in smtp[0].messages]


class TestShopChannelOnShopify(ChannelContract):
    @pytest.fixture
    def fake(self) -> Iterator[FakeShopify]:
        clock = FakeClock()
        with FakeShopify(clock=clock) as fake:
            fake.data.generate(orders=0, customers=3)
            fake.clock = clock  # type: ignore[attr-defined]
            yield fake

    @pytest.fixture
    def channel(self) -> ShopChannel:
        return ShopChannel()

    @pytest.fixture
    def send_job(self, fake: FakeShopify) -> SendJob:
        clock = fake.clock  # type: ignore[attr-defined]
        adapter = ShopifyAdapter(sleep=clock.sleep, clock=clock, wall_clock=lambda: 0.0)
        return SendJob(campaign_id=3, campaign_name="c", shop=fake.connection(), shop_id=1,
                       shop_locale="de", adapter=adapter, home=Path("."), secret_key=None,
                       tag=None)

    @pytest.fixture
    def messages(self) -> list[OfferMessage]:
        return [replace(m, email=None) for m in MESSAGES]
