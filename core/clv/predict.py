"""Predictive CLV: a purchase-frequency model × a spend model, discounted monthly, times margin.

    CLV = Σ_{m=1..H} margin · E[order value] · (E[Y(m)] - E[Y(m-1)]) / (1 + d)^m

with E[Y(m)] the expected repeat purchases in the first m months after the summary's ``as_of``
and d the monthly discount rate. Defaults: 12-month horizon, 10 % a year discount (monthly rate
(1.1)^(1/12) - 1 ≈ 0.797 %), 30 % margin. A month is a twelfth of 365.25 days.

**Which purchase-frequency model** (`fit_model`; the choice and its reason are on the result):

- BG/NBD when its drop-out process is identified: the fit converged to a concave optimum, the
  relative standard error u of the mean drop-out probability a / (a + b) (the standard error of
  its log, by the delta method from the inverse observed information of log a, log b) is below
  :data:`DROPOUT_UNIDENTIFIED_SE` (100 %), and BG/NBD's AIC is lower than the NBD's (BG/NBD
  has two parameters more, so its log-likelihood must be more than 2 higher).
- Otherwise NBD, BG/NBD's no-drop-out limit (:mod:`.nbd`): on shops where customers rarely
  leave within the data's span the BG/NBD likelihood is flat along that limit (a → 0), and the
  standard errors of a, b and a / (a + b) are many times the estimates, or undefined.

The mean drop-out probability is what separates BG/NBD from its limit; a and b on their own are
often poorly determined even where it is not (on a simulated BG/NBD shop of 300 customers their
relative standard errors are 50–300 % while a / (a + b)'s is 23–57 %).

**How far P(alive) is trusted** (:attr:`FittedModel.dropout_weight`, used by the lifecycle
stages and win-back chances): the smaller of two ramps, each 0 where BG/NBD stops being chosen
and 1 where drop-out is clearly identified: in u, 1 at :data:`DROPOUT_IDENTIFIED_SE` (50 %) or
less, 0 from :data:`DROPOUT_UNIDENTIFIED_SE` (100 %) on; in the AIC advantage of BG/NBD over
NBD, 0 at none or less, 1 from :data:`AIC_ADVANTAGE_FULL` (6) on; linear in between, and 0 for
the NBD. Both quantities change continuously as a day's orders arrive, and the weight is
already 0 where the family switches, so a switch of family moves no stage (tested on two
adjacent days of a real shop where the family switches).

**Uncertainty**: `FittedModel.predict` gives 90 % intervals of each customer's expected purchases
and CLV from the parameters' covariance by the delta method on the log scale (gradients of
log E[Y] and log CLV w.r.t. the log-parameters, forward differences for the "while alive" part,
analytic elsewhere; the spend model's parameters are independent of the frequency model's).
They cover the parameters' estimation error, not the randomness of a customer's own purchases.

**Spend**: Gamma-Gamma when it fits; when it cannot (too few repeat buyers with spend, identical
spend, no convergence, an unbounded mean) each customer's own average order value is used (the
shop's for customers without a positive one) and :attr:`FittedModel.spend_note` says why.

`fit_model` never raises on thin or degenerate data: it returns `ModelUnavailable` with a reason
(a short code for programs and a sentence for merchants) below :data:`MIN_CUSTOMERS` customers
or :data:`MIN_REPEAT_CUSTOMERS` repeat buyers, or when no purchase-frequency model converges.
Values are floats: the caller converts from/to ``Decimal``.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist
from typing import TypedDict

import numpy as np
from numpy.typing import NDArray
from threadpoolctl import threadpool_limits

from .bgnbd import BGNBDFit, _alive_purchases, fit_bgnbd, probability_alive
from .gamma_gamma import GammaGammaFit, expected_order_value, fit_gamma_gamma
from .nbd import NBDFit, fit_nbd
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
#: Relative standard error of the mean drop-out probability a / (a + b) at or below which
#: P(alive) is fully trusted.
DROPOUT_IDENTIFIED_SE = 0.5
#: ... and from which drop-out counts as not identified (the NBD is used).
DROPOUT_UNIDENTIFIED_SE = 1.0
#: AIC advantage of BG/NBD over NBD from which P(alive) is fully trusted.
AIC_ADVANTAGE_FULL = 6.0
#: Coverage of the per-customer intervals.
INTERVAL_LEVEL = 0.90
_Z = NormalDist().inv_cdf(0.5 + INTERVAL_LEVEL / 2)  # (not scipy.stats: 66 MiB to load)
# Step in log-parameter space of the forward differences of the "while alive" curve.
_FD_STEP = 1e-6
FAMILIES = ("bgnbd", "nbd")

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
    """Per-customer predictions, aligned with the summary passed to `FittedModel.predict`.

    The ``*_low`` / ``*_high`` arrays bound the 90 % interval of the value before them (NaN when
    intervals were not asked for).
    """

    customer: NDArray[np.int64]
    expected_purchases: Array
    expected_purchases_low: Array
    expected_purchases_high: Array
    p_alive: Array
    expected_order_value: Array
    clv: Array
    clv_low: Array
    clv_high: Array


TransactionFit = BGNBDFit | NBDFit


def family_of(fit: TransactionFit) -> str:
    """The family name of a purchase-frequency fit: ``"bgnbd"`` or ``"nbd"``."""
    return "nbd" if isinstance(fit, NBDFit) else "bgnbd"


def dropout_uncertainty(fit: BGNBDFit) -> float:
    """Relative standard error of BG/NBD's mean drop-out probability a/(a+b) (inf if none)."""
    cov = fit.log_covariance
    if not fit.converged or cov is None or not np.all(np.isfinite(cov)):
        return float("inf")
    # log(a/(a+b)): d/dlog a = b/(a+b), d/dlog b = -b/(a+b).
    share = fit.b / (fit.a + fit.b)
    var = share**2 * (cov[2, 2] + cov[3, 3] - 2.0 * cov[2, 3])
    return float(np.sqrt(max(var, 0.0)))


