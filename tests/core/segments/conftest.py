"""A simulated shop big enough for the predictive model (BG/NBD + Gamma-Gamma draws)."""

from __future__ import annotations

import pytest

from stammkunde.core.shops import create_shop
from stammkunde.core.store import store_records
from tests.simulated import simulated_orders


@pytest.fixture
def sim_shop(sessions):  # type: ignore[no-untyped-def]
    """Store the simulated orders in shop "sim"; return its orders."""
    records = simulated_orders()
    with sessions.begin() as s:
        store_records(s, create_shop(s, "sim", "csv"), records)
    return records
