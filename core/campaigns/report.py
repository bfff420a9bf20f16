"""Campaign results: redemptions, conversion and revenue per member, uplift against the holdout.

Definitions (README, "Campaigns"):

- The **window** starts when the campaign's members were assigned (or when the offer starts, if
  later) and lasts ``window_days``. Orders count when they are *valid* as of the report instant
  (not a test, not deleted, not cancelled) and were placed in the window; revenue is net of
  refunds dated up to the report instant.
- **Members** are the treatment and holdout arms; capped people are in neither.
- **Conversion** = members with at least one valid order in the window / members.
- **Revenue per member** = the arm's net revenue in the window / members (non-buyers count as 0).
- **Redemption** = a valid order in the window carrying the member's campaign code (matched
  case-insensitively through ``order_discounts.code_key``).
- **Discount cost** = per redeemed order, percentage × order total, or the fixed amount capped at
  the order total.
- **Uplift** = treatment − holdout, with 95% intervals (:mod:`stammkunde.core.campaigns.stats`):
  Newcombe–Wilson for conversion, Welch t for revenue per member. **Incremental revenue** = the
  revenue-per-member uplift × treatment members (its interval scales the same way);
  **net incremental revenue** = incremental revenue − discount cost.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from stammkunde.core.campaigns.assign import CAPPED, HOLDOUT, TREATMENT
from stammkunde.core.campaigns.define import FIXED
from stammkunde.core.campaigns.stats import Interval, conversion_uplift, mean_uplift
from stammkunde.core.campaigns.targets import format_target, valid_order_filter
from stammkunde.core.models import Assignment, Campaign, Order, OrderDiscount, Refund
from stammkunde.core.money import cents
from stammkunde.core.timeutil import epoch_seconds
from stammkunde.core.timeutil import now as utcnow

DEFAULT_WINDOW_DAYS = 30
SMALL_ARM = 100
HUNDRED = Decimal(100)

#: push outcomes after which a treatment member has no code in the shop
NO_CODE = ("failed", "skipped")


def discount_on(campaign: Campaign, order_total: Decimal) -> Decimal:
    """Return the discount a redeemed order cost: percentage of its total or the capped amount."""
    if campaign.offer_kind == FIXED:
        return min(campaign.offer_value, order_total)
    return cents(order_total * campaign.offer_value / HUNDRED)


def window_of(campaign: Campaign, days: int) -> tuple[datetime, datetime] | None:
    """Return the measurement window (start, end) or None before the campaign was assigned."""
    if campaign.assigned_at is None:
        return None
    start = max(campaign.assigned_at, campaign.starts_at)
    return start, start + timedelta(days=days)


@dataclass
class ArmResult:
    """What one arm did in the window."""

    members: int = 0
    converted: int = 0
    orders: int = 0
    net_revenue: Decimal = Decimal(0)
    redemptions: int = 0
    redeemers: int = 0
    discount_cost: Decimal = Decimal(0)

    def as_dict(self) -> dict[str, Any]:
        """Return the arm's figures with rates; money as two-decimal strings."""
        n = self.members
        return {
            "members": n,
            "converted": self.converted,
            "conversion_rate": round(self.converted / n, 6) if n else None,
            "orders": self.orders,
            "net_revenue": str(cents(self.net_revenue)),
            "revenue_per_member": str(cents(self.net_revenue / n)) if n else None,
            "redemptions": self.redemptions,
            "redeemers": self.redeemers,
            "redemption_rate": round(self.redeemers / n, 6) if n else None,
            "discount_cost": str(cents(self.discount_cost)),
        }


def _orders_in_window(session: Session, campaign: Campaign, start: datetime, end: datetime,
                      as_of: datetime) -> list[Any]:
    """Valid orders of the campaign's members in [start, end): id, person, total, refunded."""
    members = select(Assignment.person_id).where(
        Assignment.campaign_id == campaign.id, Assignment.arm != CAPPED
    )
    refunded = (
        select(Refund.order_id, func.sum(Refund.amount).label("refunded"))
        .join(Order, Order.id == Refund.order_id)
        .where(Order.shop_id == campaign.shop_id, Refund.created_ts <= epoch_seconds(as_of))
        .group_by(Refund.order_id)
        .subquery()
    )
    return list(session.execute(
        select(Order.id, Order.person_id, Order.total, func.coalesce(refunded.c.refunded, 0))
        .outerjoin(refunded, refunded.c.order_id == Order.id)
        .where(
            valid_order_filter(campaign.shop_id, as_of), Order.person_id.in_(members),
            Order.created_ts >= epoch_seconds(start), Order.created_ts < epoch_seconds(end),
        )
    ))


