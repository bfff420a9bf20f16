"""Retention metrics of one shop as of an instant, computed with SQL aggregates per customer.

Definitions (also in README, "Metric definitions"):
- A *customer* is a Person (one human, merged by normalised e-mail) with at least one valid order
  in the shop. A guest and an account with the same e-mail are one customer.
- A *valid order* is created at or before ``as_of``, not a test order, not deleted, and not
  cancelled at or before ``as_of``. Its *net revenue* is its total minus the refunds dated at or
  before ``as_of``.
- *Repeat purchase rate* = customers with ≥ 2 valid orders / customers with ≥ 1.
- *Orders per customer* = valid orders / customers.
- *Days between orders*: every gap between a customer's consecutive valid orders, pooled over all
  customers; mean and median (in days, from exact seconds).
- *AOV* = net revenue / valid orders. *Historic CLV* = a customer's net revenue to date (mean and
  median over customers).
- *Formula CLV* = AOV × orders per year × expected lifetime in years × margin, where orders per
  year = valid orders in the 365 days before ``as_of`` / customers with an order in them, and
  expected lifetime = 1 / (1 − repeat rate) years (the churn approximation merchants use),
  capped at ``MAX_LIFETIME_YEARS``.
- *Returning revenue share* = net revenue of orders after a customer's first / all net revenue.
- *Cohorts*: customers by month of first valid order (in the shop's time zone); retention[k] is
  the share of the cohort with a valid order in month k after it (k = 0 is always 1).
- *Channels*: the same KPIs for customers grouped by the sales channel of their first order
  (all their orders count, whatever channel later orders came through).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from stammkunde.core.models import Shop
from stammkunde.core.money import SCALE, cents, from_units
from stammkunde.core.timeutil import epoch_seconds, month_index, month_label, now

DAY = 86_400
MAX_LIFETIME_YEARS = 10
ALL = " ALL"  # group key of the whole shop in the median queries (channels are stripped)

_VALID = """
    SELECT o.id, o.person_id, o.created_ts, o.created_month, o.channel,
           o.total - COALESCE(r.refunded, 0) AS net
    FROM orders o
    LEFT JOIN (
        SELECT rf.order_id, SUM(rf.amount) AS refunded
        FROM refunds rf JOIN orders ro ON ro.id = rf.order_id
        WHERE ro.shop_id = :shop AND rf.created_ts <= :as_of
        GROUP BY rf.order_id
    ) r ON r.order_id = o.id
    WHERE o.shop_id = :shop AND o.created_ts <= :as_of AND o.is_test = :false
      AND o.deleted_at IS NULL AND (o.cancelled_ts IS NULL OR o.cancelled_ts > :as_of)
"""

_PER_PERSON = f"""
    WITH v AS ({_VALID}),
    ranked AS (
        SELECT v.*, ROW_NUMBER() OVER (PARTITION BY person_id ORDER BY created_ts, id) AS rn
        FROM v
    )
    SELECT person_id,
           COUNT(*) AS n,
           SUM(net) AS net,
           MIN(created_ts) AS first_ts,
           MAX(created_ts) AS last_ts,
           MAX(CASE WHEN rn = 1 THEN net END) AS first_net,
           MAX(CASE WHEN rn = 1 THEN channel END) AS channel,
           MIN(created_month) AS first_month,
           SUM(CASE WHEN created_ts > :year_ago THEN 1 ELSE 0 END) AS n_year
    FROM ranked GROUP BY person_id
"""

_KPIS = f"""
    WITH p AS ({_PER_PERSON})
    SELECT channel, COUNT(*), SUM(n), SUM(net), SUM(CASE WHEN n >= 2 THEN 1 ELSE 0 END),
           SUM(last_ts - first_ts), SUM(n - 1), SUM(first_net), SUM(n_year),
           SUM(CASE WHEN n_year > 0 THEN 1 ELSE 0 END)
    FROM p GROUP BY channel
"""

# Median via row numbers: rows (n+1)/2 and (n+2)/2 are the middle one or two (integer division
# in both SQLite and PostgreSQL), so both databases return the same value.
_MEDIAN = """
    , x AS ({values}),
    r AS (
        SELECT grp, val, ROW_NUMBER() OVER (PARTITION BY grp ORDER BY val) AS rn,
               COUNT(*) OVER (PARTITION BY grp) AS cnt
        FROM x
    )
    SELECT grp, SUM(val), COUNT(*) FROM r
    WHERE rn = (cnt + 1) / 2 OR rn = (cnt + 2) / 2
    GROUP BY grp
"""

_CLV_VALUES = "SELECT channel AS grp, net AS val FROM p UNION ALL SELECT :all, net FROM p"
_MEDIAN_CLV = f"WITH p AS ({_PER_PERSON})" + _MEDIAN.format(values=_CLV_VALUES)

_GAPS = f"""
    WITH v AS ({_VALID}),
    g AS (
        SELECT person_id,
               created_ts - LAG(created_ts) OVER (PARTITION BY person_id
                                                  ORDER BY created_ts, id) AS gap,
               FIRST_VALUE(channel) OVER (PARTITION BY person_id
                                          ORDER BY created_ts, id) AS channel
        FROM v
    ),
    gg AS (SELECT channel, gap FROM g WHERE gap IS NOT NULL)
