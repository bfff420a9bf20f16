"""Create, find and list campaigns, refusing bad input with one line before anything is stored."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from stammkunde.core.campaigns.targets import TargetKinds, check_target, parse_target
from stammkunde.core.campaigns.templates import get_template, parse_schedule
from stammkunde.core.errors import FieldError, NotFound, UserError
from stammkunde.core.models import Campaign, Shop
from stammkunde.core.timeutil import now as utcnow

MAX_HOLDOUT = 0.9
DEFAULT_HOLDOUT = 0.1
DEFAULT_VALID_DAYS = 14
PERCENTAGE, FIXED = "percentage", "fixed_amount"
SHARED_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{2,63}$")
PREFIX = re.compile(r"^[A-Z0-9]{1,12}$")


@dataclass(frozen=True)
class CampaignSpec:
    """What a merchant asks for on ``campaign create`` (None: use the template or default)."""

    name: str | None = None
    target: str | None = None
    percent: Decimal | None = None
    amount: Decimal | None = None
    minimum_order: Decimal | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    shared_code: str | None = None
    holdout: float | None = None
    cap_days: int | None = None
    code_prefix: str | None = None
    schedule: str | None = None
    valid_days: int | None = None
    template: str | None = None
    tag: str | None = None


def with_template(spec: CampaignSpec) -> CampaignSpec:
    """Fill the spec's gaps from its template (explicit options win)."""
    if spec.template is None:
        return spec
    t = get_template(spec.template)
    offer_given = spec.percent is not None or spec.amount is not None
    return replace(
        spec,
        template=t.name,
        name=spec.name or t.name,
        target=spec.target or t.target,
        percent=spec.percent if offer_given else t.percent,
        amount=spec.amount if offer_given else t.amount,
        schedule=spec.schedule if spec.schedule is not None else t.schedule,
        valid_days=spec.valid_days or t.valid_days,
        holdout=spec.holdout if spec.holdout is not None else t.holdout,
    )


def _offer(spec: CampaignSpec) -> tuple[str, Decimal]:
    if (spec.percent is None) == (spec.amount is None):
        raise FieldError("give exactly one offer: {percent} or {amount}")
    if spec.percent is not None:
        if not Decimal(0) < spec.percent <= Decimal(100):
            raise FieldError("{percent} must be above 0 and at most 100, not {value}",
                             value=spec.percent)
        return PERCENTAGE, spec.percent
    assert spec.amount is not None
    if spec.amount <= 0:
        raise FieldError("{amount} must be above 0, not {value}", value=spec.amount)
    return FIXED, spec.amount


