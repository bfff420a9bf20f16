"""Settings from the environment (``STAMMKUNDE_*``), the same for SQLite and PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import platformdirs


@dataclass(frozen=True)
class Settings:
    """Where the data lives and the key that protects stored credentials."""

    home: Path
    database_url: str
    secret_key: str | None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read ``STAMMKUNDE_HOME``, ``STAMMKUNDE_DATABASE_URL`` and ``STAMMKUNDE_SECRET_KEY``."""
        env = os.environ if env is None else env
        home = Path(env.get("STAMMKUNDE_HOME") or platformdirs.user_data_dir("stammkunde"))
        url = env.get("STAMMKUNDE_DATABASE_URL") or f"sqlite:///{home / 'stammkunde.db'}"
        return cls(home=home, database_url=url, secret_key=env.get("STAMMKUNDE_SECRET_KEY") or None)
