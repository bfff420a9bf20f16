"""Built-in CSV adapter (platform ``csv``): order exports from a till or any shop system."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stammkunde.plugins.hookspecs import hookimpl

__all__ = ["CsvAdapter"]


def __getattr__(name: str) -> object:
    if name == "CsvAdapter":  # loaded on first use: a worker process reads rows.py alone
        from stammkunde.plugins.csvfile.adapter import CsvAdapter

        return CsvAdapter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@hookimpl
def register_platforms(register: Callable[[Any], None]) -> None:
    """Register the CSV adapter."""
    from stammkunde.plugins.csvfile.adapter import CsvAdapter

    register(CsvAdapter())