def dropout_weight(uncertainty: float, aic_advantage: float = np.inf) -> float:
    """How far P(alive) is trusted (0 … 1): from a/(a+b)'s relative SE and BG/NBD's AIC lead."""
    if not np.isfinite(uncertainty) or not aic_advantage > 0:
        return 0.0
    span = DROPOUT_UNIDENTIFIED_SE - DROPOUT_IDENTIFIED_SE
    by_se = float(np.clip((DROPOUT_UNIDENTIFIED_SE - uncertainty) / span, 0.0, 1.0))
    return min(by_se, float(min(aic_advantage / AIC_ADVANTAGE_FULL, 1.0)))


def _aic(log_likelihood: float, k: int) -> float:
    return 2.0 * k - 2.0 * log_likelihood


@dataclass(frozen=True)
class FittedModel:
    """A fitted purchase-frequency model (BG/NBD or NBD) with a spend model or its fallback.

    ``spend`` is None when the Gamma-Gamma model could not be fitted; expected order values are
    then each customer's own average order value and ``spend_note`` says why.
    """

    transactions: TransactionFit
    spend: GammaGammaFit | None
    family: str = "bgnbd"
    reason: str = ""
    dropout_weight: float = 1.0
    spend_note: str | None = None
    #: The fit of the family that was not chosen (for the report's comparison), if any.
    alternative: TransactionFit | None = None

    def predict(self, summary: CustomerSummary, horizon_days: float = DEFAULT_HORIZON_DAYS, *,
                margin: float = DEFAULT_MARGIN,
                annual_discount_rate: float = DEFAULT_ANNUAL_DISCOUNT_RATE,
                intervals: bool = True) -> Prediction:
        """Expected purchases, P(alive), expected order value and CLV (with 90 % intervals)."""
        if horizon_days <= 0:
            raise ValueError("horizon_days must be positive")
        tx = self.transactions
        s = summary.in_unit(tx.time_unit)
        unit_days = DAYS_PER_UNIT[tx.time_unit]
        # Period ends: whole months, the last one cut at the horizon.
        month = DAYS_PER_UNIT["months"]
        ends_days = np.append(np.arange(1, int(np.ceil(horizon_days / month - 1e-9))) * month,
                              horizon_days)
        ends = ends_days / unit_days
        discount = (1.0 + monthly_discount_rate(annual_discount_rate)) ** (ends_days / month)

        # The "while alive" part of E[Y(t)] depends only on (x, T): evaluate it once per pair.
        pairs = compress(summary.x, np.zeros_like(summary.x), summary.T)
        pair_T = pairs.T * (DAYS_PER_UNIT[summary.time_unit] / unit_days)

        def curves(log_params: Array) -> tuple[Array, Array]:
            """Per pair: cumulative purchases while alive at the horizon, and discounted."""
            cumulative = _while_alive(tx, np.exp(log_params), ends, pairs.x, pair_T)
            increments = np.diff(cumulative, axis=1, prepend=0.0)
            return cumulative[:, -1], (increments / discount).sum(axis=1)

        theta = np.log(np.asarray(tx.params, dtype=float))
        total, discounted = curves(theta)
        if isinstance(tx, BGNBDFit):
            alive = probability_alive(tx.params, s.x, s.t_x, s.T)
        else:
            alive = np.ones(len(s))
        order_value, spend_log_var = self._order_value(s, intervals)
        purchases = total[pairs.inverse] * alive
        clv = margin * order_value * discounted[pairs.inverse] * alive
        nan = np.full(len(s), np.nan)
        out = Prediction(
            customer=s.customer, expected_purchases=purchases, expected_purchases_low=nan,
            expected_purchases_high=nan, p_alive=alive, expected_order_value=order_value,
            clv=clv, clv_low=nan, clv_high=nan)
        if not intervals:
            return out
        cov = np.asarray(tx.log_covariance, dtype=float)
        # d log(curve) / d log-parameter per pair, by forward differences (the curves are
        # smooth; a relative step of 1e-6 leaves errors far below the standard errors').
        log_total, log_disc = _safe_log(total), _safe_log(discounted)
        grad_total = np.empty((len(pairs), theta.size))
        grad_disc = np.empty((len(pairs), theta.size))
        for i in range(theta.size):
            step = np.zeros(theta.size)
            step[i] = _FD_STEP
            t_up, d_up = curves(theta + step)
            grad_total[:, i] = (_safe_log(t_up) - log_total) / _FD_STEP
            grad_disc[:, i] = (_safe_log(d_up) - log_disc) / _FD_STEP
        grad_alive = (_log_alive_gradient(tx.params, s.x, s.t_x, s.T, alive)
                      if isinstance(tx, BGNBDFit) else None)
        var_purchases = _quadratic(grad_total, pairs.inverse, grad_alive, cov)
        var_clv = _quadratic(grad_disc, pairs.inverse, grad_alive, cov) + spend_log_var
        # exp(±z·sd) on the log scale: one exp per quantity, its reciprocal for the low end.
        # A variance too large for exp (a parameter barely determined) gives an unbounded
        # upper end (inf), shown as empty.
        with np.errstate(over="ignore", invalid="ignore"):
            factor_p = np.exp(_Z * np.sqrt(np.maximum(var_purchases, 0.0)))
            factor_c = np.exp(_Z * np.sqrt(np.maximum(var_clv, 0.0)))
        out["expected_purchases_low"] = purchases / factor_p
        out["expected_purchases_high"] = purchases * factor_p
        out["clv_low"] = clv / factor_c
        out["clv_high"] = clv * factor_c
        return out

    def _order_value(self, s: CustomerSummary, intervals: bool) -> tuple[Array, Array | float]:
        """Expected order value per customer and the variance of its log from the spend fit."""
        if self.spend is None:
            return fallback_order_value(s), 0.0
        sp = self.spend
        value = expected_order_value(sp.params, s.x, s.mean_repeat_value)
        if not intervals:
            return value, 0.0
        p, q, g = sp.params
        x = s.x
        m = np.where(x > 0, np.maximum(s.mean_repeat_value, 0.0), 0.0)
        denom = p * x + q - 1.0
        grad = np.empty((x.size, 3))
        grad[:, 0] = 1.0 - p * x / denom
        grad[:, 1] = -q / denom
        grad[:, 2] = g / (g + x * m)
        return value, _quadratic_form(grad, np.asarray(sp.log_covariance, dtype=float))


