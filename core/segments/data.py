"""The one SQL query behind every score: per-person aggregates of a shop as of an instant.

It extends the per-person pattern of :mod:`stammkunde.core.metrics` (net revenue as of the
instant from the refund totals kept on each order): one window pass over the shop's orders
(valid and cancelled, partitioned by person and validity), grouped by person, joined with the
person's events and customer accounts. Everything else is numpy.

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

from stammkunde.core.metrics import _NET
from stammkunde.core.models import Shop, UTCDateTime
from stammkunde.core.settings import RetentionSettings
from stammkunde.core.timeutil import epoch_seconds

DAY = 86_400
ACCOUNT_CREATED = "account_created"

_ORDERS = f"""
    SELECT o.id, o.person_id, o.created_ts, o.channel, o.total, {_NET} AS net,
           CASE WHEN o.cancelled_ts IS NULL OR o.cancelled_ts > :as_of THEN 1 ELSE 0 END AS valid,
           CASE WHEN d.order_id IS NULL THEN 1 ELSE 0 END AS full_price,
           d.code, o.created_ts / 86400 AS day
    FROM orders o
    LEFT JOIN (
        SELECT od.order_id, MIN(od.code_key) AS code
        FROM order_discounts od JOIN orders dor ON dor.id = od.order_id
        WHERE dor.shop_id = :shop
        GROUP BY od.order_id
    ) d ON d.order_id = o.id
    WHERE o.shop_id = :shop AND o.created_ts <= :as_of AND o.is_test = :false
      AND o.deleted_at IS NULL
"""

# One window spec (person, validity; by time): row number, previous day and first day all come
# from the same sort.
_WINDOWED = f"""
    SELECT w.*,
           ROW_NUMBER() OVER win AS rn,
           LAG(day) OVER win AS prev_day,
           FIRST_VALUE(day) OVER win AS first_day
    FROM ({_ORDERS}) w
    WINDOW win AS (PARTITION BY person_id, valid ORDER BY created_ts, id)
"""

_PERSON_ORDERS = f"""
    SELECT person_id,
           CAST(SUM(valid) AS BIGINT) AS n,
           CAST(SUM(CASE WHEN valid = 1 THEN net ELSE 0 END) AS BIGINT) AS net,
           MIN(CASE WHEN valid = 1 THEN created_ts END) AS first_ts,
           MAX(CASE WHEN valid = 1 THEN created_ts END) AS last_ts,
           MAX(CASE WHEN valid = 1 AND rn = 1 THEN channel END) AS channel,
           MAX(CASE WHEN valid = 1 AND rn = 1 THEN code END) AS first_code,
           CAST(SUM(CASE WHEN valid = 1 AND created_ts > :year_ago THEN 1 ELSE 0 END)
                AS BIGINT) AS n_year,
           CAST(SUM(CASE WHEN valid = 1 AND (prev_day IS NULL OR day <> prev_day) THEN 1
                         ELSE 0 END) AS BIGINT) AS n_days,
           CAST(SUM(CASE WHEN valid = 1 AND day = first_day THEN net ELSE 0 END)
                AS BIGINT) AS first_day_net,
           CAST(SUM(CASE WHEN valid = 1 AND created_ts > :window_start THEN net ELSE 0 END)
                AS BIGINT) AS pending_net,
           CAST(SUM(CASE WHEN valid = 1 THEN full_price ELSE 0 END) AS BIGINT) AS full_price,
           CAST(SUM(total) AS BIGINT) AS gross
    FROM ({_WINDOWED}) x
    GROUP BY person_id
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
"""

_COLUMNS = ("person_id", "customer_id", "email", "account", "n", "net", "first_ts", "last_ts",
            "channel", "first_code", "n_year", "n_days", "first_day_net", "pending_net",
            "full_price", "gross", "event_points", "engagement", "account_event")


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
    """


def _query(kinds: list[str]) -> str:
    return f"""
    SELECT c.person_id, c.customer_id, c.email, c.account,
           COALESCE(p.n, 0), COALESCE(p.net, 0), COALESCE(p.first_ts, 0),
           COALESCE(p.last_ts, 0), p.channel,
           p.first_code, COALESCE(p.n_year, 0), COALESCE(p.n_days, 0),
           COALESCE(p.first_day_net, 0), COALESCE(p.pending_net, 0),
           COALESCE(p.full_price, 0), COALESCE(p.gross, 0),
           COALESCE(e.event_points, 0), COALESCE(e.engagement, 0),
           COALESCE(e.account_event, 0)
    FROM ({_ACCOUNTS}) c
    LEFT JOIN ({_PERSON_ORDERS}) p ON p.person_id = c.person_id
    LEFT JOIN ({_events_query(kinds)}) e ON e.person_id = c.person_id
    WHERE p.person_id IS NOT NULL OR e.person_id IS NOT NULL OR c.account = 2
    ORDER BY c.person_id
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


def load_person_arrays(session: Session, shop: Shop, as_of: datetime,
                       settings: RetentionSettings) -> PersonArrays:
    """Run the per-person query for a shop as of an instant and return its columns as arrays."""
    as_of = as_of.astimezone(UTC)
    t = epoch_seconds(as_of)
    kinds = sorted(k for k in settings.points if k not in ("spend", ACCOUNT_CREATED))
    params: dict[str, object] = {
        "shop": shop.id, "as_of": t, "false": False, "as_of_dt": as_of,
        "year_ago": t - 365 * DAY,
        "window_start": epoch_seconds(as_of - timedelta(days=settings.return_window_days)),
        "account_kind": ACCOUNT_CREATED,
    }
    for i, kind in enumerate(kinds):
        params[f"k{i}"] = kind
        params[f"w{i}"] = int(settings.points[kind])
    stmt = text(_query(kinds)).bindparams(bindparam("as_of_dt", type_=UTCDateTime))
    tune_for_aggregates(session)
    rows = session.connection().execute(stmt, params).all()
    cols = dict(zip(_COLUMNS, zip(*rows, strict=True), strict=True)) if rows else {
        name: () for name in _COLUMNS}
    orders = _int(cols["n"])
    account = _int(cols["account"])
    has_account = (account == 2) | ((account == 1) & (orders > 0)) | (_int(cols["account_event"])
                                                                      > 0)
    return PersonArrays(
        as_of=as_of,
        person_id=_int(cols["person_id"]),
        customer_id=np.array(cols["customer_id"], dtype=object),
        email=np.array(cols["email"], dtype=object),
        has_account=has_account,
        orders=orders,
        net=_int(cols["net"]),
        first_ts=_int(cols["first_ts"]),
        last_ts=_int(cols["last_ts"]),
        channel=np.array(cols["channel"], dtype=object),
        first_code=np.array(cols["first_code"], dtype=object),
        orders_year=_int(cols["n_year"]),
        order_days=_int(cols["n_days"]),
        first_day_net=_int(cols["first_day_net"]),
        pending_net=_int(cols["pending_net"]),
        full_price_orders=_int(cols["full_price"]),
        gross=_int(cols["gross"]),
        event_points=_int(cols["event_points"]),
        engagement_events=_int(cols["engagement"]),
    )
