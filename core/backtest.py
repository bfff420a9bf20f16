"""Back-test of the predictive model: fit on a calibration period, compare with a holdout.

Customers are those with a valid order by the calibration end (validity and refunds as known at
that instant). The model is fitted on their calibration (x, t_x, T) summary; for each of them
the expected number of repeat transactions in (calibration end, holdout end] is compared with the
actual number (transactions are order days, as in the model; an order counts when it is not
cancelled by the holdout end). Reported: the model family and why (BG/NBD, or NBD where drop-out
is not identified: see :mod:`stammkunde.core.clv.predict`), totals and their error in per cent,
the mean absolute error per customer, and the calibration table — customers grouped by their
calibration repeat transactions 0, 1, …, 6, 7+ with mean actual and mean predicted holdout
transactions.

Next to the model, the *naive* rate extrapolation: each customer's repeat transactions per day
of age, x / T, times the holdout's length in days (0 for customers whose first order is on the
calibration end's day), with its total, error and MAE — a model worth its name beats it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session
from threadpoolctl import threadpool_limits

from stammkunde.core.clv import DAYS_PER_UNIT, CustomerSummary, FittedModel, fit_model
from stammkunde.core.errors import FieldError
from stammkunde.core.metrics import _NET
from stammkunde.core.models import Shop
from stammkunde.core.money import SCALE
from stammkunde.core.timeutil import epoch_seconds

DAY = 86_400
GROUPS = 8  # calibration repeat transactions 0 … 6 and 7+

_BACKTEST = f"""
    WITH o AS (
        SELECT o.person_id, o.created_ts / 86400 AS day, {_NET} AS net,
               CASE WHEN o.created_ts <= :cal AND (o.cancelled_ts IS NULL OR o.cancelled_ts > :cal)
                    THEN 1 ELSE 0 END AS cal,
               CASE WHEN o.created_ts > :cal
                         AND (o.cancelled_ts IS NULL OR o.cancelled_ts > :hold)
                    THEN 1 ELSE 0 END AS hold
        FROM orders o
        WHERE o.shop_id = :shop AND o.created_ts <= :hold AND o.is_test = :false
          AND o.deleted_at IS NULL
    ),
    c AS (
        SELECT o.*, MIN(CASE WHEN cal = 1 THEN day END) OVER (PARTITION BY person_id) AS first_day
        FROM o
    )
    SELECT person_id,
           COUNT(DISTINCT CASE WHEN cal = 1 THEN day END) AS cal_days,
           MIN(first_day) AS first_day,
           MAX(CASE WHEN cal = 1 THEN day END) AS last_day,
           CAST(SUM(CASE WHEN cal = 1 THEN net ELSE 0 END) AS BIGINT) AS cal_net,
           CAST(SUM(CASE WHEN cal = 1 AND day = first_day THEN net ELSE 0 END) AS BIGINT)
               AS first_day_net,
           COUNT(DISTINCT CASE WHEN hold = 1 THEN day END) AS hold_days
    FROM c
    GROUP BY person_id
    HAVING MIN(first_day) IS NOT NULL
    ORDER BY person_id
"""

_LAST_ORDER = """
    SELECT MAX(created_ts) FROM orders
    WHERE shop_id = :shop AND is_test = :false AND deleted_at IS NULL
"""


@dataclass(frozen=True)
class Backtest:
    """Per-customer actual and predicted holdout transactions, and the fitted model."""

    calibration_end: datetime
    holdout_end: datetime
    x: np.ndarray
    actual: np.ndarray
    predicted: np.ndarray
    model: Any
    naive: np.ndarray


def last_order_time(session: Session, shop: Shop) -> datetime | None:
    """The creation instant of the shop's latest order (None without orders)."""
    ts = session.connection().execute(text(_LAST_ORDER), {"shop": shop.id, "false": False})
    value = ts.scalar()
    return None if value is None else datetime.fromtimestamp(int(value), UTC)


