"""Fixtures for the webhook receiver: databases (SQLite in tmp_path, a fresh PostgreSQL
database per test), an app with the signed ``testshop`` platform, and a signed-delivery poster."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from _receiver_helpers import DOMAIN, PG_ADMIN, SECRET_KEY, SHOP_SECRET
from flask import Flask
from sqlalchemy import create_engine, text

from stammkunde.app.web import app_context, create_app
from stammkunde.core.config import Settings
from stammkunde.core.shops import create_shop
from stammkunde.plugins.manager import plugins_for_test
from tests.services import need_service, pg_available
from tests.testshop import TestshopPlugin


@pytest.fixture
def pg_url() -> Iterator[str]:
    """Create a fresh PostgreSQL database for one test and drop it afterwards."""
    need_service(pg_available(), "PostgreSQL at 127.0.0.1:5432")
    name = f"test_sk_webhooks_{secrets.token_hex(4)}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """Return the URL of a SQLite database file in tmp_path."""
    return f"sqlite:///{tmp_path / 'stammkunde.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """Run a test on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("pg_url")


@pytest.fixture(autouse=True)
def testshop_plugins() -> Iterator[None]:
    """Register only the built-ins and the signed testshop platform."""
    with plugins_for_test(TestshopPlugin()):
        yield


@pytest.fixture
def make_app(tmp_path: Path) -> Callable[..., Flask]:
    """Return a factory of apps on a database URL, with one testshop shop."""
    def make(url: str, *, shop: bool = True, **config: Any) -> Flask:
        settings = Settings(home=tmp_path / "home", database_url=url, secret_key=SECRET_KEY)
        # Process inline unless a test says otherwise, so a test sees the result of a delivery
        # right after posting it (the default, "worker", leaves that to `stammkunde worker`).
        app = create_app({"TESTING": True, "WEBHOOK_ENV": {}, "WEBHOOK_PROCESSING": "inline",
                          **config}, settings=settings)
        if shop:
            with app_context(app).sessions() as session, session.begin():
                create_shop(session, "one", "testshop", domain=DOMAIN,
                            credentials={"webhook_secret": SHOP_SECRET}, secret_key=SECRET_KEY)
        return app
    return make


@pytest.fixture
def app(make_app: Callable[..., Flask], sqlite_url: str) -> Flask:
    """An app on SQLite with one shop."""
    return make_app(sqlite_url)

