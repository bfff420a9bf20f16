"""Lifecycle stages from the overdue ratio or, with the model, from P(alive)."""

from __future__ import annotations

from stammkunde.core.segments.lifecycle import (
    STAGES,
    expected_gap_days,
    lifecycle_stages,
    typical_gap_days,
)
from stammkunde.core.settings import LifecycleSettings

DAY = 86_400
S = LifecycleSettings()


def names(idx) -> list[str]:  # type: ignore[no-untyped-def]
    return [STAGES[i] for i in idx]


def test_ratio_thresholds_are_inclusive() -> None:
    # expected gap 10 days; days since 14.9 / 15 / 24.9 / 25 / 39.9 / 40
    stages = lifecycle_stages([2] * 6, [14.9, 15, 24.9, 25, 39.9, 40], [10] * 6, S)
    assert names(stages) == ["repeat", "at risk", "at risk", "lapsed", "lapsed", "lost"]


def test_active_customers_by_number_of_orders() -> None:
    assert names(lifecycle_stages([0, 1, 2, 3, 4, 9], [0] * 6, [10] * 6, S)) == [
        "prospect", "new", "repeat", "repeat", "loyal", "loyal"]


def test_p_alive_judges_multi_day_customers_and_the_ratio_the_others() -> None:
    # customers 0-3 bought on several days: P(alive) 0.6 / 0.49 / 0.2 / 0.05 decide, whatever
    # the ratio; customer 4 bought on one day only (P(alive) is 1 in BG/NBD): ratio 3 -> lapsed
    stages = lifecycle_stages([5, 2, 2, 2, 1], [100, 1, 1, 1, 30], [10, 10, 10, 10, 10], S,
                              p_alive=[0.6, 0.49, 0.2, 0.05, 1.0], repeat_days=[4, 1, 1, 1, 0])
    assert names(stages) == ["loyal", "at risk", "lapsed", "lost", "lapsed"]


def test_expected_gap_is_own_mean_else_the_shops_and_never_below_the_floor() -> None:
    gaps = expected_gap_days([3, 1, 2, 0], [0, 0, 0, 0], [40 * DAY, 0, 2 * DAY, 0], 30.0, 7.0)
    assert gaps.tolist() == [20.0, 30.0, 7.0, 30.0]


def test_typical_gap_is_the_median_of_own_means() -> None:
    # own means 20, 10, 35 (one-order customers ignored) -> 20
    assert typical_gap_days([3, 2, 1, 2], [0, 0, 0, 0], [40 * DAY, 10 * DAY, 0, 35 * DAY],
                            90.0) == 20.0
    assert typical_gap_days([1, 1], [0, 0], [0, 0], 90.0) == 90.0
