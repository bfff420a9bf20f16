"""BG/NBD model of repeat purchasing (Fader, Hardie & Lee 2005, "Counting your customers the
easy way: An alternative to the Pareto/NBD model", Marketing Science 24(2)).

While alive a customer buys at a Poisson rate λ ~ Gamma(r, α); after each repeat purchase they
drop out for good with probability p ~ Beta(a, b). The model sees, per customer, the number of
repeat transactions ``x``, the time of the last one ``t_x`` and the age ``T`` (both measured
from the first purchase, in the fit's ``time_unit``).

The fit is maximum likelihood on compressed (x, t_x, T) triples weighted by their counts, over
the log-parameters, with the analytic gradient below; predictions are vectorised numpy/scipy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import digamma, expit, gammaln, hyp2f1

from ._mle import maximise

PARAM_NAMES = ("r", "alpha", "a", "b")

# Below this distance of a from 1 the closed form loses digits to cancellation (its 1 / (a - 1)
# singularity is removable); the value is then the mean of the two sides at a = 1 ± _A_NEAR_ONE.
_A_NEAR_ONE = 1e-5
# Horizons with |t / (α + T)| below this use the power series (see _alive_purchases_series).
_SERIES_W = 0.02
_SERIES_TERMS = 16

Array = NDArray[np.float64]


def _terms(log_params: Array, x: Array, t_x: Array, T: Array) -> tuple[Array, ...]:
    r, alpha, a, b = np.exp(log_params)
    repeat = x > 0
    log_alpha_T = np.log(alpha + T)
    log_alpha_tx = np.log(alpha + t_x)
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    a3 = -(r + x) * log_alpha_T
    bx1 = np.where(repeat, b + x - 1.0, 1.0)
    a4 = np.where(repeat, np.log(a) - np.log(bx1) - (r + x) * log_alpha_tx, -np.inf)
    return a1, a2, a3, a4, bx1, log_alpha_T, log_alpha_tx


def log_likelihood_terms(log_params: ArrayLike, x: ArrayLike, t_x: ArrayLike,
                         T: ArrayLike) -> Array:
    """Return each customer's BG/NBD log-likelihood at log(r, α, a, b) (eq. 6 of the paper)."""
    lp = np.asarray(log_params, dtype=float)
    xa, ta, Ta = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    a1, a2, a3, a4, *_ = _terms(lp, xa, ta, Ta)
    return a1 + a2 + np.logaddexp(a3, a4)


def log_likelihood_and_gradient(log_params: ArrayLike, x: ArrayLike, t_x: ArrayLike,
                                T: ArrayLike, count: ArrayLike) -> tuple[float, Array]:
    """Return the count-weighted BG/NBD log-likelihood and its gradient w.r.t. log(r, α, a, b)."""
    lp = np.asarray(log_params, dtype=float)
    xa, ta, Ta, w = (np.asarray(v, dtype=float) for v in (x, t_x, T, count))
    r, alpha, a, b = np.exp(lp)
    a1, a2, a3, a4, bx1, log_alpha_T, log_alpha_tx = _terms(lp, xa, ta, Ta)
    ll = a1 + a2 + np.logaddexp(a3, a4)
    # Share of the likelihood carried by the "dropped out after the last purchase" term.
    share = expit(a4 - a3)
    keep = 1.0 - share
    rx = r + xa
    psi_ab = digamma(a + b)
    psi_abx = digamma(a + b + xa)
    d_r = digamma(rx) - digamma(r) + np.log(alpha) - keep * log_alpha_T - share * log_alpha_tx
    d_alpha = r / alpha - rx * (keep / (alpha + Ta) + share / (alpha + ta))
    d_a = psi_ab - psi_abx + share / a
    d_b = psi_ab + digamma(b + xa) - digamma(b) - psi_abx - share / bx1
    grad = np.array([w @ d_r * r, w @ d_alpha * alpha, w @ d_a * a, w @ d_b * b])
    return float(w @ ll), grad


