"""The demo's customers answer a campaign: simulated orders over the offer window, known effect.

Every member of the treatment and holdout arms buys in the window with a base probability; a
treatment member buys with the base probability plus a known uplift (the offer's true effect).
Order values are Gamma distributed; a treatment buyer uses their code with a known probability
when the order reaches the minimum order. Because the model is known, so is the true effect: the
conversion uplift is ``uplift`` and the revenue uplift per member is computed in closed form
(:func:`true_revenue_uplift`), so the campaign report's interval can be checked against it.

The demo shop's history ends in the past while a campaign starts now; so that its measurement
window is complete, the responses *fast-forward* the campaign: its dates (offer window,
assignment, push, contacts, codes) move back until the window ends at the moment of the run.
Nothing else happened in the simulated shop meanwhile, so this is the campaign a month later.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from stammkunde.core.campaigns import CAPPED, TREATMENT, get_campaign
from stammkunde.core.campaigns.define import FIXED
from stammkunde.core.campaigns.report import DEFAULT_WINDOW_DAYS, window_of
from stammkunde.core.errors import FieldError, UserError
from stammkunde.core.models import Assignment, Campaign, ContactLog, Customer, Order
from stammkunde.core.money import cents
from stammkunde.core.offer_models import Delivery, SimulatedDiscount
from stammkunde.core.records import OrderRecord
from stammkunde.core.store import store_records
from stammkunde.core.timeutil import now as utcnow

HUNDRED = Decimal(100)


@dataclass(frozen=True)
class ResponseModel:
    """How the demo's members answer an offer (probabilities per member over the window)."""

    base_rate: float = 0.06  # members who buy in the window anyway
    uplift: float = 0.05  # extra share of treatment members who buy because of the offer
    redeem_share: float = 0.8  # treatment buyers who use their code (if the order qualifies)
    order_shape: float = 4.0  # Gamma shape of an order's value before the discount
    order_mean: float = 60.0  # mean order value before the discount


def _gamma(shape: float, scale: float) -> Any:
    from scipy import stats  # (here: 66 MiB that only the demo's responses need)

    return stats.gamma(shape, scale=scale)


def expected_discount(model: ResponseModel, kind: str, value: Decimal,
                      minimum: Decimal | None) -> float:
    """Return E[discount × 1{order ≥ minimum}] for one buying treatment member's order value."""
    k, theta = model.order_shape, model.order_mean / model.order_shape
    m = float(minimum or 0)
    x, x1 = _gamma(k, theta), _gamma(k + 1, theta)  # E[X 1{a<X<b}] = kθ (F1(b) - F1(a))
    if kind != FIXED:
        return float(value) / 100 * k * theta * x1.sf(m)
    a = float(value)
    if a <= m:
        return a * x.sf(m)
    return k * theta * (x1.cdf(a) - x1.cdf(m)) + a * x.sf(a)


def true_revenue_uplift(model: ResponseModel, kind: str, value: Decimal,
                        minimum: Decimal | None) -> float:
    """Return the true revenue uplift per member: E[treatment revenue] − E[holdout revenue]."""
    paid_treated = model.order_mean - model.redeem_share * expected_discount(
        model, kind, value, minimum)
    return (model.base_rate + model.uplift) * paid_treated - model.base_rate * model.order_mean


@dataclass(frozen=True)
class SimulatedOrder:
    """One member's simulated order in the window."""

    person_id: int
    arm: str
    record: OrderRecord
    code: str | None  # the member's code, when the order redeems it
    gross: Decimal  # the order's value before the discount


def _draw(seed: int, campaign_id: int, person_id: int) -> np.random.Generator:
    # one stream per member: a member's answer does not depend on who else is in the campaign
    digest = hashlib.sha256(f"stammkunde-demo-respond:{seed}:{campaign_id}:{person_id}".encode())
    return np.random.default_rng(int.from_bytes(digest.digest()[:8], "big"))


def _discount(campaign: Campaign, gross: Decimal) -> Decimal:
    if campaign.offer_kind == FIXED:
        return min(campaign.offer_value, gross)
    return cents(gross * campaign.offer_value / HUNDRED)


def platform_order_prefix(campaign_id: int) -> str:
    """Return the prefix of the platform ids of a campaign's simulated orders."""
    return f"demo-c{campaign_id}-"


def simulate_orders(session: Session, campaign: Campaign, start: datetime, end: datetime,
                    model: ResponseModel, seed: int) -> list[SimulatedOrder]:
    """Draw the members' orders in [start, end) (no writes)."""
    rows = session.execute(
        select(Assignment.person_id, Assignment.arm, Assignment.code, Assignment.push_status,
               Customer.platform_id, Customer.is_guest, Customer.email)
        .join(Customer, Customer.id == Assignment.customer_id)
        .where(Assignment.campaign_id == campaign.id, Assignment.arm != CAPPED)
        .order_by(Assignment.person_id)
    )
    span = (end - start).total_seconds()
    k, theta = model.order_shape, model.order_mean / model.order_shape
    out = []
    for person, arm, code, push_status, platform_id, is_guest, email in rows:
        rng = _draw(seed, campaign.id, person)
        u_buy, u_time, u_redeem = rng.random(3)
        treated = arm == TREATMENT
        rate = model.base_rate + (model.uplift if treated else 0.0)
        gross = max(Decimal("0.01"), Decimal(f"{rng.gamma(k, theta):.2f}"))
        if u_buy >= rate:
            continue
        at = (start + timedelta(seconds=int(u_time * (span - 1)))).replace(microsecond=0)
        usable = treated and code is not None and push_status in ("created", "exists") and (
            campaign.minimum_order is None or gross >= campaign.minimum_order)
        redeem = usable and u_redeem < model.redeem_share
        total = gross - _discount(campaign, gross) if redeem else gross
        record = OrderRecord(
            platform_id=f"{platform_order_prefix(campaign.id)}{person}", created_at=at,
            updated_at=at, total=total, currency=campaign.shop.currency,
            customer_id=None if is_guest else platform_id, email=email,
            discount_codes=(code,) if redeem and code else (), channel="online")
        out.append(SimulatedOrder(person, arm, record, code if redeem else None, gross))
    return out


