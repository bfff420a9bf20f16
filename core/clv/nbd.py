"""NBD model of repeat purchasing: BG/NBD's no-drop-out limit (Ehrenberg 1959, "The pattern of
consumer purchases", Applied Statistics 8(1); Fader, Hardie & Lee 2005, section 2).

Every customer stays active and buys at a Poisson rate λ ~ Gamma(r, α). It is BG/NBD with the
drop-out probability p fixed at 0 (the limit a → 0 of p ~ Beta(a, b)), which is what BG/NBD's
likelihood tends to when the data do not identify drop-out: then `a` and `b` drift along a flat
ridge towards that limit with standard errors many times their estimates.

Per customer, with x repeat transactions in an age of T periods (t_x plays no role):

    L(r, α | x, T) = Γ(r+x)/Γ(r) · α^r / (α+T)^(r+x)
    E[Y(t) | x, T] = t · (r+x)/(α+T)         E[X(t)] = t · r/α         P(alive) = 1
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import digamma, gammaln

from ._mle import dot, maximise

PARAM_NAMES = ("r", "alpha")

Array = NDArray[np.float64]


def log_likelihood_terms(log_params: ArrayLike, x: ArrayLike, T: ArrayLike) -> Array:
    """Return each customer's NBD log-likelihood at log(r, α)."""
    r, alpha = np.exp(np.asarray(log_params, dtype=float))
    xa, Ta = np.asarray(x, dtype=float), np.asarray(T, dtype=float)
    return (gammaln(r + xa) - gammaln(r) + r * np.log(alpha)
            - (r + xa) * np.log(alpha + Ta))


def _loglik_and_grad(log_params: Array, x: Array, T: Array, w: Array,
                     x_values: Array, x_weight: Array, n: float) -> tuple[float, Array]:
    r, alpha = np.exp(log_params)
    log_alpha_T = np.log(alpha + T)
    ll = (dot(x_weight, gammaln(r + x_values)) - n * gammaln(r) + n * r * np.log(alpha)
          - dot(w, (r + x) * log_alpha_T))
    g_r = (dot(x_weight, digamma(r + x_values)) - n * digamma(r) + n * np.log(alpha)
           - dot(w, log_alpha_T))
    g_alpha = n * r / alpha - dot(w, (r + x) / (alpha + T))
    return float(ll), np.array([g_r * r, g_alpha * alpha])


def log_likelihood_and_gradient(log_params: ArrayLike, x: ArrayLike, T: ArrayLike,
                                count: ArrayLike) -> tuple[float, Array]:
    """Return the count-weighted NBD log-likelihood and its gradient w.r.t. log(r, α)."""
    xa, Ta, w = (np.asarray(v, dtype=float) for v in (x, T, count))
    x_values, inverse = np.unique(xa, return_inverse=True)
    x_weight = np.bincount(inverse, weights=w, minlength=x_values.size)
    return _loglik_and_grad(np.asarray(log_params, dtype=float), xa, Ta, w, x_values,
                            x_weight, float(w.sum()))


@dataclass(frozen=True)
class NBDFit:
    """Fitted NBD parameters with their standard errors, covariance and fit diagnostics."""

    r: float
    alpha: float
    log_likelihood: float
    standard_errors: dict[str, float]
    n_customers: int
    time_unit: str
    converged: bool
    message: str = "converged"
    #: Covariance of log(r, α) (inverse of the observed information); NaN when not concave.
    log_covariance: Array | None = field(default=None, compare=False, repr=False)

    @property
    def params(self) -> tuple[float, float]:
        """The parameters (r, α)."""
        return (self.r, self.alpha)

    def expected_purchases(self, t: ArrayLike, x: ArrayLike, t_x: ArrayLike,
                           T: ArrayLike) -> Array:
        """Expected repeat purchases in the next t periods for customers with (x, t_x, T)."""
        ta, xa, _, Ta = np.broadcast_arrays(
            *(np.asarray(v, dtype=float) for v in (t, x, t_x, T)))
        return ta * (self.r + xa) / (self.alpha + Ta)

    def expected_purchases_new(self, t: ArrayLike) -> Array:
        """Expected repeat purchases within t periods of a new customer's first purchase."""
        return np.asarray(t, dtype=float) * self.r / self.alpha


def fit_nbd(x: ArrayLike, T: ArrayLike, count: ArrayLike | None = None, *,
            time_unit: str = "weeks") -> NBDFit:
    """Fit the NBD model by maximum likelihood to (compressed) (x, T) pairs; check convergence."""
    xa, Ta = np.asarray(x, dtype=float), np.asarray(T, dtype=float)
    w = np.ones_like(xa) if count is None else np.asarray(count, dtype=float)
    if not (xa.shape == Ta.shape == w.shape) or xa.ndim != 1 or xa.size == 0:
        raise ValueError("x, T and count must be non-empty 1-d arrays of equal length")
    if np.any(xa < 0) or np.any(Ta < 0) or np.any(w < 0):
        raise ValueError("x, T and count must be non-negative")
    n = float(w.sum())
    x_values, inverse = np.unique(xa, return_inverse=True)
    x_weight = np.bincount(inverse, weights=w, minlength=x_values.size)
    mean_rate = max(dot(w, xa) / max(dot(w, Ta), 1e-12), 1e-6)
    theta0 = np.array([0.0, np.log(1.0 / mean_rate)])
    result = maximise(lambda th: _loglik_and_grad(th, xa, Ta, w, x_values, x_weight, n),
                      theta0, n, PARAM_NAMES)
    r, alpha = (float(v) for v in result.params)
    return NBDFit(
        r=r, alpha=alpha,
        log_likelihood=result.log_likelihood,
        standard_errors=dict(zip(PARAM_NAMES, map(float, result.standard_errors), strict=True)),
        n_customers=round(n),
        time_unit=time_unit,
        converged=result.converged,
        message=result.message,
        log_covariance=result.log_covariance,
    )
