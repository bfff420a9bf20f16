"""Background jobs with huey: historic sync and the nightly refresh of the dashboard's numbers.

Every job has a row in the ``jobs`` table (created when it is queued) that its task updates as it
goes: state (queued → running → done | failed), ``done`` of ``total`` items, errors and a one-line
message. The CLI (``stammkunde jobs``) and the dashboard read progress from there, so it works the
same whichever huey storage carries the queue: a SQLite file in ``STAMMKUNDE_HOME`` by default,
Redis when ``STAMMKUNDE_REDIS_URL`` is set (several workers on several machines).

Call :func:`configure` once per process (the CLI, ``create_app`` and the worker do) before queueing.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from huey import Huey, crontab
from huey.storage import MemoryStorage, RedisStorage, SqliteStorage
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from stammkunde.app.context import AppContext
from stammkunde.core.cache import Refreshed, refresh_shop
from stammkunde.core.db import transaction
from stammkunde.core.errors import UserError
from stammkunde.core.job_models import Job, JobState
from stammkunde.core.models import Shop
from stammkunde.core.settings import shop_settings
from stammkunde.core.store import get_shop
from stammkunde.core.timeutil import now

log = logging.getLogger(__name__)

SYNC = "sync"
REFRESH = "refresh"
PUSH = "push"
REDACT = "redact"
#: Progress is written at most this often (seconds) unless a step or the total changes.
WRITE_EVERY = 0.5


class _NotConfigured(MemoryStorage):
    """Refuses to queue until :func:`configure` chose the real storage."""

    def enqueue(self, data: bytes, priority: float | None = None) -> None:
        """Refuse: work queued here would be lost."""
        raise UserError("background jobs are not configured (stammkunde.app.jobs.configure)")

    def add_to_schedule(self, data: bytes, ts: Any, utc: bool) -> None:
        """Refuse, as :meth:`enqueue`."""
        self.enqueue(data)


huey = Huey("stammkunde", storage_class=_NotConfigured, utc=True)
_context: AppContext | None = None


def configure(ctx: AppContext) -> Huey:
    """Point the queue at Redis (``STAMMKUNDE_REDIS_URL``) or a SQLite file in the home."""
    global _context
    _context = ctx
    if ctx.settings.redis_url:
        huey.storage_class = RedisStorage
        huey.storage_kwargs = {"url": ctx.settings.redis_url}
    else:
        ctx.settings.home.mkdir(parents=True, exist_ok=True)
        huey.storage_class = SqliteStorage
        huey.storage_kwargs = {"filename": str(ctx.settings.home / "jobs.db")}
    huey.storage = huey.create_storage()
    return huey


def context() -> AppContext:
    """Return the configured context, configuring from the environment on first use."""
    if _context is None:
        configure(AppContext())
    assert _context is not None
    return _context


class Tracker:
    """Writes a job's progress to its row; ``clock`` and ``timer`` are injectable for tests."""

    def __init__(self, sessions: sessionmaker[Session], job_id: str,
                 clock: Callable[[], datetime] = now,
                 timer: Callable[[], float] = time.monotonic) -> None:
        self.sessions = sessions
        self.job_id = job_id
        self.clock = clock
        self.timer = timer
        self._last_write = float("-inf")
        self._step: str | None = None
        self._total: int | None = None

    def _write(self, **values: Any) -> None:
        with transaction(self.sessions) as session:
            job = session.get(Job, self.job_id)
            if job is None:
                raise UserError(f"unknown job {self.job_id!r}")
            for key, value in values.items():
                setattr(job, key, value)
            job.updated_at = self.clock()
        self._last_write = self.timer()

    def start(self) -> None:
        """Mark the job running."""
        at = self.clock()
        self._write(state=JobState.RUNNING, started_at=at, done=0, errors=0, message=None)

    def update(self, done: int, total: int | None = None, step: str | None = None,
               errors: int | None = None) -> None:
        """Record progress: ``done`` of ``total`` items in ``step`` (throttled)."""
        changed = step != self._step or total != self._total or errors is not None
        if not changed and self.timer() - self._last_write < WRITE_EVERY:
            return
        self._step, self._total = step, total
        values: dict[str, Any] = {"done": done, "total": total, "step": step}
        if errors is not None:
            values["errors"] = errors
        self._write(**values)

    def finish(self, done: int | None = None, total: int | None = None,
               message: str | None = None, errors: int | None = None) -> None:
        """Mark the job done, with its final figures."""
        values: dict[str, Any] = {"state": JobState.DONE, "finished_at": self.clock(),
                                  "message": message}
        if done is not None:
            values["done"] = done
        if total is not None:
            values["total"] = total
        if errors is not None:
            values["errors"] = errors
        self._write(**values)

    def fail(self, exc: BaseException) -> None:
        """Mark the job failed with a one-line reason."""
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if not isinstance(exc, UserError):
            reason = f"{type(exc).__name__}: {reason}"
        with transaction(self.sessions) as session:
            job = session.get(Job, self.job_id)
            if job is not None:
                job.state = JobState.FAILED
                job.errors = (job.errors or 0) + 1
                job.message = reason[:500]
                job.finished_at = job.updated_at = self.clock()


