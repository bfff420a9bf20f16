"""TinyShop for Stammkunde: registers the adapter through the ``register_platforms`` hook."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stammkunde.plugins import hookimpl
from stammkunde_example.adapter import TinyShopAdapter

__all__ = ["TinyShopAdapter"]


@hookimpl
def register_platforms(register: Callable[[Any], None]) -> None:
    """Register the TinyShop adapter."""
    register(TinyShopAdapter())
