"""Connecting a WooCommerce store: redirect, key exchange callback, webhooks, scheduled sync."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from stammkunde.app.context import AppContext
from stammkunde.app.jobs import huey, schedule_sync
from stammkunde.app.web import app_context, create_app
from stammkunde.core.config import Settings
from stammkunde.core.installs import issue_nonce
from stammkunde.core.job_models import Job, JobState
from stammkunde.core.models import InstallNonce, Order, Shop
from stammkunde.core.shops import credentials
from stammkunde.core.timeutil import now
from stammkunde.plugins.manager import plugins_for_test
from tests.fakes.woocommerce import FakeWooCommerce

PUBLIC = "https://app.example"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeWooCommerce]:
    monkeypatch.setenv("STAMMKUNDE_ALLOW_HTTP_STORES", "1")  # the fake store speaks plain http
    with FakeWooCommerce() as store, plugins_for_test():
        yield store


@pytest.fixture
def scheduled() -> list[str]:
    return []


@pytest.fixture
def app(tmp_path: Path, scheduled: list[str]) -> Flask:
    settings = Settings(home=tmp_path, database_url=f"sqlite:///{tmp_path / 'web.db'}",
                        secret_key="web-secret")
    return create_app({"TESTING": True, "PUBLIC_URL": PUBLIC,
                       "SCHEDULE_SYNC": lambda name, ctx: scheduled.append(name)}, settings)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def shops(app: Flask) -> list[Shop]:
    with app_context(app).sessions() as session:
        return list(session.scalars(select(Shop)))


def start(client: FlaskClient, store_url: str) -> str:
    """Begin an install and return the nonce sent to the store."""
    resp = client.get("/install/woocommerce", query_string={"store_url": store_url})
    assert resp.status_code == 302
    query = parse_qs(urlsplit(resp.headers["Location"]).query)
    return query["user_id"][0]


def test_install_redirects_to_the_stores_authorize_page(client: FlaskClient, app: Flask,
                                                        fake: FakeWooCommerce) -> None:
    resp = client.get("/install/woocommerce", query_string={"store_url": fake.url + "/"})
    assert resp.status_code == 302
    location = urlsplit(resp.headers["Location"])
    assert f"{location.scheme}://{location.netloc}" == fake.url
    assert location.path == "/wc-auth/v1/authorize"
    query = parse_qs(location.query)
    assert query["scope"] == ["read_write"] and query["app_name"] == ["Stammkunde"]
    assert query["callback_url"] == [f"{PUBLIC}/install/woocommerce/callback"]
    assert query["return_url"] == [f"{PUBLIC}/install/woocommerce/return"]
    with app_context(app).sessions() as session:
        (row,) = session.scalars(select(InstallNonce))
        assert row.nonce_hash != query["user_id"][0]  # only the digest is kept
        assert row.store_url == fake.url


def test_plain_http_store_is_refused(client: FlaskClient, app: Flask,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STAMMKUNDE_ALLOW_HTTP_STORES", raising=False)
    resp = client.get("/install/woocommerce", query_string={"store_url": "http://shop.example"})
    assert resp.status_code == 400 and "plain http" in resp.get_json()["error"]
    with app_context(app).sessions() as session:
        assert session.scalar(select(func.count()).select_from(InstallNonce)) == 0


def test_keys_for_an_unknown_nonce_are_refused_and_nothing_is_stored(
        client: FlaskClient, app: Flask, fake: FakeWooCommerce, scheduled: list[str]) -> None:
    start(client, fake.url)
    resp = client.post("/install/woocommerce/callback", json=fake.grant("forged-nonce"))
    assert resp.status_code == 403
    assert shops(app) == [] and fake.data.webhooks == {} and scheduled == []


def test_key_exchange_stores_keys_creates_webhooks_and_schedules_the_sync(
        client: FlaskClient, app: Flask, fake: FakeWooCommerce, scheduled: list[str]) -> None:
    nonce = start(client, fake.url)
    keys = fake.grant(nonce)
    resp = client.post("/install/woocommerce/callback", json=keys)
    assert resp.status_code == 200, resp.get_json()
    (shop,) = shops(app)
    assert shop.platform == "woocommerce" and shop.domain == fake.url
    assert keys["consumer_secret"].encode() not in (shop.credentials or b"")
    stored = credentials(shop, "web-secret")
    assert stored["consumer_key"] == keys["consumer_key"]
    assert stored["consumer_secret"] == keys["consumer_secret"]
    hooks = list(fake.data.webhooks.values())
    assert sorted(h["topic"] for h in hooks) == sorted([
        "order.created", "order.updated", "order.deleted", "order.restored",
        "customer.created", "customer.updated", "customer.deleted"])
    assert {h["delivery_url"] for h in hooks} == {f"{PUBLIC}/webhooks/woocommerce"}
    assert {h["secret"] for h in hooks} == {stored["webhook_secret"]}
    assert scheduled == [shop.name]
    # the nonce is single use: the same post again is refused and changes nothing
    again = client.post("/install/woocommerce/callback", json=fake.grant(nonce))
    assert again.status_code == 403 and len(shops(app)) == 1 and scheduled == [shop.name]


def test_expired_nonce_is_refused(client: FlaskClient, app: Flask,
                                  fake: FakeWooCommerce) -> None:
    with app_context(app).sessions() as session, session.begin():
        nonce = issue_nonce(session, "woocommerce", fake.url, at=now() - timedelta(hours=1))
    resp = client.post("/install/woocommerce/callback", json=fake.grant(nonce))
    assert resp.status_code == 403 and shops(app) == []


def test_read_only_key_is_refused(client: FlaskClient, app: Flask,
                                  fake: FakeWooCommerce) -> None:
    nonce = start(client, fake.url)
    resp = client.post("/install/woocommerce/callback", json=fake.grant(nonce, "read"))
    assert resp.status_code == 400 and shops(app) == []


def test_reconnecting_keeps_the_webhook_secret(client: FlaskClient, app: Flask,
                                               fake: FakeWooCommerce) -> None:
    client.post("/install/woocommerce/callback", json=fake.grant(start(client, fake.url)))
    first = credentials(shops(app)[0], "web-secret")
    new_keys = fake.grant(start(client, fake.url))
    assert client.post("/install/woocommerce/callback", json=new_keys).status_code == 200
    (shop,) = shops(app)
    second = credentials(shop, "web-secret")
    assert second["consumer_key"] == new_keys["consumer_key"]
    assert second["webhook_secret"] == first["webhook_secret"]
    assert len(fake.data.webhooks) == 7  # existing active webhooks are not created twice


def test_return_page(client: FlaskClient) -> None:
    assert client.get("/install/woocommerce/return?success=1&user_id=x").status_code == 200
    assert client.get("/install/woocommerce/return?success=0&user_id=x").status_code == 400


def test_schedule_sync_runs_the_historic_sync_in_the_background(
        client: FlaskClient, app: Flask, fake: FakeWooCommerce) -> None:
    fake.data.add_order(email="a@example.org")
    fake.data.advance(minutes=1)
    client.post("/install/woocommerce/callback", json=fake.grant(start(client, fake.url)))
    ctx: AppContext = app_context(app)
    huey.immediate = True  # the queued job runs here instead of on a worker
    try:
        job_id = schedule_sync(shops(app)[0].name, ctx)
    finally:
        huey.immediate = False
    with ctx.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Order)) == 1
        assert session.get(Job, job_id).state == JobState.DONE  # type: ignore[union-attr]


def test_webhook_failure_does_not_lose_the_keys(client: FlaskClient, app: Flask,
                                                fake: FakeWooCommerce,
                                                scheduled: list[str]) -> None:
    fake.fail(500, times=None, path="webhooks")  # the store cannot list or create webhooks
    resp = client.post("/install/woocommerce/callback", json=fake.grant(start(client, fake.url)))
    assert resp.status_code == 200  # WooCommerce would delete the key on any other answer
    (shop,) = shops(app)
    assert "500" in shop.settings["webhooks_error"]
    assert scheduled == [shop.name]


def test_the_installing_browser_lands_on_its_dashboard(client: FlaskClient, app: Flask,
                                                       fake: FakeWooCommerce) -> None:
    nonce = start(client, fake.url)
    assert client.post("/install/woocommerce/callback", json=fake.grant(nonce)).status_code == 200
    (shop,) = shops(app)
    back = client.get(f"/install/woocommerce/return?success=1&user_id={nonce}")
    assert back.status_code == 302
    assert back.headers["Location"] == f"/shops/{shop.name}/"
    assert client.get(f"/shops/{shop.name}/").status_code == 200


def test_another_browser_with_the_return_link_is_not_signed_in(
        client: FlaskClient, app: Flask, fake: FakeWooCommerce) -> None:
    nonce = start(client, fake.url)
    client.post("/install/woocommerce/callback", json=fake.grant(nonce))
    (shop,) = shops(app)
    stranger = app.test_client()
    back = stranger.get(f"/install/woocommerce/return?success=1&user_id={nonce}")
    assert back.status_code == 200 and "connected" in back.get_data(as_text=True)
    assert stranger.get(f"/shops/{shop.name}/").status_code == 401
    # Before the keys arrived there is nothing to open, even for the installing browser.
    other = start(client, fake.url)
    assert client.get(f"/install/woocommerce/return?success=1&user_id={other}").status_code == 200
