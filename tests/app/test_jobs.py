"""Background jobs: progress rows, sync and refresh tasks (immediate mode), failures, a real
consumer thread on the SQLite queue, and the ``jobs`` / ``worker`` commands."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from huey.storage import SqliteStorage
from sqlalchemy.orm import Session, sessionmaker

from stammkunde.app import jobs
from stammkunde.app.cli import cli
from stammkunde.app.context import AppContext
from stammkunde.core.cache import REPORT, ROLLUP, cached
from stammkunde.core.config import Settings
from stammkunde.core.errors import UserError
from stammkunde.core.job_models import Job, JobState
from stammkunde.core.models import Shop
from stammkunde.core.records import Batch, CustomerRecord
from stammkunde.core.shops import create_shop
from stammkunde.core.store import get_shop, store_records
from stammkunde.core.timeutil import now
from stammkunde.plugins import PlatformAdapter, hookimpl
from stammkunde.plugins.adapter import Capability, DiscountResult
from stammkunde.plugins.manager import plugins_for_test
from tests.factories import at, order
from tests.services import need_service


class FakePlatform(PlatformAdapter):
    """Serves three orders in two pages and two customers; ``fail_after`` breaks page two."""

    name = "fakeplat"
    display_name = "Fake platform"
    capabilities = frozenset({Capability.SYNC, Capability.DISCOUNTS})
    fail_after: bool = False

    def __init__(self) -> None:
        self.codes: list[str] = []

    def push_discounts(self, shop, offer, targets):  # type: ignore[no-untyped-def]
        """Create every code (once)."""
        for t in targets:
            status = "exists" if t.code in self.codes else "created"
            self.codes.append(t.code)
            yield DiscountResult(customer_id=t.customer_id, code=t.code, status=status)

    def fetch_customers(self, shop, since=None, cursor=None):  # type: ignore[no-untyped-def]
        """Yield the two customers in one page."""
        yield Batch(tuple(CustomerRecord(platform_id=c, email=f"{c}@example.com",
                                         created_at=at("2024-01-01T00:00:00Z"))
                          for c in ("k1", "k2")), cursor="c-end", total=2)

    def fetch_orders(self, shop, since=None, cursor=None):  # type: ignore[no-untyped-def]
        """Yield orders p1, p2 then p3."""
        if cursor is None:
            yield Batch((order("p1", "2024-01-05T00:00:00Z", "10.00", customer="k1"),
                         order("p2", "2024-02-05T00:00:00Z", "20.00", customer="k1")),
                        cursor="page-2", total=3)
        if self.fail_after:
            raise ConnectionError("platform went away")
        yield Batch((order("p3", "2024-03-05T00:00:00Z", "30.00", customer="k2"),),
                    cursor=None, total=3)


class FakePlugin:
    """Registers :class:`FakePlatform`."""

    def __init__(self) -> None:
        self.adapter = FakePlatform()

    @hookimpl
    def register_platforms(self, register):  # type: ignore[no-untyped-def]
        """Register the fake platform."""
        register(self.adapter)


@pytest.fixture
def plugin() -> Iterator[FakePlugin]:
    p = FakePlugin()
    with plugins_for_test(p):
        yield p


@pytest.fixture
def ctx(database_url: str, engine, tmp_path: Path) -> Iterator[AppContext]:  # type: ignore[no-untyped-def]
    context = AppContext(Settings(home=tmp_path / "home", database_url=database_url,
                                  secret_key="test-secret-key"))
    jobs.huey.immediate = True
    jobs.configure(context)
    try:
        yield context
    finally:
        jobs.huey.immediate = False


@pytest.fixture
def shop(ctx: AppContext, plugin: FakePlugin) -> str:
    with ctx.sessions() as s, s.begin():
        create_shop(s, "fake", "fakeplat", currency="EUR")
    return "fake"


def _job(sessions: sessionmaker[Session], job_id: str) -> Job:
    with sessions() as s:
        job = s.get(Job, job_id)
        assert job is not None
        return job


def test_schedule_sync_stores_records_progress_and_refreshes(ctx: AppContext, shop: str) -> None:
    job_id = jobs.schedule_sync(shop)
    job = _job(ctx.sessions, job_id)
    assert (job.kind, job.state, job.done, job.total, job.errors, job.message) == (
        "sync", JobState.DONE, 5, 5, 0, None)
    assert job.started_at is not None and job.finished_at >= job.started_at
    with ctx.sessions() as s:
        fake = get_shop(s, shop)
        assert job.shop_id == fake.id
        report = cached(s, fake, REPORT)
        assert report is not None and report.data["orders"] == 3
        assert report.data["net_revenue"] == "60.00"
        assert cached(s, fake, ROLLUP).data["customers"] == 2  # type: ignore[union-attr]


def test_progress_is_cumulative_over_resources(ctx: AppContext, shop: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[int, int | None, str | None]] = []
    real = jobs.Tracker.update

    def spy(self, done, total=None, step=None, errors=None):  # type: ignore[no-untyped-def]
        seen.append((done, total, step))
        real(self, done, total, step, errors)

    monkeypatch.setattr(jobs.Tracker, "update", spy)
    jobs.schedule_sync(shop)
    # customers: 2 of 2; then orders 2 of 3 and 3 of 3 on top; then the refresh step.
    assert seen == [(2, 2, "customers"), (4, 5, "orders"), (5, 5, "orders"), (5, 5, "refresh")]


def test_a_failing_sync_is_marked_failed_with_one_line(ctx: AppContext, shop: str,
                                                         plugin: FakePlugin) -> None:
    plugin.adapter.fail_after = True
    job = _job(ctx.sessions, jobs.schedule_sync(shop))
    assert job.state == JobState.FAILED
    assert job.errors == 1
    assert re.fullmatch(r"plugin '\d+' failed in fetch_orders: platform went away",
                        job.message or "")
    assert job.done == 4 and job.step == "orders"
    # The sync resumes from the stored cursor: the next run fetches only page two.
    plugin.adapter.fail_after = False
    again = _job(ctx.sessions, jobs.schedule_sync(shop))
    assert (again.state, again.done) == (JobState.DONE, 3)


def test_unknown_shop_is_refused_before_queueing(ctx: AppContext) -> None:
    with pytest.raises(UserError, match="unknown shop 'nope'"):
        jobs.schedule_sync("nope")
    with ctx.sessions() as s:
        assert s.query(Job).count() == 0


def test_refresh_job_and_nightly_refresh(ctx: AppContext, shop: str) -> None:
    job = _job(ctx.sessions, jobs.schedule_refresh(shop))
    assert (job.kind, job.state, job.done, job.total) == ("refresh", JobState.DONE, 4, 4)
    with ctx.sessions() as s, s.begin():
        create_shop(s, "gone", "csv").uninstalled_at = datetime.now(UTC)
    jobs.nightly_refresh.call_local()
    with ctx.sessions() as s:
        kinds = [(j.kind, j.state) for j in s.query(Job).order_by(Job.created_at)]
    assert kinds == [("refresh", "done"), ("refresh", "done")]  # not the uninstalled shop


class Clock:
    """A hand-driven clock for the tracker."""

    def __init__(self) -> None:
        self.t = 0.0
        self.at = datetime(2024, 1, 1, tzinfo=UTC)

    def timer(self) -> float:
        return self.t

    def now(self) -> datetime:
        return self.at + timedelta(seconds=self.t)


def test_tracker_throttles_writes_and_reports_rate(ctx: AppContext, shop: str) -> None:
    with ctx.sessions() as s, s.begin():
        s.add(Job(id="j1", kind="sync", state=JobState.QUEUED))
    clock = Clock()
    tracker = jobs.Tracker(ctx.sessions, "j1", clock=clock.now, timer=clock.timer)
    tracker.start()
    tracker.update(100, 1000, "orders")
    clock.t = 0.2
    tracker.update(200, 1000, "orders")  # within 0.5 s of the last write: skipped
    assert _job(ctx.sessions, "j1").done == 100
    clock.t = 4.0
    tracker.update(400, 1000, "orders")
    job = _job(ctx.sessions, "j1")
    assert (job.state, job.done, job.total) == (JobState.RUNNING, 400, 1000)
    view = jobs.job_view(job, clock=clock.now)
    assert view["fraction"] == 0.4
    assert view["rate"] == 100.0  # 400 items in 4 s
    assert view["elapsed"] == 4.0


def test_unconfigured_queue_refuses_work() -> None:
    storage = jobs._NotConfigured("x")
    with pytest.raises(UserError, match="background jobs are not configured"):
        storage.enqueue(b"task")


def test_a_real_consumer_thread_runs_jobs_from_the_sqlite_queue(ctx: AppContext, shop: str,
                                                                 tmp_path: Path) -> None:
    jobs.huey.immediate = False
    jobs.configure(ctx)
    assert isinstance(jobs.huey.storage, SqliteStorage)
    assert Path(jobs.huey.storage.filename) == ctx.settings.home / "jobs.db"
    job_id = jobs.schedule_sync(shop)
    assert _job(ctx.sessions, job_id).state == JobState.QUEUED
    consumer = jobs.huey.create_consumer(workers=1, worker_type="thread", periodic=False,
                                         initial_delay=0.05, max_delay=0.2,
                                         check_worker_health=False)
    consumer.start()
    try:
        deadline = time.monotonic() + 30
        while _job(ctx.sessions, job_id).state in JobState.ACTIVE:
            assert time.monotonic() < deadline, "the consumer did not finish the job"
            time.sleep(0.05)
    finally:
        consumer.stop(graceful=True)
    job = _job(ctx.sessions, job_id)
    assert (job.state, job.done, job.total) == (JobState.DONE, 5, 5)
    assert len(jobs.huey) == 0  # nothing left in the queue


def test_jobs_command_lists_progress(cli_env: Path, plugin: FakePlugin) -> None:
    runner = CliRunner()
    ctx = AppContext()
    with ctx.sessions() as s, s.begin():
        create_shop(s, "fake", "fakeplat")
    jobs.huey.immediate = True
    try:
        result = runner.invoke(cli, ["sync", "fake", "--background"], catch_exceptions=False)
    finally:
        jobs.huey.immediate = False
    assert result.output.startswith("queued sync job ")
    listing = runner.invoke(cli, ["jobs", "--shop", "fake"], catch_exceptions=False)
    assert "sync" in listing.output and "done" in listing.output and "5 / 5" in listing.output
    as_json = runner.invoke(cli, ["jobs", "--json"], catch_exceptions=False)
    import json

    (row,) = json.loads(as_json.output)
    assert (row["shop"], row["kind"], row["state"], row["done"]) == ("fake", "sync", "done", 5)
    follow = runner.invoke(cli, ["jobs", "--follow"], catch_exceptions=False)
    assert follow.exit_code == 0 and "done" in follow.output


def test_follow_redraws_until_jobs_finish() -> None:
    states = iter([JobState.QUEUED, JobState.RUNNING, JobState.DONE])
    sleeps: list[float] = []

    def fetch() -> list[dict]:  # type: ignore[type-arg]
        state = next(states)
        return [{"id": "abcdef1234", "shop": "s", "kind": "sync", "step": None, "state": state,
                 "done": 1, "total": 2, "rate": None, "errors": 0, "message": None}]

    from stammkunde.app.cli.jobs import follow

    follow(fetch, interval=1.0, sleep=sleeps.append)
    assert sleeps == [1.0, 1.0]


def test_dashboard_link_command(cli_env: Path) -> None:
    runner = CliRunner()
    with AppContext().sessions() as s, s.begin():
        create_shop(s, "till", "csv")
    result = runner.invoke(cli, ["dashboard-link", "till", "--base-url", "https://sk.example/",
                                 "--ttl", "2h"], catch_exceptions=False)
    assert result.exit_code == 0
    assert result.output.startswith("https://sk.example/login?token=")
    bad = runner.invoke(cli, ["dashboard-link", "nope"])
    assert bad.exit_code == 2 and "unknown shop 'nope'" in bad.output
    ttl = runner.invoke(cli, ["dashboard-link", "till", "--ttl", "soon"])
    assert ttl.exit_code == 2 and "--ttl must look like" in ttl.output


def _redis_up(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def test_redis_queue_when_configured(database_url: str, engine, tmp_path: Path,  # type: ignore[no-untyped-def]
                                     plugin: FakePlugin) -> None:
    from huey.storage import RedisStorage

    url = "redis://127.0.0.1:6379/15"
    if not _redis_up(url):
        need_service(False, "Redis at 127.0.0.1:6379")
    ctx = AppContext(Settings(home=tmp_path / "home", database_url=database_url,
                              secret_key="k", redis_url=url))
    jobs.configure(ctx)
    try:
        assert isinstance(jobs.huey.storage, RedisStorage)
        jobs.huey.flush()
        with ctx.sessions() as s, s.begin():
            create_shop(s, "fake", "fakeplat")
        job_id = jobs.schedule_sync("fake")
        assert len(jobs.huey) == 1
        task = jobs.huey.dequeue()
        jobs.huey.execute(task)  # what a worker does with it
        assert _job(ctx.sessions, job_id).state == JobState.DONE
    finally:
        jobs.huey.flush()
        jobs.configure(AppContext(Settings(home=tmp_path / "home", database_url=database_url,
                                           secret_key="k")))


def test_settings_read_the_redis_url() -> None:
    settings = Settings.from_env({"STAMMKUNDE_HOME": "/h", "STAMMKUNDE_REDIS_URL": "redis://r/1"})
    assert settings.redis_url == "redis://r/1"
    assert Settings.from_env({"STAMMKUNDE_HOME": "/h"}).redis_url is None


def test_privacy_sweep_deletes_shops_48_hours_after_uninstall(ctx: AppContext) -> None:
    from stammkunde.core.cache import cached
    from stammkunde.core.inbox_models import AuditLog
    from stammkunde.core.job_models import CachedResult, CustomerRollup
    from stammkunde.core.models import Order

    at = datetime(2026, 11, 25, 12, tzinfo=UTC)
    with ctx.sessions() as s, s.begin():
        for name, hours in (("gone", 48), ("recent", 47), ("active", None)):
            shop = create_shop(s, name, "csv")
            store_records(s, shop, [order(f"{name}1", "2024-01-05T00:00:00Z", "10.00",
                                          customer=f"{name}-c")])
            shop.uninstalled_at = at - timedelta(hours=hours) if hours else None
    for name in ("gone", "recent", "active"):
        jobs.schedule_refresh(name)
    assert jobs.redact_due_shops(at) == ["gone"]
    with ctx.sessions() as s:
        assert [sh.name for sh in s.query(Shop).order_by(Shop.name)] == ["active", "recent"]
        assert s.query(Order).count() == 2
        assert {r.shop_id for r in s.query(CachedResult)} == {
            get_shop(s, "active").id, get_shop(s, "recent").id}
        assert s.query(CustomerRollup).count() == 2
        (audit,) = s.query(AuditLog).filter_by(action="shop_redact").all()
        assert audit.reference == "scheduled: 48 hours after uninstall"
        (job,) = s.query(Job).filter_by(kind="redact").all()
        assert (job.state, job.done, job.total) == (JobState.DONE, 1, 1)
        assert cached(s, get_shop(s, "recent"), "report") is not None
    assert jobs.redact_due_shops(at) == []  # nothing left: no new job row either


def test_a_sync_marks_the_shop_stale_and_the_sync_job_leaves_it_fresh(ctx: AppContext,
                                                                      shop: str) -> None:
    from stammkunde.core.freshness import freshness
    from stammkunde.plugins.ingest import sync_shop

    sync_shop(ctx.sessions, ctx.plugins, shop)
    with ctx.sessions() as s:
        assert freshness(s, get_shop(s, shop).id).stale
    jobs.schedule_sync(shop)  # syncs again and refreshes: nothing is left pending
    with ctx.sessions() as s:
        fresh = freshness(s, get_shop(s, shop).id)
        assert (fresh.stale, fresh.computed_at is not None) == (False, True)
    assert jobs.refresh_stale_shops(at=now() + timedelta(hours=1)) == []


def test_a_failed_refresh_leaves_the_shop_stale(ctx: AppContext, shop: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from stammkunde.core.freshness import freshness, mark_stale

    with ctx.sessions() as s, s.begin():
        shop_id = get_shop(s, shop).id
        mark_stale(s, shop_id, at=now() - timedelta(minutes=5))

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(jobs, "refresh_shop", broken)
    with pytest.raises(RuntimeError):
        jobs.recompute(ctx.sessions, shop)
    with ctx.sessions() as s:
        since = freshness(s, shop_id).stale_since
    assert since is not None and since <= now() - timedelta(minutes=4)


def test_settings_read_the_refresh_debounce() -> None:
    env = {"STAMMKUNDE_HOME": "/h"}
    assert Settings.from_env(env).refresh_debounce_seconds == 30.0
    assert Settings.from_env({**env, "STAMMKUNDE_REFRESH_DEBOUNCE_SECONDS": "5"}) \
        .refresh_debounce_seconds == 5.0
    for bad, message in (("soon", "must be a number of seconds, not 'soon'"),
                         ("-1", "must be between 0 and 3600 seconds, not -1")):
        with pytest.raises(UserError) as info:
            Settings.from_env({**env, "STAMMKUNDE_REFRESH_DEBOUNCE_SECONDS": bad})
        assert str(info.value) == f"STAMMKUNDE_REFRESH_DEBOUNCE_SECONDS {message}"


def test_a_long_sync_refreshes_the_statistics_as_its_tables_grow(ctx, shop, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """After each doubling of the rows a sync stored (from ``ANALYZE_AFTER``), and at its end."""
    from stammkunde.core import bulk
    from stammkunde.plugins import ingest

    monkeypatch.setattr(bulk, "ANALYZE_AFTER", 1)
    calls: list[int | str] = []
    monkeypatch.setattr(bulk, "refresh_statistics", lambda session: calls.append("grown"))
    monkeypatch.setattr(ingest, "analyze_after_load", lambda session, n: calls.append(n))
    ingest.sync_shop(ctx.sessions, ctx.plugins, shop)
    # customers: 2 in one page (refresh at 2, next at 4), end; orders: pages of 2 and 1
    assert calls == ["grown", 2, "grown", 3]
