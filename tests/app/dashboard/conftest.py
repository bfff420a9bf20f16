"""A web app on the test database with a small, hand-checked shop and signed-in clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from stammkunde.app.dashboard.auth import make_login_token
from stammkunde.app.jobs import huey
from stammkunde.app.web import create_app
from stammkunde.core.config import Settings
from stammkunde.core.shops import create_shop
from stammkunde.core.store import store_records
from tests.factories import at, order

SECRET = "test-secret-key"
#: The report instant of the tests and the previous period's (90 days earlier).
AS_OF = at("2024-06-30T23:59:59Z")

# c1: two orders (30 days apart), the second partly refunded; c2: two orders 92 days apart;
# c3: one order of 1,234.50 (for the money formats).
ORDERS = (
    order("o1", "2024-01-10T10:00:00Z", "100.00", customer="c1", email="a@example.com"),
    order("o2", "2024-02-09T10:00:00Z", "50.00", customer="c1", email="a@example.com",
          channel="pos", refunds=(("20.00", "2024-02-10T10:00:00Z"),)),
    order("o3", "2024-03-01T10:00:00Z", "40.00", customer="c2", email="b@example.com"),
    order("o4", "2024-05-20T10:00:00Z", "1234.50", customer="c3", email="c@example.com",
          channel="app"),
    order("o5", "2024-06-01T10:00:00Z", "60.00", customer="c2", email="b@example.com"),
)


@pytest.fixture
def immediate() -> Iterator[None]:
    """Run huey tasks in the calling thread (in-memory queue)."""
    huey.immediate = True
    try:
        yield
    finally:
        huey.immediate = False


@pytest.fixture
def shops(sessions: sessionmaker[Session]) -> list[str]:
    """Two shops: "till" with the orders above, "other" with one order."""
    with sessions() as s, s.begin():
        till = create_shop(s, "till", "csv", currency="EUR", timezone="UTC")
        store_records(s, till, list(ORDERS))
        other = create_shop(s, "other", "csv", currency="EUR", timezone="UTC", locale="de_DE")
        store_records(s, other, [order("x1", "2024-01-01T00:00:00Z", "10.00", customer="z")])
    return ["till", "other"]


@pytest.fixture
def app(database_url: str, engine: Engine, tmp_path: Path, immediate: None,
        shops: list[str]) -> Flask:
    """The web app on the test database, reporting as of :data:`AS_OF`."""
    settings = Settings(home=tmp_path / "home", database_url=database_url, secret_key=SECRET)
    return create_app({"TESTING": True, "DASHBOARD_NOW": lambda: AS_OF}, settings=settings)


def login(client: FlaskClient, shop: str) -> None:
    """Sign the client in to a shop with a fresh login link."""
    response = client.get(f"/login?token={make_login_token(SECRET, shop)}")
    assert response.status_code == 302, response.data
    assert response.headers["Location"] == f"/shops/{shop}/"


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A browser signed in to "till" (English)."""
    c = app.test_client()
    login(c, "till")
    return c


def csrf_token(client: FlaskClient, url: str) -> str:
    """Return the CSRF token from a page's form."""
    import re

    html = client.get(url).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)


Clock = Callable[[], datetime]
