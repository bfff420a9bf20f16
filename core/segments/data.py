"""Per-person aggregates of a shop as of an instant: the input of every score.

The valid orders come from the metrics' single pass over the order index
(:func:`stammkunde.core.metrics.order_history`); accounts, events, cancelled orders and discount
codes are small grouped queries; everything per person is numpy (``benchmarks/report_scores.py``
times it: the "per-person query" row of benchmarks/RESULTS.md).

Who is in the result: every person the shop knew at the instant — with an order created by then
(valid or cancelled), an event by then, or an account created by then. People without a valid
order are *prospects*. Money columns are integers of 1/10,000 of a unit (see :mod:`money`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from stammkunde.core.metrics import OrderHistory, order_history, raw_rows
from stammkunde.core.models import Shop, UTCDateTime
from stammkunde.core.settings import RetentionSettings
from stammkunde.core.timeutil import epoch_seconds

DAY = 86_400
ACCOUNT_CREATED = "account_created"

# Orders created by the instant but cancelled by then: they earned points that were reversed.
_CANCELLED = """
    SELECT o.person_id, CAST(SUM(o.total) AS BIGINT)
    FROM orders o
    WHERE o.shop_id = :shop AND o.created_ts <= :as_of AND o.is_test = :false
      AND o.deleted_at IS NULL AND o.cancelled_ts IS NOT NULL AND o.cancelled_ts <= :as_of
    GROUP BY o.person_id
"""

# Orders with a discount code, and the first code of each (for CLV by first code). The unary
# plus keeps the planner from driving the join from the shop's orders (one probe per order):
# walking the far fewer discount rows and looking each order up by key is the cheaper plan.
_DISCOUNTED = """
    SELECT od.order_id, MIN(od.code_key)
    FROM order_discounts od JOIN orders o ON o.id = od.order_id
    WHERE +o.shop_id = :shop AND +o.created_ts <= :as_of
    GROUP BY od.order_id
    ORDER BY od.order_id
"""

_ACCOUNTS = """
    SELECT person_id,
           COALESCE(MIN(CASE WHEN is_guest THEN NULL ELSE platform_id END),
                    MIN(platform_id)) AS customer_id,
           MAX(email) AS email,
           MAX(CASE WHEN is_guest THEN 0
                    WHEN created_at IS NULL THEN 1
                    WHEN created_at <= :as_of_dt THEN 2 ELSE 0 END) AS account
    FROM customers WHERE shop_id = :shop
    GROUP BY person_id
    ORDER BY person_id
"""

def _events_query(kinds: list[str]) -> str:
    cases = " ".join(f"WHEN :k{i} THEN :w{i}" for i in range(len(kinds)))
    weight = f"CASE kind {cases} ELSE 0 END" if kinds else "0"
    return f"""
    SELECT person_id,
           CAST(SUM(CASE WHEN kind = :account_kind THEN 0
                         ELSE COALESCE(points, {weight}) END) AS BIGINT) AS event_points,
           CAST(SUM(CASE WHEN kind <> :account_kind AND occurred_ts > :year_ago THEN 1
                         ELSE 0 END) AS BIGINT) AS engagement,
           MAX(CASE WHEN kind = :account_kind THEN 1 ELSE 0 END) AS account_event
    FROM events WHERE shop_id = :shop AND occurred_ts <= :as_of
    GROUP BY person_id
    ORDER BY person_id
    """


@dataclass(frozen=True)
class PersonArrays:
    """Per-person aggregates as aligned numpy arrays (money in 1/10,000 units)."""

    as_of: datetime
    person_id: NDArray[np.int64]
    customer_id: NDArray[np.object_]
    email: NDArray[np.object_]
    has_account: NDArray[np.bool_]
    orders: NDArray[np.int64]
    net: NDArray[np.int64]
    first_ts: NDArray[np.int64]
    last_ts: NDArray[np.int64]
    channel: NDArray[np.object_]
    first_code: NDArray[np.object_]
    orders_year: NDArray[np.int64]
    order_days: NDArray[np.int64]
    first_day_net: NDArray[np.int64]
    pending_net: NDArray[np.int64]
    full_price_orders: NDArray[np.int64]
    gross: NDArray[np.int64]
    event_points: NDArray[np.int64]
    engagement_events: NDArray[np.int64]

    def __len__(self) -> int:
        """Number of people."""
        return int(self.person_id.shape[0])

    @property
    def as_of_ts(self) -> int:
        """The instant in epoch seconds."""
        return epoch_seconds(self.as_of)


def tune_for_aggregates(session: Session) -> None:
    """On PostgreSQL, set this transaction up for big one-pass aggregates.

    JIT compilation costs seconds on these queries (their row estimates are far too high, so the
    planner thinks JIT pays off) and the per-person sort spills to disk with the default 4 MB of
    work memory. ``SET LOCAL`` ends with the transaction; SQLite needs nothing.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL jit = off"))
        session.execute(text("SET LOCAL work_mem = '256MB'"))


def _int(values: tuple) -> NDArray[np.int64]:
    return np.array(values, dtype=np.int64)


def _lookup(keys: NDArray[np.int64], table_keys: NDArray[np.int64]) -> tuple[NDArray[np.int64],
                                                                              NDArray[np.bool_]]:
    """Positions of ``keys`` in the sorted ``table_keys``, and whether each was found."""
    pos = np.searchsorted(table_keys, keys)
    safe = np.minimum(pos, max(len(table_keys) - 1, 0))
    found = (pos < len(table_keys)) & (table_keys[safe] == keys) if len(table_keys) else \
        np.zeros(len(keys), dtype=bool)
    return safe, found