@dataclass(frozen=True)
class BGNBDFit:
    """Fitted BG/NBD parameters with their standard errors and fit diagnostics."""

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float
    standard_errors: dict[str, float]
    n_customers: int
    time_unit: str
    converged: bool
    message: str = "converged"

    @property
    def params(self) -> tuple[float, float, float, float]:
        """The parameters (r, α, a, b)."""
        return (self.r, self.alpha, self.a, self.b)

    def expected_purchases(self, t: ArrayLike, x: ArrayLike, t_x: ArrayLike,
                           T: ArrayLike) -> Array:
        """Expected repeat purchases in the next t periods for customers with (x, t_x, T)."""
        return conditional_expected_purchases(self.params, t, x, t_x, T)

    def probability_alive(self, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> Array:
        """Probability that customers with (x, t_x, T) are still active."""
        return probability_alive(self.params, x, t_x, T)

    def expected_purchases_new(self, t: ArrayLike) -> Array:
        """Expected repeat purchases within t periods of a new customer's first purchase."""
        return expected_purchases_new(self.params, t)


def fit_bgnbd(x: ArrayLike, t_x: ArrayLike, T: ArrayLike, count: ArrayLike | None = None,
              *, time_unit: str = "weeks") -> BGNBDFit:
    """Fit BG/NBD by maximum likelihood to (compressed) triples; check convergence."""
    xa, ta, Ta = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    w = np.ones_like(xa) if count is None else np.asarray(count, dtype=float)
    _check_triples(xa, ta, Ta, w)
    n = float(w.sum())
    # Start where the mean purchase rate r / α matches the observed one.
    mean_rate = max((w @ xa) / max(w @ Ta, 1e-12), 1e-6)
    theta0 = np.array([0.0, np.log(1.0 / mean_rate), 0.0, 0.0])
    result = maximise(lambda th: log_likelihood_and_gradient(th, xa, ta, Ta, w), theta0, n,
                      PARAM_NAMES)
    r, alpha, a, b = (float(v) for v in result.params)
    return BGNBDFit(
        r=r, alpha=alpha, a=a, b=b,
        log_likelihood=result.log_likelihood,
        standard_errors=dict(zip(PARAM_NAMES, map(float, result.standard_errors), strict=True)),
        n_customers=round(n),
        time_unit=time_unit,
        converged=result.converged,
        message=result.message,
    )


def _check_triples(x: Array, t_x: Array, T: Array, w: Array) -> None:
    if not (x.shape == t_x.shape == T.shape == w.shape) or x.ndim != 1:
        raise ValueError("x, t_x, T and count must be 1-d arrays of equal length")
    if x.size == 0:
        raise ValueError("no customers to fit")
    if np.any(x < 0) or np.any(x != np.floor(x)):
        raise ValueError("x must hold non-negative whole numbers")
    if np.any(t_x < 0) or np.any(t_x > T):
        raise ValueError("t_x must lie between 0 and T")
    if np.any(w < 0):
        raise ValueError("count must be non-negative")


def probability_alive(params: tuple[float, float, float, float], x: ArrayLike, t_x: ArrayLike,
                      T: ArrayLike) -> Array:
    """P(alive | x, t_x, T); 1 for customers without repeat purchases (standard BG/NBD)."""
    r, alpha, a, b = params
    xa, ta, Ta = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (x, t_x, T)))
    repeat = xa > 0
    bx1 = np.where(repeat, b + xa - 1.0, 1.0)
    log_odds = np.log(a) - np.log(bx1) + (r + xa) * (np.log(alpha + Ta) - np.log(alpha + ta))
    return np.where(repeat, expit(-log_odds), 1.0)


def _alive_purchases(params: tuple[float, float, float, float], t: Array, x: Array,
                     T: Array) -> Array:
    """(a+b+x-1)/(a-1) · [1 - ((α+T)/(α+T+t))^(r+x) ₂F₁(r+x, b+x; a+b+x-1; z)] of eq. 10."""
    shape = np.shape(t)
    t, x, T = (np.ravel(v) for v in (t, x, T))
    r, alpha, a, b = params
    if abs(a - 1.0) < _A_NEAR_ONE:
        lo = _alive_purchases_closed_form((r, alpha, 1.0 - _A_NEAR_ONE, b), t, x, T)
        hi = _alive_purchases_closed_form((r, alpha, 1.0 + _A_NEAR_ONE, b), t, x, T)
        out = 0.5 * (lo + hi)
    else:
        out = _alive_purchases_closed_form(params, t, x, T)
    overflow = ~np.isfinite(out)
    if np.any(overflow):
        out[overflow] = _alive_purchases_concentrated(params, t[overflow], x[overflow],
                                                      T[overflow])
    # Short horizons (t << α + T) lose digits in the closed form's 1 - (...) difference; the
    # power series in w = -t/(α+T) has no such cancellation and converges fast there.
    w = -t / (alpha + T)
    small = np.abs(w) < _SERIES_W
    if np.any(small):
        series, ok = _alive_purchases_series(params, w[small], x[small])
        idx = np.flatnonzero(small)[ok]
        out[idx] = series[ok]
    return out.reshape(shape)


