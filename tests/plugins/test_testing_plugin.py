"""The kit's pytest plugin: fixtures available to any project with Stammkunde installed."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from stammkunde.core.records import OrderRecord
from stammkunde.plugins.testing import check_record


def test_pytest11_plugin_is_loaded(pytestconfig: pytest.Config) -> None:
    assert pytestconfig.pluginmanager.has_plugin("stammkunde")


def test_sessions_and_shop_fixtures(stammkunde_sessions, stammkunde_shop) -> None:
    shop_id = stammkunde_shop(stammkunde_sessions, "kit", "csv")
    assert isinstance(shop_id, int)


@pytest.mark.parametrize("change, message", [
    ({"created_at": datetime(2024, 1, 1)}, "timezone-aware UTC"),
    ({"total": 12.5}, "Decimal"),
])
def test_check_record_catches_naive_times_and_float_money(change: dict, message: str) -> None:
    good = dict(platform_id="1", created_at=datetime(2024, 1, 1, tzinfo=UTC),
                total=Decimal("12.50"), currency="EUR", customer_id="c")
    check_record(OrderRecord(**good))
    with pytest.raises(AssertionError, match=message):
        check_record(OrderRecord(**{**good, **change}))