def _queue_job(kind: str, shop_name: str | None) -> str:
    """Insert the job's row (state queued) and return its id; the task is queued after."""
    ctx = context()
    job_id = uuid.uuid4().hex
    with transaction(ctx.sessions) as session:
        shop_id = get_shop(session, shop_name).id if shop_name else None
        session.add(Job(id=job_id, kind=kind, shop_id=shop_id, state=JobState.QUEUED))
    return job_id


def _run(job_id: str, work: Callable[[Tracker], None]) -> None:
    tracker = Tracker(context().sessions, job_id)
    tracker.start()
    try:
        work(tracker)
    except Exception as exc:
        log.warning("job %s failed: %s", job_id, type(exc).__name__)
        tracker.fail(exc)


def refresh_numbers(session: Session, shop: Shop, *, as_of: datetime | None = None,
                    progress: Callable[[str, int, int], None] | None = None) -> Refreshed:
    """Recompute a shop's cached numbers with its retention settings (file + dashboard edits)."""
    retention = shop_settings(context().settings.home, shop.name,
                              (shop.settings or {}).get("retention"))
    return refresh_shop(session, shop, as_of, progress=progress, retention=retention)


# --- historic / incremental sync ------------------------------------------------------------

def _sync(tracker: Tracker, shop_name: str) -> None:
    from stammkunde.plugins.ingest import sync_shop

    ctx = context()
    offsets: dict[str, int] = {}
    seen: dict[str, int] = {}

    def progress(resource: str, done: int, total: int | None) -> None:
        if resource not in offsets:
            offsets[resource] = sum(seen.values())
        seen[resource] = done
        base = offsets[resource]
        tracker.update(base + done, base + total if total is not None else None, step=resource)

    result = sync_shop(ctx.sessions, ctx.plugins, shop_name, secret_key=ctx.settings.secret_key,
                       progress=progress)
    stored = sum(seen.values())
    tracker.update(stored, stored, step="refresh")
    with transaction(ctx.sessions) as session:
        refresh_numbers(session, get_shop(session, shop_name))
    ignored = sum(s.ignored for s in result.stats.values())
    tracker.finish(done=stored, total=stored, errors=ignored)


@huey.task()
def sync_task(job_id: str, shop_name: str) -> None:
    """Fetch the shop's customers and orders through its adapter, then refresh its numbers."""
    _run(job_id, lambda tracker: _sync(tracker, shop_name))


def schedule_sync(shop_name: str, ctx: AppContext | None = None) -> str:
    """Queue a sync of the shop (historic at first, then incremental); return the job id.

    ``ctx`` (optional) is the caller's context; the queue is configured from it when it is not
    the one already in use. An interrupted sync resumes from its stored cursor on the next run.
    """
    if ctx is not None and ctx is not _context:
        configure(ctx)
    job_id = _queue_job(SYNC, shop_name)
    sync_task(job_id, shop_name)
    return job_id


# --- refresh of the heavy dashboard numbers ---------------------------------------------------

def _refresh(tracker: Tracker, shop_name: str) -> None:
    ctx = context()

    def progress(step: str, done: int, total: int) -> None:
        # Commit each finished step first: on SQLite a progress write from another connection
        # would otherwise wait for this transaction's write lock.
        session.commit()
        tracker.update(done, total, step)

    with ctx.sessions() as session:
        done = refresh_numbers(session, get_shop(session, shop_name), progress=progress)
        session.commit()
    tracker.finish(done=4, total=4)
    log.info("refreshed shop %s: %d customers in %.1f s", shop_name, done.customers, done.seconds)


@huey.task()
def refresh_task(job_id: str, shop_name: str) -> None:
    """Recompute the shop's report, previous-period report and customer roll-up."""
    _run(job_id, lambda tracker: _refresh(tracker, shop_name))


def schedule_refresh(shop_name: str) -> str:
    """Queue a refresh of the shop's dashboard numbers; return the job id."""
    job_id = _queue_job(REFRESH, shop_name)
    refresh_task(job_id, shop_name)
    return job_id


@huey.periodic_task(crontab(hour="3", minute="15"))
def nightly_refresh() -> None:
    """Every night, queue a refresh for each installed shop."""
    with context().sessions() as session:
        names = list(session.scalars(select(Shop.name).where(Shop.uninstalled_at.is_(None))
                                     .order_by(Shop.name)))
    for name in names:
        schedule_refresh(name)


# --- campaigns ----------------------------------------------------------------------------------

