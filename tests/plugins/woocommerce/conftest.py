"""Fixtures: a running fake store, an adapter that never sleeps, and a fresh database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from stammkunde.core.db import make_engine, session_factory, upgrade
from stammkunde.core.shops import create_shop
from stammkunde.plugins.manager import Plugins
from stammkunde.plugins.woocommerce import WooCommerceAdapter
from tests.fakes.woocommerce import FakeWooCommerce

SECRET_KEY = "test-secret-key"


class Sleeps(list):
    """Records the pauses the client asked for instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(round(seconds, 3))


@pytest.fixture
def fake() -> Iterator[FakeWooCommerce]:
    """A fake WooCommerce store on 127.0.0.1 (plain http, OAuth 1.0a)."""
    with FakeWooCommerce() as store:
        yield store


@pytest.fixture
def sleeps() -> Sleeps:
    """The pauses the adapter asked for."""
    return Sleeps()


@pytest.fixture
def adapter(fake: FakeWooCommerce, sleeps: Sleeps) -> WooCommerceAdapter:
    """An adapter on the fake store's clock that records instead of sleeping."""
    return WooCommerceAdapter(sleep=sleeps, now=fake.data.now)


@pytest.fixture
def factory(tmp_path: Path) -> sessionmaker[Session]:
    """A migrated SQLite database."""
    engine = make_engine(f"sqlite:///{tmp_path / 'test.db'}")
    upgrade(engine)
    return session_factory(engine)


def plugins_with(adapter: WooCommerceAdapter) -> Plugins:
    """Return a plugin manager whose ``woocommerce`` platform is ``adapter``."""
    from stammkunde.plugins import hookimpl

    class TestPlugin:
        @hookimpl
        def register_platforms(self, register):  # type: ignore[no-untyped-def]
            register(adapter)

    manager = Plugins(load_entry_points=False)
    manager.platforms()
    manager.pm.unregister(name="stammkunde.plugins.woocommerce")
    manager.register(TestPlugin(), name="woocommerce-test")
    return manager


@pytest.fixture
def plugins(adapter: WooCommerceAdapter) -> Plugins:
    """A plugin manager whose woocommerce platform is the test adapter."""
    return plugins_with(adapter)


@pytest.fixture
def shop(factory: sessionmaker[Session], fake: FakeWooCommerce) -> str:
    """A shop row pointing at the fake store; returns its name."""
    conn = fake.connection("woo")
    with factory() as session, session.begin():
        create_shop(session, "woo", "woocommerce", domain=fake.url, secret_key=SECRET_KEY,
                    credentials={k: v.reveal() for k, v in conn.credentials.items()},
                    settings=dict(conn.options))
    return "woo"
