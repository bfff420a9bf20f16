"""The wiring every entry point shares: settings, database, plugins."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from stammkunde.core.config import Settings
from stammkunde.core.db import ensure_schema, make_engine, session_factory
from stammkunde.plugins.manager import Plugins, get_plugins


@dataclass
class AppContext:
    """Lazily opened database and plugin manager for one process."""

    settings: Settings = field(default_factory=Settings.from_env)
    #: Extra engine options (the web app bounds statement, lock and pool waits).
    engine_options: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def engine(self) -> Engine:
        """Return the engine, upgrading an empty or older database first."""
        engine = make_engine(self.settings.database_url, **self.engine_options)
        ensure_schema(engine)
        return engine

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        """Return the session factory."""
        return session_factory(self.engine, self.settings.home)

    @property
    def plugins(self) -> Plugins:
        """Return the process-wide plugin manager."""
        return get_plugins()
