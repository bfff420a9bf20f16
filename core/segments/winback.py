"""Win-back targeting: lapsed and lost customers ranked by what winning them back is worth.

For each lapsed or lost customer:

    expected value = P(win back) × (E[order value] × margin + CLV if alive)
    incentive      = ⌊incentive_share × E[order value] × margin⌋, rounded down to a step

- *P(win back)*: for customers who bought on at least two days, the model's P(alive) as far as
  the model identifies drop-out (a customer who is still "alive" only needs a reason to come
  back): ``weight × P(alive) + (1 − weight) × heuristic`` with the model's ``dropout_weight``
  (0 for the no-drop-out NBD, see :mod:`lifecycle`); otherwise the heuristic
  ``winback.base_rate × lapsed_ratio / ratio`` (default 0.2 at the lapsed threshold, falling the
  longer they are overdue — ratio as in :mod:`lifecycle`).
- *E[order value]*: the Gamma-Gamma expected order value when the model is available, otherwise
  the customer's own average order value (the shop's when theirs is zero, e.g. all refunded).
- *CLV if alive*: the model's predicted CLV divided by the model's P(alive) (the value of the
  coming ``horizon_months`` once they are back; the NBD's CLV as it is, since it has no
  drop-out); 0 without the model, so the ranking then values the won-back order only.
- The incentive is at most ``winback.incentive_share`` (0.5) of the margin of the won-back order,
  so the order still pays for it: rounded down to whole units below 20, to steps of 5 below 100,
  and to steps of 10 above; below 1 unit nothing is offered.
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from stammkunde.core.settings import RetentionSettings


def win_back_probability(ratio: ArrayLike, settings: RetentionSettings,
                         p_alive: ArrayLike | None = None,
                         repeat_days: ArrayLike | None = None,
                         weight: float = 1.0) -> NDArray[np.float64]:
    """P(win back): P(alive) (as far as trusted) for multi-day customers, else the heuristic."""
    r = np.asarray(ratio, dtype=float)
    heuristic = settings.winback.base_rate * np.minimum(
        1.0, settings.lifecycle.lapsed_ratio / np.maximum(r, 1e-12))
    if p_alive is None or repeat_days is None or weight <= 0:
        return heuristic
    model = np.asarray(p_alive, dtype=float)
    if weight < 1:
        model = weight * model + (1.0 - weight) * heuristic
    return np.where(np.asarray(repeat_days) > 0, model, heuristic)


def expected_value(p_win: ArrayLike, order_value: ArrayLike, margin: float,
                   clv_if_alive: ArrayLike) -> NDArray[np.float64]:
    """P(win back) × (E[order value] × margin + CLV if alive)."""
    return np.asarray(p_win) * (np.asarray(order_value) * margin + np.asarray(clv_if_alive))


def incentive(order_value: Decimal, margin: Decimal, share: Decimal) -> Decimal:
    """The largest round incentive the expected margin of the won-back order can pay for."""
    budget = order_value * margin * share
    step = Decimal(1) if budget < 20 else Decimal(5) if budget < 100 else Decimal(10)
    amount = (budget / step).to_integral_value(rounding=ROUND_FLOOR) * step
    return amount if amount >= 1 else Decimal(0)
