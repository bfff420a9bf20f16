"""Gamma-Gamma model of spend per transaction (Fader, Hardie & Lee 2005, "RFM and CLV: Using
iso-value curves for customer base analysis", Journal of Marketing Research 42(4); notation of
Fader & Hardie's note "The Gamma-Gamma model of monetary value", 2013).

A customer's transaction values are Gamma(p, ν) with ν ~ Gamma(q, γ) across customers, so a
customer's mean repeat value m̄ over x transactions has the density used below. The model
assumes spend is independent of purchase frequency: `frequency_value_correlation` reports the
Pearson correlation between x and m̄ so a caller can show whether that holds.

Inputs are floats (money is ``Decimal`` elsewhere in Stammkunde; this is the numeric boundary).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import digamma, gammaln

from ._mle import dot, maximise

PARAM_NAMES = ("p", "q", "gamma")

Array = NDArray[np.float64]


@dataclass(frozen=True)
class _SpendData:
    """Repeat customers grouped by x, with the per-customer sums the likelihood needs."""

    x_values: Array  # unique x
    x_counts: Array  # customers per unique x
    spend: Array  # x · m̄ per customer
    x: Array  # x per customer
    sum_x_log_xm: float  # Σ x (ln m̄ + ln x)
    sum_log_m: float  # Σ ln m̄


def _prepare(x: Array, m: Array) -> _SpendData:
    x_values, x_counts = np.unique(x, return_counts=True)
    log_m = np.log(m)
    return _SpendData(
        x_values=x_values,
        x_counts=x_counts.astype(float),
        spend=x * m,
        x=x,
        sum_x_log_xm=dot(x, log_m + np.log(x)),
        sum_log_m=float(log_m.sum()),
    )


def _loglik_and_grad(log_params: Array, d: _SpendData) -> tuple[float, Array]:
    p, q, g = np.exp(log_params)
    n = d.x_counts
    px = p * d.x_values
    log_g_spend = np.log(g + d.spend)
    n_total = float(n.sum())
    ll = (dot(n, gammaln(px + q) - gammaln(px)) + n_total * (q * np.log(g) - gammaln(q))
          + p * d.sum_x_log_xm - d.sum_log_m - dot(p * d.x + q, log_g_spend))
    psi_pxq = digamma(px + q)
    d_p = dot(n * d.x_values, psi_pxq - digamma(px)) + d.sum_x_log_xm - dot(d.x, log_g_spend)
    d_q = dot(n, psi_pxq) + n_total * (np.log(g) - digamma(q)) - log_g_spend.sum()
    d_g = n_total * q / g - dot(p * d.x + q, 1.0 / (g + d.spend))
    return float(ll), np.array([d_p * p, d_q * q, d_g * g])


def log_likelihood(params: tuple[float, float, float], x: ArrayLike,
                   mean_value: ArrayLike) -> float:
    """Gamma-Gamma log-likelihood of repeat customers' mean values at (p, q, γ)."""
    xa, ma = _validated(x, mean_value)
    return _loglik_and_grad(np.log(np.asarray(params, dtype=float)), _prepare(xa, ma))[0]


def log_likelihood_and_gradient(log_params: ArrayLike, x: ArrayLike,
                                mean_value: ArrayLike) -> tuple[float, Array]:
    """Gamma-Gamma log-likelihood and its gradient w.r.t. log(p, q, γ)."""
    xa, ma = _validated(x, mean_value)
    return _loglik_and_grad(np.asarray(log_params, dtype=float), _prepare(xa, ma))


def _validated(x: ArrayLike, mean_value: ArrayLike) -> tuple[Array, Array]:
    xa = np.asarray(x, dtype=float)
    ma = np.asarray(mean_value, dtype=float)
    if xa.shape != ma.shape or xa.ndim != 1:
        raise ValueError("x and mean_value must be 1-d arrays of equal length")
    if xa.size == 0:
        raise ValueError("no repeat customers to fit")
    if np.any(xa <= 0) or np.any(ma <= 0) or not np.all(np.isfinite(ma)):
        raise ValueError("pass repeat customers only: x > 0 and a positive mean value")
    return xa, ma


@dataclass(frozen=True)
class GammaGammaFit:
    """Fitted Gamma-Gamma spend parameters with standard errors and diagnostics."""

    p: float
    q: float
    gamma: float
    log_likelihood: float
    standard_errors: dict[str, float]
    n_customers: int
    converged: bool
    frequency_value_correlation: float
    message: str = "converged"
    #: Covariance of log(p, q, γ) (inverse of the observed information); NaN when not concave.
    log_covariance: NDArray[np.float64] | None = field(default=None, compare=False, repr=False)

    @property
    def params(self) -> tuple[float, float, float]:
        """The parameters (p, q, γ)."""
        return (self.p, self.q, self.gamma)

    @property
    def mean_order_value(self) -> float:
        """Population mean order value pγ/(q-1); infinite when q ≤ 1."""
        return expected_order_value(self.params, 0.0, 0.0).item()

    def expected_order_value(self, x: ArrayLike, mean_value: ArrayLike) -> Array:
        """Expected value of a customer's future orders given x and their mean repeat value."""
        return expected_order_value(self.params, x, mean_value)


def frequency_value_correlation(x: ArrayLike, mean_value: ArrayLike) -> float:
    """Pearson correlation of frequency and mean repeat value among repeat customers."""
    xa = np.asarray(x, dtype=float)
    ma = np.asarray(mean_value, dtype=float)
    repeat = xa > 0
    if repeat.sum() < 2 or np.ptp(xa[repeat]) == 0 or np.ptp(ma[repeat]) == 0:
        return float("nan")
    return float(np.corrcoef(xa[repeat], ma[repeat])[0, 1])


def fit_gamma_gamma(x: ArrayLike, mean_value: ArrayLike) -> GammaGammaFit:
    """Fit Gamma-Gamma by maximum likelihood to repeat customers (x > 0, mean value > 0)."""
    xa, ma = _validated(x, mean_value)
    data = _prepare(xa, ma)
    # Start at p = 1, q = 2, where the population mean order value pγ/(q-1) is γ.
    theta0 = np.array([0.0, np.log(2.0), np.log(float(np.mean(ma)))])
    result = maximise(lambda th: _loglik_and_grad(th, data), theta0, float(xa.size),
                      PARAM_NAMES)
    p, q, g = (float(v) for v in result.params)
    return GammaGammaFit(
        p=p, q=q, gamma=g,
        log_likelihood=result.log_likelihood,
        standard_errors=dict(zip(PARAM_NAMES, map(float, result.standard_errors), strict=True)),
        n_customers=int(xa.size),
        converged=result.converged,
        frequency_value_correlation=frequency_value_correlation(xa, ma),
        message=result.message,
        log_covariance=result.log_covariance,
    )


def expected_order_value(params: tuple[float, float, float], x: ArrayLike,
                         mean_value: ArrayLike) -> Array:
    """E[M | x, m̄] = p(γ + x m̄)/(px + q - 1): the population mean pγ/(q-1) when x = 0."""
    p, q, g = params
    xa, ma = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(mean_value, dtype=float))
    # Refunds can leave a repeat buyer's net mean at or below zero; count it as zero spend.
    ma = np.where(xa > 0, np.maximum(ma, 0.0), 0.0)
    denom = p * xa + q - 1.0
    with np.errstate(divide="ignore"):
        return np.where(denom > 0, p * (g + xa * ma) / np.where(denom > 0, denom, 1.0), np.inf)
