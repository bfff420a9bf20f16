"""Per-customer (x, t_x, T, mean repeat value) summary built from raw order arrays.

This is the numeric boundary of the CLV model: order values arrive as floats (the rest of
Stammkunde keeps money as ``Decimal``; the caller converts when it hands orders over).

Definitions, all counted in calendar days:

- An order's *day* is its UTC calendar day, or the calendar day after adding ``day_offset``
  (a fraction of a day, e.g. ``2 / 24`` for a shop that closes its books in UTC+2).
- Orders on the same day are one transaction; their values are summed.
- ``x`` (frequency) is the number of repeat transactions: transaction days after the first one.
- ``t_x`` (recency) is the number of days from the first to the last transaction day.
- ``T`` (age) is the number of days from the first transaction day to the day of ``as_of``.
- ``mean_repeat_value`` is the mean value of the repeat transactions (the first one is left out,
  as in Fader, Hardie & Lee's Gamma-Gamma model); it is 0.0 for customers with ``x == 0``.
- ``mean_value`` is the mean value of all transactions (the average order value per day with
  orders); the spend model's fallback uses it.

Only orders at or before ``as_of`` count. The caller passes valid orders (not cancelled, not
test orders, see DESIGN.md "Metric definitions") or a ``valid`` mask.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

TimeUnit = Literal["days", "weeks", "months", "years"]

#: Length of each supported time unit in days; a month is a twelfth of a Julian year.
DAYS_PER_UNIT: dict[str, float] = {
    "days": 1.0,
    "weeks": 7.0,
    "months": 365.25 / 12.0,
    "years": 365.25,
}

_SECONDS_PER_DAY = 86_400.0


def days_to_unit(days: ArrayLike, unit: str) -> NDArray[np.float64]:
    """Convert a duration in days into the given time unit (days, weeks, months, years)."""
    return np.asarray(days, dtype=float) / _unit_length(unit)


def unit_to_days(amount: ArrayLike, unit: str) -> NDArray[np.float64]:
    """Convert a duration in the given time unit into days."""
    return np.asarray(amount, dtype=float) * _unit_length(unit)


def _unit_length(unit: str) -> float:
    try:
        return DAYS_PER_UNIT[unit]
    except KeyError:
        raise ValueError(
            f"unknown time unit {unit!r}; use one of {', '.join(DAYS_PER_UNIT)}"
        ) from None


@dataclass(frozen=True)
class CustomerSummary:
    """Per-customer frequency, recency, age and mean repeat value, aligned with ``customer``."""

    customer: NDArray[np.int64]
    x: NDArray[np.float64]
    t_x: NDArray[np.float64]
    T: NDArray[np.float64]
    mean_repeat_value: NDArray[np.float64]
    time_unit: str = "days"
    #: Mean value of all transactions, first one included (the spend fallback uses it); None
    #: when the caller did not provide it.
    mean_value: NDArray[np.float64] | None = None

    def __len__(self) -> int:
        """Number of customers in the summary."""
        return int(self.customer.shape[0])

    def in_unit(self, unit: str) -> CustomerSummary:
        """Return the same summary with t_x and T expressed in another time unit."""
        factor = _unit_length(self.time_unit) / _unit_length(unit)
        return replace(self, t_x=self.t_x * factor, T=self.T * factor, time_unit=unit)


def to_days(times: ArrayLike | datetime) -> NDArray[np.float64]:
    """Convert datetime64 values, floats in days since the epoch, or a datetime to float days."""
    if isinstance(times, datetime):
        # An aware datetime is taken at its UTC instant; a naive one is read as UTC.
        if times.tzinfo is not None:
            times = times.astimezone(UTC).replace(tzinfo=None)
        times = np.datetime64(times, "us")
    arr = np.asarray(times)
    if arr.dtype == object:
        raise TypeError("pass times as numpy datetime64 or float days since the epoch "
                        "(convert Python datetimes with np.array(..., dtype='datetime64[us]'))")
    if np.issubdtype(arr.dtype, np.datetime64):
        seconds = arr.astype("datetime64[s]").astype(np.int64)
        return seconds.astype(float) / _SECONDS_PER_DAY
    return arr.astype(float)


def summary_from_orders(
    customer_idx: ArrayLike,
    order_times: ArrayLike,
    values: ArrayLike,
    as_of: ArrayLike | datetime,
    *,
    day_offset: float = 0.0,
    valid: ArrayLike | None = None,
) -> CustomerSummary:
    """Build the per-customer (x, t_x, T, mean repeat value) summary, in days, from orders."""
    cust = np.asarray(customer_idx)
    if not np.issubdtype(cust.dtype, np.integer):
        raise TypeError("customer_idx must be an integer array")
    times = to_days(order_times)
    vals = np.asarray(values, dtype=float)
    if not (cust.shape == times.shape == vals.shape) or cust.ndim != 1:
        raise ValueError("customer_idx, order_times and values must be 1-d arrays of equal length")
    as_of_days = float(to_days(as_of))
    keep = times <= as_of_days
    if valid is not None:
        keep &= np.asarray(valid, dtype=bool)
    cust, times, vals = cust[keep].astype(np.int64), times[keep], vals[keep]
    as_of_day = float(np.floor(as_of_days + day_offset))
    day = np.floor(times + day_offset)

    if cust.size == 0:
        empty = np.zeros(0)
        return CustomerSummary(np.zeros(0, dtype=np.int64), empty, empty, empty, empty,
                               mean_value=empty)

    # One row per (customer, day) transaction, sorted by customer then day (one int64 key
    # when it fits, which sorts several times faster than a two-key lexsort).
    c_low, d_low = int(cust.min()), float(day.min())
    d_span = float(day.max()) - d_low + 1.0
    if (float(cust.max()) - c_low + 1.0) * d_span < 2.0**62 and d_span < 2.0**52:
        order = np.argsort((cust - c_low) * int(d_span) + (day - d_low).astype(np.int64))
    else:
        order = np.lexsort((day, cust))
    cust, day, vals = cust[order], day[order], vals[order]
    new_txn = np.ones(cust.size, dtype=bool)
    new_txn[1:] = (cust[1:] != cust[:-1]) | (day[1:] != day[:-1])
    txn_start = np.flatnonzero(new_txn)
    txn_cust = cust[txn_start]
    txn_day = day[txn_start]
    txn_value = np.add.reduceat(vals, txn_start)

    new_cust = np.ones(txn_cust.size, dtype=bool)
    new_cust[1:] = txn_cust[1:] != txn_cust[:-1]
    first = np.flatnonzero(new_cust)
    last = np.append(first[1:], txn_cust.size) - 1

    n_txn = last - first + 1
    x = (n_txn - 1).astype(float)
    repeat_value = txn_value.copy()
    repeat_value[first] = 0.0
    repeat_total = np.add.reduceat(repeat_value, first)
    mean_repeat = np.divide(repeat_total, x, out=np.zeros_like(repeat_total), where=x > 0)
    return CustomerSummary(
        customer=txn_cust[first],
        x=x,
        t_x=txn_day[last] - txn_day[first],
        T=as_of_day - txn_day[first],
        mean_repeat_value=mean_repeat,
        mean_value=np.add.reduceat(txn_value, first) / n_txn,
    )


@dataclass(frozen=True)
class Compressed:
    """Unique (x, t_x, T) triples with how many customers share each, and the way back."""

    x: NDArray[np.float64]
    t_x: NDArray[np.float64]
    T: NDArray[np.float64]
    count: NDArray[np.float64]
    inverse: NDArray[np.intp]

    def __len__(self) -> int:
        """Number of unique triples."""
        return int(self.x.shape[0])


def compress(x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> Compressed:
    """Return the unique (x, t_x, T) triples, their counts, and the index mapping back."""
    xa = np.asarray(x, dtype=float)
    ta = np.asarray(t_x, dtype=float)
    Ta = np.asarray(T, dtype=float)
    if not (xa.shape == ta.shape == Ta.shape) or xa.ndim != 1:
        raise ValueError("x, t_x and T must be 1-d arrays of equal length")
    if xa.size == 0:
        empty = np.zeros(0)
        return Compressed(empty, empty, empty, empty, np.zeros(0, dtype=np.intp))
    packed = _compress_integral(xa, ta, Ta)
    if packed is not None:
        return packed
    order = np.lexsort((Ta, ta, xa))
    xs, ts, Ts = xa[order], ta[order], Ta[order]
    start = np.ones(xs.size, dtype=bool)
    start[1:] = (xs[1:] != xs[:-1]) | (ts[1:] != ts[:-1]) | (Ts[1:] != Ts[:-1])
    group = np.cumsum(start) - 1
    inverse = np.empty(xa.size, dtype=np.intp)
    inverse[order] = group
    first = np.flatnonzero(start)
    count = np.diff(np.append(first, xs.size)).astype(float)
    return Compressed(xs[first], ts[first], Ts[first], count, inverse)


def _compress_integral(x: NDArray[np.float64], t_x: NDArray[np.float64],
                       T: NDArray[np.float64]) -> Compressed | None:
    """Fast path for whole-number triples (a summary in days): one int64 key, one sort."""
    lows = [float(v.min()) for v in (x, t_x, T)]
    spans = [float(v.max()) - low + 1.0 for v, low in zip((x, t_x, T), lows, strict=True)]
    if spans[0] * spans[1] * spans[2] >= 2.0**52 or not all(
            np.array_equal(v, np.floor(v)) for v in (x, t_x, T)):
        return None
    key = ((x - lows[0]) * spans[1] + (t_x - lows[1])) * spans[2] + (T - lows[2])
    unique, inverse, counts = np.unique(key.astype(np.int64), return_inverse=True,
                                        return_counts=True)
    rest, t_code = np.divmod(unique, int(spans[2]))
    x_code, tx_code = np.divmod(rest, int(spans[1]))
    return Compressed(x_code + lows[0], tx_code + lows[1], t_code + lows[2],
                      counts.astype(float), inverse.astype(np.intp))
