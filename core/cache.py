"""Heavy numbers computed ahead of time: the report (now and one period earlier) and the customer
roll-up, stored per shop so pages read them in milliseconds.

The *previous period* of a report as of ``t`` is the same report as of ``t − 90 days``
(:data:`PREVIOUS_PERIOD`): every KPI is cumulative up to its instant, so the difference is how the
shop's numbers moved over the last quarter.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy import asc, delete, desc, func, insert, select
from sqlalchemy.orm import Session

from stammkunde.core.customers import list_customers
from stammkunde.core.demo_calendar import DEMO_AS_OF
from stammkunde.core.job_models import CachedResult, CustomerRollup
from stammkunde.core.metrics import build_report, to_json
from stammkunde.core.models import Shop
from stammkunde.core.money import from_units, money_str
from stammkunde.core.segments import (
    SEGMENTS,
    STAGES,
    Scores,
    score_customers,
    score_report,
    win_back_targets,
)
from stammkunde.core.settings import RetentionSettings
from stammkunde.core.timeutil import epoch_seconds, now

PREVIOUS_PERIOD = timedelta(days=90)
REPORT = "report"
REPORT_PREVIOUS = "report_previous"
ROLLUP = "customers"
SCORES = "scores"
WINBACK = "winback"
WINBACK_SHOWN = 500
ROLLUP_BATCH = 5000

#: Sort keys of the customer list → roll-up column.
SORTS = {
    "net_revenue": CustomerRollup.net_revenue,
    "orders": CustomerRollup.orders,
    "last_order": CustomerRollup.last_ts,
    "first_order": CustomerRollup.first_ts,
}


def report_instant(shop: Shop, clock: Callable[[], datetime] = now) -> datetime:
    """Return the instant a shop's dashboard reports as of: now, or the demo window's end."""
    # The synthetic demo shop's history stops at the end of its window, whatever the wall clock
    # says; reporting as of then keeps its dashboard reproducible (README, screenshots).
    if isinstance(shop.settings, dict) and "demo" in shop.settings:
        return DEMO_AS_OF
    return clock()


def margin_of(shop: Shop) -> Decimal:
    """Return the gross margin configured for the shop (1 when none is set)."""
    value = ((shop.settings or {}).get("retention") or {}).get("margin")
    return Decimal(str(value)) if value is not None else Decimal(1)


def _store(session: Session, shop: Shop, kind: str, data: dict[str, Any], seconds: float) -> None:
    row = session.get(CachedResult, (shop.id, kind))
    if row is None:
        row = CachedResult(shop_id=shop.id, kind=kind)
        session.add(row)
    row.data = data
    row.seconds = seconds
    row.computed_at = now()


@dataclass(frozen=True)
class Refreshed:
    """What a refresh computed: the instant, customers in the roll-up, seconds taken."""

    as_of: datetime
    customers: int
    seconds: float


def refresh_shop(session: Session, shop: Shop, as_of: datetime | None = None,
                 progress: Callable[[str, int, int], None] | None = None,
                 retention: RetentionSettings | None = None) -> Refreshed:
    """Recompute and store the shop's reports, scores, win-back list and customer roll-up."""
    start = time.perf_counter()
    as_of = (as_of or report_instant(shop)).astimezone(UTC)
    retention = retention or RetentionSettings()
    margin = margin_of(shop)
    steps = 4
    repeat = None
    for i, (kind, instant) in enumerate(((REPORT, as_of), (REPORT_PREVIOUS,
                                                          as_of - PREVIOUS_PERIOD))):
        t0 = time.perf_counter()
        data = to_json(build_report(session, shop, instant, margin=margin))
        repeat = data["repeat_rate"] if kind == REPORT else repeat
        _store(session, shop, kind, data, time.perf_counter() - t0)
        if progress:
            progress(kind, i + 1, steps)
    t0 = time.perf_counter()
    scores = score_customers(session, shop, as_of, retention)
    section = to_json(score_report(scores, repeat))
    section["revenue"] = _group_revenue(scores)
    _store(session, shop, SCORES, section, time.perf_counter() - t0)
    targets = to_json({"t": win_back_targets(scores, limit=WINBACK_SHOWN)})["t"]
    _store(session, shop, WINBACK, {"targets": targets}, 0.0)
    if progress:
        progress(SCORES, 3, steps)
    t0 = time.perf_counter()
    customers = _refresh_rollup(session, shop, as_of, scores)
    _store(session, shop, ROLLUP, {"as_of": as_of.isoformat().replace("+00:00", "Z"),
                                   "customers": customers}, time.perf_counter() - t0)
    if progress:
        progress(ROLLUP, steps, steps)
    return Refreshed(as_of, customers, time.perf_counter() - start)