def fast_forward(session: Session, campaign: Campaign, delta: timedelta) -> None:
    """Move every date of the campaign back by ``delta`` (its window then lies in the past)."""
    for attr in ("created_at", "starts_at", "ends_at", "assigned_at", "pushed_at"):
        value = getattr(campaign, attr)
        if value is not None:
            setattr(campaign, attr, value - delta)
    contacts = [{"id": i, "contacted_at": at - delta} for i, at in session.execute(
        select(ContactLog.id, ContactLog.contacted_at)
        .where(ContactLog.campaign_id == campaign.id))]
    if contacts:
        session.execute(update(ContactLog), contacts)
    assignments = list(session.execute(
        select(Assignment.id, Assignment.pushed_at, Assignment.tagged_at, Assignment.code_key)
        .where(Assignment.campaign_id == campaign.id)))
    moved = [{"id": a, "pushed_at": p - delta if p else None,
              "tagged_at": t - delta if t else None} for a, p, t, _k in assignments]
    if moved:
        session.execute(update(Assignment), moved)
    deliveries = list(session.execute(
        select(Delivery.id, Delivery.created_at, Delivery.attempted_at, Delivery.sent_at)
        .where(Delivery.campaign_id == campaign.id)))
    if deliveries:
        session.execute(update(Delivery), [
            {"id": d, "created_at": c - delta, "attempted_at": a - delta if a else None,
             "sent_at": s - delta if s else None} for d, c, a, s in deliveries])
    keys = {k for *_x, k in assignments if k}
    codes = list(session.execute(
        select(SimulatedDiscount.id, SimulatedDiscount.starts_at, SimulatedDiscount.ends_at,
               SimulatedDiscount.code_key)
        .where(SimulatedDiscount.shop_id == campaign.shop_id)))
    changed = [{"id": i, "starts_at": s - delta, "ends_at": e - delta if e else None}
               for i, s, e, key in codes if key in keys]
    if changed:
        session.execute(update(SimulatedDiscount), changed)


def respond(factory: sessionmaker[Session], campaign_id: int | str, *,
            window_days: int = DEFAULT_WINDOW_DAYS, seed: int = 42,
            model: ResponseModel | None = None,
            now: datetime | None = None) -> dict[str, Any]:
    """Simulate the members' orders over the campaign's window and store them; return the truth.

    ``redeemed_codes`` in the result lists the codes the simulated orders used, so the caller can
    count them at the (simulated) platform.
    """
    model = model or ResponseModel()
    now = (now or utcnow()).replace(microsecond=0)
    if window_days < 1:
        raise FieldError("{window_days} must be at least 1")
    with factory() as session:
        campaign = get_campaign(session, campaign_id)
        cid = campaign.id
        window = window_of(campaign, window_days)
        if window is None:
            raise UserError(f"campaign {cid} has not been pushed yet "
                            f"(`stammkunde campaign push {cid}`)")
        if session.scalar(select(exists().where(
                Order.shop_id == campaign.shop_id,
                Order.platform_id.like(f"{platform_order_prefix(cid)}%")))):
            raise UserError(f"campaign {cid} already has its simulated responses")
        start, end = window
        delta = max(end - now, timedelta(0))
        orders = simulate_orders(session, campaign, start - delta, end - delta, model, seed)
        kind, value, minimum = campaign.offer_kind, campaign.offer_value, campaign.minimum_order
    records = [o.record for o in orders]
    redeemed = [o.code for o in orders if o.code is not None]
    with factory() as session, session.begin():
        campaign = get_campaign(session, cid)
        if delta:
            fast_forward(session, campaign, delta)
        store_records(session, campaign.shop, records)
        treated = int(session.scalar(select(func.count()).where(
            Assignment.campaign_id == cid, Assignment.arm == TREATMENT)) or 0)
    per_member = true_revenue_uplift(model, kind, value, minimum)
    window_start, window_end = start - delta, end - delta
    return {
        "campaign": cid,
        "window": {"start": _iso(window_start), "end": _iso(window_end), "days": window_days},
        "moved_back_days": round(delta.total_seconds() / 86_400, 4),
        "orders": len(records),
        "treatment_orders": sum(1 for o in orders if o.arm == TREATMENT),
        "holdout_orders": sum(1 for o in orders if o.arm != TREATMENT),
        "redemptions": len(redeemed),
        "true_conversion_uplift": model.uplift,
        "true_revenue_uplift_per_member": f"{per_member:.4f}",
        "true_incremental_revenue": f"{per_member * treated:.2f}",
        "model": {"base_rate": model.base_rate, "uplift": model.uplift,
                  "redeem_share": model.redeem_share, "order_mean": model.order_mean,
                  "order_shape": model.order_shape, "seed": seed},
        "redeemed_codes": redeemed,
    }


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")
