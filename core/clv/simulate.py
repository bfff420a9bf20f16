"""Draw customers and orders from the BG/NBD and Gamma-Gamma processes (tests, demos, benchmarks).

Every function takes an explicit ``numpy.random.Generator`` so results are reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

Array = NDArray[np.float64]


def simulate_bgnbd(params: tuple[float, float, float, float], T: ArrayLike,
                   rng: np.random.Generator) -> tuple[Array, Array, Array]:
    """Draw (x, t_x, T) for customers of the given ages from BG/NBD with (r, α, a, b)."""
    r, alpha, a, b = params
    ages = np.asarray(T, dtype=float)
    n = ages.size
    rate = rng.gamma(r, 1.0 / alpha, n)
    dropout = np.clip(rng.beta(a, b, n), 1e-12, 1.0)
    # Repeat purchases made before dropping out (the customer leaves right after the last one),
    # and purchases an immortal customer would make in (0, T].
    lifetime_purchases = rng.geometric(dropout)
    unbounded = rng.poisson(rate * ages)
    x = np.minimum(lifetime_purchases, unbounded)
    # Given n Poisson events in (0, T], the k-th falls at T times a Beta(k, n - k + 1) draw.
    t_x = np.zeros(n)
    repeat = x > 0
    t_x[repeat] = ages[repeat] * rng.beta(x[repeat], unbounded[repeat] - x[repeat] + 1)
    return x.astype(float), t_x, ages.copy()


def simulate_mean_values(params: tuple[float, float, float], x: ArrayLike,
                         rng: np.random.Generator) -> Array:
    """Draw each customer's mean value over x transactions from Gamma-Gamma with (p, q, γ)."""
    p, q, gamma = params
    xa = np.asarray(x, dtype=float)
    nu = rng.gamma(q, 1.0 / gamma, xa.size)
    out = np.zeros(xa.size)
    repeat = xa > 0
    # The mean of x Gamma(p, ν) values is Gamma(p·x, x·ν).
    out[repeat] = rng.gamma(p * xa[repeat], 1.0 / (xa[repeat] * nu[repeat]))
    return out


@dataclass(frozen=True)
class SimulatedOrders:
    """Order arrays as `summary_from_orders` takes them, with the instant they are seen from."""

    customer_idx: NDArray[np.int64]
    order_days: Array
    values: Array
    as_of_day: float


def simulate_orders(n_customers: int, bgnbd_params: tuple[float, float, float, float],
                    spend_params: tuple[float, float, float], max_age_days: float,
                    rng: np.random.Generator, *, as_of_day: float = 20_000.0,
                    time_unit_days: float = 7.0) -> SimulatedOrders:
    """Draw customers with first orders spread over max_age_days and all their orders to as_of.

    BG/NBD parameters are in units of ``time_unit_days`` (weeks by default); order times are
    float days since the epoch.
    """
    ages_days = rng.uniform(0.0, max_age_days, n_customers)
    x, t_x, _ = simulate_bgnbd(bgnbd_params, ages_days / time_unit_days, rng)
    t_x_days = t_x * time_unit_days
    first_day = as_of_day - ages_days
    n_orders = 1 + x.astype(np.int64)
    cust = np.repeat(np.arange(n_customers, dtype=np.int64), n_orders)
    # Order k of a customer: 0 is the first purchase, the last is at t_x, the ones between are
    # uniform on (0, t_x) given the last (order statistics of the Poisson process).
    pos = np.arange(cust.size) - np.repeat(np.cumsum(n_orders) - n_orders, n_orders)
    last = pos == np.repeat(n_orders - 1, n_orders)
    offset = rng.uniform(0.0, 1.0, cust.size) * t_x_days[cust]
    offset[pos == 0] = 0.0
    offset[last & (pos > 0)] = t_x_days[cust[last & (pos > 0)]]
    p, q, gamma = spend_params
    nu = rng.gamma(q, 1.0 / gamma, n_customers)
    values = rng.gamma(p, 1.0 / nu[cust])
    return SimulatedOrders(cust, first_day[cust] + offset, values, as_of_day)
