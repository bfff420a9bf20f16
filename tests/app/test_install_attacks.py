"""Attacks on the WooCommerce connect flow: shop takeover and SSRF (issue 14, items 1 and 2).

Each test sends the requests an attacker would send and checks the refusal and that the database
did not change: shops, their encrypted credentials, pending installs and dashboard sessions.
"""

from __future__ import annotations

import socket
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from stammkunde.app.web import app_context
from stammkunde.core.access import DashboardSession
from stammkunde.core.models import InstallNonce, Shop
from stammkunde.core.shops import credentials
from stammkunde.plugins.netguard import REFUSED, is_public, public_addresses
from tests.app.test_install_woocommerce import app, client, fake, scheduled, shops, start
from tests.fakes.woocommerce import FakeWooCommerce

__all__ = ["app", "client", "fake", "scheduled"]  # fixtures used by the tests below


def snapshot(app: Flask) -> dict[str, Any]:
    """Everything an attack on the connect flow could change."""
    with app_context(app).sessions() as db:
        return {
            "shops": [(s.id, s.name, s.domain, s.credentials, s.uninstalled_at)
                      for s in db.scalars(select(Shop).order_by(Shop.id))],
            "nonces": db.scalar(select(func.count()).select_from(InstallNonce)),
            "sessions": db.scalar(select(func.count()).select_from(DashboardSession)),
        }


def install(client: FlaskClient, fake: FakeWooCommerce) -> tuple[str, dict[str, Any]]:
    """The merchant connects the store in this browser; return the nonce and keys."""
    nonce = start(client, fake.url)
    keys = fake.grant(nonce)
    assert client.post("/install/woocommerce/callback", json=keys).status_code == 200
    assert client.get(f"/install/woocommerce/return?success=1&user_id={nonce}").status_code == 302
    return nonce, keys


def test_a_stranger_cannot_take_over_an_installed_store(app: Flask, fake: FakeWooCommerce,
                                                        scheduled: list[str]) -> None:
    merchant = app.test_client()
    _, keys = install(merchant, fake)
    (shop,) = shops(app)
    before = snapshot(app)
    attacker = app.test_client()
    # 1. the install page hands an installed store's nonce to nobody but its signed-in session
    resp = attacker.get("/install/woocommerce", query_string={"store_url": fake.url})
    assert resp.status_code == 403 and "already connected" in resp.get_json()["error"]
    # 2. made-up keys for a nonce of the store's own (e.g. a leaked one) are not stored
    with app_context(app).sessions() as db, db.begin():
        from stammkunde.core.installs import issue_nonce
        leaked = issue_nonce(db, "woocommerce", fake.url)
    before["nonces"] += 1
    made_up = {"key_id": 9, "user_id": leaked, "consumer_key": "ck_" + "1" * 40,
               "consumer_secret": "cs_" + "2" * 40, "key_permissions": "read_write"}
    resp = attacker.post("/install/woocommerce/callback", json=made_up)
    assert resp.status_code == 403 and resp.get_json()["error"] == \
        "the store did not accept these keys"
    # 3. the return link opens nothing
    back = attacker.get(f"/install/woocommerce/return?success=1&user_id={leaked}")
    assert back.status_code == 200
    assert attacker.get(f"/shops/{shop.name}/").status_code == 401
    assert attacker.get(f"/shops/{shop.name}/customers.csv").status_code == 401
    assert snapshot(app) == before
    assert credentials(shops(app)[0], "web-secret")["consumer_key"] == keys["consumer_key"]
    assert scheduled == [shop.name]
    assert merchant.get(f"/shops/{shop.name}/").status_code == 200  # the merchant is unharmed


def test_real_keys_on_a_strangers_nonce_do_not_rebind_an_installed_store(
        app: Flask, fake: FakeWooCommerce) -> None:
    """Even keys the store accepts need a reconnect started by the shop's own session."""
    install(app.test_client(), fake)
    with app_context(app).sessions() as db, db.begin():
        from stammkunde.core.installs import issue_nonce
        nonce = issue_nonce(db, "woocommerce", fake.url)  # not a reconnect
    before = snapshot(app)
    resp = app.test_client().post("/install/woocommerce/callback", json=fake.grant(nonce))
    assert resp.status_code == 403
    assert snapshot(app) == before


def test_unverified_keys_for_a_new_store_store_nothing(app: Flask, client: FlaskClient,
                                                       fake: FakeWooCommerce,
                                                       scheduled: list[str]) -> None:
    nonce = start(client, fake.url)
    before = snapshot(app)
    made_up = {"key_id": 1, "user_id": nonce, "consumer_key": "ck_" + "a" * 40,
               "consumer_secret": "cs_" + "b" * 40, "key_permissions": "read_write"}
    resp = client.post("/install/woocommerce/callback", json=made_up)
    assert resp.status_code == 403
    assert snapshot(app) == before and shops(app) == [] and scheduled == []
    assert fake.data.webhooks == {}
    # the nonce was not spent: the store's genuine callback still connects the shop
    assert client.post("/install/woocommerce/callback", json=fake.grant(nonce)).status_code == 200
    assert len(shops(app)) == 1


