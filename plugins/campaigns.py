"""Campaigns meet the shop: create with a capability check, push codes resumably, run schedules.

A push first stores every assignment (arm, code, pending) and the treatment contacts in one
transaction, then sends the pending codes to the adapter in batches, storing each batch's results
in its own transaction. Killed at any point and run again, it continues with what is still
pending: codes are deterministic, so a batch whose results were lost is re-sent with the same
codes and the adapter answers ``exists``; nobody is assigned or contacted twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from stammkunde.core.campaigns import (
    TREATMENT,
    CampaignSpec,
    create_campaign,
    get_campaign,
    plan_members,
    record_assignments,
    spawn_instance,
)
from stammkunde.core.campaigns.report import NO_CODE
from stammkunde.core.errors import FieldError, UserError
from stammkunde.core.models import Assignment, Campaign, Customer, Shop
from stammkunde.core.timeutil import now as utcnow
from stammkunde.plugins.adapter import (
    Capability,
    DiscountOffer,
    DiscountResult,
    DiscountTarget,
    PlatformAdapter,
)
from stammkunde.plugins.ingest import connection_for
from stammkunde.plugins.manager import PluginError, Plugins

DEFAULT_BATCH = 100
STATUSES = ("created", "exists", "failed", "skipped")
# NO_CODE (failed, skipped): push outcomes that leave a member without a code; the campaign ends
# ``partial`` and the report leaves them out
Progress = Callable[[int, int | None], None]


def require_capabilities(plugins: Plugins, shop: Shop, *, tag: str | None = None) -> \
        PlatformAdapter:
    """Return the shop's adapter, or a one-line error if it cannot create codes (or tag)."""
    adapter = plugins.platform(shop.platform)
    if Capability.DISCOUNTS not in adapter.capabilities:
        raise UserError(f"platform {shop.platform!r} of shop {shop.name!r} cannot create "
                        "discount codes, so it cannot run campaigns")
    if tag is not None and Capability.TAGS not in adapter.capabilities:
        raise FieldError("platform {platform!r} cannot tag customers; push without {tag}",
                         platform=shop.platform)
    if tag is not None and not tag.strip():
        raise FieldError("{tag} must not be empty")
    return adapter


def create_shop_campaign(session: Session, plugins: Plugins, shop: Shop, spec: CampaignSpec,
                         now: datetime | None = None) -> Campaign:
    """Create a campaign after checking that the shop's platform can carry it out."""
    require_capabilities(plugins, shop, tag=spec.tag)
    return create_campaign(session, shop, spec, now, plugins.target_kinds())


def offer_for(campaign: Campaign) -> DiscountOffer:
    """Return the adapter's view of the campaign's offer."""
    return DiscountOffer(
        title=campaign.name, kind=campaign.offer_kind, value=campaign.offer_value,
        starts_at=campaign.starts_at, ends_at=campaign.ends_at,
        minimum_order=campaign.minimum_order, code_prefix=campaign.code_prefix,
        shared_code=campaign.shared_code,
    )


