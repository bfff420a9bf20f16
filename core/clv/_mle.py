"""Shared maximum-likelihood machinery: log-space L-BFGS-B, Newton polish, Hessian, checks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from threadpoolctl import threadpool_limits

#: Objective in log-parameter space: returns (total log-likelihood, its gradient).
LogLikAndGrad = Callable[[NDArray[np.float64]], tuple[float, NDArray[np.float64]]]

#: Largest allowed |log(parameter / scale)|; a fit that ends on this bound is degenerate.
LOG_BOUND = np.log(1e6)

#: A fit counts as converged when the gradient of the mean log-likelihood w.r.t. the
#: log-parameters is below this after the Newton polish.
GRADIENT_TOLERANCE = 1e-6


def dot(u: NDArray[np.float64], v: NDArray[np.float64]) -> float:
    """Inner product of two 1-d arrays."""
    # einsum stays in numpy; a BLAS dot starts threads, which on a busy machine cost more than
    # the arithmetic itself (benchmarks/RESULTS.md, "CLV model" notes).
    return float(np.einsum("i,i->", u, v))


@dataclass(frozen=True)
class MLResult:
    """Outcome of a log-space maximum-likelihood fit."""

    params: NDArray[np.float64]
    log_likelihood: float
    standard_errors: NDArray[np.float64]
    converged: bool
    message: str
    #: Covariance of the log-parameters (inverse observed information); NaN when the
    #: likelihood is not concave at the optimum.
    log_covariance: NDArray[np.float64]


def numerical_hessian(grad: Callable[[NDArray[np.float64]], NDArray[np.float64]],
                      theta: NDArray[np.float64], step: float = 1e-5) -> NDArray[np.float64]:
    """Return the symmetrised central-difference Jacobian of an analytic gradient."""
    k = theta.size
    hess = np.empty((k, k))
    for i in range(k):
        h = step * max(1.0, abs(theta[i]))
        up, down = theta.copy(), theta.copy()
        up[i] += h
        down[i] -= h
        hess[:, i] = (grad(up) - grad(down)) / (2.0 * h)
    return 0.5 * (hess + hess.T)


def maximise(loglik: LogLikAndGrad, theta0: NDArray[np.float64], n: float,
             names: tuple[str, ...], *, start: NDArray[np.float64] | None = None) -> MLResult:
    """Maximise a log-likelihood over log-parameters; report SEs on the natural scale.

    ``theta0`` is the data-based reference point that the allowed range is centred on;
    ``start`` (default ``theta0``) is where the search begins.
    """
    # L-BFGS-B and the small linear algebra call BLAS on vectors of 3-4 numbers; OpenBLAS
    # threads for those only contend (benchmarks/RESULTS.md, "CLV model" notes).
    with np.errstate(all="ignore"), threadpool_limits(limits=1, user_api="blas"):
        return _maximise(loglik, np.asarray(theta0, dtype=float), n, names, start)


def _maximise(loglik: LogLikAndGrad, theta0: NDArray[np.float64], n: float,
              names: tuple[str, ...], start: NDArray[np.float64] | None) -> MLResult:
    theta_start = theta0 if start is None else np.clip(start, theta0 - LOG_BOUND + 1.0,
                                                        theta0 + LOG_BOUND - 1.0)

    def objective(theta: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        value, grad = loglik(theta)
        if not np.isfinite(value):
            return 1e300, np.zeros_like(theta)
        return -value / n, -grad / n

    def grad_only(theta: NDArray[np.float64]) -> NDArray[np.float64]:
        return loglik(theta)[1] / n

    bounds = [(t - LOG_BOUND, t + LOG_BOUND) for t in theta0]
    from scipy.optimize import minimize  # (here: 43 MiB that only a fit needs)

    res = minimize(objective, theta_start, jac=True, method="L-BFGS-B", bounds=bounds,
                   options={"maxiter": 2000, "ftol": 1e-12, "gtol": 1e-6, "maxcor": 10})
    theta = res.x
    value, grad = loglik(theta)
    hess = numerical_hessian(grad_only, theta)
    # Newton steps with that Hessian take L-BFGS-B's answer to machine precision when the
    # surface is locally concave; a step is only kept if it does not lower the likelihood.
    for _ in range(8):
        try:
            step = np.linalg.solve(hess, -grad / n)
        except np.linalg.LinAlgError:
            break
        if not np.all(np.isfinite(step)):
            break
        cand_value, cand_grad = loglik(theta + step)
        if not np.isfinite(cand_value) or cand_value < value - 1e-12 * abs(value):
            break
        theta, value, grad = theta + step, cand_value, cand_grad
        if np.max(np.abs(step)) < 1e-10:
            break

    params = np.exp(theta)
    grad_norm = float(np.max(np.abs(grad / n)))
    at_bound = [name for name, t, t0 in zip(names, theta, theta0, strict=True)
                if abs(t - t0) > LOG_BOUND - 1e-3]
    converged, message = True, "converged"
    if not np.all(np.isfinite(params)) or not np.isfinite(value):
        converged, message = False, "optimiser produced non-finite parameters"
    elif at_bound:
        converged = False
        message = f"parameter(s) {', '.join(at_bound)} ran to the edge of the allowed range"
    elif grad_norm > GRADIENT_TOLERANCE:
        converged = False
        message = f"optimiser did not converge (gradient {grad_norm:.2g}; {res.message})"

    # Covariance of log-parameters is the inverse of the negative Hessian of the total
    # log-likelihood; the delta method maps it to the natural scale (d exp(t) = exp(t) dt).
    ses = np.full(theta.size, np.nan)
    cov = np.full((theta.size, theta.size), np.nan)
    concave = bool(np.all(np.isfinite(hess))) and np.linalg.eigvalsh(-hess).min() > 0
    if concave:
        cov = np.linalg.inv(-hess * n)
        ses = params * np.sqrt(np.diag(cov))
    elif converged:
        converged, message = False, "likelihood is not concave at the optimum"
    return MLResult(params, float(value), ses, converged, message, cov)
