"""Local services the suite needs: a missing one skips a test locally and fails it in CI."""

from __future__ import annotations

import os

import psycopg
import pytest


def need_service(available: bool, what: str) -> None:
    """Skip the calling test when a service is missing, or fail it when ``CI`` is set."""
    if available:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{what} must be running in CI")
    pytest.skip(f"{what} is not running")


def pg_available() -> bool:
    """Return True when the local PostgreSQL server answers."""
    try:
        psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres",
                        connect_timeout=2).close()
    except psycopg.Error:
        return False
    return True
