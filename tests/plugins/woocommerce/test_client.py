"""The REST client: retries with backoff, Retry-After, timeouts, politeness, auth errors."""

from __future__ import annotations

import pytest

from stammkunde.plugins.woocommerce.client import ClientOptions, WooClient, WooError
from tests.fakes.woocommerce import FakeWooCommerce

from .conftest import Sleeps


def client(fake: FakeWooCommerce, sleeps: Sleeps, **opts: object) -> WooClient:
    options = ClientOptions(**{"requests_per_second": None, "max_retries": 3, **opts})
    return WooClient(fake.url, fake.consumer_key, fake.consumer_secret, options, sleep=sleeps)


def test_429_waits_as_long_as_retry_after_says(fake: FakeWooCommerce, sleeps: Sleeps) -> None:
    fake.fail(429, times=2, retry_after="7")
    page = client(fake, sleeps).page("orders", {"per_page": 100})
    assert page.items == [] and page.total == 0
    assert sleeps == [7.0, 7.0]
    assert fake.count("GET", "orders") == 3


def test_500_backs_off_exponentially(fake: FakeWooCommerce, sleeps: Sleeps) -> None:
    fake.fail(500, times=3)
    c = client(fake, sleeps)
    c.page("orders", {})
    assert sleeps == [1.0, 2.0, 4.0]
    assert c.calls == 4 and c.retries == 3


def test_dropped_connection_is_retried(fake: FakeWooCommerce, sleeps: Sleeps) -> None:
    fake.drop(times=1)
    client(fake, sleeps).page("customers", {})
    assert sleeps == [1.0]


def test_timeout_is_retried(fake: FakeWooCommerce, sleeps: Sleeps) -> None:
    fake.stall(1.0, times=1)
    client(fake, sleeps, timeout=0.2).page("customers", {})
    assert sleeps == [1.0]


def test_gives_up_after_max_retries(fake: FakeWooCommerce, sleeps: Sleeps) -> None:
    fake.fail(503, times=None)
    with pytest.raises(WooError, match="503 to GET orders after 4 attempts"):
        client(fake, sleeps).page("orders", {})
    assert len(sleeps) == 3


def test_wrong_keys_are_a_clear_error_without_retries(fake: FakeWooCommerce,
                                                     sleeps: Sleeps) -> None:
    c = WooClient(fake.url, fake.consumer_key, "cs_wrong", ClientOptions(), sleep=sleeps)
    with pytest.raises(WooError, match="refused the API keys") as info:
        c.page("orders", {})
    assert info.value.status == 401 and sleeps == []


def test_politeness_spaces_requests(fake: FakeWooCommerce, sleeps: Sleeps) -> None:
    now = [100.0]
    c = WooClient(fake.url, fake.consumer_key, fake.consumer_secret,
                  ClientOptions(requests_per_second=2), sleep=sleeps, clock=lambda: now[0])
    c.page("orders", {})
    now[0] += 0.1
    c.page("orders", {})
    assert sleeps == [0.4]  # 1/2 s between starts, 0.1 s already passed


def test_https_store_with_basic_auth() -> None:
    with FakeWooCommerce(tls=True) as fake:
        fake.data.add_order(email="a@example.org")
        c = WooClient(fake.url, fake.consumer_key, fake.consumer_secret,
                      ClientOptions(verify=fake.ca_bundle or True))
        assert c.page("orders", {}).total == 1 and fake.last_auth == "basic"
        by_query = WooClient(fake.url, fake.consumer_key, fake.consumer_secret,
                             ClientOptions.from_settings({"ca_bundle": fake.ca_bundle,
                                                          "query_string_auth": "1"}))
        assert by_query.page("orders", {}).total == 1
        assert fake.last_auth == "query"
        bad = WooClient(fake.url, fake.consumer_key, "cs_nope",
                        ClientOptions(verify=fake.ca_bundle or True))
        with pytest.raises(WooError):
            bad.page("orders", {})


def test_per_page_above_100_is_refused_by_the_store(fake: FakeWooCommerce,
                                                    sleeps: Sleeps) -> None:
    with pytest.raises(WooError) as info:
        client(fake, sleeps).page("orders", {"per_page": 101})
    assert info.value.code == "rest_invalid_param"
