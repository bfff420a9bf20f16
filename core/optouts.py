"""Marketing opt-outs: a person asked a shop for no more offers; every later campaign skips them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from stammkunde.core.models import Campaign, Person, Shop
from stammkunde.core.offer_models import MarketingOptOut
from stammkunde.core.timeutil import now as utcnow

SOURCES = ("link", "one-click")


def record_optout(session: Session, shop_id: int, person_id: int, campaign_id: int | None,
                  source: str, at: datetime | None = None) -> bool:
    """Record the opt-out once (in the caller's transaction); False when it was already there.

    Unknown shops or persons (e.g. removed by a privacy request since the e-mail went out) are
    ignored and also answer False; a campaign that no longer exists is not linked.
    """
    if source not in SOURCES:
        raise ValueError(f"unknown opt-out source {source!r}")
    if session.get(Shop, shop_id) is None or session.get(Person, person_id) is None:
        return False
    if session.scalar(select(MarketingOptOut.id).where(
            MarketingOptOut.shop_id == shop_id, MarketingOptOut.person_id == person_id)):
        return False
    if campaign_id is not None and session.get(Campaign, campaign_id) is None:
        campaign_id = None
    session.add(MarketingOptOut(shop_id=shop_id, person_id=person_id, campaign_id=campaign_id,
                                source=source, created_at=at or utcnow()))
    session.flush()
    return True


def is_opted_out(session: Session, shop_id: int, person_id: int) -> bool:
    """Return True when the person opted out of the shop's offers."""
    return session.scalar(select(MarketingOptOut.id).where(
        MarketingOptOut.shop_id == shop_id, MarketingOptOut.person_id == person_id)) is not None
