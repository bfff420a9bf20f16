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

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import digamma, expit, gammaln, hyp2f1

from ._mle import dot, maximise

PARAM_NAMES = ("r", "alpha", "a", "b")

# Below this distance of a from 1 the closed form loses digits to cancellation (its 1 / (a - 1)
# singularity is removable); the value is then the mean of the two sides at a = 1 ± _A_NEAR_ONE.
_A_NEAR_ONE = 1e-5
# Horizons with |t / (α + T)| below this use the power series (see _alive_purchases_series).
_SERIES_W = 0.02
_SERIES_TERMS = 16
# Fits with more distinct triples than four times this start from a fit to a sample this big.
_WARM_START_ROWS = 20_000

Array = NDArray[np.float64]


def log_likelihood_terms(log_params: ArrayLike, x: ArrayLike, t_x: ArrayLike,
                         T: ArrayLike) -> Array:
    """Return each customer's BG/NBD log-likelihood at log(r, α, a, b) (eq. 6 of the paper)."""
    r, alpha, a, b = np.exp(np.asarray(log_params, dtype=float))
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    repeat = x > 0
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    a3 = -(r + x) * np.log(alpha + T)
    bx1 = np.where(repeat, b + x - 1.0, 1.0)
    a4 = np.where(repeat, np.log(a) - np.log(bx1) - (r + x) * np.log(alpha + t_x), -np.inf)
    return a1 + a2 + np.logaddexp(a3, a4)


@dataclass(frozen=True)
class _Prepared:
    """Triples split so each likelihood evaluation touches every row as few times as possible.

    Terms that depend on x alone are summed per distinct x; customers without repeat purchases
    contribute -r·log(α+T) only, summed per distinct T; the rest is per repeat-buyer triple.
    """

    x_values: Array
    x_weight: Array
    zero_T: Array
    zero_weight: Array
    x: Array
    t_x: Array
    T: Array
    w: Array
    total_weight: float


def _prepare(x: Array, t_x: Array, T: Array, w: Array) -> _Prepared:
    x_values, x_inverse = np.unique(x, return_inverse=True)
    x_weight = np.bincount(x_inverse, weights=w, minlength=x_values.size)
    zero = x == 0
    zero_T, zero_inverse = np.unique(T[zero], return_inverse=True)
    zero_weight = np.bincount(zero_inverse, weights=w[zero], minlength=zero_T.size)
    rep = ~zero
    return _Prepared(x_values, x_weight, zero_T, zero_weight, x[rep], t_x[rep], T[rep], w[rep],
                     float(w.sum()))


def _loglik_and_grad(log_params: Array, d: _Prepared) -> tuple[float, Array]:
    r, alpha, a, b = np.exp(log_params)
    log_alpha = np.log(alpha)
    # Per distinct x: log Γ(r+x)/Γ(r) + r log α + log B(a, b+x)/B(a, b).
    xv, xw = d.x_values, d.x_weight
    ll = dot(xw, gammaln(r + xv) - gammaln(b + xv + a) + gammaln(b + xv))
    ll += d.total_weight * (r * log_alpha - gammaln(r) + gammaln(a + b) - gammaln(b))
    psi_ab, psi_abx = digamma(a + b), digamma(a + b + xv)
    g_r = dot(xw, digamma(r + xv) - digamma(r) + log_alpha)
    g_alpha = d.total_weight * r / alpha
    g_a = dot(xw, psi_ab - psi_abx)
    g_b = dot(xw, psi_ab + digamma(b + xv) - digamma(b) - psi_abx)
    # No repeat purchase: still alive, so only "no purchase in (0, T]": -r log(α+T).
    log_alpha_T0 = np.log(alpha + d.zero_T)
    zero_sum = dot(d.zero_weight, log_alpha_T0)
    ll -= r * zero_sum
    g_r -= zero_sum
    g_alpha -= r * dot(d.zero_weight, 1.0 / (alpha + d.zero_T))
    # Repeat buyers: log of (alive at T) + (dropped out right after t_x), both scaled.
    rx = r + d.x
    log_alpha_T = np.log(alpha + d.T)
    log_alpha_tx = np.log(alpha + d.t_x)
    log_bx1 = np.log(b + d.x - 1.0)
    alive = -rx * log_alpha_T
    gone = np.log(a) - log_bx1 - rx * log_alpha_tx
    ll += dot(d.w, np.logaddexp(alive, gone))
    # Share of each customer's likelihood carried by the "dropped out" term.
    share = expit(gone - alive)
    ws, wk = d.w * share, d.w * (1.0 - share)
    g_r -= dot(wk, log_alpha_T) + dot(ws, log_alpha_tx)
    g_alpha -= dot(wk, rx / (alpha + d.T)) + dot(ws, rx / (alpha + d.t_x))
    g_a += ws.sum() / a
    g_b -= dot(ws, np.exp(-log_bx1))
    return float(ll), np.array([g_r * r, g_alpha * alpha, g_a * a, g_b * b])


