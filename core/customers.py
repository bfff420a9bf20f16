"""The customer list of a shop: one row per person, with their order history in figures."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from stammkunde.core.metrics import _PER_PERSON, DAY
from stammkunde.core.models import Shop
from stammkunde.core.money import from_units
from stammkunde.core.timeutil import epoch_seconds, now

_LIST = f"""
    WITH p AS ({_PER_PERSON}),
    c AS (
        SELECT person_id,
               COALESCE(MIN(CASE WHEN is_guest THEN NULL ELSE platform_id END),
                        MIN(platform_id)) AS customer_id,
               MAX(email) AS email,
               COUNT(*) AS accounts
        FROM customers WHERE shop_id = :shop GROUP BY person_id
    )
    SELECT p.person_id, c.customer_id, c.email, p.n, p.net, p.first_ts, p.last_ts, p.channel
    FROM p JOIN c ON c.person_id = p.person_id
    ORDER BY p.net DESC, p.person_id
"""


def list_customers(
    session: Session, shop: Shop, as_of: datetime | None = None
) -> list[dict[str, Any]]:
    """Return every customer with a valid order: orders, net revenue, first/last order, recency."""
    as_of = (as_of or now()).astimezone(UTC)
    t = epoch_seconds(as_of)
    params = {"shop": shop.id, "as_of": t, "false": False, "year_ago": t - 365 * DAY}
    rows = session.connection().execute(text(_LIST), params).all()
    return [
        {
            "person_id": r[0],
            "customer_id": r[1],
            "email": r[2],
            "orders": int(r[3]),
            "net_revenue": from_units(int(r[4])),
            "first_order": datetime.fromtimestamp(int(r[5]), UTC),
            "last_order": datetime.fromtimestamp(int(r[6]), UTC),
            "days_since_last_order": (t - int(r[6])) / DAY,
            "first_channel": r[7],
        }
        for r in rows
    ]
