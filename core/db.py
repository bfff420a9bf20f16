"""Engine, sessions and migrations: one code path for SQLite (WAL) and PostgreSQL."""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from stammkunde.core.errors import UserError

MIGRATIONS = Path(__file__).with_name("migrations")
MMAP_SIZE = 1 << 30  # SQLite: bytes of the database file read through a memory map
CACHE_KIB = 128 * 1024  # SQLite: page cache of a connection


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    # big shops: a 128 MiB page cache and memory-mapped reads keep the metrics' index scan fast
    cur.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
    cur.execute(f"PRAGMA mmap_size={MMAP_SIZE}")
    cur.close()


def private_file(path: Path) -> None:
    """Create a file readable by its owner only (0600) unless it exists; folders 0700.

    SQLite gives its -wal and -shm files the database file's mode, so they stay private too.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for the URL; SQLite gets WAL, foreign keys and a busy timeout."""
    try:
        parsed = make_url(url)
        parsed.get_dialect()
    except (ArgumentError, NoSuchModuleError) as exc:
        raise UserError(f"invalid or unsupported database URL {_safe(url)!r}") from exc
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            private_file(Path(parsed.database))
        engine = create_engine(parsed, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    if parsed.get_backend_name() == "postgresql":
        kwargs["connect_args"] = {**pg_timeouts(), **kwargs.get("connect_args", {})}
    return create_engine(parsed, **kwargs)


def pg_timeouts(statement_ms: int | None = None, lock_ms: int | None = None) -> dict[str, Any]:
    """Return libpq options so a stuck or unreachable PostgreSQL fails within seconds.

    ``connect_timeout`` bounds connecting (a server that accepts and says nothing),
    ``tcp_user_timeout`` and keepalives bound a connection whose packets vanish (a black-holed
    network); ``statement_ms`` and ``lock_ms`` set ``statement_timeout`` / ``lock_timeout``
    (the web app uses them so a request answers 503 instead of hanging).
    """
    args: dict[str, Any] = {"connect_timeout": 3, "tcp_user_timeout": 4000, "keepalives": 1,
                            "keepalives_idle": 5, "keepalives_interval": 2,
                            "keepalives_count": 2}
    options = []
    if statement_ms:
        options.append(f"-c statement_timeout={int(statement_ms)}")
    if lock_ms:
        options.append(f"-c lock_timeout={int(lock_ms)}")
    if options:
        args["options"] = " ".join(options)
    return args


def alembic_config(engine: Engine) -> Config:
    """Return an Alembic config that runs the packaged migrations on this engine."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine) -> None:
    """Bring the database schema to the newest migration."""
    command.upgrade(alembic_config(engine), "heads")


def is_current(engine: Engine) -> bool:
    """Return True when the database is at the newest migration(s)."""
    heads = set(ScriptDirectory.from_config(alembic_config(engine)).get_heads())
    with engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    return current == heads


def ensure_schema(engine: Engine) -> None:
    """Upgrade the database if it is behind (commands call this before touching data)."""
    try:
        if not is_current(engine):
            upgrade(engine)
    except OperationalError as exc:
        raise database_problem(engine, exc) from exc


def database_problem(engine: Engine, exc: OperationalError) -> UserError:
    """Return the one-line error for a database that cannot be used (missing: how to create it)."""
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
    url = engine.url
    missing = re.search(r'database "([^"]+)" does not exist', reason)
    if missing and url.get_backend_name() == "postgresql":
        name = missing.group(1)
        host, port = url.host or "localhost", url.port or 5432
        user = f" -U {shlex.quote(url.username)}" if url.username else ""
        return UserError(
            f"the PostgreSQL database {name!r} does not exist on {host}:{port}; create it with "
            f"`createdb -h {host} -p {port}{user} {shlex.quote(name)}` (the tables are created "
            "on first use)")
    return UserError(f"cannot use the database {_safe(str(url))}: {reason}")


def _safe(url: str) -> str:
    """Return the URL with any password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparsable URL>"


def session_factory(engine: Engine, home: Path | None = None) -> sessionmaker[Session]:
    """Return a session factory bound to the engine.

    ``home`` (the ``STAMMKUNDE_HOME`` the sessions belong to) travels as ``session.info["home"]``,
    so core code that gets only a session reads the same ``stammkunde.toml`` as its caller.
    """
    return sessionmaker(engine, expire_on_commit=False,
                        info={"home": home} if home is not None else None)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Yield a session that commits on success and rolls back on error."""
    with factory() as session, session.begin():
        yield session
