"""Shared fixtures: a database per test run (SQLite, or PostgreSQL with STAMMKUNDE_TEST_DB).

``STAMMKUNDE_TEST_DB=postgresql`` runs every database test against a fresh database on the local
server (created here, dropped at the end); the default is a SQLite file in a temporary folder.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from stammkunde.core.db import make_engine, session_factory, upgrade
from stammkunde.core.models import Base

# The suite's fake stores listen on 127.0.0.1, which the outbound address guard refuses unless
# the operator allows it (stammkunde.plugins.netguard); tests of the guard remove this.
os.environ.setdefault("STAMMKUNDE_ALLOW_HOSTS", "127.0.0.1,localhost")

PG_ADMIN_URL = os.environ.get(
    "STAMMKUNDE_TEST_PG_ADMIN", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def _pg_admin() -> Engine:
    return make_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")


def create_pg_database(prefix: str = "sk_test") -> str:
    """Create a fresh PostgreSQL database and return its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = _pg_admin()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def drop_pg_database(url: str) -> None:
    """Drop a database created by :func:`create_pg_database`."""
    name = url.rsplit("/", 1)[1]
    admin = _pg_admin()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()



@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of this run's database, schema at the newest migration."""
    backend = os.environ.get("STAMMKUNDE_TEST_DB", "sqlite")
    if backend == "postgresql":
        url = create_pg_database()
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
        drop_pg_database(url)
    elif backend == "sqlite":
        path = tmp_path_factory.mktemp("db") / "test.db"
        url = f"sqlite:///{path}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
    else:
        raise pytest.UsageError(f"STAMMKUNDE_TEST_DB must be sqlite or postgresql, not {backend}")


@pytest.fixture(scope="session")
def _engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def _wipe(engine: Engine) -> None:
    """Empty every table and restart PostgreSQL's id sequences, so that each test sees the ids of a
    fresh database whatever ran before it (SQLite reuses ids of an emptied table by itself)."""
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT setval(oid::regclass, 1, false) FROM pg_class "
                              "WHERE relkind = 'S'"))


@pytest.fixture
def engine(_engine: Engine) -> Iterator[Engine]:
    """The run's engine, with every table emptied after the test."""
    yield _engine
    _wipe(_engine)


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    """A session factory on the test database."""
    return session_factory(engine)


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str,
            engine: Engine) -> Path:
    """Point the CLI at the test database and a temporary home; return the home."""
    home = tmp_path / "home"
    monkeypatch.setenv("STAMMKUNDE_HOME", str(home))
    monkeypatch.setenv("STAMMKUNDE_DATABASE_URL", database_url)
    monkeypatch.setenv("STAMMKUNDE_SECRET_KEY", "test-secret-key")
    return home