def _group_revenue(scores: Scores) -> dict[str, dict[str, str]]:
    """Net revenue (money strings) of the customers in each segment, stage and tier."""
    people = scores.people
    buyers = people.orders > 0
    out: dict[str, dict[str, str]] = {}
    for key, index, names in (("segments", scores.segment, SEGMENTS),
                              ("lifecycle", scores.stage, STAGES)):
        sums = dict.fromkeys(names, 0)
        for i, v in zip(index[buyers].tolist(), people.net[buyers].tolist(), strict=True):
            if i >= 0:
                sums[names[i]] += int(v)
        out[key] = {n: money_str(from_units(v)) for n, v in sums.items()}
    tiers = dict.fromkeys(scores.settings.tiers, 0)
    for tier, v in zip(scores.tier[buyers].tolist(), people.net[buyers].tolist(), strict=True):
        tiers[str(tier)] = tiers.get(str(tier), 0) + int(v)
    out["tiers"] = {n: money_str(from_units(v)) for n, v in tiers.items()}
    return out


def _refresh_rollup(session: Session, shop: Shop, as_of: datetime, scores: Scores) -> int:
    session.execute(delete(CustomerRollup).where(CustomerRollup.shop_id == shop.id))
    rows = list_customers(session, shop, as_of)
    position = {p: i for i, p in enumerate(scores.people.person_id.tolist())}
    segment, stage = scores.segment.tolist(), scores.stage.tolist()
    tier, points, clv = scores.tier.tolist(), scores.points.available.tolist(), scores.clv.tolist()
    clv_low, clv_high = scores.clv_low.tolist(), scores.clv_high.tolist()
    purchases = {key: getattr(scores, key).tolist() for key in (
        "expected_purchases", "expected_purchases_low", "expected_purchases_high")}

    def money_or_none(values: list[float], k: int | None) -> Decimal | None:
        value = values[k] if k is not None else float("nan")
        return Decimal(f"{value:.4f}") if np.isfinite(value) else None

    def float_or_none(values: list[float], k: int | None) -> float | None:
        value = values[k] if k is not None else float("nan")
        return float(value) if np.isfinite(value) else None

    for i in range(0, len(rows), ROLLUP_BATCH):
        batch = []
        for r in rows[i : i + ROLLUP_BATCH]:
            k = position.get(r["person_id"])
            known = k is not None
            batch.append({
                "shop_id": shop.id, "person_id": r["person_id"], "customer_id": r["customer_id"],
                "email": r["email"], "orders": r["orders"], "net_revenue": r["net_revenue"],
                "first_ts": epoch_seconds(r["first_order"]),
                "last_ts": epoch_seconds(r["last_order"]), "channel": r["first_channel"],
                "segment": SEGMENTS[segment[k]] if known and segment[k] >= 0 else None,
                "stage": STAGES[stage[k]] if known else None,
                "tier": str(tier[k]) if known else None,
                "points": int(points[k]) if known else None,
                "predicted_clv": money_or_none(clv, k),
                "predicted_clv_low": money_or_none(clv_low, k),
                "predicted_clv_high": money_or_none(clv_high, k),
                **{key: float_or_none(values, k) for key, values in purchases.items()},
            })
        session.execute(insert(CustomerRollup), batch)
    return len(rows)


def cached(session: Session, shop: Shop, kind: str) -> CachedResult | None:
    """Return the stored result of a kind for the shop, or None before the first refresh."""
    return session.get(CachedResult, (shop.id, kind))


