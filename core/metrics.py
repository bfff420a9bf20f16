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

How: one SQL pass selects the shop's valid orders with their net revenue, in (person, time)
order, read from a covering index (``ix_orders_history``); per-customer aggregates, gaps, medians
and cohorts are then computed with vectorised numpy on those arrays (:class:`OrderHistory`), so
SQLite and PostgreSQL run identical arithmetic; ``benchmarks/report_scale.py`` times the report
against a bare scan of the same orders (benchmarks/RESULTS.md, "Report at scale").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cached_property
from typing import Any

import numpy as np
from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from stammkunde.core.models import Shop
from stammkunde.core.money import SCALE, cents, from_units
from stammkunde.core.timeutil import epoch_seconds, month_index, month_label, now

DAY = 86_400
MAX_LIFETIME_YEARS = 10
MAX_CODED_CHANNELS = 64

# A valid order as of :as_of, with its net revenue as of then. ``refunded``/``refund_ts`` hold the
# sum and latest instant of the order's refunds; only an order refunded after :as_of needs the
# refunds table.
_NET = """
    CAST(o.total - CASE
        WHEN o.refund_ts IS NULL THEN 0
        WHEN o.refund_ts <= :as_of THEN o.refunded
        ELSE COALESCE((SELECT SUM(rf.amount) FROM refunds rf
                       WHERE rf.order_id = o.id AND rf.created_ts <= :as_of), 0)
    END AS BIGINT)
"""
VALID_WHERE = """
    o.shop_id = :shop AND o.created_ts <= :as_of AND o.is_test = :false
    AND o.deleted_at IS NULL AND (o.cancelled_ts IS NULL OR o.cancelled_ts > :as_of)
"""
_CHANNELS = "SELECT DISTINCT channel FROM orders WHERE shop_id = :shop ORDER BY channel"


@dataclass(frozen=True)
class OrderHistory:
    """A shop's valid orders as of an instant, sorted by (person, time), as numpy arrays.

    Per-order arrays: ``person`` (person id), ``ts`` (epoch seconds), ``month`` (month index in
    the shop's time zone), ``net`` (net revenue in 1/10,000 units), ``channel`` (index into
    ``channels``). ``starts`` are the positions where each person's orders begin, so
    ``np.add.reduceat(x, starts)`` aggregates per person. ``detail=True`` also reads each order's
    row id and total (the scores need them; the report does not).
    """

    person: np.ndarray
    ts: np.ndarray
    month: np.ndarray
    net: np.ndarray
    channel: np.ndarray
    channels: tuple[str, ...]
    starts: np.ndarray
    order_id: np.ndarray | None = None  # with ``detail=True``: the order's row id
    total: np.ndarray | None = None  # with ``detail=True``: the order total (1/10,000 units)

    @cached_property
    def persons(self) -> np.ndarray:
        """Return the person id of each customer (one per person with a valid order)."""
        return self.person[self.starts]

    @cached_property
    def counts(self) -> np.ndarray:
        """Return each customer's number of valid orders."""
        return np.diff(np.append(self.starts, len(self.person)))

    def per_person(self, values: np.ndarray) -> np.ndarray:
        """Return the per-customer sums of a per-order array."""
        if len(self.starts) == 0:
            return np.zeros(0, dtype=values.dtype)
        return np.add.reduceat(values, self.starts)

    @cached_property
    def last(self) -> np.ndarray:
        """Return the position of each customer's last order."""
        if len(self.starts) == 0:
            return self.starts
        return np.append(self.starts[1:], len(self.person)) - 1

    def gaps(self) -> tuple[np.ndarray, np.ndarray]:
        """Return the gaps (seconds) between consecutive orders of a customer, and whose they are.

        The second array holds, for each gap, the customer's index (position in ``starts``).
        """
        same = self.person[1:] == self.person[:-1]
        owner = np.repeat(np.arange(len(self.starts)), self.counts)
        return np.diff(self.ts)[same], owner[1:][same]