def test_the_signed_in_merchant_reconnects_and_old_sessions_end(app: Flask,
                                                               fake: FakeWooCommerce) -> None:
    merchant, laptop = app.test_client(), app.test_client()
    install(merchant, fake)
    (shop,) = shops(app)
    laptop_nonce = start(merchant, fake.url)  # a reconnect started by the signed-in session
    with merchant.session_transaction() as saved:
        copied = dict(saved)  # the old cookie, kept by another browser
    with laptop.session_transaction() as other:
        other.update(copied)
    keys = fake.grant(laptop_nonce)
    assert merchant.post("/install/woocommerce/callback", json=keys).status_code == 200
    assert credentials(shops(app)[0], "web-secret")["consumer_key"] == keys["consumer_key"]
    assert laptop.get(f"/shops/{shop.name}/").status_code == 401  # revoked by the reconnect
    back = merchant.get(f"/install/woocommerce/return?success=1&user_id={laptop_nonce}")
    assert back.status_code == 302 and merchant.get(f"/shops/{shop.name}/").status_code == 200


SSRF_URLS = [
    "https://127.0.0.1:6379",
    "localhost:6379",
    "http://169.254.169.254/latest/meta-data",
    "https://0x7f000001",
    "https://2130706433",
    "https://127.1",
    "https://[::1]:8443",
    "https://[::ffff:127.0.0.1]",
    "https://[::ffff:7f00:1]",
    "https://10.0.0.8",
    "https://192.168.1.1",
    "https://172.16.0.1",
    "https://100.64.0.1",
    "https://0.0.0.0",
    "https://[::]",
    "https://224.0.0.1",
    "https://240.0.0.1",
    "https://[fe80::1]",
    "https://[fd00::1]",
    "https://[2002:7f00:1::]",  # 6to4 around 127.0.0.1
    "https://[64:ff9b::a9fe:a9fe]",  # NAT64 around 169.254.169.254
    "https://does-not-resolve.invalid",
]


@pytest.mark.parametrize("url", SSRF_URLS)
def test_internal_store_urls_are_refused_before_connecting(
        url: str, app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STAMMKUNDE_ALLOW_HOSTS", raising=False)
    monkeypatch.setenv("STAMMKUNDE_ALLOW_HTTP_STORES", "1")
    connects: list[Any] = []
    monkeypatch.setattr(socket.socket, "connect", lambda self, addr: connects.append(addr))
    resp = client.get("/install/woocommerce", query_string={"store_url": url})
    assert resp.status_code == 400 and resp.get_json() == {"error": REFUSED}
    assert connects == []
    assert snapshot(app) == {"shops": [], "nonces": 0, "sessions": 0}


def test_every_later_request_is_checked_again(app: Flask, client: FlaskClient,
                                              fake: FakeWooCommerce,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """DNS rebinding: the name was public at the start and points inside at the callback."""
    nonce = start(client, fake.url)  # allowed while STAMMKUNDE_ALLOW_HOSTS names 127.0.0.1
    monkeypatch.delenv("STAMMKUNDE_ALLOW_HOSTS")
    before = snapshot(app)
    resp = client.post("/install/woocommerce/callback", json=fake.grant(nonce))
    assert resp.status_code == 403 and resp.get_json() == {"error": REFUSED}
    assert snapshot(app) == before
    assert [c for c in fake.calls if c[0] == "GET"] == []  # the store was never contacted


def test_rebinding_between_check_and_connect_is_pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    """The address checked is the address connected to, whatever DNS says the second time."""
    from stammkunde.plugins import netguard

    answers = iter(["93.184.215.14", "127.0.0.1"])
    real = socket.getaddrinfo

    def rebinding(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "rebind.example":
            return real(next(answers), port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.delenv("STAMMKUNDE_ALLOW_HOSTS", raising=False)
    monkeypatch.setattr(netguard.socket, "getaddrinfo", rebinding)
    netguard.check_url("https://rebind.example")  # first answer: public
    with pytest.raises(netguard.AddressRefused):  # second answer, at connect time: refused
        netguard.guarded_session().get("https://rebind.example/", timeout=2)


def test_address_classes() -> None:
    import ipaddress

    assert is_public(ipaddress.ip_address("93.184.215.14"))
    assert is_public(ipaddress.ip_address("2606:2800:21f:cb07:6820:80da:af6b:8b2c"))
    for text in ("127.0.0.1", "10.1.2.3", "169.254.169.254", "::1", "::ffff:10.0.0.1",
                 "fe80::1", "ff02::1", "0.0.0.0", "::", "192.0.2.1", "198.18.0.1"):
        assert not is_public(ipaddress.ip_address(text)), text


def test_operator_allowed_hosts_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STAMMKUNDE_ALLOW_HOSTS", "127.0.0.1, localhost")
    assert public_addresses("localhost", 80)
    assert public_addresses("127.0.0.1", 80)
    monkeypatch.setenv("STAMMKUNDE_ALLOW_HOSTS", "")
    with pytest.raises(Exception, match="public web server"):
        public_addresses("localhost", 80)


def test_authorize_redirect_for_an_allowed_host(client: FlaskClient,
                                                fake: FakeWooCommerce) -> None:
    resp = client.get("/install/woocommerce", query_string={"store_url": fake.url})
    query = parse_qs(urlsplit(resp.headers["Location"]).query)
    assert resp.status_code == 302 and query["user_id"]