@dataclass
class PushResult:
    """What one push run did and what is left."""

    campaign: int
    assigned: dict[str, int] = field(default_factory=dict)  # arms stored by this run
    calls: int = 0
    created: int = 0
    exists: int = 0
    failed: int = 0
    skipped: int = 0
    tagged: int = 0
    tag_failed: int = 0
    pending: int = 0
    stopped: bool = False
    status: str = ""
    #: the whole campaign so far (every run): treatment members per push status, and the members
    #: without a code (or whose tag failed) counted per status and reason
    outcome: dict[str, int] = field(default_factory=dict)
    reasons: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Return the result as JSON-ready data."""
        return dict(self.__dict__)


def push_campaign(
    factory: sessionmaker[Session], plugins: Plugins, campaign_id: int | str, *,
    secret_key: str | None = None, tag: str | None = None, batch_size: int = DEFAULT_BATCH,
    limit_calls: int | None = None, retry_failed: bool = False,
    progress: Progress | None = None, now: datetime | None = None,
) -> PushResult:
    """Assign (once), then push pending codes and tags through the adapter; resumable."""
    now = (now or utcnow()).replace(microsecond=0)
    if batch_size < 1:
        raise FieldError("{batch_size} must be at least 1")
    if limit_calls is not None and limit_calls < 0:
        raise FieldError("{limit_calls} must not be negative")
    try:
        with factory() as session, session.begin():
            campaign = get_campaign(session, campaign_id)
            # one push at a time per campaign (PostgreSQL row lock; SQLite locks the database)
            session.execute(select(Campaign.id).where(Campaign.id == campaign.id).with_for_update())
            session.refresh(campaign)
            shop = campaign.shop
            cid = campaign.id
            if campaign.schedule:
                raise UserError(f"campaign {cid} is a scheduled play: its instances are pushed by "
                                "`stammkunde campaign run-due`")
            if shop.uninstalled_at is not None:
                raise UserError(f"shop {shop.name!r} is uninstalled")
            tag = tag.strip() if tag is not None else None
            adapter = require_capabilities(plugins, shop, tag=tag or campaign.tag)
            plugin_name = plugins.plugin_of(shop.platform)
            conn = connection_for(shop, secret_key)
            result = PushResult(campaign=cid)
            unfinished = campaign.assigned_at is None or _count_pending(session, cid, retry_failed)
            if unfinished and campaign.ends_at is not None and campaign.ends_at <= now:
                raise UserError(f"the offer window of campaign {cid} ended at "
                                f"{campaign.ends_at.isoformat()}; nothing was pushed")
            if campaign.assigned_at is None:
                planned = plan_members(session, campaign, now, plugins.target_kinds())
                record_assignments(session, campaign, planned, now, tag=tag)
                for p in planned:
                    result.assigned[p.arm] = result.assigned.get(p.arm, 0) + 1
                campaign.status = "pushing"
                campaign.tag = tag
            elif tag is not None and tag != campaign.tag:
                campaign.tag = tag
                session.execute(
                    update(Assignment)
                    .where(Assignment.campaign_id == cid, Assignment.arm == TREATMENT)
                    .values(tag_status="pending", tagged_at=None)
                )
            offer = offer_for(campaign)
            tag = campaign.tag
    except IntegrityError:
        raise UserError(f"campaign {campaign_id} is being pushed by another process; run the "
                        "push again when it has finished") from None
    pusher = _Pusher(factory, plugins, adapter, plugin_name, conn, cid, result, now,
                     batch_size, limit_calls, progress)
    pusher.offer = offer
    pusher.push_codes(retry_failed)
    if tag and not result.stopped:
        pusher.push_tags(tag)
    with factory() as session, session.begin():
        campaign = get_campaign(session, cid)
        result.pending = _count_pending(session, cid, False)
        tags_left = tag is not None and session.scalar(
            select(func.count()).where(
                Assignment.campaign_id == cid, Assignment.tag_status == "pending",
                Assignment.push_status.in_(("created", "exists")),
            )
        )
        outcome, reasons = push_outcome(session, cid)
        result.outcome, result.reasons = outcome, reasons
        if not result.pending and not tags_left:
            # a push that left members without a code (or a tag) is partial, never pushed
            done = "partial" if reasons else "pushed"
            if campaign.status != done:
                campaign.status = done
                campaign.pushed_at = campaign.pushed_at or now
        result.status = campaign.status
    return result


def push_outcome(session: Session, cid: int) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """Treatment members per push status, and the failures counted per status and reason."""
    outcome = {str(status): int(n) for status, n in session.execute(
        select(Assignment.push_status, func.count())
        .where(Assignment.campaign_id == cid, Assignment.push_status.is_not(None))
        .group_by(Assignment.push_status))}
    rows = session.execute(
        select(Assignment.push_status, Assignment.tag_status, Assignment.push_reason,
               func.count())
        .where(Assignment.campaign_id == cid,
               or_(Assignment.push_status.in_(NO_CODE), Assignment.tag_status == "failed"))
        .group_by(Assignment.push_status, Assignment.tag_status, Assignment.push_reason))
    counts: dict[tuple[str, str], int] = {}
    for push_status, _tag_status, reason, n in rows:
        status = push_status if push_status in NO_CODE else "tag_failed"
        key = (status, reason or "no reason given")
        counts[key] = counts.get(key, 0) + int(n)
    reasons = [{"status": s, "reason": r, "count": n}
               for (s, r), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    if any(r["status"] == "tag_failed" for r in reasons):
        outcome["tag_failed"] = sum(r["count"] for r in reasons if r["status"] == "tag_failed")
    return outcome, reasons


def _count_pending(session: Session, cid: int, retry_failed: bool) -> int:
    statuses = ("pending", "failed") if retry_failed else ("pending",)
    return int(session.scalar(
        select(func.count()).where(Assignment.campaign_id == cid,
                                   Assignment.push_status.in_(statuses))
    ) or 0)


class _Pusher:
    """One push run's adapter calls, with the call budget and progress shared by both phases."""

    def __init__(self, factory: sessionmaker[Session], plugins: Plugins,
                 adapter: PlatformAdapter, plugin_name: str, conn: Any, cid: int,
                 result: PushResult, now: datetime, batch_size: int, limit_calls: int | None,
                 progress: Progress | None) -> None:
        self.factory = factory
        self.plugins = plugins
        self.adapter = adapter
        self.plugin_name = plugin_name
        self.conn = conn
        self.cid = cid
        self.result = result
        self.now = now
        self.batch_size = batch_size
        self.limit_calls = limit_calls
        self.progress = progress or (lambda done, total=None: None)
        self.offer: DiscountOffer | None = None

    def _budget_left(self) -> bool:
        if self.limit_calls is not None and self.result.calls >= self.limit_calls:
            self.result.stopped = True
            return False
        return True

    def _batch(self, statuses: tuple[str, ...], after: int, *, tags: bool) -> list[Any]:
        with self.factory() as session:
            cond = (
                [Assignment.tag_status == "pending",
                 Assignment.push_status.in_(("created", "exists"))]
                if tags else [Assignment.push_status.in_(statuses)]
            )
            return list(session.execute(
                select(Assignment.id, Assignment.customer_platform_id, Assignment.code,
                       Customer.email)
                .join(Customer, Customer.id == Assignment.customer_id)
                .where(Assignment.campaign_id == self.cid, Assignment.id > after, *cond)
                .order_by(Assignment.id)
                .limit(self.batch_size)
            ))

    def _progress_counts(self, tags: bool) -> tuple[int, int]:
        with self.factory() as session:
            if tags:
                base = [Assignment.campaign_id == self.cid, Assignment.tag_status.is_not(None)]
                done_cond = Assignment.tag_status != "pending"
            else:
                base = [Assignment.campaign_id == self.cid, Assignment.arm == TREATMENT]
                done_cond = Assignment.push_status != "pending"
            total = session.scalar(select(func.count()).where(*base)) or 0
            done = session.scalar(select(func.count()).where(*base, done_cond)) or 0
        return int(done), int(total)

    def _count_failed(self) -> int:
        with self.factory() as session:
            return int(session.scalar(
                select(func.count()).where(Assignment.campaign_id == self.cid,
                                           Assignment.push_status == "failed")
            ) or 0)

    def push_codes(self, retry_failed: bool) -> None:
        """Send pending (and, when asked, failed) codes batch by batch, storing each result."""
        statuses = ("pending", "failed") if retry_failed else ("pending",)
        after = 0
        done, total = self._progress_counts(tags=False)
        if retry_failed:
            done -= self._count_failed()
        while True:
            rows = self._batch(statuses, after, tags=False)
            if not rows or not self._budget_left():
                return
            after = rows[-1][0]
            targets = [DiscountTarget(customer_id=r[1], email=r[3], code=r[2]) for r in rows]
            self.result.calls += 1
            received: list[DiscountResult] = []
            error: Exception | None = None
            try:
                for item in self.adapter.push_discounts(self.conn, self.offer, targets):
                    received.append(item)
            except UserError as exc:
                error = exc
            except Exception as exc:
                error = PluginError(f"plugin {self.plugin_name!r} failed in push_discounts: "
                                    f"{exc}")
            self._store_codes(rows, received, complete=error is None)
            if error is not None:
                raise error
            done += len(rows)
            self.progress(done, total)

    def _store_codes(self, rows: list[Any], received: list[DiscountResult], *,
                     complete: bool) -> None:
        by_customer = {r[1]: r[0] for r in rows}
        changes: dict[int, dict[str, Any]] = {}
        for item in received:
            aid = by_customer.get(item.customer_id)
            if aid is None or aid in changes:
                continue
            known = item.status in STATUSES
            changes[aid] = {
                "id": aid, "push_status": item.status if known else "failed",
                "push_reason": item.reason if known else (
                    f"unknown status {item.status!r} from the adapter"),
                "platform_discount_id": item.platform_id, "pushed_at": self.now,
            }
        if complete:  # the adapter finished the batch but skipped someone
            for pid, aid in by_customer.items():
                changes.setdefault(aid, {
                    "id": aid, "push_status": "failed", "platform_discount_id": None,
                    "push_reason": f"the adapter returned no result for {pid}",
                    "pushed_at": self.now,
                })
        if not changes:
            return
        with self.factory() as session, session.begin():
            session.execute(update(Assignment), list(changes.values()))  # by primary key
        for change in changes.values():
            status = change["push_status"]
            setattr(self.result, status, getattr(self.result, status) + 1)

    def push_tags(self, tag: str) -> None:
        """Tag the treatment members whose code is in the shop, batch by batch."""
        after = 0
        done, total = self._progress_counts(tags=True)
        while True:
            rows = self._batch((), after, tags=True)
            if not rows or not self._budget_left():
                return
            after = rows[-1][0]
            ids = [r[1] for r in rows]
            self.result.calls += 1
            answer = self.adapter.tag_customers(self.conn, tag, ids)
            changes = []
            for aid, pid, _code, _email in rows:
                outcome = (answer or {}).get(pid, "no answer from the adapter")
                ok = outcome == "ok"
                change: dict[str, Any] = {"id": aid, "tag_status": "ok" if ok else "failed",
                                          "tagged_at": self.now if ok else None}
                if not ok:
                    change["push_reason"] = f"tag {tag!r}: {outcome}"
                changes.append(change)
                self.result.tagged += ok
                self.result.tag_failed += not ok
            with self.factory() as session, session.begin():
                ok_rows = [c for c in changes if "push_reason" not in c]
                failed_rows = [c for c in changes if "push_reason" in c]
                for group in (ok_rows, failed_rows):  # one parameter shape per executemany
                    if group:
                        session.execute(update(Assignment), group)
            done += len(rows)
            self.progress(done, total)