def order_history(conn: Connection, shop: Shop, as_of: datetime, *,
                  detail: bool = False) -> OrderHistory:
    """Read the shop's valid orders as of ``as_of`` in one pass over the covering index."""
    params = {"shop": shop.id, "as_of": epoch_seconds(as_of), "false": False}
    if conn.dialect.name == "postgresql":
        # the rarely-run refund subquery inflates the plan's cost estimate past the JIT
        # threshold; compiling a plan that is one index scan cannot pay for itself
        conn.execute(text("SET LOCAL jit = off"))
    channels = tuple(r[0] for r in conn.execute(text(_CHANNELS), params))
    if len(channels) <= MAX_CODED_CHANNELS:
        code = "CASE o.channel " + " ".join(
            f"WHEN :ch{i} THEN {i}" for i in range(len(channels))) + " ELSE -1 END"
        params.update({f"ch{i}": c for i, c in enumerate(channels)})
        mapper = None
    else:  # very many channels: fetch names and code them here
        code, mapper = "o.channel", {c: i for i, c in enumerate(channels)}
    if not channels:
        code = "-1"
    extra = ", o.id, o.total" if detail else ""
    width = 7 if detail else 5
    sql = text(f"""
        SELECT o.person_id, o.created_ts, o.created_month, {_NET} AS net, {code}{extra}
        FROM orders o
        WHERE {VALID_WHERE}
        ORDER BY o.person_id, o.created_ts, o.id
    """)
    rows = raw_rows(conn, sql, params)
    if mapper is None:
        flat = np.fromiter((v for row in rows for v in row), dtype=np.int64)
        data = flat.reshape(-1, width)
    else:
        data = np.array([(p, t, m, int(n), mapper[c], *rest) for p, t, m, n, c, *rest in rows],
                        dtype=np.int64).reshape(-1, width)
    person = data[:, 0]
    starts = np.flatnonzero(np.r_[True, person[1:] != person[:-1]]) if len(person) else \
        np.zeros(0, dtype=np.int64)
    return OrderHistory(person=person, ts=data[:, 1], month=data[:, 2], net=data[:, 3],
                        channel=data[:, 4], channels=channels, starts=starts,
                        order_id=data[:, 5] if detail else None,
                        total=data[:, 6] if detail else None)


def raw_rows(conn: Connection, sql: Any, params: dict[str, Any]) -> Any:
    """Run a text statement on the driver's own cursor (binary for psycopg); rows are tuples.

    Millions of rows pass through here; skipping SQLAlchemy's row objects and, on PostgreSQL,
    text decoding saves a measurable share of the report's time. Parameters still go through
    their SQLAlchemy types (e.g. an aware datetime becomes the stored naive UTC form).
    """
    compiled = sql.compile(dialect=conn.dialect)
    values = dict(compiled.construct_params(params))
    for name, bind in compiled.binds.items():
        process = bind.type.bind_processor(conn.dialect)
        if process is not None and name in values:
            values[name] = process(values[name])
    raw = conn.connection.driver_connection
    binary = {"binary": True} if conn.dialect.name == "postgresql" else {}
    cursor = raw.cursor(**binary)  # type: ignore[union-attr]
    args: Any = values
    if compiled.positional:
        args = tuple(values[name] for name in compiled.positiontup or ())
    cursor.execute(str(compiled), args)
    return cursor


@dataclass
class _Group:
    """Per-customer figures of one group of customers (the shop, or one channel)."""

    orders: np.ndarray  # valid orders per customer
    net: np.ndarray  # net units per customer
    first_net: np.ndarray
    orders_year: np.ndarray
    gaps: np.ndarray  # pooled gaps (seconds)
    span: int  # sum of (last - first) order time (seconds)


def _ratio(num: int | float, den: int | float) -> float | None:
    return num / den if den else None


