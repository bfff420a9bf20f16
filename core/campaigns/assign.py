"""Who gets what: the frequency cap, the holdout draw and the per-person discount codes.

Rules (README, "Campaigns"):

- **Frequency cap**: a person who was offered something by *another* campaign (of any shop: the
  cap counts per Person, one human across shops) within the campaign's ``cap_days`` before the
  assignment instant is *capped*: left out of both arms, so treatment and holdout stay comparable.
- **Holdout**: every other member draws ``u = int(sha256("stammkunde-holdout:<campaign id>:<person
  id>")[:8]) / 2**64``, uniform in [0, 1); ``u < holdout share`` puts them in the holdout, else in
  treatment. The draw depends on nothing else, so a re-run or a dry run gives the same arms.
- **Codes**: ``<prefix>-`` + the first 10 base32 characters of HMAC-SHA256(campaign secret,
  "<campaign id>:<person id>"): unguessable without the secret stored with the campaign, and the
  same on every run, so a resumed push re-sends the same code and the shop answers ``exists``.
  A campaign with a shared code gives every treatment member that code.
- Recurring plays offer each person at most once: members who were in the treatment or holdout
  of an earlier instance of the same recurring campaign are left out of later ones.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from stammkunde.core.campaigns.targets import TargetKinds, TargetMember, resolve_target
from stammkunde.core.models import Assignment, Campaign, ContactLog

CHUNK = 500
TREATMENT, HOLDOUT, CAPPED = "treatment", "holdout", "capped"
CODE_CHARS = 10


def holdout_draw(campaign_id: int, person_id: int) -> float:
    """Return the person's uniform draw in [0, 1) for this campaign (sha256 of both ids)."""
    digest = hashlib.sha256(f"stammkunde-holdout:{campaign_id}:{person_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def in_holdout(campaign_id: int, person_id: int, share: float) -> bool:
    """Return True when the person belongs to the campaign's holdout."""
    return holdout_draw(campaign_id, person_id) < share


def member_code(secret: str, prefix: str, campaign_id: int, person_id: int) -> str:
    """Return the person's deterministic discount code for the campaign."""
    mac = hmac.new(secret.encode(), f"{campaign_id}:{person_id}".encode(), hashlib.sha256)
    return f"{prefix}-{base64.b32encode(mac.digest()).decode()[:CODE_CHARS]}"


def code_for(campaign: Campaign, person_id: int) -> str:
    """Return the code a treatment member of the campaign gets (shared or their own)."""
    if campaign.shared_code:
        return campaign.shared_code
    return member_code(campaign.code_secret, campaign.code_prefix, campaign.id, person_id)


@dataclass(frozen=True)
class PlannedMember:
    """A targeted person with their arm, code (treatment only) and what capped them."""

    member: TargetMember
    arm: str
    code: str | None = None
    capped_by: int | None = None
    capped_at: datetime | None = None


def recent_contacts(session: Session, person_ids: Sequence[int], campaign_id: int,
                    since: datetime, until: datetime) -> dict[int, tuple[int, datetime]]:
    """Return person → (campaign, time) of their latest contact by another campaign in a window."""
    found: dict[int, tuple[int, datetime]] = {}
    ids = sorted(set(person_ids))
    for i in range(0, len(ids), CHUNK):
        rows = session.execute(
            select(ContactLog.person_id, ContactLog.campaign_id, ContactLog.contacted_at)
            .where(
                ContactLog.person_id.in_(ids[i : i + CHUNK]),
                ContactLog.campaign_id != campaign_id,
                ContactLog.contacted_at > since, ContactLog.contacted_at <= until,
            )
            .order_by(ContactLog.contacted_at)
        )
        for person, other, when in rows:
            found[person] = (other, when)
    return found


def earlier_instance_members(session: Session, campaign: Campaign) -> set[int]:
    """Return persons already in an arm of an earlier instance of the same recurring play."""
    if campaign.parent_id is None:
        return set()
    siblings = select(Campaign.id).where(
        Campaign.parent_id == campaign.parent_id, Campaign.id != campaign.id
    )
    return set(session.scalars(
        select(Assignment.person_id).where(
            Assignment.campaign_id.in_(siblings), Assignment.arm != CAPPED
        )
    ))


def plan_members(session: Session, campaign: Campaign, as_of: datetime,
                 kinds: TargetKinds | None = None) -> list[PlannedMember]:
    """Resolve the target and assign arms and codes as a push at ``as_of`` would (no writes)."""
    members = resolve_target(session, campaign.shop, campaign.target, as_of, kinds)
    seen = earlier_instance_members(session, campaign)
    members = [m for m in members if m.person_id not in seen]
    contacts: dict[int, tuple[int, datetime]] = {}
    if campaign.cap_days > 0:
        contacts = recent_contacts(session, [m.person_id for m in members], campaign.id,
                                   as_of - timedelta(days=campaign.cap_days), as_of)
    out = []
    for m in members:
        if m.person_id in contacts:
            other, when = contacts[m.person_id]
            out.append(PlannedMember(m, CAPPED, capped_by=other, capped_at=when))
        elif in_holdout(campaign.id, m.person_id, campaign.holdout):
            out.append(PlannedMember(m, HOLDOUT))
        else:
            out.append(PlannedMember(m, TREATMENT, code=code_for(campaign, m.person_id)))
    return out


def record_assignments(session: Session, campaign: Campaign, planned: Sequence[PlannedMember],
                       at: datetime, *, tag: str | None = None) -> None:
    """Store every assignment and the treatment contacts in the caller's transaction."""
    rows = []
    contacts = []
    for p in planned:
        treated = p.arm == TREATMENT
        rows.append({
            "campaign_id": campaign.id, "person_id": p.member.person_id,
            "customer_id": p.member.customer_id,
            "customer_platform_id": p.member.customer_platform_id, "arm": p.arm,
            "code": p.code, "code_key": p.code.casefold() if p.code else None,
            "capped_by": p.capped_by, "push_status": "pending" if treated else None,
            "tag_status": "pending" if treated and tag else None,
        })
        if treated:
            contacts.append({"person_id": p.member.person_id, "campaign_id": campaign.id,
                             "shop_id": campaign.shop_id, "contacted_at": at})
    for table, values in ((Assignment, rows), (ContactLog, contacts)):
        if values:  # executemany: batched into multi-row statements by the driver layer
            session.execute(insert(table.__table__), values)
    campaign.assigned_at = at
    session.flush()


def arm_counts(session: Session, campaign_id: int) -> dict[str, int]:
    """Return how many stored assignments each arm has."""
    rows = session.execute(
        select(Assignment.arm, func.count()).where(Assignment.campaign_id == campaign_id)
        .group_by(Assignment.arm)
    )
    counts = {TREATMENT: 0, HOLDOUT: 0, CAPPED: 0}
    counts.update({arm: int(n) for arm, n in rows})
    return counts