@dataclass
class DueRun:
    """One scheduled campaign's run: the instance it spawned (or resumed) and the outcome."""

    schedule: int
    instance: int | None
    result: PushResult | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return the run as JSON-ready data."""
        return {"schedule": self.schedule, "instance": self.instance,
                "result": self.result.as_dict() if self.result else None, "error": self.error}


def run_due_campaigns(
    now: datetime | None = None, *, sessions: sessionmaker[Session] | None = None,
    plugins: Plugins | None = None, secret_key: str | None = None,
    progress: Progress | None = None,
) -> list[DueRun]:
    """Create and push the instances of scheduled campaigns that are due at ``now``.

    Unfinished instances of earlier runs (a crash mid-push) are resumed first; an instance
    whose offer window ended before it was finished is marked ``expired``. One schedule's
    failure does not stop the others: it is reported in its :class:`DueRun`. Without
    ``sessions``/``plugins`` the database, key and plugins come from the environment
    (``STAMMKUNDE_*``), so a job runner can call ``run_due_campaigns(now)``.
    """
    if sessions is None:
        from stammkunde.core.config import Settings
        from stammkunde.core.db import ensure_schema, make_engine, session_factory

        settings = Settings.from_env()
        engine = make_engine(settings.database_url)
        ensure_schema(engine)
        sessions = session_factory(engine)
        secret_key = secret_key or settings.secret_key
    if plugins is None:
        from stammkunde.plugins.manager import get_plugins

        plugins = get_plugins()
    now = (now or utcnow()).replace(microsecond=0)
    runs: list[DueRun] = []
    with sessions() as session, session.begin():
        parents = select(Campaign.id).where(Campaign.schedule.is_not(None),
                                            Campaign.status == "scheduled")
        unfinished = list(session.scalars(
            select(Campaign).where(Campaign.parent_id.in_(parents),
                                   Campaign.status.in_(("draft", "pushing")))
            .order_by(Campaign.id)
        ))
        resume = []
        for inst in unfinished:
            if inst.ends_at is not None and inst.ends_at <= now:
                inst.status = "expired"
            else:
                resume.append((inst.parent_id, inst.id))
        due = list(session.scalars(
            select(Campaign.id).join(Shop, Shop.id == Campaign.shop_id).where(
                Campaign.schedule.is_not(None), Campaign.status == "scheduled",
                Campaign.next_run_at <= now, Shop.uninstalled_at.is_(None),
            ).order_by(Campaign.id)
        ))
    for parent_id, instance_id in resume:
        runs.append(_run(sessions, plugins, parent_id, instance_id, secret_key, progress, now))
    for parent_id in due:
        try:
            with sessions() as session, session.begin():
                parent = get_campaign(session, parent_id)
                require_capabilities(plugins, parent.shop, tag=parent.tag)
                instance_id = spawn_instance(session, parent, now).id
        except UserError as exc:
            runs.append(DueRun(schedule=parent_id, instance=None, error=str(exc)))
            continue
        runs.append(_run(sessions, plugins, parent_id, instance_id, secret_key, progress, now))
    return runs


def _run(sessions: sessionmaker[Session], plugins: Plugins, parent_id: int | None,
         instance_id: int, secret_key: str | None, progress: Progress | None,
         now: datetime) -> DueRun:
    run = DueRun(schedule=int(parent_id or 0), instance=instance_id)
    try:
        run.result = push_campaign(sessions, plugins, instance_id, secret_key=secret_key,
                                   progress=progress, now=now)
    except UserError as exc:
        run.error = str(exc)
    return run
