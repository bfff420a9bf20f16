"""Predictive CLV: BG/NBD transactions × Gamma-Gamma spend, discounted monthly, times margin.

    CLV = Σ_{m=1..H} margin · E[order value] · (E[Y(m)] - E[Y(m-1)]) / (1 + d)^m

with E[Y(m)] the BG/NBD expected repeat purchases in the first m months after the summary's
``as_of`` and d the monthly discount rate. Defaults: 12-month horizon, 10 % a year discount
(monthly rate (1.1)^(1/12) - 1 ≈ 0.797 %), 30 % margin. A month is a twelfth of 365.25 days.

`fit_model` never raises on thin or degenerate data: it returns `ModelUnavailable` with a reason
(a short code for programs and a sentence for merchants) so the report can explain why it shows
heuristic segments instead. Values are floats: the caller converts from/to ``Decimal``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

import numpy as np
from numpy.typing import NDArray

from .bgnbd import BGNBDFit, _alive_purchases, fit_bgnbd, probability_alive
from .gamma_gamma import GammaGammaFit, expected_order_value, fit_gamma_gamma
from .summary import DAYS_PER_UNIT, CustomerSummary, compress

DEFAULT_HORIZON_MONTHS = 12
DEFAULT_HORIZON_DAYS = DEFAULT_HORIZON_MONTHS * DAYS_PER_UNIT["months"]
#: Yearly rate used to discount future margin; applied monthly as (1 + rate)^(1/12) - 1.
DEFAULT_ANNUAL_DISCOUNT_RATE = 0.10
#: Share of order value that is profit; a merchant-facing default, override per shop.
DEFAULT_MARGIN = 0.30
#: Below these counts the parameter estimates are too noisy to show: fewer than 30 customers
#: or fewer than 10 repeat buyers returns ModelUnavailable.
MIN_CUSTOMERS = 30
MIN_REPEAT_CUSTOMERS = 10
#: Fitted parameters beyond these are treated as degenerate rather than shown.
_MAX_EXPECTED_PURCHASES_PER_DAY = 10.0

Array = NDArray[np.float64]


def monthly_discount_rate(annual_rate: float) -> float:
    """Monthly rate that compounds to the given annual discount rate."""
    return float((1.0 + annual_rate) ** (1.0 / 12.0) - 1.0)


@dataclass(frozen=True)
class ModelUnavailable:
    """Why no predictive model is offered: a stable ``code`` and a readable ``reason``."""

    code: str
    reason: str


class Prediction(TypedDict):
    """Per-customer predictions, aligned with the summary passed to `FittedModel.predict`."""

    customer: NDArray[np.int64]
    expected_purchases: Array
    p_alive: Array
    expected_order_value: Array
    clv: Array


@dataclass(frozen=True)
class FittedModel:
    """A fitted BG/NBD transaction model together with a Gamma-Gamma spend model."""

    transactions: BGNBDFit
    spend: GammaGammaFit

    def predict(self, summary: CustomerSummary, horizon_days: float = DEFAULT_HORIZON_DAYS, *,
                margin: float = DEFAULT_MARGIN,
                annual_discount_rate: float = DEFAULT_ANNUAL_DISCOUNT_RATE) -> Prediction:
        """Expected purchases, P(alive), expected order value and CLV over the horizon."""
        if horizon_days <= 0:
            raise ValueError("horizon_days must be positive")
        s = summary.in_unit(self.transactions.time_unit)
        unit_days = DAYS_PER_UNIT[self.transactions.time_unit]
        params = self.transactions.params
        # Period ends: whole months, the last one cut at the horizon.
        month = DAYS_PER_UNIT["months"]
        ends_days = np.append(np.arange(1, int(np.ceil(horizon_days / month - 1e-9))) * month,
                              horizon_days)
        ends = ends_days / unit_days
        discount = (1.0 + monthly_discount_rate(annual_discount_rate)) ** (ends_days / month)

        # The "while alive" part of E[Y(t)] depends only on (x, T): evaluate it once per pair.
        pairs = compress(s.x, np.zeros_like(s.x), s.T)
        cumulative = _alive_purchases(
            params, np.repeat(ends[None, :], len(pairs), axis=0),
            np.repeat(pairs.x[:, None], ends.size, axis=1),
            np.repeat(pairs.T[:, None], ends.size, axis=1))
        increments = np.diff(cumulative, axis=1, prepend=0.0)
        discounted = (increments / discount).sum(axis=1)

        alive = probability_alive(params, s.x, s.t_x, s.T)
        order_value = expected_order_value(self.spend.params, s.x, s.mean_repeat_value)
        return Prediction(
            customer=s.customer,
            expected_purchases=cumulative[pairs.inverse, -1] * alive,
            p_alive=alive,
            expected_order_value=order_value,
            clv=margin * order_value * discounted[pairs.inverse] * alive,
        )


def fit_model(summary: CustomerSummary, *, min_customers: int = MIN_CUSTOMERS,
              min_repeat: int = MIN_REPEAT_CUSTOMERS,
              time_unit: str = "weeks") -> FittedModel | ModelUnavailable:
    """Fit BG/NBD and Gamma-Gamma to a summary, or say why the data cannot support them."""
    s = summary.in_unit(time_unit)
    n = len(s)
    repeat = s.x > 0
    n_repeat = int(repeat.sum())
    if n == 0:
        return ModelUnavailable("no_customers", "There are no customers with orders yet.")
    if n < min_customers:
        return ModelUnavailable(
            "too_few_customers",
            f"{n} customers; the predictive model needs at least {min_customers}.")
    if n_repeat == 0:
        if np.ptp(s.T) == 0:
            return ModelUnavailable(
                "single_day", "All orders fall on one day, so there is no repeat history yet.")
        return ModelUnavailable("no_repeat_buyers", "No customer has ordered twice yet.")
    if n_repeat < min_repeat:
        return ModelUnavailable(
            "too_few_repeat_buyers",
            f"{n_repeat} repeat buyers; the predictive model needs at least {min_repeat}.")

    c = compress(s.x, s.t_x, s.T)
    with np.errstate(all="ignore"):
        tx_fit = fit_bgnbd(c.x, c.t_x, c.T, c.count, time_unit=time_unit)
    if not tx_fit.converged:
        return ModelUnavailable("transactions_not_converged",
                                f"The purchase-frequency model did not fit: {tx_fit.message}.")
    per_day = tx_fit.expected_purchases_new(DAYS_PER_UNIT[time_unit]).item()
    if not np.isfinite(per_day) or per_day > _MAX_EXPECTED_PURCHASES_PER_DAY or per_day < 0:
        return ModelUnavailable("degenerate_parameters",
                                "The purchase-frequency model produced implausible rates.")

    spenders = repeat & (s.mean_repeat_value > 0)
    if spenders.sum() < min_repeat:
        return ModelUnavailable(
            "too_few_spenders",
            f"{int(spenders.sum())} repeat buyers with positive spend; the spend model needs "
            f"at least {min_repeat}.")
    if np.ptp(s.mean_repeat_value[spenders]) == 0:
        return ModelUnavailable("constant_spend",
                                "Every repeat buyer spends the same; the spend model is not "
                                "identifiable (use the plain average order value).")
    with np.errstate(all="ignore"):
        spend_fit = fit_gamma_gamma(s.x[spenders], s.mean_repeat_value[spenders])
    if not spend_fit.converged:
        return ModelUnavailable("spend_not_converged",
                                f"The spend model did not fit: {spend_fit.message}.")
    if not np.isfinite(spend_fit.mean_order_value) or spend_fit.q <= 1.0:
        return ModelUnavailable("degenerate_parameters",
                                "The spend model implies an unbounded average order value.")
    return FittedModel(transactions=tx_fit, spend=spend_fit)
