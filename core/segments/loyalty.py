"""Loyalty points as a ledger, tiers, and loyalty types (Dick & Basu 1994).

**Points.** Spend earns ``points.spend`` points per currency unit of net revenue (default 1);
an account earns ``points.account_created`` once (a customer record that is not a guest checkout,
or an ``account_created`` event); every other event earns the weight of its kind (``review``,
``newsletter``, ``referral``, … — kinds without a weight earn nothing) unless the event carries
its own ``points``. As of an instant, per person:

- *pending*: points of valid orders younger than the return window (``return_window_days``,
  30): they can still be returned, so they cannot be spent yet;
- *available*: points of valid orders older than the window, plus account and event points;
- *reversed*: points once earned by orders that were refunded or cancelled since
  (earned on the order totals − pending − available spend points).

Spend points are computed from the net revenue of each group (pending, matured, all orders
created) and rounded down; refunds and cancellations count from their own dates, so a report as of
an earlier day shows the points as they were then.

**Tiers.** The highest tier whose minimum the *available* points reach (default: member from 0,
loyal from 100); pending points do not count until the return window is over.

**Loyalty types** cross behaviour with attitude (Dick & Basu, "Customer loyalty: toward an
integrated conceptual framework", JAMS 22(2), 1994). We cannot survey attitude, so we use proxies:

- *repeat patronage* is high with at least ``loyalty_types.repeat_orders`` (2) valid orders in the
  last 365 days;
- *relative attitude* is high when the person engages — at least
  ``loyalty_types.engagement_events`` (1) engagement event (any event but account creation:
  review, newsletter, referral, …) in the last 365 days — *and* buys for the shop rather than for
  the deal: a share of full-price orders (orders without a discount code) of at least
  ``loyalty_types.full_price_share`` (0.8). For prospects, engagement alone decides.

| attitude \\ repeat | high  | low    |
| ----------------- | ----- | ------ |
| high              | true  | latent |
| low               | spurious | none |
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from stammkunde.core.money import SCALE
from stammkunde.core.settings import LoyaltyTypeSettings

LOYALTY_TYPES = ("true", "latent", "spurious", "none")
TRUE, LATENT, SPURIOUS, NONE = range(len(LOYALTY_TYPES))


@dataclass(frozen=True)
class Points:
    """Per-person point balances (whole points)."""

    pending: NDArray[np.int64]
    available: NDArray[np.int64]
    reversed: NDArray[np.int64]


def spend_points(units: ArrayLike, per_unit: Decimal) -> NDArray[np.int64]:
    """Whole points for amounts in 1/10,000 units at ``per_unit`` points per currency unit."""
    num, den = per_unit.as_integer_ratio()
    return (np.asarray(units, dtype=np.int64) * num) // (den * SCALE)


def points_ledger(net: ArrayLike, pending_net: ArrayLike, gross: ArrayLike,
                  has_account: ArrayLike, event_points: ArrayLike,
                  weights: dict[str, Decimal]) -> Points:
    """Pending, available and reversed points per person from their order and event sums."""
    per_unit = weights.get("spend", Decimal(0))
    pending = spend_points(pending_net, per_unit)
    matured = spend_points(np.asarray(net) - np.asarray(pending_net), per_unit)
    earned = spend_points(gross, per_unit)
    account = int(weights.get("account_created", Decimal(0)))
    available = (matured + np.asarray(has_account, dtype=np.int64) * account
                 + np.asarray(event_points, dtype=np.int64))
    return Points(pending=pending, available=available, reversed=earned - pending - matured)


def tiers(available: ArrayLike, tier_minimums: dict[str, int]) -> NDArray[np.object_]:
    """Tier name per person from available points (None below the lowest tier)."""
    names = np.array([None, *tier_minimums], dtype=object)
    edges = np.array(list(tier_minimums.values()), dtype=np.int64)
    return names[np.searchsorted(edges, np.asarray(available), side="right")]


def loyalty_types(orders: ArrayLike, orders_year: ArrayLike, full_price_orders: ArrayLike,
                  engagement_events: ArrayLike,
                  settings: LoyaltyTypeSettings) -> NDArray[np.int64]:
    """Loyalty type index (into :data:`LOYALTY_TYPES`) per person."""
    n = np.asarray(orders)
    repeat = np.asarray(orders_year) >= settings.repeat_orders
    share = np.divide(np.asarray(full_price_orders, dtype=float), n,
                      out=np.zeros(n.shape), where=n > 0)
    engaged = np.asarray(engagement_events) >= settings.engagement_events
    attitude = engaged & ((n == 0) | (share >= settings.full_price_share))
    return np.select([repeat & attitude, attitude, repeat], [TRUE, LATENT, SPURIOUS],
                     default=NONE).astype(np.int64)
