"""Installing the public Shopify app: every bad callback is refused and stores nothing."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import responses
import shopify
from flask import Flask
from sqlalchemy import func, select

from stammkunde.app.web import create_app
from stammkunde.core.config import Settings
from stammkunde.core.installs import issue_nonce
from stammkunde.core.models import InstallNonce, Shop
from stammkunde.core.shops import credentials
from stammkunde.core.timeutil import now
from stammkunde.plugins.shopify.client import DEFAULT_API_VERSION
from stammkunde.plugins.shopify.oauth import query_hmac

KEY, SECRET = "app-key-123", "app-secret-456"
SHOP = "example.myshopify.com"
GRAPHQL = f"https://{SHOP}/admin/api/{DEFAULT_API_VERSION}/graphql.json"


@pytest.fixture
def app(tmp_path: Path, database_url: str, engine) -> Flask:
    settings = Settings(home=tmp_path, database_url=database_url, secret_key="k" * 32)
    scheduled: list[str] = []
    app = create_app({"TESTING": True, "STAMMKUNDE_SHOPIFY_API_KEY": KEY,
                      "STAMMKUNDE_SHOPIFY_API_SECRET": SECRET,
                      "PUBLIC_URL": "https://sk.example.com",
                      "SCHEDULE_SYNC": lambda name, ctx: scheduled.append(name)}, settings)
    app.config["scheduled"] = scheduled
    return app


def signed(params: dict[str, str], secret: str = SECRET) -> dict[str, str]:
    return {**params, "hmac": query_hmac(params, secret)}


def start(client, shop: str = SHOP) -> str:
    resp = client.get(f"/install/shopify?shop={shop}")
    assert resp.status_code == 302
    return parse_qs(urlparse(resp.headers["Location"]).query)["state"][0]


def counts(sessions) -> tuple[int, int]:
    with sessions() as s:
        return (s.scalar(select(func.count()).select_from(Shop)),
                s.scalar(select(func.count()).select_from(InstallNonce)
                         .where(InstallNonce.used_at.is_not(None))))


def test_start_redirects_to_authorize_with_scopes_and_state(app: Flask, sessions) -> None:
    resp = app.test_client().get(f"/install/shopify?shop={SHOP}")
    url = urlparse(resp.headers["Location"])
    query = parse_qs(url.query)
    assert (url.scheme, url.netloc, url.path) == ("https", SHOP, "/admin/oauth/authorize")
    assert query["client_id"] == [KEY]
    assert query["scope"] == ["read_orders,read_all_orders,read_customers,write_customers,"
                              "read_discounts,write_discounts"]
    assert query["redirect_uri"] == ["https://sk.example.com/install/shopify/callback"]
    with sessions() as s:
        (row,) = s.scalars(select(InstallNonce)).all()
    assert row.nonce_hash != query["state"][0]       # only a digest is stored
    assert row.store_url == SHOP


@pytest.mark.parametrize("shop", ["evil.example.com", "example.myshopify.com.evil.io",
                                  "https://example.myshopify.com", ""])
def test_start_refuses_other_domains(app: Flask, sessions, shop: str) -> None:
    resp = app.test_client().get("/install/shopify", query_string={"shop": shop})
    assert resp.status_code == 400
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(InstallNonce)) == 0


def callback_params(state: str, shop: str = SHOP) -> dict[str, str]:
    return {"code": "c0de", "host": "YWRtaW4uc2hvcGlmeS5jb20v", "shop": shop, "state": state,
            "timestamp": str(int(time.time()))}


def test_bad_hmac_is_refused_and_nothing_stored(app: Flask, sessions) -> None:
    client = app.test_client()
    state = start(client)
    params = signed(callback_params(state), secret="not-the-app-secret")
    assert client.get("/install/shopify/callback", query_string=params).status_code == 401
    assert counts(sessions) == (0, 0)                  # no shop, the nonce is still unused


def test_unknown_state_is_refused_and_nothing_stored(app: Flask, sessions) -> None:
    client = app.test_client()
    start(client)
    params = signed(callback_params("forged-state"))
    assert client.get("/install/shopify/callback", query_string=params).status_code == 403
    assert counts(sessions) == (0, 0)


def test_state_of_another_shop_is_refused(app: Flask, sessions) -> None:
    client = app.test_client()
    state = start(client, "other.myshopify.com")
    params = signed(callback_params(state))
    assert client.get("/install/shopify/callback", query_string=params).status_code == 403
    assert counts(sessions) == (0, 0)


def test_expired_state_is_refused(app: Flask, sessions) -> None:
    with sessions() as s, s.begin():
        state = issue_nonce(s, "shopify", SHOP, ttl=timedelta(minutes=10),
                            at=now() - timedelta(minutes=11))
    params = signed(callback_params(state))
    resp = app.test_client().get("/install/shopify/callback", query_string=params)
    assert resp.status_code == 403
    assert counts(sessions) == (0, 0)


def test_signed_callback_for_a_foreign_domain_is_refused(app: Flask, sessions) -> None:
    client = app.test_client()
    with sessions() as s, s.begin():
        state = issue_nonce(s, "shopify", "evil.example.com")
    params = signed(callback_params(state, shop="evil.example.com"))
    assert client.get("/install/shopify/callback", query_string=params).status_code == 401
    assert counts(sessions) == (0, 0)


def _webhook_answer(request) -> tuple[int, dict, str]:
    topic = json.loads(request.body)["variables"]["topic"]
    return 200, {}, json.dumps({
        "data": {"webhookSubscriptionCreate": {"webhookSubscription": {
            "id": "gid://shopify/WebhookSubscription/1", "topic": topic}, "userErrors": []}},
        "extensions": {"cost": {"requestedQueryCost": 10, "actualQueryCost": 10,
                                "throttleStatus": {"maximumAvailable": 1000.0,
                                                   "currentlyAvailable": 990.0,
                                                   "restoreRate": 50.0}}}})


@responses.activate
def test_good_callback_stores_the_token_encrypted_subscribes_and_schedules(app: Flask,
                                                                            sessions) -> None:
    responses.post(f"https://{SHOP}/admin/oauth/access_token",
                   json={"access_token": "shpat_secret_token", "scope": "read_orders"},
                   match=[responses.matchers.json_params_matcher(
                       {"client_id": KEY, "client_secret": SECRET, "code": "c0de"})])
    responses.add_callback(responses.POST, GRAPHQL, callback=_webhook_answer)
    client = app.test_client()
    params = signed(callback_params(start(client)))
    resp = client.get("/install/shopify/callback", query_string=params)
    assert resp.status_code == 302
    # the browser that started the install is signed in and lands on the shop's overview
    assert resp.headers["Location"] == "/shops/example/"
    assert client.get("/shops/example/").status_code == 200
    with sessions() as s:
        shop = s.scalar(select(Shop))
        assert (shop.name, shop.platform, shop.domain) == ("example", "shopify", SHOP)
        assert b"shpat_secret_token" not in shop.credentials
        assert credentials(shop, "k" * 32) == {"access_token": "shpat_secret_token"}
        assert "sync_requested_at" in shop.settings
    subscriptions = [c for c in responses.calls if c.request.url == GRAPHQL]
    assert len(subscriptions) == 8
    assert json.loads(subscriptions[0].request.body)["variables"]["sub"]["uri"] == \
        "https://sk.example.com/webhooks/shopify"
    assert app.config["scheduled"] == ["example"]
    # the same callback again: the state is spent
    assert client.get("/install/shopify/callback", query_string=params).status_code == 403


@responses.activate
def test_callback_in_another_browser_goes_to_the_shopify_admin(app: Flask) -> None:
    responses.post(f"https://{SHOP}/admin/oauth/access_token",
                   json={"access_token": "shpat_secret_token", "scope": "read_orders"})
    responses.add_callback(responses.POST, GRAPHQL, callback=_webhook_answer)
    params = signed(callback_params(start(app.test_client())))
    other = app.test_client()
    resp = other.get("/install/shopify/callback", query_string=params)
    assert resp.headers["Location"] == f"https://{SHOP}/admin/apps/{KEY}"
    assert other.get("/shops/example/").status_code == 401


def test_query_hmac_agrees_with_shopify_api() -> None:
    """Cross-check against ShopifyAPI's implementation (a subclass, so no global secret)."""

    class AppSession(shopify.Session):
        secret = SECRET

    params = callback_params("s-1")
    assert query_hmac(params, SECRET) == AppSession.calculate_hmac(params)
