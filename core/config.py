"""Settings from the environment (``STAMMKUNDE_*``), the same for SQLite and PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from stammkunde.core.crypto import secret_key_from
from stammkunde.core.errors import UserError

#: Default seconds between the first change to a shop's data and the refresh of its numbers.
REFRESH_DEBOUNCE_SECONDS = 30.0


@dataclass(frozen=True)
class Settings:
    """Where the data lives and the key that protects stored credentials."""

    home: Path
    database_url: str
    secret_key: str | None
    redis_url: str | None = None
    refresh_debounce_seconds: float = REFRESH_DEBOUNCE_SECONDS

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read ``STAMMKUNDE_HOME``, ``_DATABASE_URL``, ``_SECRET_KEY`` (with
        ``_SECRET_KEY_PREVIOUS``), ``_REDIS_URL`` and ``_REFRESH_DEBOUNCE_SECONDS``."""
        env = os.environ if env is None else env
        home = Path(env.get("STAMMKUNDE_HOME") or platformdirs.user_data_dir("stammkunde"))
        url = env.get("STAMMKUNDE_DATABASE_URL") or f"sqlite:///{home / 'stammkunde.db'}"
        key = secret_key_from(env.get("STAMMKUNDE_SECRET_KEY"),
                              env.get("STAMMKUNDE_SECRET_KEY_PREVIOUS"))
        return cls(home=home, database_url=url, secret_key=key,
                   redis_url=env.get("STAMMKUNDE_REDIS_URL") or None,
                   refresh_debounce_seconds=_seconds(env, "STAMMKUNDE_REFRESH_DEBOUNCE_SECONDS",
                                                     REFRESH_DEBOUNCE_SECONDS))


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    """Read a number of seconds between 0 and one hour from the environment."""
    text = (env.get(name) or "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise UserError(f"{name} must be a number of seconds, not {text!r}") from None
    if not 0 <= value <= 3600:
        raise UserError(f"{name} must be between 0 and 3600 seconds, not {text}")
    return value
