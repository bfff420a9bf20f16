"""The customer list of a shop: one row per person, with their order history in figures."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from stammkunde.core.metrics import DAY, order_history
from stammkunde.core.models import Customer, Shop
from stammkunde.core.money import from_units
from stammkunde.core.timeutil import epoch_seconds, now


def identities(session: Session, shop: Shop) -> dict[int, tuple[str, str | None]]:
    """Return person id -> (customer id to show, e-mail): an account's id wins over a guest's."""
    out: dict[int, tuple[str, str | None]] = {}
    rows = session.execute(
        select(Customer.person_id, Customer.platform_id, Customer.is_guest, Customer.email)
        .where(Customer.shop_id == shop.id)
        .order_by(Customer.person_id, Customer.is_guest, Customer.platform_id)
    )
    for person_id, platform_id, _guest, email in rows:
        if person_id not in out:
            out[person_id] = (platform_id, email)
        elif out[person_id][1] is None and email:
            out[person_id] = (out[person_id][0], email)
    return out


def list_customers(
    session: Session, shop: Shop, as_of: datetime | None = None
) -> list[dict[str, Any]]:
    """Return every customer with a valid order: orders, net revenue, first/last order, recency."""
    as_of = (as_of or now()).astimezone(UTC)
    t = epoch_seconds(as_of)
    h = order_history(session.connection(), shop, as_of)
    ids = identities(session, shop)
    net = h.per_person(h.net)
    first, last = h.ts[h.starts], h.ts[h.last]
    persons, counts = h.persons, h.counts
    order = np.lexsort((persons, -net))  # most valuable first, then by person id
    rows = []
    for i in order.tolist():
        person = int(persons[i])
        customer_id, email = ids.get(person, (None, None))
        rows.append({
            "person_id": person,
            "customer_id": customer_id,
            "email": email,
            "orders": int(counts[i]),
            "net_revenue": from_units(int(net[i])),
            "first_order": datetime.fromtimestamp(int(first[i]), UTC),
            "last_order": datetime.fromtimestamp(int(last[i]), UTC),
            "days_since_last_order": (t - int(last[i])) / DAY,
            "first_channel": h.channels[int(h.channel[h.starts[i]])],
        })
    return rows
