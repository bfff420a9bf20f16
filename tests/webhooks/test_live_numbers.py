"""Live numbers: stored deliveries mark the shop stale, one debounced refresh catches up.

A burst of 100 signed order deliveries (10.00 each, customers c0 … c19) is processed inline;
the shop is stale from the first one on. Before the debounce time has passed nothing is queued;
after it exactly one refresh runs, and its numbers contain all 100 orders (net revenue 1,000.00,
20 customers). 1,000 deliveries worked off by the inbox worker in batches (the default
deployment), and 1,000 changes committed one by one, also queue one refresh each. The pages say
when the figures were computed and, while stale, that newer data is pending.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta

import pytest
from _receiver_helpers import DOMAIN, post
from flask import Flask
from sqlalchemy import func, select

from stammkunde.app import jobs
from stammkunde.app.dashboard.auth import make_login_token
from stammkunde.app.web import app_context
from stammkunde.core.cache import REPORT, cached
from stammkunde.core.freshness import freshness, mark_stale
from stammkunde.core.job_models import Job, JobState
from stammkunde.core.store import get_shop
from stammkunde.core.timeutil import now
from stammkunde.plugins.adapter import WebhookEnvelope
from stammkunde.webhooks.inbox import Processor, record_delivery
from tests.testshop import order_body

BURST = 100


@pytest.fixture
def immediate() -> Iterator[None]:
    jobs.huey.immediate = True
    try:
        yield
    finally:
        jobs.huey.immediate = False


def _refresh_jobs(app: Flask) -> list[Job]:
    with app_context(app).sessions() as s:
        return list(s.scalars(select(Job).where(Job.kind == jobs.REFRESH)))


def _state(app: Flask) -> tuple[object, object, int | None]:
    with app_context(app).sessions() as s:
        shop = get_shop(s, "one")
        fresh = freshness(s, shop.id)
        report = cached(s, shop, REPORT)
        return fresh.stale_since, fresh.computed_at, report.data["orders"] if report else None


def test_a_burst_of_deliveries_causes_one_refresh(make_app: Callable[..., Flask], db_url: str,
                                                 immediate: None) -> None:
    app = make_app(db_url)
    jobs.configure(app_context(app))
    client = app.test_client()
    started = now()
    for i in range(BURST):
        body = order_body(f"o{i}", updated_at="2024-05-01T10:00:00Z", total="10.00",
                          customer_id=f"c{i % 20}")
        assert post(client, body, delivery_id=f"d{i}").status_code == 200
    stale_since, computed_at, orders = _state(app)
    assert stale_since is not None and started <= stale_since <= now()
    assert (computed_at, orders) == (None, None)

    debounce = timedelta(seconds=app_context(app).settings.refresh_debounce_seconds)
    assert jobs.refresh_stale_shops(at=stale_since + debounce - timedelta(seconds=1)) == []
    assert _refresh_jobs(app) == []
    assert jobs.refresh_stale_shops(at=stale_since + debounce) == ["one"]
    (job,) = _refresh_jobs(app)
    assert job.state == JobState.DONE
    stale_since, computed_at, orders = _state(app)
    assert stale_since is None and computed_at is not None and orders == BURST
    with app_context(app).sessions() as s:
        data = cached(s, get_shop(s, "one"), REPORT).data
    assert (data["customers"], data["net_revenue"]) == (20, "1000.00")
    # Nothing new: no second refresh, however often the schedule looks.
    assert jobs.refresh_stale_shops(at=now() + debounce) == []
    assert len(_refresh_jobs(app)) == 1


def test_a_thousand_deliveries_worked_off_in_batches_cause_one_refresh(
        make_app: Callable[..., Flask], db_url: str, immediate: None) -> None:
    # The default deployment: the receiver stores, the worker works the inbox off in batches.
    app = make_app(db_url)
    ctx = app_context(app)
    jobs.configure(ctx)
    with ctx.sessions() as s:
        shop_id = get_shop(s, "one").id
    first = now()
    for i in range(1000):
        record_delivery(ctx.engine, WebhookEnvelope(
            platform="testshop", topic="orders/create", shop_domain=DOMAIN,
            delivery_id=f"b{i}", headers={}, raw_body=order_body(
                f"o{i}", updated_at="2024-05-01T10:00:00Z", total="1.00",
                customer_id=f"c{i % 50}")), shop_id)
    done = Processor(ctx.sessions, ctx.plugins, ctx.settings.home / "exports").process_pending()
    assert (len(done.processed), len(done.failed)) == (1000, 0)
    stale_since = _state(app)[0]
    assert first <= stale_since <= now()  # the first batch's time, kept by the others
    assert jobs.refresh_stale_shops(at=now() + timedelta(minutes=1)) == ["one"]
    assert jobs.refresh_stale_shops(at=now() + timedelta(minutes=2)) == []
    assert [j.state for j in _refresh_jobs(app)] == [JobState.DONE]
    assert _state(app)[0] is None and _state(app)[2] == 1000


def test_a_thousand_changes_queue_one_refresh(make_app: Callable[..., Flask], sqlite_url: str,
                                              immediate: None) -> None:
    app = make_app(sqlite_url)
    ctx = app_context(app)
    jobs.configure(ctx)
    with ctx.sessions() as s:
        shop_id = get_shop(s, "one").id
    first = now()
    for _ in range(1000):
        with ctx.sessions() as s, s.begin():
            mark_stale(s, shop_id)
    stale_since = _state(app)[0]
    assert first <= stale_since <= now()  # the first change's time, kept by the 999 others
    assert jobs.refresh_stale_shops(at=now() + timedelta(minutes=1)) == ["one"]
    assert jobs.refresh_stale_shops(at=now() + timedelta(minutes=2)) == []
    assert [j.state for j in _refresh_jobs(app)] == [JobState.DONE]
    assert _state(app)[0] is None


def test_a_queued_refresh_is_not_queued_twice(make_app: Callable[..., Flask],
                                              sqlite_url: str) -> None:
    app = make_app(sqlite_url)
    jobs.configure(app_context(app))
    jobs.huey.storage.flush_queue()
    client = app.test_client()
    post(client, order_body("o1", updated_at="2024-05-01T10:00:00Z"), delivery_id="d1")
    later = now() + timedelta(minutes=5)
    assert jobs.refresh_stale_shops(at=later) == ["one"]  # queued, not run (no worker)
    post(client, order_body("o2", updated_at="2024-05-01T11:00:00Z"), delivery_id="d2")
    assert jobs.refresh_stale_shops(at=later) == []
    (job,) = _refresh_jobs(app)
    assert (job.state, job.step) == (JobState.QUEUED, "new data")
    # The worker runs it: the shop is fresh and both orders are counted.
    jobs.huey.execute(jobs.huey.dequeue())
    assert _refresh_jobs(app)[0].state == JobState.DONE
    assert _state(app)[0] is None and _state(app)[2] == 2
    jobs.huey.storage.flush_queue()


def test_the_worker_refreshes_a_stale_shop_on_its_own(make_app: Callable[..., Flask],
                                                     sqlite_url: str, immediate: None) -> None:
    import time

    app = make_app(sqlite_url)
    ctx = app_context(app)
    ctx.settings = replace(ctx.settings, refresh_debounce_seconds=0.2)
    jobs.configure(ctx)
    post(app.test_client(), order_body("o1", updated_at="2024-05-01T10:00:00Z"),
         delivery_id="d1")
    watcher = jobs.StaleWatcher(interval=0.05)
    watcher.start()
    try:
        deadline = time.monotonic() + 10
        while _state(app)[2] != 1 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        watcher.stop()
        watcher.join(5)
    assert _state(app)[0] is None and _state(app)[2] == 1
    assert len(_refresh_jobs(app)) == 1


def test_pages_say_when_figures_were_computed_and_that_new_data_waits(
        make_app: Callable[..., Flask], sqlite_url: str, immediate: None) -> None:
    app = make_app(sqlite_url)
    jobs.configure(app_context(app))
    client = app.test_client()
    post(client, order_body("o1", updated_at="2024-05-01T10:00:00Z"), delivery_id="d1")
    jobs.recompute(app_context(app).sessions, "one")
    browser = app.test_client()
    token = make_login_token(app.config["SECRET_KEY"], "one")
    assert browser.get(f"/login?token={token}").status_code == 302
    html = browser.get("/shops/one/customers").get_data(as_text=True)
    assert re.search(r'id="freshness">Figures computed [^<]+\.</p>', html)
    post(client, order_body("o2", updated_at="2024-05-01T11:00:00Z"), delivery_id="d2")
    for page in ("/shops/one/", "/shops/one/customers"):
        html = browser.get(page).get_data(as_text=True)
        assert re.search(r'class="freshness stale" id="freshness" role="status">Newer data '
                         r"arrived [^<]+: the figures below are from [^<]+ and are being "
                         r"updated\.</p>", html), page
    with app_context(app).sessions() as s:
        assert s.scalar(select(func.count()).select_from(Job)) == 0


def test_a_manual_refresh_in_the_queue_counts_and_a_failed_one_is_retried_later(
        make_app: Callable[..., Flask], sqlite_url: str) -> None:
    app = make_app(sqlite_url)
    jobs.configure(app_context(app))
    jobs.huey.storage.flush_queue()
    client = app.test_client()
    post(client, order_body("o1", updated_at="2024-05-01T10:00:00Z"), delivery_id="d1")
    jobs.schedule_refresh("one")  # the merchant's "Recompute numbers", not run yet
    assert jobs.refresh_stale_shops(at=now() + timedelta(minutes=5)) == []
    jobs.huey.execute(jobs.huey.dequeue())
    assert _state(app)[0] is None
    # A live refresh that fails leaves the shop stale; it is retried after ten minutes.
    post(client, order_body("o2", updated_at="2024-05-01T11:00:00Z"), delivery_id="d2")
    assert jobs.refresh_stale_shops(at=now() + timedelta(minutes=1)) == ["one"]
    with app_context(app).sessions() as s, s.begin():
        job = s.scalars(select(Job).where(Job.state == JobState.QUEUED)).one()
        job.state, job.finished_at = JobState.FAILED, now()
    jobs.huey.storage.flush_queue()
    assert jobs.refresh_stale_shops(at=now() + timedelta(minutes=2)) == []
    assert jobs.refresh_stale_shops(at=now() + timedelta(minutes=11)) == ["one"]
    jobs.huey.storage.flush_queue()
