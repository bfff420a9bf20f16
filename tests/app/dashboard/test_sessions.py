"""Dashboard sessions: 8 hours by default, revoked on the server (issue 14, item 3).

The attacker in these tests holds a copy of a merchant's session cookie (a shared computer, a
stolen backup) and replays it after the session should have ended.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from stammkunde.app.dashboard.auth import make_login_token, parse_lifetime
from stammkunde.app.web import app_context, create_app
from stammkunde.core.access import DashboardSession
from stammkunde.core.config import Settings
from stammkunde.core.errors import UserError
from stammkunde.core.job_models import Job
from stammkunde.core.privacy import uninstall_shop
from stammkunde.core.shops import set_credentials
from stammkunde.core.store import get_shop
from tests.app.dashboard.conftest import SECRET, csrf_token, login


def copy_cookie(source: FlaskClient, target: FlaskClient) -> None:
    """Give another browser the same session cookie."""
    with source.session_transaction() as saved:
        data = dict(saved)
    with target.session_transaction() as stolen:
        stolen.update(data)


def counts(app: Flask) -> tuple[int, int]:
    with app_context(app).sessions() as db:
        return (db.scalar(select(func.count()).select_from(DashboardSession)) or 0,
                db.scalar(select(func.count()).select_from(Job)) or 0)


def test_the_session_lasts_eight_hours_not_31_days(app: Flask, client: FlaskClient) -> None:
    assert app.permanent_session_lifetime == timedelta(hours=8)
    cookie = client.get_cookie("stammkunde_session")
    assert cookie is not None and cookie.expires is not None
    with app_context(app).sessions() as db:
        (row,) = db.scalars(select(DashboardSession))
        assert row.expires_at - row.created_at == timedelta(hours=8)


def test_the_lifetime_is_configurable(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("STAMMKUNDE_SESSION_LIFETIME", "30m")
    settings = Settings(home=tmp_path, database_url=f"sqlite:///{tmp_path / 'x.db'}",
                        secret_key=SECRET)
    assert create_app({"TESTING": True}, settings).permanent_session_lifetime == \
        timedelta(minutes=30)
    assert parse_lifetime("") == timedelta(hours=8)
    with pytest.raises(UserError, match="STAMMKUNDE_SESSION_LIFETIME"):
        parse_lifetime("forever")


def test_an_expired_session_is_refused_by_the_server(app: Flask, client: FlaskClient) -> None:
    with app_context(app).sessions() as db, db.begin():
        row = db.scalars(select(DashboardSession)).one()
        row.expires_at = row.created_at  # the cookie itself could be replayed; the row decides
    assert client.get("/shops/till/customers.csv").status_code == 401


def test_logout_revokes_a_copied_cookie(app: Flask, client: FlaskClient) -> None:
    thief = app.test_client()
    copy_cookie(client, thief)
    assert thief.get("/shops/till/customers.csv").status_code == 200
    thief_token = csrf_token(thief, "/shops/till/")  # a form token taken while signed in
    token = csrf_token(client, "/shops/till/")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    sessions_before, jobs_before = counts(app)
    assert sessions_before == 0
    assert thief.get("/shops/till/customers.csv").status_code == 401
    refused = thief.post("/shops/till/refresh", data={"csrf_token": thief_token})
    assert refused.status_code == 401  # no job started
    assert counts(app) == (0, jobs_before)


def test_uninstall_and_new_credentials_revoke_every_session(app: Flask,
                                                            client: FlaskClient) -> None:
    other = app.test_client()
    login(other, "till")
    with app_context(app).sessions() as db, db.begin():
        set_credentials(get_shop(db, "till"), {"token": "new"}, SECRET)  # a reconnect
    assert client.get("/shops/till/").status_code == 401
    assert other.get("/shops/till/").status_code == 401
    login(client, "till")
    with app_context(app).sessions() as db, db.begin():
        uninstall_shop(db, get_shop(db, "till"))
    assert client.get("/shops/till/customers.csv").status_code == 401
    assert counts(app)[0] == 0


def test_sessions_of_other_shops_survive(app: Flask, client: FlaskClient) -> None:
    other = app.test_client()
    login(other, "other")
    with app_context(app).sessions() as db, db.begin():
        uninstall_shop(db, get_shop(db, "till"))
    assert other.get("/shops/other/").status_code == 200


def test_spent_links_and_old_install_nonces_are_purged(app: Flask) -> None:
    from datetime import UTC, datetime

    from stammkunde.core.installs import consume_nonce, issue_nonce, purge_nonces
    from stammkunde.core.job_models import SpentLogin
    from stammkunde.core.models import InstallNonce
    from stammkunde.core.timeutil import now

    ctx = app_context(app)
    with ctx.sessions() as db, db.begin():
        db.add(SpentLogin(nonce="old", used_at=now() - timedelta(days=8)))
        db.add(SpentLogin(nonce="recent", used_at=now() - timedelta(days=6)))
        t0 = datetime(2024, 1, 1, tzinfo=UTC)
        issue_nonce(db, "woocommerce", "https://a.example", at=t0)  # expired unused
        used = issue_nonce(db, "woocommerce", "https://b.example", at=t0)
        consume_nonce(db, "woocommerce", used, at=t0 + timedelta(minutes=5))
        issue_nonce(db, "woocommerce", "https://c.example", at=t0 + timedelta(hours=20))
    with ctx.sessions() as db, db.begin():
        # 30 minutes after issue the unused one is gone; the used one stays a day for /return
        assert purge_nonces(db, at=t0 + timedelta(hours=1)) == 1
        assert purge_nonces(db, at=t0 + timedelta(days=2)) == 2
        assert db.scalar(select(func.count()).select_from(InstallNonce)) == 0
    app.test_client().get(f"/login?token={make_login_token(SECRET, 'till')}")
    with ctx.sessions() as db:
        kept = set(db.scalars(select(SpentLogin.nonce)))
        assert "old" not in kept and "recent" in kept and len(kept) == 2  # + the link just used