def create_campaign(session: Session, shop: Shop, spec: CampaignSpec,
                    now: datetime | None = None, kinds: TargetKinds | None = None) -> Campaign:
    """Validate a campaign spec and store it as a draft (or a scheduled recurring play).

    ``kinds`` is the target-kind registry (the plugin manager's); None knows the built-ins.
    """
    now = (now or utcnow()).replace(microsecond=0)
    spec = with_template(spec)
    if shop.uninstalled_at is not None:
        raise UserError(f"shop {shop.name!r} is uninstalled")
    name = (spec.name or "").strip()
    if not name or len(name) > 200:
        raise FieldError("{name} is required (at most 200 characters)")
    if not spec.target:
        raise FieldError("{target} is required (e.g. lapsed:90)")
    target = parse_target(spec.target, kinds)
    check_target(shop, target, kinds)
    kind, value = _offer(spec)
    if spec.minimum_order is not None and spec.minimum_order < 0:
        raise FieldError("{minimum_order} must not be negative, not {value}",
                         value=spec.minimum_order)
    holdout = DEFAULT_HOLDOUT if spec.holdout is None else float(spec.holdout)
    if not 0 <= holdout <= MAX_HOLDOUT:
        raise FieldError("{holdout} must be between 0 and {most}, not {value}",
                         most=MAX_HOLDOUT, value=spec.holdout)
    cap_days = spec.cap_days
    if cap_days is None:
        from stammkunde.core.campaigns.segment_targets import retention_settings

        cap_days = retention_settings(shop).frequency_cap_days
    if cap_days < 0:
        raise FieldError("{cap_days} must not be negative, not {value}", value=cap_days)
    starts = spec.starts_at or now
    schedule = spec.schedule.strip().lower() if spec.schedule else None
    if schedule in ("", "none"):
        schedule = None
    valid_days = None
    if schedule is not None:
        parse_schedule(schedule)
        if spec.ends_at is not None:
            raise FieldError("a scheduled campaign takes {valid_days} (each instance's "
                             "validity), not {ends_at}")
        valid_days = spec.valid_days or DEFAULT_VALID_DAYS
        if valid_days < 1:
            raise FieldError("{valid_days} must be at least 1")
    elif spec.valid_days is not None:
        if spec.ends_at is not None:
            raise FieldError("give {ends_at} or {valid_days}, not both")
        if spec.valid_days < 1:
            raise FieldError("{valid_days} must be at least 1")
    ends = spec.ends_at
    if ends is None and schedule is None and spec.valid_days is not None:
        ends = starts + timedelta(days=spec.valid_days)
    if ends is not None:
        if ends <= now:
            raise UserError(f"the offer window has already ended ({ends.isoformat()})")
        if ends <= starts:
            raise FieldError("{ends_at} must be after {starts_at}")
    shared = spec.shared_code.strip() if spec.shared_code else None
    if shared is not None and schedule is not None:
        raise FieldError("a scheduled campaign gives each instance its own unique codes; "
                         "drop {shared_code}")
    if shared is not None:
        if not SHARED_CODE.match(shared):
            raise UserError(f"shared code {shared!r} must be 3–64 letters, digits, '-' or '_'")
        clash = session.scalar(
            select(Campaign.id).where(Campaign.shop_id == shop.id,
                                      func.lower(Campaign.shared_code) == shared.lower())
        )
        if clash is not None:
            raise UserError(f"shared code {shared!r} is already used by campaign {clash}")
    prefix = (spec.code_prefix or "SK").strip().upper()
    if not PREFIX.match(prefix):
        raise UserError(f"code prefix must be 1–12 letters or digits, not {spec.code_prefix!r}")
    campaign = Campaign(
        shop_id=shop.id, name=name, template=spec.template, target=target, offer_kind=kind,
        offer_value=value, minimum_order=spec.minimum_order, starts_at=starts, ends_at=ends,
        valid_days=valid_days, shared_code=shared, code_prefix=prefix,
        code_secret=secrets.token_hex(16), holdout=holdout, cap_days=cap_days,
        tag=spec.tag, status="scheduled" if schedule else "draft", schedule=schedule,
        next_run_at=starts if schedule else None, created_at=now,
    )
    campaign.shop = shop
    session.add(campaign)
    session.flush()
    return campaign


def get_campaign(session: Session, campaign_id: int | str) -> Campaign:
    """Return the campaign with this id or raise NotFound naming it."""
    missing = NotFound(f"unknown campaign {campaign_id!r} (see `stammkunde campaign list`)")
    try:
        key = int(campaign_id)
    except (TypeError, ValueError):
        raise missing from None
    campaign = session.get(Campaign, key)
    if campaign is None:
        raise missing
    return campaign


def list_campaigns(session: Session, shop: Shop | None = None) -> list[Campaign]:
    """Return campaigns (of one shop, or all), newest first."""
    query = select(Campaign).order_by(Campaign.id.desc())
    if shop is not None:
        query = query.where(Campaign.shop_id == shop.id)
    return list(session.scalars(query))


def spawn_instance(session: Session, parent: Campaign, at: datetime) -> Campaign:
    """Create the instance of a scheduled campaign that runs at ``at`` (a draft to push)."""
    assert parent.schedule is not None and parent.valid_days is not None
    instance = Campaign(
        shop_id=parent.shop_id, name=f"{parent.name} {at.date().isoformat()}",
        template=parent.template, target=dict(parent.target), offer_kind=parent.offer_kind,
        offer_value=parent.offer_value, minimum_order=parent.minimum_order, starts_at=at,
        ends_at=at + timedelta(days=parent.valid_days), shared_code=None,
        code_prefix=parent.code_prefix, code_secret=secrets.token_hex(16),
        holdout=parent.holdout, cap_days=parent.cap_days, tag=parent.tag, status="draft",
        parent_id=parent.id, created_at=at,
    )
    instance.shop = parent.shop
    session.add(instance)
    step = parse_schedule(parent.schedule)
    nxt = parent.next_run_at or at
    while nxt <= at:  # missed runs are skipped, not replayed as a backlog
        nxt += step
    parent.next_run_at = nxt
    session.flush()
    return instance