def fallback_order_value(s: CustomerSummary) -> Array:
    """Each customer's average order value; the shop's where theirs is not positive."""
    own = s.mean_value if s.mean_value is not None else s.mean_repeat_value
    own = np.asarray(own, dtype=float)
    positive = np.isfinite(own) & (own > 0)
    if s.mean_value is not None:
        # Average order value of the shop: total value over transactions.
        n_txn = s.x + 1.0
        shop = float(np.sum(np.where(positive, own * n_txn, 0.0)) /
                     max(float(np.sum(np.where(positive, n_txn, 0.0))), 1.0))
    else:
        shop = float(np.sum(np.where(positive, own * s.x, 0.0)) /
                     max(float(np.sum(np.where(positive, s.x, 0.0))), 1.0))
    return np.where(positive, own, shop)


def _safe_log(v: Array) -> Array:
    with np.errstate(divide="ignore"):
        return np.log(np.maximum(v, 1e-300))


def _quadratic_form(grad: Array, cov: Array) -> Array:
    """g' Σ g for each row g of ``grad`` (rows × parameters)."""
    with threadpool_limits(limits=1, user_api="blas"):  # tiny inner dimension: no threads
        return np.einsum("ij,ij->i", grad @ cov, grad)


def _quadratic(grad_pair: Array, inverse: NDArray[np.intp], grad_cust: Array | None,
               cov: Array) -> Array:
    """g' Σ g per customer with g = per-pair gradient (+ per-customer gradient)."""
    if grad_cust is None:
        return _quadratic_form(grad_pair, cov)[inverse]
    g = np.take(grad_pair, inverse, axis=0)
    g += grad_cust
    return _quadratic_form(g, cov)


