"""Built-in simulated platform (``simulated``): the demo shop's codes, tags and fields, locally.

It talks to no network: what a real platform would store (discount codes, customer tags, customer
metafields) goes into tables of the Stammkunde database, so ``stammkunde demo`` can run the whole
campaign loop on a fresh clone. It is product code for the demo, not a test double.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stammkunde.plugins.hookspecs import hookimpl
from stammkunde.plugins.simulated.adapter import SimulatedAdapter

__all__ = ["SimulatedAdapter"]


@hookimpl
def register_platforms(register: Callable[[Any], None]) -> None:
    """Register the simulated platform."""
    register(SimulatedAdapter())
