"""Uplift statistics: published and hand-computed intervals, and calibration by simulation."""

from __future__ import annotations

import numpy as np
import pytest

from stammkunde.core.campaigns.stats import (
    conversion_uplift,
    mean_uplift,
    newcombe_interval,
    welch_interval,
    wilson_interval,
    z_value,
)


def test_wilson_interval_by_hand() -> None:
    # 2 of 4, z = 1.959964: centre = (0.5 + z²/8) / (1 + z²/4) = 0.5,
    # half = z / (1 + z²/4) · sqrt(0.25/4 + z²/64) = 0.349961
    low, high = wilson_interval(2, 4)
    assert (low, high) == pytest.approx((0.150039, 0.849961), abs=1e-6)
    assert z_value() == pytest.approx(1.959964, abs=1e-6)


def test_newcombe_reproduces_the_published_example() -> None:
    # Newcombe (1998), Stat. Med. 17:873, Table II: 56/70 vs 48/80, method 10: 0.0524 to 0.3339
    diff, low, high = newcombe_interval(56, 70, 48, 80)
    assert diff == pytest.approx(0.2)
    assert (round(float(low), 4), round(float(high), 4)) == (0.0524, 0.3339)


def test_conversion_uplift_on_a_tiny_example() -> None:
    # treatment 2/4, holdout 1/3; Wilson: (0.150039, 0.849961) and (0.061492, 0.792340)
    # low  = 1/6 − sqrt((0.5 − 0.150039)² + (0.792340 − 1/3)²) = −0.410534
    # high = 1/6 + sqrt((0.849961 − 0.5)² + (1/3 − 0.061492)²) = 0.609804
    iv = conversion_uplift(2, 4, 1, 3)
    assert iv.estimate == pytest.approx(1 / 6)
    assert (iv.low, iv.high) == pytest.approx((-0.410534, 0.609804), abs=1e-6)
    assert iv.method == "newcombe-wilson"


def test_welch_interval_by_hand() -> None:
    # treatment [0, 0, 50, 30]: mean 20, s² = 1800/3 = 600; holdout [0, 20, 0]: mean 20/3,
    # s² = 400/3. a = 600/4 = 150, b = (400/3)/3 = 400/9; se = sqrt(1750/9) = 13.944334;
    # df = (1750/9)² / (150²/3 + (400/9)²/2) = 49/11 = 4.454545; t(0.975, 49/11) = 2.668204;
    # 40/3 ∓ 2.668204 · 13.944334 = (−23.872994, 50.539660)
    iv = mean_uplift([0, 0, 50, 30], [0, 20, 0])
    assert iv.estimate == pytest.approx(40 / 3)
    assert iv.df == pytest.approx(49 / 11)
    assert (iv.low, iv.high) == pytest.approx((-23.872994, 50.539660), abs=1e-6)


def test_welch_with_no_variance_collapses_to_the_difference() -> None:
    diff, low, high, _df = welch_interval(5.0, 0.0, 10, 3.0, 0.0, 10)
    assert (float(diff), float(low), float(high)) == (2.0, 2.0, 2.0)


def test_too_small_arms_give_no_interval() -> None:
    assert mean_uplift([1.0], [2.0, 3.0]).estimate is None
    assert conversion_uplift(1, 5, 0, 0).estimate is None


def simulate(seeds: range, base: float, lift: float, *, n_treatment: int = 18_000,
             n_holdout: int = 2_000, shape: float = 2.0, scale: float = 40.0) -> dict[str, int]:
    """Simulated campaigns (one per seed): how often each 95% interval covers the true uplift.

    Every member buys with probability ``base`` (holdout) or ``base + lift`` (treatment); a buyer
    spends Gamma(shape, scale). True uplift: ``lift`` in conversion, ``lift · shape · scale`` in
    revenue per member.
    """
    k1, k0, m1, v1, m0, v0 = (np.empty(len(seeds)) for _ in range(6))
    for i, seed in enumerate(seeds):
        rng = np.random.default_rng(seed)
        buy1 = rng.random(n_treatment) < base + lift
        buy0 = rng.random(n_holdout) < base
        rev1 = np.where(buy1, rng.gamma(shape, scale, n_treatment), 0.0)
        rev0 = np.where(buy0, rng.gamma(shape, scale, n_holdout), 0.0)
        k1[i], k0[i] = buy1.sum(), buy0.sum()
        m1[i], v1[i], m0[i], v0[i] = rev1.mean(), rev1.var(ddof=1), rev0.mean(), rev0.var(ddof=1)
    _, low, high = newcombe_interval(k1, n_treatment, k0, n_holdout)
    _, rlow, rhigh, _ = welch_interval(m1, v1, n_treatment, m0, v0, n_holdout)
    true_rev = lift * shape * scale
    return {
        "conversion": int(((low <= lift) & (lift <= high)).sum()),
        "revenue": int(((rlow <= true_rev) & (true_rev <= rhigh)).sum()),
    }


def test_intervals_cover_a_true_uplift_95_times_in_100() -> None:
    # base 10% → 13%; the figures are exact for seeds 0–99 (README, "Campaigns")
    coverage = simulate(range(100), 0.10, 0.03)
    assert coverage == {"conversion": 95, "revenue": 97}
    assert all(93 <= v <= 97 for v in coverage.values())


def test_intervals_cover_zero_95_times_in_100_without_an_effect() -> None:
    coverage = simulate(range(100), 0.10, 0.0)
    assert coverage == {"conversion": 94, "revenue": 96}
    assert all(93 <= v <= 97 for v in coverage.values())