def customer_page(session: Session, shop: Shop, *, sort: str = "net_revenue",
                  descending: bool = True, offset: int = 0, limit: int = 50,
                  where: dict[str, str] | None = None) -> tuple[int, list[dict[str, Any]]]:
    """Return (how many, one page of customers) from the roll-up, sorted by a :data:`SORTS` key.

    ``where`` filters by score: ``segment``, ``stage`` and/or ``tier`` names.
    """
    column = SORTS[sort]
    filters = [CustomerRollup.shop_id == shop.id]
    for key, value in (where or {}).items():
        filters.append(FILTER_COLUMNS[key] == value)
    total = session.scalar(select(func.count()).select_from(CustomerRollup).where(*filters)) or 0
    order = (desc(column), desc(CustomerRollup.person_id)) if descending else (
        asc(column), asc(CustomerRollup.person_id))
    # Page through the (shop, sort key, person) index alone, then read the page's rows: a deep
    # page skips index entries instead of whole rows.
    ids = list(session.scalars(select(CustomerRollup.person_id).where(*filters).order_by(*order)
                               .offset(offset).limit(limit)))
    rows = {r.person_id: r for r in session.scalars(select(CustomerRollup).where(
        CustomerRollup.shop_id == shop.id, CustomerRollup.person_id.in_(ids)))}
    return total, [rollup_row(rows[i]) for i in ids]


FILTER_COLUMNS = {"segment": CustomerRollup.segment, "stage": CustomerRollup.stage,
                  "tier": CustomerRollup.tier}


def iter_customers(session: Session, shop: Shop, *, sort: str = "net_revenue",
                   descending: bool = True,
                   where: dict[str, str] | None = None) -> Iterator[dict[str, Any]]:
    """Yield every customer of the roll-up in order (for CSV downloads), streaming."""
    column = SORTS[sort]
    order = (desc(column), desc(CustomerRollup.person_id)) if descending else (
        asc(column), asc(CustomerRollup.person_id))
    t = CustomerRollup
    filters = [t.shop_id == shop.id, *(FILTER_COLUMNS[k] == v for k, v in (where or {}).items())]
    stmt = (select(t.person_id, t.customer_id, t.email, t.orders, t.net_revenue, t.first_ts,
                   t.last_ts, t.channel, t.segment, t.stage, t.tier, t.expected_purchases,
                   t.expected_purchases_low, t.expected_purchases_high, t.predicted_clv,
                   t.predicted_clv_low, t.predicted_clv_high)
            .where(*filters).order_by(*order).execution_options(yield_per=5000))
    for row in session.execute(stmt):
        (person, customer, email, orders, net, first, last, channel, segment, stage, tier,
         purchases, purchases_low, purchases_high, clv, clv_low, clv_high) = row
        yield {"person_id": person, "customer_id": customer, "email": email, "orders": orders,
               "net_revenue": net, "first_order": datetime.fromtimestamp(first, UTC),
               "last_order": datetime.fromtimestamp(last, UTC), "first_channel": channel,
               "segment": segment, "lifecycle": stage, "tier": tier,
               "expected_purchases": purchases, "expected_purchases_low": purchases_low,
               "expected_purchases_high": purchases_high, "predicted_clv": clv,
               "predicted_clv_low": clv_low, "predicted_clv_high": clv_high}


def rollup_row(r: CustomerRollup) -> dict[str, Any]:
    """Return a roll-up row as the customer list's dictionary."""
    return {
        "person_id": r.person_id,
        "customer_id": r.customer_id,
        "email": r.email,
        "orders": r.orders,
        "net_revenue": r.net_revenue,
        "first_order": datetime.fromtimestamp(r.first_ts, UTC),
        "last_order": datetime.fromtimestamp(r.last_ts, UTC),
        "first_channel": r.channel,
        "segment": r.segment,
        "stage": r.stage,
        "tier": r.tier,
        "points": r.points,
        "predicted_clv": r.predicted_clv,
        "predicted_clv_low": r.predicted_clv_low,
        "predicted_clv_high": r.predicted_clv_high,
        "expected_purchases": r.expected_purchases,
        "expected_purchases_low": r.expected_purchases_low,
        "expected_purchases_high": r.expected_purchases_high,
    }
