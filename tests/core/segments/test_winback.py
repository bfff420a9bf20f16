"""Win-back formula pieces: P(win back), expected value and the affordable incentive."""

from __future__ import annotations

from decimal import Decimal

import pytest

from stammkunde.core.segments.winback import expected_value, incentive, win_back_probability
from stammkunde.core.settings import RetentionSettings

S = RetentionSettings()


@pytest.mark.parametrize(
    ("order_value", "expected"),
    [
        ("45.00", "6"),       # budget 45 × 0.3 × 0.5 = 6.75 -> whole units below 20
        ("130.00", "19"),     # 19.50 -> whole units below 20 -> 19
        ("338.86", "50"),     # 50.829 -> steps of 5 -> 50
        ("1000.00", "150"),   # 150 -> steps of 10 -> 150
        ("700.00", "100"),    # 105 -> 100
        ("6.00", "0"),        # 0.90 -> nothing worth offering
    ],
)
def test_incentive_is_a_round_share_of_the_margin(order_value: str, expected: str) -> None:
    assert incentive(Decimal(order_value), Decimal("0.3"), Decimal("0.5")) == Decimal(expected)


def test_heuristic_probability_falls_with_the_overdue_ratio() -> None:
    p = win_back_probability([2.5, 5.0, 10.0], S)
    assert p.tolist() == pytest.approx([0.2, 0.1, 0.05])


def test_model_probability_is_p_alive_for_multi_day_customers() -> None:
    p = win_back_probability([5.0, 5.0], S, p_alive=[0.3, 1.0], repeat_days=[2, 0])
    assert p.tolist() == pytest.approx([0.3, 0.1])


def test_expected_value_adds_the_future_value_if_alive() -> None:
    # 0.3 × (50 × 0.3 + 20) = 10.5
    assert expected_value([0.3], [50.0], 0.3, [20.0]).tolist() == pytest.approx([10.5])