def _while_alive(tx: TransactionFit, params: Array, ends: Array, x: Array, T: Array) -> Array:
    """Cumulative expected purchases while alive at each end (rows: pairs, columns: ends)."""
    if isinstance(tx, NBDFit):
        r, alpha = params
        return ends[None, :] * ((r + x) / (alpha + T))[:, None]
    n = x.size
    return _alive_purchases(tuple(params), np.repeat(ends[None, :], n, axis=0),
                            np.repeat(x[:, None], ends.size, axis=1),
                            np.repeat(T[:, None], ends.size, axis=1))


def _log_alive_gradient(params: tuple[float, float, float, float], x: Array, t_x: Array,
                        T: Array, alive: Array) -> Array:
    """d log P(alive) / d log(r, α, a, b) per customer (0 without repeat purchases)."""
    r, alpha, _, b = params
    # P(alive) = 1 / (1 + e^L): d log P = -(1 - P) dL; P = 1 exactly without repeat purchases.
    scale = alive - 1.0
    a_T, a_tx = alpha + T, alpha + t_x
    out = np.empty((x.size, 4))
    out[:, 0] = scale * r * np.log(a_T / a_tx)
    out[:, 1] = scale * (r + x) * alpha * (t_x - T) / (a_T * a_tx)
    out[:, 2] = scale
    out[:, 3] = scale * (-b) / np.maximum(b + x - 1.0, 1e-300)
    return out


def fit_model(summary: CustomerSummary, *, min_customers: int = MIN_CUSTOMERS,
              min_repeat: int = MIN_REPEAT_CUSTOMERS,
              time_unit: str = "weeks") -> FittedModel | ModelUnavailable:
    """Fit the purchase-frequency family the data identify and a spend model; or say why not."""
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

    choice = _transactions(summary, time_unit)
    if isinstance(choice, ModelUnavailable):
        return choice
    tx_fit, alternative, family, reason, weight = choice
    spend_fit, spend_note = _spend(s, repeat, min_repeat)
    return FittedModel(transactions=tx_fit, spend=spend_fit, family=family, reason=reason,
                       dropout_weight=weight, spend_note=spend_note, alternative=alternative)


def _plausible(fit: TransactionFit) -> bool:
    per_day = fit.expected_purchases_new(DAYS_PER_UNIT[fit.time_unit]).item()
    return bool(np.isfinite(per_day) and 0 <= per_day <= _MAX_EXPECTED_PURCHASES_PER_DAY)


