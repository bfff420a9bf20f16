"""Per-customer scores of a shop as of an instant: RFM, lifecycle, points, tiers, loyalty type,
predicted CLV and P(alive) — one SQL query (:mod:`data`), everything else vectorised numpy.

The predictive columns come from :mod:`stammkunde.core.clv` (BG/NBD or its no-drop-out limit NBD,
with Gamma-Gamma spend) fitted on the shop's customers; when the model is unavailable (too few
customers or repeat buyers, no convergence …) they are NaN and :attr:`Scores.model` says why.
P(alive) is NaN where the model does not identify drop-out (``p_alive_weight`` 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy.orm import Session
from threadpoolctl import threadpool_limits

from stammkunde.core.clv import (
    DAYS_PER_UNIT,
    CustomerSummary,
    FittedModel,
    ModelUnavailable,
    fit_model,
)
from stammkunde.core.models import Shop
from stammkunde.core.money import SCALE, from_units
from stammkunde.core.segments.data import DAY, PersonArrays, load_person_arrays
from stammkunde.core.segments.lifecycle import (
    LAPSED,
    LOST,
    STAGES,
    expected_gap_days,
    lifecycle_stages,
    typical_gap_days,
)
from stammkunde.core.segments.loyalty import (
    LOYALTY_TYPES,
    Points,
    loyalty_types,
    points_ledger,
    tiers,
)
from stammkunde.core.segments.rfm import SEGMENTS, fm_scores, rfm_scores, segment_index
from stammkunde.core.segments.winback import expected_value, incentive, win_back_probability
from stammkunde.core.settings import RetentionSettings
from stammkunde.core.timeutil import now

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]


@dataclass(frozen=True)
class Scores:
    """Every score of every person, aligned with ``people`` (NaN/-1/None where not defined)."""

    people: PersonArrays
    settings: RetentionSettings
    model: FittedModel | ModelUnavailable
    shop_gap_days: float
    days_since_last: Floats
    r: Ints
    f: Ints
    m: Ints
    segment: Ints
    expected_gap: Floats
    ratio: Floats
    stage: Ints
    points: Points
    tier: NDArray[np.object_]
    loyalty_type: Ints
    p_alive: Floats
    expected_purchases: Floats
    expected_order_value: Floats
    clv: Floats
    expected_purchases_low: Floats
    expected_purchases_high: Floats
    clv_low: Floats
    clv_high: Floats
    #: How far P(alive) is trusted (the model's ``dropout_weight``; 0 without a model).
    p_alive_weight: float
    #: The model's P(alive) even where it is not shown (1 under NBD); NaN without a model.
    model_alive: Floats

    def __len__(self) -> int:
        """Number of people scored (customers and prospects)."""
        return len(self.people)

    @property
    def customers(self) -> NDArray[np.bool_]:
        """Mask of people with at least one valid order."""
        return self.people.orders > 0

    @property
    def model_available(self) -> bool:
        """True when the predictive model was fitted."""
        return isinstance(self.model, FittedModel)


def customer_summary(people: PersonArrays) -> tuple[CustomerSummary, NDArray[np.intp]]:
    """The CLV model's (x, t_x, T, mean repeat value) summary in days, and its people indices."""
    idx = np.flatnonzero(people.orders > 0)
    first_day = people.first_ts[idx] // DAY
    x = (people.order_days[idx] - 1).astype(float)
    repeat_net = (people.net[idx] - people.first_day_net[idx]) / SCALE
    mean_repeat = np.divide(repeat_net, x, out=np.zeros(idx.size), where=x > 0)
    summary = CustomerSummary(
        customer=idx.astype(np.int64), x=x,
        t_x=(people.last_ts[idx] // DAY - first_day).astype(float),
        T=(people.as_of_ts // DAY - first_day).astype(float),
        mean_repeat_value=mean_repeat,
        mean_value=people.net[idx] / SCALE / (x + 1.0))
    return summary, idx


def compute_scores(people: PersonArrays, settings: RetentionSettings,
                   model: FittedModel | ModelUnavailable | None = None) -> Scores:
    """Score every person from their aggregates (pure); fits the model unless one is given."""
    n = len(people)
    buyers = people.orders > 0
    nan = np.full(n, np.nan)
    days_since = np.where(buyers, (people.as_of_ts - people.last_ts) / DAY, np.nan)

    r = np.zeros(n, dtype=np.int64)
    f = np.zeros(n, dtype=np.int64)
    m = np.zeros(n, dtype=np.int64)
    idx = np.flatnonzero(buyers)
    r[idx], f[idx], m[idx] = rfm_scores((people.as_of_ts - people.last_ts[idx]) // DAY,
                                        people.orders[idx], people.net[idx])
    segment = np.full(n, -1, dtype=np.int64)
    segment[idx] = segment_index(r[idx], fm_scores(f[idx], m[idx]))

    p_alive, purchases, order_value, clv = nan.copy(), nan.copy(), nan.copy(), nan.copy()
    bounds = {k: nan.copy() for k in ("expected_purchases_low", "expected_purchases_high",
                                      "clv_low", "clv_high")}
    model_alive = nan.copy()
    summary, sidx = customer_summary(people)
    # The fit's vector products are far too small for threaded BLAS: threads only contend, and
    # on a busy machine they made the fit 5–30 times slower (benchmarks/RESULTS.md).
    with threadpool_limits(limits=1, user_api="blas"):
        if model is None:
            model = fit_model(summary)
        if isinstance(model, FittedModel):
            pred = model.predict(summary, settings.horizon_months * DAYS_PER_UNIT["months"],
                                 margin=settings.margin,
                                 annual_discount_rate=settings.annual_discount_rate)
    weight = model.dropout_weight if isinstance(model, FittedModel) else 0.0
    if isinstance(model, FittedModel):
        model_alive[sidx] = pred["p_alive"]
        if weight > 0:
            p_alive[sidx] = pred["p_alive"]
        purchases[sidx] = pred["expected_purchases"]
        order_value[sidx] = pred["expected_order_value"]
        clv[sidx] = pred["clv"]
        for key, arr in bounds.items():
            arr[sidx] = pred[key]  # type: ignore[literal-required]

    lc = settings.lifecycle
    shop_gap = typical_gap_days(people.orders, people.first_ts, people.last_ts,
                                lc.default_gap_days)
    gap = expected_gap_days(people.orders, people.first_ts, people.last_ts, shop_gap,
                            lc.min_expected_gap_days)
    ratio = days_since / gap
    repeat_days = people.order_days - 1
    stage = lifecycle_stages(people.orders, days_since, gap, lc,
                             p_alive if weight > 0 else None, repeat_days, weight)

    points = points_ledger(people.net, people.pending_net, people.gross, people.has_account,
                           people.event_points, settings.points)
    return Scores(
        people=people, settings=settings, model=model, shop_gap_days=shop_gap,
        days_since_last=days_since, r=r, f=f, m=m, segment=segment, expected_gap=gap,
        ratio=ratio, stage=stage, points=points,
        tier=tiers(points.available, settings.tiers),
        loyalty_type=loyalty_types(people.orders, people.orders_year, people.full_price_orders,
                                   people.engagement_events, settings.loyalty_types),
        p_alive=p_alive, expected_purchases=purchases, expected_order_value=order_value,
        clv=clv, p_alive_weight=weight, model_alive=model_alive, **bounds,
    )


def score_customers(session: Session, shop: Shop, as_of: datetime | None,
                    settings: RetentionSettings) -> Scores:
    """Load a shop's per-person aggregates as of an instant and score them."""
    return compute_scores(load_person_arrays(session, shop, (as_of or now()).astimezone(UTC),
                                             settings), settings)


def _money(value: float) -> Decimal | None:
    return None if not np.isfinite(value) else Decimal(f"{value:.4f}")


def _float(value: float) -> float | None:
    return None if not np.isfinite(value) else float(value)


def _instant(ts: int) -> datetime:
    return datetime.fromtimestamp(int(ts), UTC)


CUSTOMER_FIELDS = (
    "customer_id", "email", "orders", "net_revenue", "first_order", "last_order",
    "days_since_last_order", "first_channel", "first_code", "r", "f", "m", "segment",
    "lifecycle", "points_pending", "points_available", "points_reversed", "tier",
    "loyalty_type", "p_alive", "expected_purchases", "expected_purchases_low",
    "expected_purchases_high", "predicted_clv", "predicted_clv_low", "predicted_clv_high",
)


def customer_rows(scores: Scores, *, segment: str | None = None, lifecycle: str | None = None,
                  tier: str | None = None) -> list[dict[str, Any]]:
    """One row per person (most net revenue first), optionally filtered by segment/stage/tier."""
    p = scores.people
    keep = np.ones(len(scores), dtype=bool)
    if segment is not None:
        keep &= scores.segment == SEGMENTS.index(segment)
    if lifecycle is not None:
        keep &= scores.stage == STAGES.index(lifecycle)
    if tier is not None:
        keep &= scores.tier == tier
    idx = np.flatnonzero(keep)
    idx = idx[np.lexsort((p.person_id[idx], -p.net[idx]))]
    rows = []
    for i in idx:
        buyer = p.orders[i] > 0
        rows.append({
            "customer_id": p.customer_id[i],
            "email": p.email[i],
            "orders": int(p.orders[i]),
            "net_revenue": from_units(int(p.net[i])),
            "first_order": _instant(p.first_ts[i]) if buyer else None,
            "last_order": _instant(p.last_ts[i]) if buyer else None,
            "days_since_last_order": _float(scores.days_since_last[i]),
            "first_channel": p.channel[i],
            "first_code": p.first_code[i],
            "r": int(scores.r[i]) if buyer else None,
            "f": int(scores.f[i]) if buyer else None,
            "m": int(scores.m[i]) if buyer else None,
            "segment": SEGMENTS[scores.segment[i]] if buyer else None,
            "lifecycle": STAGES[scores.stage[i]],
            "points_pending": int(scores.points.pending[i]),
            "points_available": int(scores.points.available[i]),
            "points_reversed": int(scores.points.reversed[i]),
            "tier": scores.tier[i],
            "loyalty_type": LOYALTY_TYPES[scores.loyalty_type[i]],
            "p_alive": _float(scores.p_alive[i]),
            "expected_purchases": _float(scores.expected_purchases[i]),
            "expected_purchases_low": _float(scores.expected_purchases_low[i]),
            "expected_purchases_high": _float(scores.expected_purchases_high[i]),
            "predicted_clv": _money(scores.clv[i]),
            "predicted_clv_low": _money(scores.clv_low[i]),
            "predicted_clv_high": _money(scores.clv_high[i]),
        })
    return rows


WINBACK_FIELDS = ("rank", "customer_id", "email", "lifecycle", "orders", "net_revenue",
                  "days_since_last_order", "p_win_back", "expected_order_value",
                  "expected_value", "incentive", "predicted_clv", "predicted_clv_low",
                  "predicted_clv_high")


def win_back_targets(scores: Scores, limit: int | None = None) -> list[dict[str, Any]]:
    """Lapsed and lost customers ranked by expected value if won back, with an incentive."""
    p, s = scores.people, scores.settings
    idx = np.flatnonzero((scores.stage == LAPSED) | (scores.stage == LOST))
    if idx.size == 0:
        return []
    fitted = scores.model_available
    buyers = p.orders > 0
    shop_aov = p.net[buyers].sum() / max(int(p.orders[buyers].sum()), 1) / SCALE
    own_aov = p.net[idx] / p.orders[idx] / SCALE
    own_aov = np.where(own_aov > 0, own_aov, shop_aov)
    order_value = scores.expected_order_value[idx] if fitted else own_aov
    repeat_days = p.order_days[idx] - 1
    weight = scores.p_alive_weight
    p_win = win_back_probability(scores.ratio[idx], s,
                                 scores.p_alive[idx] if weight > 0 else None, repeat_days,
                                 weight)
    if fitted:
        alive = scores.model_alive[idx]
        clv_if_alive = np.divide(scores.clv[idx], alive, out=np.zeros(idx.size),
                                 where=alive > 0)
    else:
        clv_if_alive = np.zeros(idx.size)
    value = expected_value(p_win, order_value, s.margin, clv_if_alive)
    order = np.lexsort((p.person_id[idx], -value))[:limit]
    margin, share = s.margin_decimal, Decimal(str(s.winback.incentive_share))
    rows = []
    for rank, k in enumerate(order, start=1):
        i = idx[k]
        eov = Decimal(f"{order_value[k]:.4f}")
        rows.append({
            "rank": rank,
            "customer_id": p.customer_id[i],
            "email": p.email[i],
            "lifecycle": STAGES[scores.stage[i]],
            "orders": int(p.orders[i]),
            "net_revenue": from_units(int(p.net[i])),
            "days_since_last_order": float(scores.days_since_last[i]),
            "p_win_back": float(p_win[k]),
            "expected_order_value": eov,
            "expected_value": Decimal(f"{value[k]:.4f}"),
            "incentive": incentive(eov, margin, share),
            "predicted_clv": _money(scores.clv[i]),
            "predicted_clv_low": _money(scores.clv_low[i]),
            "predicted_clv_high": _money(scores.clv_high[i]),
        })
    return rows