def _alive_purchases_closed_form(params: tuple[float, float, float, float], t: Array, x: Array,
                                 T: Array) -> Array:
    r, alpha, a, b = params
    c = a + b + x - 1.0
    z = t / (alpha + T + t)
    # Euler's transformation ₂F₁(A,B;C;z) = (1-z)^(C-A-B) ₂F₁(C-A,C-B;C;z) turns the factor
    # (1-z)^(r+x) ₂F₁(r+x, b+x; c; z) into (1-z)^(a-1) ₂F₁(a+b-1-r, a-1; c; z): the new series
    # has a small second parameter and no (1-z)^(-x) blow-up as z -> 1 or x grows.
    log_1mz = np.log(alpha + T) - np.log(alpha + T + t)
    # Overflow (0 · inf) only happens for huge a and b; the caller replaces those entries.
    with np.errstate(over="ignore", invalid="ignore"):
        bracket = -np.expm1((a - 1.0) * log_1mz) - np.exp((a - 1.0) * log_1mz) * (
            hyp2f1(a + b - 1.0 - r, a - 1.0, c, z) - 1.0)
    return np.asarray(c / (a - 1.0) * bracket, dtype=float)


def _alive_purchases_concentrated(params: tuple[float, float, float, float], t: Array,
                                  x: Array, T: Array) -> Array:
    """Same quantity when a and b are so large that ₂F₁ overflows (drop-out nearly constant).

    Given alive, p ~ Beta(a, b+x) and λ ~ Gamma(r+x, α+T), so the quantity is
    E_p[(1 - ((α+T)/(α+T+pt))^(r+x)) / p]; with a + b in the tens of thousands p is tightly
    concentrated and a three-point moment-matched rule is accurate to about 1e-7.
    """
    r, alpha, a, b = params
    total = a + b + x
    mean = a / total
    spread = np.sqrt(3.0 * mean * (1.0 - mean) / (total + 1.0))
    k = t / (alpha + T)

    def per_p(p: Array) -> Array:
        return -np.expm1(-(r + x) * np.log1p(p * k)) / p

    return (per_p(mean - spread) + 4.0 * per_p(mean) + per_p(mean + spread)) / 6.0


def _alive_purchases_series(params: tuple[float, float, float, float], w: Array,
                            x: Array) -> tuple[Array, NDArray[np.bool_]]:
    """Same quantity via Pfaff's transformation, summed as a series in w; plus a converged mask.

    (1-z)^(a-1) ₂F₁(a+b-1-r, a-1; c; z) = ₂F₁(a-1, r+x; c; w), so the bracket over (a-1) is
    -Σ_{n≥1} (a)_{n-1} (r+x)_n / ((c)_n n!) wⁿ, which is regular at a = 1.
    """
    r, _, a, b = params
    c = a + b + x - 1.0
    term = (r + x) / c * w
    total = term.copy()
    for n in range(1, _SERIES_TERMS):
        term = term * (a - 1.0 + n) / (n + 1.0) * (r + x + n) / (c + n) * w
        total += term
    ok = np.isfinite(total) & (np.abs(term) <= 1e-17 * np.abs(total))
    return -c * total, ok


def conditional_expected_purchases(params: tuple[float, float, float, float], t: ArrayLike,
                                   x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> Array:
    """E[Y(t) | x, t_x, T]: expected repeat purchases in (T, T+t] (eq. 10 of the paper)."""
    ta_, xa, txa, Ta = np.broadcast_arrays(
        *(np.asarray(v, dtype=float) for v in (t, x, t_x, T)))
    alive = probability_alive(params, xa, txa, Ta)
    return _alive_purchases(params, ta_, xa, Ta) * alive


def expected_purchases_new(params: tuple[float, float, float, float], t: ArrayLike) -> Array:
    """E[X(t)]: expected repeat purchases within t periods of a first purchase (eq. 9)."""
    ta = np.asarray(t, dtype=float)
    zero = np.zeros_like(ta)
    return _alive_purchases(params, ta, zero, zero)