def campaign_report(session: Session, campaign: Campaign, *,
                    window_days: int = DEFAULT_WINDOW_DAYS,
                    now: datetime | None = None) -> dict[str, Any]:
    """Measure a pushed campaign against its holdout over ``window_days`` after the push."""
    from stammkunde.core.errors import FieldError, UserError

    now = (now or utcnow()).replace(microsecond=0)
    if window_days < 1:
        raise FieldError("{window_days} must be at least 1")
    window = window_of(campaign, window_days)
    if window is None:
        raise UserError(f"campaign {campaign.id} has not been pushed yet "
                        f"(`stammkunde campaign push {campaign.id}`)")
    start, end = window
    arms: dict[int, tuple[str, str | None]] = {}
    without_code = 0
    for person, arm, key, push_status in session.execute(
        select(Assignment.person_id, Assignment.arm, Assignment.code_key, Assignment.push_status)
        .where(Assignment.campaign_id == campaign.id)
    ):
        # only treatment members whose code is in the shop received the offer: a member whose
        # code failed or was skipped (a guest on Shopify) is left out of the measurement
        if arm == TREATMENT and push_status in NO_CODE:
            without_code += 1
            continue
        arms[person] = (arm, key)
    orders = _orders_in_window(session, campaign, start, end, now)
    codes: dict[int, set[str]] = defaultdict(set)
    order_ids = [o[0] for o in orders]
    for i in range(0, len(order_ids), 500):
        for oid, key in session.execute(
            select(OrderDiscount.order_id, OrderDiscount.code_key)
            .where(OrderDiscount.order_id.in_(order_ids[i : i + 500]))
        ):
            codes[oid].add(key)
    revenue: dict[int, Decimal] = defaultdict(Decimal)
    results = {TREATMENT: ArmResult(), HOLDOUT: ArmResult()}
    redeemers: set[int] = set()
    for oid, person, total, refunded in orders:
        if person not in arms:
            continue
        arm, key = arms[person]
        res = results[arm]
        res.orders += 1
        revenue[person] += total - refunded
        if key is not None and key in codes.get(oid, ()):
            res.redemptions += 1
            res.discount_cost += discount_on(campaign, total)
            redeemers.add(person)
    capped = 0
    per_member: dict[str, list[float]] = {TREATMENT: [], HOLDOUT: []}
    for person, (arm, _key) in arms.items():
        if arm == CAPPED:
            capped += 1
            continue
        res = results[arm]
        res.members += 1
        res.converted += person in revenue
        res.redeemers += person in redeemers
        res.net_revenue += revenue.get(person, Decimal(0))
        per_member[arm].append(float(revenue.get(person, 0)))
    t, h = results[TREATMENT], results[HOLDOUT]
    conversion = conversion_uplift(t.converted, t.members, h.converted, h.members)
    rpm = mean_uplift(np.array(per_member[TREATMENT]), np.array(per_member[HOLDOUT]))
    incremental = _scaled(rpm, t, h)
    net = {k: (None if v is None else str(cents(Decimal(v) - t.discount_cost)))
           for k, v in incremental.items()}
    return {
        "campaign": campaign.id,
        "name": campaign.name,
        "shop": campaign.shop.name,
        "currency": campaign.shop.currency,
        "target": format_target(campaign.target),
        "window": {"start": _iso(start), "end": _iso(end), "days": window_days,
                   "complete": now >= end},
        "capped": capped,
        "without_code": without_code,
        "treatment": t.as_dict(),
        "holdout": h.as_dict(),
        "uplift": {"conversion_rate": conversion.as_dict(),
                   "revenue_per_member": rpm.as_dict()},
        "incremental_revenue": incremental,
        "discount_cost": str(cents(t.discount_cost)),
        "net_incremental_revenue": net,
        "notes": _notes(campaign, t, h, now, end, without_code),
    }


def _scaled(rpm: Interval, t: ArmResult, h: ArmResult) -> dict[str, str | None]:
    """Incremental revenue: the per-member uplift (exact for the estimate) × treatment members."""
    if rpm.estimate is None or not t.members or not h.members:
        return {"estimate": None, "low": None, "high": None}
    exact = (t.net_revenue / t.members - h.net_revenue / h.members) * t.members
    return {
        "estimate": str(cents(exact)),
        "low": str(cents(Decimal(str(rpm.low)) * t.members)),
        "high": str(cents(Decimal(str(rpm.high)) * t.members)),
    }


def _notes(campaign: Campaign, t: ArmResult, h: ArmResult, now: datetime,
           end: datetime, without_code: int = 0) -> list[str]:
    notes = []
    if without_code:
        notes.append(f"{without_code} treatment member(s) whose code is not in the shop "
                     "(failed or skipped) are left out of the measurement")
    if now < end:
        notes.append(f"the window is still open until {_iso(end)}: figures will change")
    if h.members == 0:
        notes.append("no holdout: the uplift cannot be measured")
    elif h.members < SMALL_ARM:
        notes.append(f"only {h.members} holdout members: intervals are wide; "
                     "a larger holdout or audience narrows them")
    if campaign.offer_kind != FIXED:
        notes.append("discount cost is the percentage of the paid order total")
    return notes


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")
