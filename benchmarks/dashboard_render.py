#!/usr/bin/env python3
"""Dashboard pages at scale: server time of each page for a shop of 100,000 customers.

    python benchmarks/dashboard_render.py                  # 100,000 customers, SQLite
    python benchmarks/dashboard_render.py --customers 5000 --no-write    # smoke size
    python benchmarks/dashboard_render.py --database-url postgresql+psycopg://...

The shop is generated column-wise with numpy and bulk-inserted (persons, customers, orders;
~2.9 orders per customer over two years, four channels, some refunds). The refresh job then
computes and caches the heavy numbers (report, previous-period report, scores with the CLV model,
win-back list, customer roll-up), as the nightly job does. Each page is requested through
Flask's test client and timed server-side (median of several requests, signed in as the shop).
The baseline is what a page would cost without the cache: computing the report on the request
(``build_report`` now and 90 days earlier).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import write_section

START = datetime(2024, 11, 1, tzinfo=UTC)
DAYS = 730
CHANNELS = ("online", "pos", "app", "marketplace")
CHUNK = 20_000


def bulk_load(sessions: Any, customers: int, seed: int) -> tuple[int, int]:
    """Create the shop "bench" and insert generated people, customers and orders."""
    from stammkunde.core.models import Customer, Order, Person
    from stammkunde.core.shops import create_shop

    rng = np.random.default_rng(seed)
    with sessions() as s, s.begin():
        shop = create_shop(s, "bench", "csv", currency="EUR", timezone="UTC")
        shop_id = shop.id
    n_orders = 1 + rng.poisson(rng.gamma(0.9, 2.1, customers))
    total = int(n_orders.sum())
    owner = np.repeat(np.arange(customers), n_orders)
    first = rng.uniform(0, DAYS * 0.95, customers)
    offsets = rng.uniform(0, 1, total) * (DAYS - first[owner])
    is_first = np.r_[True, owner[1:] != owner[:-1]]
    day = np.where(is_first, first[owner], first[owner] + offsets)
    ts = (START.timestamp() + day * 86_400).astype(np.int64)
    cents = np.maximum(rng.gamma(4.0, 1600.0, total).astype(np.int64), 490)
    refunded = np.where(rng.uniform(0, 1, total) < 0.04, cents // 2, 0)
    channel = rng.choice(len(CHANNELS), total, p=(0.58, 0.2, 0.12, 0.1))
    with sessions() as s, s.begin():
        conn = s.connection()
        created = datetime(2024, 11, 1, tzinfo=UTC)
        base_person = 1 + (s.execute(Person.__table__.select().with_only_columns(
            Person.id).order_by(Person.id.desc()).limit(1)).scalar() or 0)
        for lo in range(0, customers, CHUNK):
            hi = min(lo + CHUNK, customers)
            conn.execute(insert(Person), [
                {"id": base_person + i, "email": f"p{i}@bench.example", "created_at": created}
                for i in range(lo, hi)])
            conn.execute(insert(Customer), [
                {"id": base_person + i, "shop_id": shop_id, "platform_id": f"c{i}",
                 "person_id": base_person + i, "is_guest": False, "email": f"p{i}@bench.example",
                 "created_at": created} for i in range(lo, hi)])
        for lo in range(0, total, CHUNK):
            hi = min(lo + CHUNK, total)
            rows = []
            for k in range(lo, hi):
                t = int(ts[k])
                at = datetime.fromtimestamp(t, UTC)
                rows.append({
                    "shop_id": shop_id, "platform_id": f"o{k}",
                    "customer_id": base_person + int(owner[k]),
                    "person_id": base_person + int(owner[k]), "created_at": at,
                    "created_ts": t, "created_month": at.year * 12 + at.month - 1,
                    "status": "paid", "is_test": False, "currency": "EUR",
                    "total": Decimal(int(cents[k])) / 100, "channel": CHANNELS[channel[k]],
                    "refunded": Decimal(int(refunded[k])) / 100,
                    "refund_ts": t + 86_400 * 7 if refunded[k] else None,
                })
            conn.execute(insert(Order), rows)
    return customers, total


def timed(fn: Any, repeat: int) -> tuple[float, Any]:
    """Return the median seconds of ``repeat`` calls and the last result."""
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def main() -> int:
    """Load, refresh, time every page, print the table and write RESULTS.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--database-url", default=None,
                        help="default: a SQLite file in a temporary folder")
    parser.add_argument("--no-write", action="store_true", help="do not touch RESULTS.md")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="stammkunde-bench-"))
    url = args.database_url or f"sqlite:///{home / 'bench.db'}"
    os.environ.update(STAMMKUNDE_HOME=str(home), STAMMKUNDE_DATABASE_URL=url,
                      STAMMKUNDE_SECRET_KEY="bench-secret")

    from stammkunde.app import jobs
    from stammkunde.app.context import AppContext
    from stammkunde.app.dashboard.auth import make_login_token
    from stammkunde.app.web import create_app
    from stammkunde.core.cache import PREVIOUS_PERIOD
    from stammkunde.core.metrics import build_report
    from stammkunde.core.store import get_shop
    from stammkunde.core.timeutil import now

    ctx = AppContext()
    t0 = time.perf_counter()
    customers, orders = bulk_load(ctx.sessions, args.customers, args.seed)
    load_s = time.perf_counter() - t0
    app = create_app({"SESSION_COOKIE_SECURE": False}, settings=ctx.settings)
    jobs.huey.immediate = True
    t0 = time.perf_counter()
    job_id = jobs.schedule_refresh("bench")
    refresh_s = time.perf_counter() - t0
    with ctx.sessions() as s:
        from stammkunde.core.job_models import Job

        assert s.get(Job, job_id).state == "done", s.get(Job, job_id).message

    client = app.test_client()
    token = make_login_token("bench-secret", "bench")
    assert client.get(f"/login?token={token}").status_code == 302
    last_page = (customers + 49) // 50
    pages = [
        ("overview", "/shops/bench/"),
        ("customers, page 1", "/shops/bench/customers"),
        ("customers by last order, page 1000",
         f"/shops/bench/customers?sort=last_order&dir=asc&page={min(1000, last_page)}"),
        ("customers by orders, last page",
         f"/shops/bench/customers?sort=orders&page={last_page}"),
        ("segments, stages, tiers", "/shops/bench/segments"),
        ("customers in a segment", "/shops/bench/customers?segment=champions"),
        ("win-back", "/shops/bench/win-back"),
        ("campaigns", "/shops/bench/campaigns"),
        ("jobs", "/shops/bench/jobs"),
        ("jobs.json (polled)", "/shops/bench/jobs.json"),
        ("settings", "/shops/bench/settings"),
    ]
    rows = []
    for name, path in pages:
        client.get(path)  # warm Jinja's template cache
        seconds, response = timed(lambda p=path: client.get(p), args.repeat)
        assert response.status_code == 200, (path, response.status_code)
        rows.append((name, seconds))
    csv_s, response = timed(lambda: client.get("/shops/bench/customers.csv").get_data(), 1)

    def uncached() -> None:
        with ctx.sessions() as s:
            shop = get_shop(s, "bench")
            at = now()
            build_report(s, shop, at)
            build_report(s, shop, at - PREVIOUS_PERIOD)

    baseline_s, _ = timed(uncached, 3)
    overview_s = rows[0][1]

    backend = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    lines = [
        f"{customers:,} customers, {orders:,} orders, {backend}; Python "
        f"{platform.python_version()}, {platform.machine()}; median of {args.repeat} requests "
        "through Flask's test client (server time: routing, queries, templates); machine: 2 "
        f"cores shared with other work (load average {os.getloadavg()[0]:.1f} at the end).",
        "",
        "| page | server time (ms) | within 300 ms |",
        "| --- | ---: | :---: |",
        *(f"| {name} | {s * 1000:.1f} | {'yes' if s < 0.3 else 'no'} |" for name, s in rows),
        "",
        "| other | seconds |",
        "| --- | ---: |",
        f"| bulk load (generate + insert) | {load_s:.1f} |",
        f"| refresh job (report, previous report, scores and model fit, win-back, customer "
        f"roll-up) | {refresh_s:.2f} |",
        f"| CSV download of all customers | {csv_s:.2f} |",
        f"| baseline: the overview's two reports computed on the request | {baseline_s:.2f} |",
        "",
        f"The cached overview renders in {overview_s * 1000:.1f} ms, "
        f"{baseline_s / overview_s:.0f}× faster than computing its numbers on the request "
        f"({baseline_s * 1000:.0f} ms). The nightly refresh job (and every sync) recomputes the "
        "cache in the background.",
    ]
    body = "\n".join(lines)
    print(body)
    if not args.no_write and customers >= 100_000:
        write_section("Dashboard (dashboard_render.py)", body)
    return 0 if all(s < 0.3 for _, s in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
