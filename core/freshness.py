"""Live numbers: a change to a shop's data marks its cached numbers stale; a refresh clears it.

Whoever stores data a report depends on — a processed webhook delivery, a finished sync, a file
or events import — calls :func:`mark_stale` in the same transaction. The first change after a
refresh records when the numbers fell behind (``stale_since``); later ones write nothing, so a
burst of deliveries costs one small statement each and no lock between them. The application
queues one debounced refresh per stale shop (``stammkunde.app.jobs.refresh_stale_shops``), and
every refresh starts with :func:`claim_stale` in a transaction of its own: changes committed
before the claim are in the numbers it computes, changes committed after it mark the shop stale
again.

On PostgreSQL the check takes a share lock on the shop's row (writers do not wait for each
other), so a refresh's claim waits for the transactions that saw the shop stale and then sees
their data; on SQLite writers are serialised anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from stammkunde.core.job_models import CachedResult, ShopFreshness
from stammkunde.core.timeutil import now


def mark_stale(session: Session, shop_id: int, at: datetime | None = None) -> None:
    """Record that the shop's data changed after its numbers were computed."""
    stale = session.execute(select(ShopFreshness.stale_since)
                            .where(ShopFreshness.shop_id == shop_id)
                            .with_for_update(read=True)).first()
    if stale is not None and stale[0] is not None:
        return
    at = at or now()
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = insert(ShopFreshness).values(shop_id=shop_id, stale_since=at)
        session.execute(stmt.on_conflict_do_update(
            index_elements=[ShopFreshness.shop_id],
            set_={"stale_since": func.coalesce(ShopFreshness.stale_since,
                                               stmt.excluded.stale_since)}))
    elif stale is None:
        session.add(ShopFreshness(shop_id=shop_id, stale_since=at))
        session.flush()
    else:
        session.execute(update(ShopFreshness).where(ShopFreshness.shop_id == shop_id,
                                                    ShopFreshness.stale_since.is_(None))
                        .values(stale_since=at))


def claim_stale(session: Session, shop_id: int) -> datetime | None:
    """Start a refresh: clear the stale mark and return it (commit before computing)."""
    row = session.execute(select(ShopFreshness).where(ShopFreshness.shop_id == shop_id)
                          .with_for_update()).scalar_one_or_none()
    if row is None:
        return None
    since, row.stale_since = row.stale_since, None
    session.flush()
    return since


@dataclass(frozen=True)
class Freshness:
    """When a shop's cached numbers were computed and, if newer data waits, since when."""

    computed_at: datetime | None
    stale_since: datetime | None

    @property
    def stale(self) -> bool:
        """True when stored data is newer than the numbers."""
        return self.stale_since is not None


def freshness(session: Session, shop_id: int, kind: str = "report") -> Freshness:
    """Return when the shop's cached ``kind`` was computed and whether newer data waits."""
    computed = session.scalar(select(CachedResult.computed_at).where(
        CachedResult.shop_id == shop_id, CachedResult.kind == kind))
    stale = session.scalar(select(ShopFreshness.stale_since)
                           .where(ShopFreshness.shop_id == shop_id))
    return Freshness(computed, stale)


def stale_shops(session: Session, changed_before: datetime) -> list[tuple[int, str | None]]:
    """Return (shop id, last queued refresh job id) of shops stale since before an instant."""
    rows = session.execute(select(ShopFreshness.shop_id, ShopFreshness.refresh_job_id)
                           .where(ShopFreshness.stale_since <= changed_before)
                           .order_by(ShopFreshness.stale_since))
    return [(shop_id, job_id) for shop_id, job_id in rows]


def claim_refresh_job(session: Session, shop_id: int, seen: str | None, job_id: str) -> bool:
    """Record ``job_id`` as the shop's queued refresh unless another process just did."""
    column = ShopFreshness.refresh_job_id
    result = session.execute(update(ShopFreshness).where(
        ShopFreshness.shop_id == shop_id,
        column.is_(None) if seen is None else column == seen).values(refresh_job_id=job_id))
    return bool(result.rowcount)  # type: ignore[attr-defined]