"""
_MEDIAN_GAP = _GAPS + _MEDIAN.format(
    values="SELECT channel AS grp, gap AS val FROM gg UNION ALL SELECT :all, gap FROM gg"
)

_COHORTS = f"""
    WITH v AS ({_VALID}),
    f AS (SELECT person_id, MIN(created_month) AS m0 FROM v GROUP BY person_id)
    SELECT f.m0, v.created_month - f.m0 AS k, COUNT(DISTINCT v.person_id)
    FROM v JOIN f ON f.person_id = v.person_id
    GROUP BY f.m0, v.created_month - f.m0
"""


@dataclass
class _Sums:
    customers: int = 0
    orders: int = 0
    net_units: int = 0
    repeaters: int = 0
    span_seconds: int = 0
    gaps: int = 0
    first_net_units: int = 0
    orders_year: int = 0
    customers_year: int = 0

    def add(self, other: _Sums) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def _median_map(rows: list[Any]) -> dict[str, Decimal]:
    """Turn (group, sum of the middle one or two values, how many) rows into medians."""
    return {grp: Decimal(int(total)) / int(count) for grp, total, count in rows}


def _kpis(s: _Sums, median_clv: Decimal | None, median_gap: Decimal | None,
          margin: Decimal) -> dict[str, Any]:
    net = from_units(s.net_units)
    aov = net / s.orders if s.orders else None
    repeat = _ratio(s.repeaters, s.customers)
    per_year = _ratio(s.orders_year, s.customers_year)
    lifetime = None
    if repeat is not None:
        lifetime = MAX_LIFETIME_YEARS if repeat >= 1 else min(1 / (1 - repeat), MAX_LIFETIME_YEARS)
    formula = None
    if aov is not None and per_year is not None and lifetime is not None:
        formula = aov * Decimal(str(per_year)) * Decimal(str(lifetime)) * margin
    return {
        "customers": s.customers,
        "orders": s.orders,
        "net_revenue": net,
        "repeat_rate": repeat,
        "orders_per_customer": _ratio(s.orders, s.customers),
        "days_between_orders": {
            "mean": s.span_seconds / s.gaps / DAY if s.gaps else None,
            "median": float(median_gap) / DAY if median_gap is not None else None,
            "gaps": s.gaps,
        },
        "aov": aov,
        "historic_clv": {
            "mean": net / s.customers if s.customers else None,
            "median": median_clv / SCALE if median_clv is not None else None,
        },
        "formula_clv": {
            "value": formula,
            "aov": aov,
            "orders_per_year": per_year,
            "lifetime_years": lifetime,
            "margin": float(margin),
        },
        "returning_revenue_share": (
            float(Decimal(s.net_units - s.first_net_units) / s.net_units)
            if s.net_units else None
        ),
    }


def build_report(session: Session, shop: Shop, as_of: datetime | None = None,
                 *, margin: Decimal = Decimal(1)) -> dict[str, Any]:
    """Compute the shop's retention KPIs, cohorts and channel breakdown as of an instant."""
    as_of = (as_of or now()).astimezone(UTC)
    params = {
        "shop": shop.id, "as_of": epoch_seconds(as_of), "false": False, "all": ALL,
        "year_ago": epoch_seconds(as_of - timedelta(days=365)),
    }
    conn = session.connection()
    by_channel: dict[str, _Sums] = {}
    for row in conn.execute(text(_KPIS), params):
        by_channel[row[0]] = _Sums(*(int(v or 0) for v in row[1:]))
    total = _Sums()
    for sums in by_channel.values():
        total.add(sums)
    median_clv = _median_map(conn.execute(text(_MEDIAN_CLV), params).all())
    median_gap = _median_map(conn.execute(text(_MEDIAN_GAP), params).all())
    cohorts = _cohorts(conn.execute(text(_COHORTS), params).all(),
                       month_index(as_of, shop.timezone))
    report: dict[str, Any] = {
        "shop": shop.name,
        "as_of": as_of.isoformat().replace("+00:00", "Z"),
        "currency": shop.currency,
        **_kpis(total, median_clv.get(ALL), median_gap.get(ALL), margin),
        "cohorts": cohorts,
        "channels": {
            ch: _kpis(s, median_clv.get(ch), median_gap.get(ch), margin)
            for ch, s in sorted(by_channel.items())
        },
    }
    return report


def _cohorts(rows: list[Any], last_month: int) -> list[dict[str, Any]]:
    counts: dict[int, dict[int, int]] = {}
    for m0, k, n in rows:
        counts.setdefault(int(m0), {})[int(k)] = int(n)
    out = []
    for m0 in sorted(counts):
        size = counts[m0].get(0, 0)
        months = max(last_month - m0, max(counts[m0])) + 1
        out.append({
            "cohort": month_label(m0),
            "customers": size,
            "retention": [counts[m0].get(k, 0) / size if size else 0.0 for k in range(months)],
        })
    return out


def to_json(report: dict[str, Any]) -> dict[str, Any]:
    """Render a report for JSON: money as strings with two decimals, numbers as numbers."""

    def conv(value: Any) -> Any:
        if isinstance(value, Decimal):
            return str(cents(value))
        if isinstance(value, dict):
            return {k: conv(v) for k, v in value.items()}
        if isinstance(value, list):
            return [conv(v) for v in value]
        if isinstance(value, float):
            return round(value, 6)
        return value

    return conv(report)