def _push(tracker: Tracker, campaign_id: int) -> None:
    from stammkunde.plugins.campaigns import push_campaign

    ctx = context()

    def progress(done: int, total: int | None = None) -> None:
        tracker.update(done, total, step="codes")

    result = push_campaign(ctx.sessions, ctx.plugins, campaign_id,
                           secret_key=ctx.settings.secret_key, progress=progress)
    if result.status == "partial":
        message: str | None = "partial: " + "; ".join(
            f"{r['count']} {r['status'].replace('_', ' ')} ({r['reason']})"
            for r in result.reasons)
    elif result.status != "pushed":
        message = f"{result.pending} codes still pending: push again to resume"
    else:
        message = None
    tracker.finish(done=result.created + result.exists, errors=result.failed + result.skipped,
                   message=message)


@huey.task()
def push_task(job_id: str, campaign_id: int) -> None:
    """Assign a campaign's members and create their codes in the shop (resumable)."""
    _run(job_id, lambda tracker: _push(tracker, campaign_id))


def schedule_push(shop_name: str, campaign_id: int) -> str:
    """Queue the push of a campaign of the shop; return the job id."""
    job_id = _queue_job(PUSH, shop_name)
    push_task(job_id, campaign_id)
    return job_id


@huey.periodic_task(crontab(minute="5"))
def due_campaigns() -> None:
    """Every hour, create and push the instances of scheduled campaigns that are due."""
    from stammkunde.plugins.campaigns import run_due_campaigns

    ctx = context()
    for run in run_due_campaigns(now(), sessions=ctx.sessions, plugins=ctx.plugins,
                                 secret_key=ctx.settings.secret_key):
        if run.error:
            log.warning("scheduled campaign %s: %s", run.schedule, run.error)


# --- privacy ------------------------------------------------------------------------------------

#: A shop's data is deleted this long after the app was uninstalled (Shopify sends ``shop/redact``
#: then; platforms without that request get the same promise, and it heals a dropped webhook).
REDACT_AFTER = timedelta(hours=48)


def redact_due_shops(at: datetime | None = None) -> list[str]:
    """Delete the data of shops uninstalled at least :data:`REDACT_AFTER` ago; return them."""
    from stammkunde.core.privacy import redact_shop

    at = at or now()
    ctx = context()
    with ctx.sessions() as session:
        due = list(session.scalars(select(Shop.name).where(
            Shop.uninstalled_at.is_not(None), Shop.uninstalled_at <= at - REDACT_AFTER)
            .order_by(Shop.name)))
    if not due:
        return []
    job_id = _queue_job(REDACT, None)
    tracker = Tracker(ctx.sessions, job_id)
    tracker.start()
    done: list[str] = []
    try:
        for name in due:
            with transaction(ctx.sessions) as session:
                shop = get_shop(session, name)
                if shop.uninstalled_at is not None:  # not reinstalled meanwhile
                    redact_shop(session, shop, at=at,
                                reference="scheduled: 48 hours after uninstall")
                    done.append(name)
            tracker.update(len(done), len(due), step="shops")
    except Exception as exc:
        tracker.fail(exc)
        raise
    tracker.finish(done=len(done), total=len(due))
    return done


@huey.periodic_task(crontab(minute="20"))
def privacy_sweep() -> None:
    """Every hour, delete the data of shops uninstalled 48 hours ago or more."""
    redact_due_shops()


# --- reading progress ---------------------------------------------------------------------------

def job_view(job: Job, clock: Callable[[], datetime] = now) -> dict[str, Any]:
    """Return a job as JSON-ready progress: fraction, items per second, elapsed seconds."""
    started, end = job.started_at, job.finished_at or (
        clock() if job.state == JobState.RUNNING else job.updated_at)
    elapsed = (end - started).total_seconds() if started else None
    rate = job.done / elapsed if elapsed and elapsed > 0 and job.done else None
    fraction = None
    if job.total:
        fraction = min(job.done / job.total, 1.0)
    elif job.state == JobState.DONE:
        fraction = 1.0
    return {
        "id": job.id, "kind": job.kind, "state": job.state, "step": job.step,
        "done": job.done, "total": job.total, "fraction": fraction, "errors": job.errors,
        "rate": rate, "elapsed": elapsed, "message": job.message,
        "created_at": job.created_at.isoformat().replace("+00:00", "Z"),
        "finished_at": job.finished_at.isoformat().replace("+00:00", "Z")
        if job.finished_at else None,
    }


def recent_jobs(session: Session, shop_id: int | None = None, limit: int = 20) -> list[Job]:
    """Return the newest jobs (of one shop, or all), active ones first."""
    stmt = select(Job).order_by(Job.created_at.desc(), Job.id).limit(limit)
    if shop_id is not None:
        stmt = stmt.where(Job.shop_id == shop_id)
    jobs = list(session.scalars(stmt))
    return sorted(jobs, key=lambda j: j.state not in JobState.ACTIVE)
