"""The dry run: who would get what, who is held out or capped, and what it is expected to cost.

Expected cost = expected redemptions × discount per redemption, where

- expected redemptions = treatment members × the shop's past redemption rate (redeemers /
  treatment members over its earlier campaigns whose 30-day window is complete), or
  :data:`DEFAULT_REDEMPTION_RATE` (5%) for a shop without such campaigns;
- discount per redemption = percentage × the shop's average order value (or the fixed amount,
  capped at it); with a minimum order above the AOV, the minimum order is the basis.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from stammkunde.core.campaigns.assign import (
    CAPPED,
    HOLDOUT,
    TREATMENT,
    PlannedMember,
    plan_members,
)
from stammkunde.core.campaigns.define import FIXED
from stammkunde.core.campaigns.report import DEFAULT_WINDOW_DAYS, campaign_report
from stammkunde.core.campaigns.targets import TargetKinds, format_target, valid_order_filter
from stammkunde.core.models import Assignment, Campaign, Order, Refund, Shop
from stammkunde.core.money import cents
from stammkunde.core.timeutil import epoch_seconds
from stammkunde.core.timeutil import now as utcnow

DEFAULT_REDEMPTION_RATE = 0.05
HUNDRED = Decimal(100)


def average_order_value(session: Session, shop: Shop, as_of: datetime) -> Decimal | None:
    """Return the shop's AOV (net revenue / valid orders) as of an instant, None without orders."""
    ts = epoch_seconds(as_of)
    orders, gross = session.execute(
        select(func.count(), func.coalesce(func.sum(Order.total), 0))
        .where(valid_order_filter(shop.id, as_of))
    ).one()
    if not orders:
        return None
    refunded = session.scalar(
        select(func.coalesce(func.sum(Refund.amount), 0))
        .join(Order, Order.id == Refund.order_id)
        .where(valid_order_filter(shop.id, as_of), Refund.created_ts <= ts)
    )
    return (Decimal(gross) - Decimal(refunded or 0)) / orders


def past_redemption_rate(session: Session, shop: Shop, now: datetime,
                         exclude: int | None = None) -> tuple[float, int] | None:
    """Return (redeemers / treatment members, campaigns) over the shop's measured campaigns."""
    horizon = now - timedelta(days=DEFAULT_WINDOW_DAYS)
    done = session.scalars(
        select(Campaign).where(
            Campaign.shop_id == shop.id, Campaign.assigned_at.is_not(None),
            Campaign.assigned_at <= horizon, Campaign.starts_at <= horizon,
        )
    )
    redeemers = members = used = 0
    for past in done:
        if past.id == exclude:
            continue
        report = campaign_report(session, past, now=now)
        if report["treatment"]["members"]:
            redeemers += report["treatment"]["redeemers"]
            members += report["treatment"]["members"]
            used += 1
    return (redeemers / members, used) if members else None


def _member_row(p: PlannedMember) -> dict[str, Any]:
    return {
        "person_id": p.member.person_id,
        "customer_id": p.member.customer_platform_id,
        "email": p.member.email,
        "arm": p.arm,
        "code": p.code,
        "capped_by": p.capped_by,
    }


def _stored(session: Session, campaign: Campaign) -> list[dict[str, Any]]:
    from stammkunde.core.models import Customer

    rows = session.execute(
        select(Assignment, Customer.email)
        .join(Customer, Customer.id == Assignment.customer_id)
        .where(Assignment.campaign_id == campaign.id)
        .order_by(Assignment.person_id)
    )
    return [
        {"person_id": a.person_id, "customer_id": a.customer_platform_id, "email": email,
         "arm": a.arm, "code": a.code, "capped_by": a.capped_by, "push_status": a.push_status,
         "push_reason": a.push_reason}
        for a, email in rows
    ]


def offer_dict(campaign: Campaign) -> dict[str, Any]:
    """Describe the offer for JSON."""
    return {
        "kind": campaign.offer_kind,
        "value": format(campaign.offer_value.normalize(), "f"),
        "minimum_order": None if campaign.minimum_order is None else str(cents(
            campaign.minimum_order)),
        "starts_at": _iso(campaign.starts_at),
        "ends_at": _iso(campaign.ends_at),
        "shared_code": campaign.shared_code,
    }


def campaign_plan(session: Session, campaign: Campaign, now: datetime | None = None,
                  kinds: TargetKinds | None = None) -> dict[str, Any]:
    """Return the dry run of a campaign (or, once pushed, its stored assignments) with cost."""
    now = (now or utcnow()).replace(microsecond=0)
    notes = []
    if campaign.assigned_at is not None:
        members = _stored(session, campaign)
        as_of = campaign.assigned_at
    else:
        as_of = now
        members = [_member_row(p) for p in plan_members(session, campaign, now, kinds)]
        if campaign.schedule:
            for m in members:
                m["code"] = None
            notes.append("a scheduled campaign draws arms and codes per instance; this shows "
                         "whom an instance run now would target")
    counts = {TREATMENT: 0, HOLDOUT: 0, CAPPED: 0}
    for m in members:
        counts[m["arm"]] += 1
    shop = campaign.shop
    aov = average_order_value(session, shop, now)
    past = past_redemption_rate(session, shop, now, exclude=campaign.id)
    rate, source = (past[0], f"{past[1]} past campaign(s)") if past else (
        DEFAULT_REDEMPTION_RATE, "default")
    per_redemption = None
    if aov is not None:
        basis = max(aov, campaign.minimum_order or Decimal(0))
        per_redemption = (min(campaign.offer_value, basis) if campaign.offer_kind == FIXED
                          else basis * campaign.offer_value / HUNDRED)
    expected = counts[TREATMENT] * rate
    cost = None if per_redemption is None else Decimal(str(expected)) * per_redemption
    if aov is None:
        notes.append("the shop has no valid orders yet: the cost cannot be estimated")
    return {
        "campaign": campaign.id,
        "name": campaign.name,
        "shop": shop.name,
        "currency": shop.currency,
        "status": campaign.status,
        "target": format_target(campaign.target),
        "offer": offer_dict(campaign),
        "holdout_share": campaign.holdout,
        "cap_days": campaign.cap_days,
        "as_of": _iso(as_of),
        "counts": {"targeted": len(members), **counts},
        "expected": {
            "redemption_rate": round(rate, 6),
            "redemption_rate_source": source,
            "redemptions": round(expected, 2),
            "average_order_value": None if aov is None else str(cents(aov)),
            "discount_per_redemption": (None if per_redemption is None
                                        else str(cents(per_redemption))),
            "cost": None if cost is None else str(cents(cost)),
        },
        "members": members,
        "notes": notes,
    }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")