def _transactions(summary: CustomerSummary, time_unit: str) -> (
        tuple[TransactionFit, TransactionFit | None, str, str, float] | ModelUnavailable):
    """Fit BG/NBD and NBD; choose by identification of drop-out and AIC (module docstring)."""
    # Compress in the summary's own unit: whole days compress with one integer sort.
    c = compress(summary.x, summary.t_x, summary.T)
    scale = DAYS_PER_UNIT[summary.time_unit] / DAYS_PER_UNIT[time_unit]
    with np.errstate(all="ignore"):
        bg = fit_bgnbd(c.x, c.t_x * scale, c.T * scale, c.count, time_unit=time_unit)
        nbd = fit_nbd(c.x, c.T * scale, c.count, time_unit=time_unit)
    bg_ok = bg.converged and _plausible(bg)
    nbd_ok = nbd.converged and _plausible(nbd)
    u = dropout_uncertainty(bg) if bg_ok else float("inf")
    mean_p = bg.a / (bg.a + bg.b)
    aic_bg, aic_nbd = _aic(bg.log_likelihood, 4), _aic(nbd.log_likelihood, 2)
    identified = bg_ok and u < DROPOUT_UNIDENTIFIED_SE
    if identified and (not nbd_ok or aic_bg < aic_nbd):
        reason = (
            f"BG/NBD: the data identify drop-out (mean drop-out probability after a purchase "
            f"{mean_p:.3g}, relative standard error {_pct(u)}; AIC {aic_bg:,.1f} against "
            f"{aic_nbd:,.1f} without drop-out).")
        advantage = aic_nbd - aic_bg if nbd_ok else np.inf
        return bg, (nbd if nbd_ok else None), "bgnbd", reason, dropout_weight(u, advantage)
    if nbd_ok:
        if identified:
            why = (f"drop-out does not improve the fit enough (AIC {aic_bg:,.1f} with it, "
                   f"{aic_nbd:,.1f} without)")
        elif bg_ok:
            why = ("the data do not identify drop-out (BG/NBD's mean drop-out probability "
                   f"{mean_p:.3g} has a relative standard error of {_pct(u)})")
        else:
            why = f"the data do not identify drop-out (BG/NBD: {bg.message})"
        reason = (f"NBD without drop-out: {why}, so every customer counts as active; P(alive) "
                  "is not shown and lifecycle stages use each customer's rhythm of ordering.")
        return nbd, (bg if bg_ok else None), "nbd", reason, 0.0
    if bg_ok:
        # NBD failed where BG/NBD converged but is weakly identified: keep BG/NBD, trust no
        # P(alive).
        reason = (f"BG/NBD with drop-out weakly identified (the no-drop-out NBD did not fit: "
                  f"{nbd.message}); P(alive) is not used for lifecycle stages.")
        return bg, None, "bgnbd", reason, 0.0
    if not bg.converged:
        return ModelUnavailable("transactions_not_converged",
                                f"The purchase-frequency model did not fit: {bg.message}.")
    return ModelUnavailable("degenerate_parameters",
                            "The purchase-frequency model produced implausible rates.")


def _pct(value: float) -> str:
    return f"{value * 100:,.0f} %"


def _spend(s: CustomerSummary, repeat: NDArray[np.bool_],
           min_repeat: int) -> tuple[GammaGammaFit | None, str | None]:
    """Fit Gamma-Gamma, or say why each customer's average order value is used instead."""
    fallback = " Expected order values are each customer's own average order value instead."
    spenders = repeat & (s.mean_repeat_value > 0)
    if spenders.sum() < min_repeat:
        return None, (f"The spend model needs at least {min_repeat} repeat buyers with positive "
                      f"spend; there are {int(spenders.sum())}." + fallback)
    if np.ptp(s.mean_repeat_value[spenders]) == 0:
        return None, ("Every repeat buyer spends the same, so the spend model is not "
                      "identifiable." + fallback)
    with np.errstate(all="ignore"):
        spend_fit = fit_gamma_gamma(s.x[spenders], s.mean_repeat_value[spenders])
    if not spend_fit.converged:
        return None, f"The spend model did not fit: {spend_fit.message}." + fallback
    if not np.isfinite(spend_fit.mean_order_value) or spend_fit.q <= 1.0:
        return None, "The spend model implies an unbounded average order value." + fallback
    return spend_fit, None
