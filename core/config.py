"""Settings from the environment (``STAMMKUNDE_*``), the same for SQLite and PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from stammkunde.core.crypto import secret_key_from


@dataclass(frozen=True)
class Settings:
    """Where the data lives and the key that protects stored credentials."""

    home: Path
    database_url: str
    secret_key: str | None
    redis_url: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read ``STAMMKUNDE_HOME``, ``_DATABASE_URL``, ``_SECRET_KEY`` (with
        ``_SECRET_KEY_PREVIOUS``) and ``_REDIS_URL``."""
        env = os.environ if env is None else env
        home = Path(env.get("STAMMKUNDE_HOME") or platformdirs.user_data_dir("stammkunde"))
        url = env.get("STAMMKUNDE_DATABASE_URL") or f"sqlite:///{home / 'stammkunde.db'}"
        key = secret_key_from(env.get("STAMMKUNDE_SECRET_KEY"),
                              env.get("STAMMKUNDE_SECRET_KEY_PREVIOUS"))
        return cls(home=home, database_url=url, secret_key=key,
                   redis_url=env.get("STAMMKUNDE_REDIS_URL") or None)
