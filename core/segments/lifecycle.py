"""Lifecycle stage of every person, judged against their own rhythm of buying.

| stage    | who |
| -------- | --- |
| prospect | known to the shop (account, event, cancelled order) but without a valid order |
| new      | one valid order, not overdue |
| repeat   | 2 … ``loyal_orders`` − 1 valid orders, not overdue |
| loyal    | at least ``loyal_orders`` valid orders (default 4), not overdue |
| at risk  | overdue: ratio ≥ ``at_risk_ratio`` (1.5), or P(alive) < ``at_risk_p_alive`` (0.5) |
| lapsed   | ratio ≥ ``lapsed_ratio`` (2.5), or P(alive) < ``lapsed_p_alive`` (0.25) |
| lost     | ratio ≥ ``lost_ratio`` (4), or P(alive) < ``lost_p_alive`` (0.1) |

*Ratio* = days since the last valid order / the customer's expected days between orders: their own
mean ((last − first order) / (orders − 1)) when they ordered at least twice, otherwise the shop's
typical rhythm (the median of the repeat customers' own means; ``default_gap_days``, 90, while no
customer has ordered twice), never less than ``min_expected_gap_days`` (7) so two orders on
consecutive days do not make a customer "lost" a week later.

P(alive) is used only as far as the model identifies drop-out (``weight``, the model's
``dropout_weight``: 1 when BG/NBD's a and b are well determined, 0 when they are not or the model
is the no-drop-out NBD, continuous in between; see :mod:`stammkunde.core.clv.predict`). Customers
with repeat purchases on at least two days are judged by

    P = weight · P(alive) + (1 − weight) · P_ratio

against the P(alive) thresholds, where P_ratio maps the ratio onto the same scale: log P_ratio is
piecewise linear in the ratio through (0, 1), (at_risk_ratio, at_risk_p_alive),
(lapsed_ratio, lapsed_p_alive), (lost_ratio, lost_p_alive) and extended beyond the last point, so
weight 0 is exactly the ratio rule and weight 1 exactly the P(alive) rule. Because the weight
changes continuously with the data, a stage changes between two days only for customers near a
threshold, never because the fit switched family. One-day customers, for whom BG/NBD's P(alive)
is always 1, keep the ratio.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from stammkunde.core.settings import LifecycleSettings

STAGES = ("prospect", "new", "repeat", "loyal", "at risk", "lapsed", "lost")
PROSPECT, NEW, REPEAT, LOYAL, AT_RISK, LAPSED, LOST = range(len(STAGES))
DAY = 86_400


def typical_gap_days(orders: ArrayLike, first_ts: ArrayLike, last_ts: ArrayLike,
                     default: float) -> float:
    """The shop's typical days between orders: median of repeat customers' own mean gaps."""
    n = np.asarray(orders)
    repeat = n >= 2
    if not repeat.any():
        return default
    own = (np.asarray(last_ts)[repeat] - np.asarray(first_ts)[repeat]) / (n[repeat] - 1) / DAY
    return float(np.median(own))


def expected_gap_days(orders: ArrayLike, first_ts: ArrayLike, last_ts: ArrayLike,
                      shop_gap: float, minimum: float) -> NDArray[np.float64]:
    """Each customer's expected days between orders (own mean, else the shop's), floored."""
    n = np.asarray(orders)
    span = (np.asarray(last_ts) - np.asarray(first_ts)) / DAY
    own = np.divide(span, n - 1, out=np.full(n.shape, shop_gap, dtype=float), where=n >= 2)
    return np.maximum(own, minimum)


def ratio_as_p_alive(ratio: ArrayLike, settings: LifecycleSettings) -> NDArray[np.float64]:
    """The ratio on the P(alive) scale: log-linear through the matching thresholds."""
    r = np.asarray(ratio, dtype=float)
    knots_r = np.array([0.0, settings.at_risk_ratio, settings.lapsed_ratio, settings.lost_ratio])
    knots_p = np.log([1.0, settings.at_risk_p_alive, settings.lapsed_p_alive,
                      settings.lost_p_alive])
    inside = np.interp(r, knots_r, knots_p)
    slope = (knots_p[-1] - knots_p[-2]) / (knots_r[-1] - knots_r[-2])
    beyond = knots_p[-1] + slope * (r - knots_r[-1])
    return np.exp(np.where(r > knots_r[-1], beyond, inside))


def lifecycle_stages(orders: ArrayLike, days_since_last: ArrayLike,
                     expected_gap: ArrayLike, settings: LifecycleSettings,
                     p_alive: ArrayLike | None = None,
                     repeat_days: ArrayLike | None = None,
                     weight: float = 1.0) -> NDArray[np.int64]:
    """Stage index (into :data:`STAGES`) per person; P(alive), as far as trusted, for multi-day."""
    n = np.asarray(orders)
    ratio = np.asarray(days_since_last, dtype=float) / np.asarray(expected_gap, dtype=float)
    active = np.where(n >= settings.loyal_orders, LOYAL, np.where(n >= 2, REPEAT, NEW))
    by_ratio = np.select(
        [ratio >= settings.lost_ratio, ratio >= settings.lapsed_ratio,
         ratio >= settings.at_risk_ratio],
        [LOST, LAPSED, AT_RISK], default=active)
    stage = by_ratio
    if p_alive is not None and repeat_days is not None and weight > 0:
        p = np.asarray(p_alive, dtype=float)
        if weight < 1:
            p = weight * p + (1.0 - weight) * ratio_as_p_alive(ratio, settings)
        by_model = np.select(
            [p < settings.lost_p_alive, p < settings.lapsed_p_alive,
             p < settings.at_risk_p_alive],
            [LOST, LAPSED, AT_RISK], default=active)
        stage = np.where(np.asarray(repeat_days) > 0, by_model, by_ratio)
    return np.where(n > 0, stage, PROSPECT).astype(np.int64)