def run_backtest(session: Session, shop: Shop, calibration_end: datetime,
                 holdout_end: datetime) -> Backtest:
    """Fit on orders up to ``calibration_end``; predict and count transactions up to the end."""
    if holdout_end <= calibration_end:
        raise FieldError("{holdout_end} must be after {calibration_end}")
    cal, hold = epoch_seconds(calibration_end), epoch_seconds(holdout_end)
    rows = session.connection().execute(
        text(_BACKTEST),
        {"shop": shop.id, "cal": cal, "hold": hold, "as_of": cal, "false": False}).all()
    if not rows:
        raise FieldError("no customers with a valid order before {calibration_end}")
    arr = np.array(rows, dtype=np.int64)
    days, first, last, net, first_net, hold_days = (arr[:, k] for k in range(1, 7))
    x = (days - 1).astype(float)
    mean_repeat = np.divide((net - first_net) / SCALE, x, out=np.zeros(x.size), where=x > 0)
    summary = CustomerSummary(customer=np.arange(x.size, dtype=np.int64), x=x,
                              t_x=(last - first).astype(float),
                              T=(cal // DAY - first).astype(float),
                              mean_repeat_value=mean_repeat)
    with threadpool_limits(limits=1, user_api="blas"):  # see segments/scores.py
        model = fit_model(summary)
    predicted = np.full(x.size, np.nan)
    holdout_days = float(hold // DAY - cal // DAY)
    if isinstance(model, FittedModel):
        tx = model.transactions
        s = summary.in_unit(tx.time_unit)
        horizon = holdout_days / DAYS_PER_UNIT[tx.time_unit]
        predicted = tx.expected_purchases(horizon, s.x, s.t_x, s.T)
    naive = naive_extrapolation(summary.x, summary.T, holdout_days)
    return Backtest(calibration_end, holdout_end, x, hold_days.astype(float), predicted, model,
                    naive)


def naive_extrapolation(x: np.ndarray, T: np.ndarray, horizon_days: float) -> np.ndarray:
    """Each customer's repeat transactions per day of age (x / T, days) times the horizon."""
    return np.divide(x, T, out=np.zeros(x.size), where=T > 0) * horizon_days


def _accuracy(predicted: np.ndarray, actual: np.ndarray) -> dict[str, Any]:
    total, actual_total = float(predicted.sum()), float(actual.sum())
    return {"predicted_total": total,
            "error_percent": (total - actual_total) / actual_total * 100 if actual_total else None,
            "mae": float(np.mean(np.abs(predicted - actual)))}


def backtest_report(bt: Backtest) -> dict[str, Any]:
    """Totals, error per cent, MAE and the calibration table of a back-test."""
    out: dict[str, Any] = {
        "calibration_end": bt.calibration_end.isoformat().replace("+00:00", "Z"),
        "holdout_end": bt.holdout_end.isoformat().replace("+00:00", "Z"),
        "customers": int(bt.x.size),
        "actual_total": float(bt.actual.sum()),
        "naive": _accuracy(bt.naive, bt.actual),
    }
    group = np.minimum(bt.x, GROUPS - 1).astype(np.int64)
    count = np.bincount(group, minlength=GROUPS)
    actual = np.bincount(group, weights=bt.actual, minlength=GROUPS)
    naive = np.bincount(group, weights=bt.naive, minlength=GROUPS)

    def mean(values: np.ndarray, k: int) -> float | None:
        return float(values[k] / count[k]) if count[k] else None

    if not isinstance(bt.model, FittedModel):
        out["model"] = {"available": False, "code": bt.model.code, "reason": bt.model.reason}
        out["calibration_table"] = [
            {"repeat_purchases": f"{k}+" if k == GROUPS - 1 else str(k),
             "customers": int(count[k]), "actual": mean(actual, k), "predicted": None,
             "naive": mean(naive, k)}
            for k in range(GROUPS)]
        return out
    tx = bt.model.transactions
    out["model"] = {"available": True, "family": bt.model.family, "reason": bt.model.reason,
                    "r": tx.r, "alpha": tx.alpha, "a": getattr(tx, "a", None),
                    "b": getattr(tx, "b", None), "time_unit": tx.time_unit}
    out.update(_accuracy(bt.predicted, bt.actual))
    predicted = np.bincount(group, weights=bt.predicted, minlength=GROUPS)
    out["calibration_table"] = [
        {"repeat_purchases": f"{k}+" if k == GROUPS - 1 else str(k), "customers": int(count[k]),
         "actual": mean(actual, k), "predicted": mean(predicted, k), "naive": mean(naive, k)}
        for k in range(GROUPS)
    ]
    return out
