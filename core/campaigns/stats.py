"""Uplift statistics: treatment minus holdout, with 95% confidence intervals (pure numpy/scipy).

Every function takes summary statistics and works element-wise on numpy arrays as well as on
plain numbers, so the calibration test can evaluate thousands of simulated campaigns at once.

- **Conversion** (share of members with a valid order in the window): difference of two
  independent proportions with Newcombe's hybrid score interval, built from the Wilson score
  interval of each proportion (Newcombe, R. G. 1998, "Interval estimation for the difference
  between independent proportions: comparison of eleven methods", *Statistics in Medicine* 17,
  873–890, method 10; Wilson, E. B. 1927, *JASA* 22, 209–212). It keeps its coverage near the
  nominal level with small arms and rates near 0, where the plain normal (Wald) interval does not.
- **Revenue per member** (net revenue in the window divided by all members of the arm, zeros
  included): difference of two means with Welch's unequal-variance t interval and the
  Welch–Satterthwaite degrees of freedom (Welch, B. L. 1947, "The generalization of 'Student's'
  problem when several different population variances are involved", *Biometrika* 34, 28–35).
  With large arms it equals the normal approximation; skewed revenue is covered by the central
  limit theorem on the mean, which the calibration test checks with Gamma-distributed spend.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

LEVEL = 0.95


def z_value(level: float = LEVEL) -> float:
    """Return the two-sided standard normal quantile for a confidence level (1.96 for 95%)."""
    from scipy import stats  # (here: scipy takes a second to load, most commands never need it)

    return float(stats.norm.ppf(0.5 + level / 2))


def wilson_interval(k: Any, n: Any, level: float = LEVEL) -> tuple[Any, Any]:
    """Return the Wilson score interval (low, high) for k successes out of n trials."""
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    z = z_value(level)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1 + z * z / n
        centre = (p + z * z / (2 * n)) / denom
        half = z / denom * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def newcombe_interval(k1: Any, n1: Any, k0: Any, n0: Any,
                      level: float = LEVEL) -> tuple[Any, Any, Any]:
    """Return (p1 − p0, low, high): Newcombe's hybrid score interval for a difference of rates."""
    k1, n1, k0, n0 = (np.asarray(v, dtype=float) for v in (k1, n1, k0, n0))
    with np.errstate(invalid="ignore", divide="ignore"):
        p1, p0 = k1 / n1, k0 / n0
    l1, u1 = wilson_interval(k1, n1, level)
    l0, u0 = wilson_interval(k0, n0, level)
    diff = p1 - p0
    low = diff - np.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2)
    high = diff + np.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2)
    return diff, low, high


def welch_interval(mean1: Any, var1: Any, n1: Any, mean0: Any, var0: Any, n0: Any,
                   level: float = LEVEL) -> tuple[Any, Any, Any, Any]:
    """Return (mean1 − mean0, low, high, df): Welch's t interval for a difference of means.

    ``var1``/``var0`` are sample variances (divisor n − 1). When both are zero the interval
    collapses to the difference itself (df is infinite).
    """
    mean1, var1, n1, mean0, var0, n0 = (
        np.asarray(v, dtype=float) for v in (mean1, var1, n1, mean0, var0, n0)
    )
    a, b = var1 / n1, var0 / n0
    se = np.sqrt(a + b)
    with np.errstate(invalid="ignore", divide="ignore"):
        df = (a + b) ** 2 / (a * a / (n1 - 1) + b * b / (n0 - 1))
    df = np.where(se > 0, df, np.inf)
    from scipy import stats

    t = stats.t.ppf(0.5 + level / 2, df)
    diff = mean1 - mean0
    return diff, diff - t * se, diff + t * se, df


@dataclass(frozen=True)
class Interval:
    """A point estimate with its confidence interval (None where it cannot be computed)."""

    estimate: float | None
    low: float | None
    high: float | None
    method: str
    df: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return the interval as JSON-ready numbers."""
        out: dict[str, Any] = {"estimate": _num(self.estimate), "low": _num(self.low),
                               "high": _num(self.high), "level": LEVEL, "method": self.method}
        if self.df is not None:
            out["df"] = _num(self.df)
        return out


def _num(value: float | None) -> float | None:
    if value is None or not np.isfinite(value):
        return None
    return round(float(value), 6)


def conversion_uplift(k1: int, n1: int, k0: int, n0: int, level: float = LEVEL) -> Interval:
    """Return the conversion-rate uplift (treatment − holdout) with Newcombe's interval."""
    method = "newcombe-wilson"
    if n1 == 0 or n0 == 0:
        return Interval(None, None, None, method)
    diff, low, high = newcombe_interval(k1, n1, k0, n0, level)
    return Interval(float(diff), float(low), float(high), method)


def mean_uplift(treatment: Any, holdout: Any, level: float = LEVEL) -> Interval:
    """Return the per-member mean difference (treatment − holdout) with Welch's t interval."""
    method = "welch-t"
    x1 = np.asarray(treatment, dtype=float)
    x0 = np.asarray(holdout, dtype=float)
    if x1.size < 2 or x0.size < 2:
        return Interval(None, None, None, method)
    diff, low, high, df = welch_interval(x1.mean(), x1.var(ddof=1), x1.size,
                                         x0.mean(), x0.var(ddof=1), x0.size, level)
    return Interval(float(diff), float(low), float(high), method, float(df))
