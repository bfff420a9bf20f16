"""Who may open which shop: sessions bound to one shop, login links, CSRF, cookie flags."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import URLSafeTimedSerializer

from stammkunde.app.dashboard.auth import LOGIN_SALT, make_login_token, parse_ttl
from stammkunde.core.errors import UserError
from tests.app.dashboard.conftest import SECRET, csrf_token, login

PAGES = ("/shops/{}/", "/shops/{}/customers", "/shops/{}/customers.csv", "/shops/{}/jobs",
         "/shops/{}/jobs.json", "/shops/{}/settings")


@pytest.mark.parametrize("page", PAGES)
def test_another_shops_pages_are_refused_with_403(client: FlaskClient, page: str) -> None:
    assert client.get(page.format("till")).status_code == 200
    response = client.get(page.format("other"))
    assert response.status_code == 403
    assert "Not your shop" in response.get_data(as_text=True)
    assert "shop-other" not in response.get_data(as_text=True)


def test_another_shops_forms_are_refused_with_403(client: FlaskClient) -> None:
    token = csrf_token(client, "/shops/till/settings")
    for action in ("settings", "refresh", "sync"):
        response = client.post(f"/shops/other/{action}", data={"csrf_token": token})
        assert response.status_code == 403, action


def test_without_a_session_every_page_answers_401(app: Flask) -> None:
    anonymous = app.test_client()
    for page in PAGES:
        assert anonymous.get(page.format("till")).status_code == 401
    assert anonymous.get("/").status_code == 401


def test_a_login_link_binds_the_session_to_its_shop_only(app: Flask) -> None:
    c = app.test_client()
    login(c, "other")
    assert c.get("/shops/other/").status_code == 200
    assert c.get("/shops/till/").status_code == 403
    assert c.get("/").headers["Location"] == "/shops/other/"


def test_a_login_link_works_once(app: Flask) -> None:
    token = make_login_token(SECRET, "till")
    assert app.test_client().get(f"/login?token={token}").status_code == 302
    second = app.test_client()
    response = second.get(f"/login?token={token}")
    assert response.status_code == 403
    assert "already used" in response.get_data(as_text=True)
    assert second.get("/shops/till/").status_code == 401


def test_an_expired_link_is_refused(app: Flask) -> None:
    token = make_login_token(SECRET, "till", timedelta(minutes=15))
    real_clock = app.config["DASHBOARD_CLOCK"]
    app.config["DASHBOARD_CLOCK"] = lambda: real_clock() + 15 * 60 + 5
    c = app.test_client()
    response = c.get(f"/login?token={token}")
    assert response.status_code == 403
    assert "expired" in response.get_data(as_text=True)
    assert c.get("/shops/till/").status_code == 401
    app.config["DASHBOARD_CLOCK"] = lambda: real_clock() + 15 * 60 - 5
    assert c.get(f"/login?token={token}").status_code == 302


@pytest.mark.parametrize("token", [
    URLSafeTimedSerializer("wrong-key", salt=LOGIN_SALT).dumps(
        {"shop": "till", "nonce": "n", "ttl": 900}),
    URLSafeTimedSerializer(SECRET, salt="another-purpose").dumps(
        {"shop": "till", "nonce": "n", "ttl": 900}),
    "garbage",
    "",
])
def test_a_forged_link_is_refused(app: Flask, token: str) -> None:
    c = app.test_client()
    response = c.get(f"/login?token={token}")
    assert response.status_code == 403
    assert "not valid" in response.get_data(as_text=True)
    assert c.get("/shops/till/").status_code == 401


def test_a_link_cannot_be_altered_to_another_shop(app: Flask) -> None:
    token = make_login_token(SECRET, "till")
    _payload, rest = token.split(".", 1)
    forged_payload = URLSafeTimedSerializer(SECRET, salt=LOGIN_SALT).dumps(
        {"shop": "other", "nonce": "x", "ttl": 900}).split(".", 1)[0]
    response = app.test_client().get(f"/login?token={forged_payload}.{rest}")
    assert response.status_code == 403


@pytest.mark.parametrize("url", ["/shops/till/settings", "/shops/till/refresh", "/logout"])
def test_a_form_without_csrf_token_is_refused_with_400(client: FlaskClient, url: str) -> None:
    response = client.post(url, data={"margin": "0.5"})
    assert response.status_code == 400
    assert "security token" in response.get_data(as_text=True)
    bad = client.post(url, data={"margin": "0.5", "csrf_token": "forged"})
    assert bad.status_code == 400


def test_logout_with_token_ends_the_session(client: FlaskClient) -> None:
    token = csrf_token(client, "/shops/till/")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/shops/till/").status_code == 401


def test_session_cookie_is_httponly_lax_and_secure(app: Flask) -> None:
    c = app.test_client()
    response = c.get(f"/login?token={make_login_token(SECRET, 'till')}")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" in cookie


def test_pages_forbid_framing_and_foreign_scripts(client: FlaskClient) -> None:
    headers = client.get("/shops/till/").headers
    assert headers["X-Frame-Options"] == "DENY"
    assert "script-src 'self'" in headers["Content-Security-Policy"]


def test_language_switch_only_redirects_inside_the_app(client: FlaskClient) -> None:
    assert client.get("/lang/de?next=https://evil.example/").headers["Location"] == "/shops/till/"
    assert client.get("/lang/de?next=//evil.example/").headers["Location"] == "/shops/till/"
    assert client.get("/lang/de?next=/shops/till/jobs").headers["Location"] == "/shops/till/jobs"
    assert client.get("/lang/fr").status_code == 404


@pytest.mark.parametrize(("text", "seconds"), [("15m", 900), ("2h", 7200), ("1d", 86400),
                                               ("90", 90), ("45s", 45)])
def test_ttl_parsing(text: str, seconds: int) -> None:
    assert parse_ttl(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "0m", "soon", "-5m", "3w"])
def test_bad_ttl_is_one_line_error(text: str) -> None:
    with pytest.raises(UserError, match="--ttl must look like"):
        parse_ttl(text)