def log_likelihood_and_gradient(log_params: ArrayLike, x: ArrayLike, t_x: ArrayLike,
                                T: ArrayLike, count: ArrayLike) -> tuple[float, Array]:
    """Return the count-weighted BG/NBD log-likelihood and its gradient w.r.t. log(r, α, a, b)."""
    xa, ta, Ta, w = (np.asarray(v, dtype=float) for v in (x, t_x, T, count))
    return _loglik_and_grad(np.asarray(log_params, dtype=float), _prepare(xa, ta, Ta, w))


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
    #: Covariance of log(r, α, a, b) (inverse of the observed information); NaN when the
    #: likelihood is not concave at the optimum.
    log_covariance: Array | None = field(default=None, compare=False, repr=False)

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
    mean_rate = max(dot(w, xa) / max(dot(w, Ta), 1e-12), 1e-6)
    theta0 = np.array([0.0, np.log(1.0 / mean_rate), 0.0, 0.0])
    start = None
    if xa.size > 4 * _WARM_START_ROWS:
        # Many distinct triples: a systematic sample of them (sorted by x, so every frequency
        # is represented) gives a start close enough that the full fit needs few iterations.
        step = xa.size // _WARM_START_ROWS
        sample = _prepare(xa[::step], ta[::step], Ta[::step], w[::step])
        start = np.log(maximise(lambda th: _loglik_and_grad(th, sample), theta0,
                                float(w[::step].sum()), PARAM_NAMES).params)
    data = _prepare(xa, ta, Ta, w)
    result = maximise(lambda th: _loglik_and_grad(th, data), theta0, n, PARAM_NAMES,
                      start=start)
    r, alpha, a, b = (float(v) for v in result.params)
    return BGNBDFit(
        r=r, alpha=alpha, a=a, b=b,
        log_likelihood=result.log_likelihood,
        standard_errors=dict(zip(PARAM_NAMES, map(float, result.standard_errors), strict=True)),
        n_customers=round(n),
        time_unit=time_unit,
        converged=result.converged,
        message=result.message,
        log_covariance=result.log_covariance,
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
    # With a + b = 1 the x = 0 rows sit on ₂F₁'s pole c = 0, which the factor c cancels.
    pole = (x == 0) & (abs(a + b - 1.0) < _A_NEAR_ONE)
    if np.any(pole):
        lo = _alive_purchases_closed_form((r, alpha, a, 1.0 - a - _A_NEAR_ONE), t[pole],
                                          x[pole], T[pole])
        hi = _alive_purchases_closed_form((r, alpha, a, 1.0 - a + _A_NEAR_ONE), t[pole],
                                          x[pole], T[pole])
        out[pole] = 0.5 * (lo + hi)
    failed = ~np.isfinite(out)
    if np.any(failed):
        out[failed] = _alive_purchases_concentrated(params, t[failed], x[failed], T[failed])
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
    # scipy's ₂F₁ special-cases a whole-number c - A - B (= x + r - a + 1 below) and is then
    # inaccurate, even infinite, as z -> 1; a shift of r by ~1e-10 steps off that case.
    gap = x + r - a + 1.0
    r = r + np.where(np.abs(gap - np.rint(gap)) < 1e-9, 1e-10 * (1.0 + r), 0.0)
    # Euler's transformation ₂F₁(A,B;C;z) = (1-z)^(C-A-B) ₂F₁(C-A,C-B;C;z) turns the factor
    # (1-z)^(r+x) ₂F₁(r+x, b+x; c; z) into (1-z)^(a-1) ₂F₁(a+b-1-r, a-1; c; z): the new series
    # has a small second parameter and no (1-z)^(-x) blow-up as z -> 1 or x grows.
    log_1mz = np.log(alpha + T) - np.log(alpha + T + t)
    # Overflow (0 · inf) happens for huge a and b, or on the c = 0 pole; the caller replaces
    # those entries.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
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
