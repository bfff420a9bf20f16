"""Built-in CSV adapter (platform ``csv``): order exports from a till or any shop system."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stammkunde.plugins.csvfile.adapter import CsvAdapter
from stammkunde.plugins.hookspecs import hookimpl

__all__ = ["CsvAdapter"]


@hookimpl
def register_platforms(register: Callable[[Any], None]) -> None:
    """Register the CSV adapter."""
    register(CsvAdapter())
