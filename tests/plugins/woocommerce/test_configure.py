"""Store URLs, ``configure_shop`` and ``stammkunde shops add --platform woocommerce``."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner

from stammkunde.core.errors import UserError
from stammkunde.plugins.woocommerce import WooCommerceAdapter
from stammkunde.plugins.woocommerce.store_url import (
    authorize_url,
    normalize_store_url,
    shop_name_for,
)

KEY, SECRET = "ck_" + "a" * 40, "cs_" + "b" * 40


@pytest.mark.parametrize(("given", "expected"), [
    ("https://Shop.Example.com/", "https://shop.example.com"),
    ("shop.example.com", "https://shop.example.com"),
    ("https://example.com:443/store/", "https://example.com/store"),
    ("https://example.com:8443", "https://example.com:8443"),
])
def test_store_urls_are_normalised(given: str, expected: str) -> None:
    assert normalize_store_url(given) == expected


@pytest.mark.parametrize("bad", ["", "ftp://x.example", "https://", "https://u:p@x.example",
                                 "https://x.example/?a=1"])
def test_bad_store_urls_are_refused(bad: str) -> None:
    with pytest.raises(UserError):
        normalize_store_url(bad)


def test_plain_http_is_refused_unless_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UserError, match="plain http"):
        normalize_store_url("http://shop.example.com")
    assert normalize_store_url("http://127.0.0.1:8080", allow_http=True) == \
        "http://127.0.0.1:8080"
    monkeypatch.delenv("STAMMKUNDE_ALLOW_HTTP_STORES", raising=False)
    with pytest.raises(UserError, match="plain http"):
        WooCommerceAdapter().configure_shop({"url": "http://shop.example.com",
                                             "consumer_key": KEY, "consumer_secret": SECRET})
    monkeypatch.setenv("STAMMKUNDE_ALLOW_HTTP_STORES", "1")
    setup = WooCommerceAdapter().configure_shop({"url": "http://localhost:8080",
                                                 "consumer_key": KEY, "consumer_secret": SECRET})
    assert setup.settings["allow_http"] is True


def test_authorize_url_carries_the_key_exchange_parameters() -> None:
    url = authorize_url("https://shop.example.com", nonce="n0nce",
                        return_url="https://app.example/r", callback_url="https://app.example/c")
    parts = urlsplit(url)
    assert parts.netloc == "shop.example.com" and parts.path == "/wc-auth/v1/authorize"
    assert parse_qs(parts.query) == {
        "app_name": ["Stammkunde"], "scope": ["read_write"], "user_id": ["n0nce"],
        "return_url": ["https://app.example/r"], "callback_url": ["https://app.example/c"]}
    assert shop_name_for("https://example.com/store") == "example.com-store"


def test_configure_shop_checks_and_keeps_the_keys() -> None:
    setup = WooCommerceAdapter().configure_shop({"url": "shop.example.com", "consumer_key": KEY,
                                                 "consumer_secret": SECRET,
                                                 "webhook_secret": "s3cret"})
    assert setup.domain == "https://shop.example.com"
    assert setup.settings == {"url": "https://shop.example.com"}
    assert setup.credentials == {"consumer_key": KEY, "consumer_secret": SECRET,
                                 "webhook_secret": "s3cret"}
    generated = WooCommerceAdapter().configure_shop({"url": "shop.example.com",
                                                     "consumer_key": KEY,
                                                     "consumer_secret": SECRET})
    assert len(generated.credentials["webhook_secret"]) >= 40


@pytest.mark.parametrize(("options", "message"), [
    ({"consumer_key": KEY, "consumer_secret": SECRET}, "store URL is missing"),
    ({"url": "shop.example.com", "consumer_key": KEY}, "needs consumer key"),
    ({"url": "shop.example.com", "consumer_key": SECRET, "consumer_secret": KEY}, "start with ck_"),
    ({"url": "shop.example.com", "token": "shpat_x"}, "token is for Shopify"),
])
def test_configure_shop_errors_name_the_option(options: dict, message: str) -> None:
    with pytest.raises(UserError, match=message):
        WooCommerceAdapter().configure_shop(options)


def test_shops_add_stores_the_keys_encrypted(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from stammkunde.app.cli import cli
    from stammkunde.core.db import make_engine, session_factory
    from stammkunde.core.shops import credentials
    from stammkunde.core.store import get_shop

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("STAMMKUNDE_DATABASE_URL", url)
    monkeypatch.setenv("STAMMKUNDE_SECRET_KEY", "k")
    monkeypatch.setenv("STAMMKUNDE_LOAD_PLUGINS", "")
    result = CliRunner().invoke(cli, ["shops", "add", "laden", "--platform", "woocommerce",
                                      "--url", "https://laden.example", "--consumer-key", KEY,
                                      "--consumer-secret", SECRET, "--webhook-secret", "w"])
    assert result.exit_code == 0, result.output
    with session_factory(make_engine(url))() as session:
        shop = get_shop(session, "laden")
        assert shop.domain == "https://laden.example"
        assert KEY.encode() not in (shop.credentials or b"")
        assert credentials(shop, "k") == {"consumer_key": KEY, "consumer_secret": SECRET,
                                          "webhook_secret": "w"}
