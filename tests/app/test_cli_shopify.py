"""`stammkunde shops add --platform shopify` for a custom app, then `stammkunde sync`."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from stammkunde.app.cli import cli
from stammkunde.core.models import Shop
from stammkunde.core.shops import credentials
from tests.fakes.shopify import FakeShopify


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_add_a_custom_app_shop_and_sync_it(cli_env: Path, sessions) -> None:
    with FakeShopify(maximum=1e9, restore_rate=1e9) as fake:
        fake.data.generate(orders=60, customers=25)
        result = invoke("shops", "add", "berlin", "--platform", "shopify",
                        "--domain", "Fake-Shop.myshopify.com", "--token", fake.token)
        assert result.output == "added shop berlin (shopify)\n"
        with sessions() as s, s.begin():
            shop = s.scalar(select(Shop).where(Shop.name == "berlin"))
            assert shop.domain == "fake-shop.myshopify.com"
            assert credentials(shop, "test-secret-key") == {"access_token": fake.token}
            assert shop.settings == {}  # the adapter uses its pinned API version
            # point the shop at the fake instead of the real Shopify
            shop.settings = {**shop.settings, "base_url": fake.base_url, "poll_interval": 0,
                             "bulk_threshold": None}
        result = invoke("sync", "berlin")
    assert result.output == ("customers: 25 new, 0 updated, 0 unchanged, 0 stale\n"
                             "orders: 60 new, 0 updated, 0 unchanged, 0 stale\n")


@pytest.mark.parametrize("args, message", [
    (["--domain", "shop.example.com", "--token", "t"], "not a Shopify shop domain"),
    (["--domain", "a.myshopify.com"], "needs --token"),
    (["--token", "t"], "needs --domain"),
    (["--domain", "a.myshopify.com", "--token", "t", "--consumer-key", "ck"],
     "takes no option(s): consumer_key"),
])
def test_add_refuses_bad_options(cli_env: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["shops", "add", "x", "--platform", "shopify", *args])
    assert result.exit_code == 2
    assert message in result.output
    assert result.output.count("\n") == 1                 # one line, no traceback