def _median_units(values: np.ndarray) -> Decimal | None:
    """Return the exact median of integer values as a Decimal (mean of the middle two)."""
    if len(values) == 0:
        return None
    ordered = np.sort(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return Decimal(int(ordered[mid]))
    return Decimal(int(ordered[mid - 1]) + int(ordered[mid])) / 2


def _kpis(g: _Group, margin: Decimal) -> dict[str, Any]:
    customers = len(g.orders)
    orders = int(g.orders.sum())
    net_units = int(g.net.sum())
    net = from_units(net_units)
    aov = net / orders if orders else None
    repeaters = int((g.orders >= 2).sum())
    repeat = _ratio(repeaters, customers)
    orders_year = int(g.orders_year.sum())
    per_year = _ratio(orders_year, int((g.orders_year > 0).sum()))
    lifetime = None
    if repeat is not None:
        lifetime = MAX_LIFETIME_YEARS if repeat >= 1 else min(1 / (1 - repeat), MAX_LIFETIME_YEARS)
    formula = None
    if aov is not None and per_year is not None and lifetime is not None:
        formula = aov * Decimal(str(per_year)) * Decimal(str(lifetime)) * margin
    median_gap = _median_units(g.gaps)
    median_clv = _median_units(g.net)
    first_units = int(g.first_net.sum())
    return {
        "customers": customers,
        "orders": orders,
        "net_revenue": net,
        "repeat_rate": repeat,
        "orders_per_customer": _ratio(orders, customers),
        "days_between_orders": {
            "mean": g.span / len(g.gaps) / DAY if len(g.gaps) else None,
            "median": float(median_gap) / DAY if median_gap is not None else None,
            "gaps": len(g.gaps),
        },
        "aov": aov,
        "historic_clv": {
            "mean": net / customers if customers else None,
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
            float(Decimal(net_units - first_units) / net_units) if net_units else None
        ),
    }


def build_report(session: Session, shop: Shop, as_of: datetime | None = None,
                 *, margin: Decimal = Decimal(1),
                 history: OrderHistory | None = None) -> dict[str, Any]:
    """Compute the shop's retention KPIs, cohorts and channel breakdown as of an instant.

    ``history`` is the shop's :func:`order_history` as of the same instant, when the caller has
    read it already.
    """
    as_of = (as_of or now()).astimezone(UTC)
    h = history if history is not None else order_history(session.connection(), shop, as_of)
    year_ago = epoch_seconds(as_of - timedelta(days=365))
    orders = h.counts
    net = h.per_person(h.net)
    first_net = h.net[h.starts]
    orders_year = h.per_person((h.ts > year_ago).astype(np.int64))
    span = h.ts[h.last] - h.ts[h.starts]
    gaps, gap_owner = h.gaps()
    first_channel = h.channel[h.starts]

    def group(mask: np.ndarray) -> _Group:
        return _Group(orders=orders[mask], net=net[mask], first_net=first_net[mask],
                      orders_year=orders_year[mask], gaps=gaps[mask[gap_owner]],
                      span=int(span[mask].sum()))

    everyone = np.ones(len(h.starts), dtype=bool)
    return {
        "shop": shop.name,
        "as_of": as_of.isoformat().replace("+00:00", "Z"),
        "currency": shop.currency,
        **_kpis(group(everyone), margin),
        "cohorts": cohorts(h, month_index(as_of, shop.timezone)),
        "channels": {
            h.channels[code]: _kpis(group(first_channel == code), margin)
            for code in sorted(set(first_channel.tolist()), key=lambda c: h.channels[c])
        },
    }


def cohorts(h: OrderHistory, last_month: int) -> list[dict[str, Any]]:
    """Return the monthly cohort retention table of an order history."""
    if len(h.person) == 0:
        return []
    # months are non-decreasing within a person, so a new (person, month) starts where either
    # changes; each such start is one customer active in that month
    new = np.r_[True, (h.person[1:] != h.person[:-1]) | (h.month[1:] != h.month[:-1])]
    first_month = np.repeat(h.month[h.starts], h.counts)
    cohort = first_month[new]
    k = (h.month - first_month)[new]
    out = []
    for m0 in np.unique(cohort).tolist():
        ks = k[cohort == m0]
        active = np.bincount(ks)
        size = int(active[0])
        months = max(last_month - m0, len(active) - 1) + 1
        retention = [float(active[i]) / size if i < len(active) else 0.0 for i in range(months)]
        out.append({"cohort": month_label(m0), "customers": size, "retention": retention})
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