def _spread(values: NDArray[np.int64], pos: NDArray[np.int64], found: NDArray[np.bool_]
            ) -> NDArray[np.int64]:
    """Per-person values gathered by position, 0 where the person was not found."""
    if len(values) == 0:
        return np.zeros(len(pos), dtype=np.int64)
    return np.where(found, values[pos], 0)


def load_person_arrays(session: Session, shop: Shop, as_of: datetime,
                       settings: RetentionSettings,
                       history: OrderHistory | None = None) -> PersonArrays:
    """Return a shop's per-person aggregates as of an instant as aligned arrays.

    The valid orders come from the metrics' one pass over the order index (pass ``history``, read
    with ``detail=True`` as of the same instant, to reuse it); accounts, events, cancelled orders
    and discount codes are small grouped queries. Everything per person is then numpy.
    """
    as_of = as_of.astimezone(UTC)
    t = epoch_seconds(as_of)
    kinds = sorted(k for k in settings.points if k not in ("spend", ACCOUNT_CREATED))
    window_start = epoch_seconds(as_of - timedelta(days=settings.return_window_days))
    year_ago = t - 365 * DAY
    params: dict[str, object] = {
        "shop": shop.id, "as_of": t, "false": False, "as_of_dt": as_of,
        "year_ago": year_ago, "account_kind": ACCOUNT_CREATED,
    }
    for i, kind in enumerate(kinds):
        params[f"k{i}"] = kind
        params[f"w{i}"] = int(settings.points[kind])
    tune_for_aggregates(session)
    conn = session.connection()
    h = history if history is not None else order_history(conn, shop, as_of, detail=True)
    if h.order_id is None or h.total is None:
        raise ValueError("load_person_arrays needs an order history read with detail=True")

    # per person with a valid order, in h.persons order
    day = h.ts // DAY
    new_day = np.r_[True, (h.person[1:] != h.person[:-1]) | (day[1:] != day[:-1])] \
        if len(day) else np.zeros(0, dtype=bool)
    first_day = np.repeat(day[h.starts], h.counts)
    discounted = raw_rows(conn, text(_DISCOUNTED), params).fetchall()
    disc_ids = _int(tuple(r[0] for r in discounted))
    disc_codes = np.array([r[1] for r in discounted], dtype=object)
    first_ids = h.order_id[h.starts]
    pos, found = _lookup(first_ids, disc_ids)
    first_code = np.where(found, disc_codes[pos] if len(disc_codes) else None, None)
    with_code = np.isin(h.order_id, disc_ids)
    zero = np.zeros_like(h.net)
    per = {
        "n": h.counts,
        "net": h.per_person(h.net),
        "first_ts": h.ts[h.starts],
        "last_ts": h.ts[h.last],
        "n_year": h.per_person((h.ts > year_ago).astype(np.int64)),
        "n_days": h.per_person(new_day.astype(np.int64)),
        "first_day_net": h.per_person(np.where(day == first_day, h.net, zero)),
        "pending_net": h.per_person(np.where(h.ts > window_start, h.net, zero)),
        "full_price": h.per_person((~with_code).astype(np.int64)),
        "gross": h.per_person(h.total),
    }
    channel_names = np.array([*h.channels, None], dtype=object)
    first_channel = channel_names[h.channel[h.starts]]

    accounts = raw_rows(conn, text(_ACCOUNTS).bindparams(
        bindparam("as_of_dt", type_=UTCDateTime)), params).fetchall()
    events = raw_rows(conn, text(_events_query(kinds)), params).fetchall()
    cancelled = raw_rows(conn, text(_CANCELLED), params).fetchall()

    person_id = _int(tuple(r[0] for r in accounts))
    account = _int(tuple(r[3] for r in accounts))
    o_pos, o_found = _lookup(person_id, h.persons)
    e_ids = _int(tuple(r[0] for r in events))
    e_pos, e_found = _lookup(person_id, e_ids)
    c_ids = _int(tuple(r[0] for r in cancelled))
    c_pos, c_found = _lookup(person_id, c_ids)
    keep = o_found | c_found | e_found | (account == 2)

    def orders_col(name: str) -> NDArray[np.int64]:
        return _spread(per[name], o_pos, o_found)[keep]

    def events_col(i: int) -> NDArray[np.int64]:
        return _spread(_int(tuple(r[i] for r in events)), e_pos, e_found)[keep]

    orders = orders_col("n")
    gross = orders_col("gross") + _spread(_int(tuple(r[1] for r in cancelled)), c_pos,
                                          c_found)[keep]
    account = account[keep]
    has_account = (account == 2) | ((account == 1) & (orders > 0)) | (events_col(3) > 0)
    o_pos_k, o_found_k = o_pos[keep], o_found[keep]
    return PersonArrays(
        as_of=as_of,
        person_id=person_id[keep],
        customer_id=np.array([r[1] for r in accounts], dtype=object)[keep],
        email=np.array([r[2] for r in accounts], dtype=object)[keep],
        has_account=has_account,
        orders=orders,
        net=orders_col("net"),
        first_ts=orders_col("first_ts"),
        last_ts=orders_col("last_ts"),
        channel=np.where(o_found_k, first_channel[o_pos_k] if len(first_channel) else None,
                         None).astype(object),
        first_code=np.where(o_found_k, first_code[o_pos_k] if len(first_code) else None,
                            None).astype(object),
        orders_year=orders_col("n_year"),
        order_days=orders_col("n_days"),
        first_day_net=orders_col("first_day_net"),
        pending_net=orders_col("pending_net"),
        full_price_orders=orders_col("full_price"),
        gross=gross,
        event_points=events_col(1),
        engagement_events=events_col(2),
    )
