"""Campaign plan, push and report on a large synthetic shop, against the shop report as baseline.

The shop is bulk-loaded here: every customer has 1–4 orders spread over two years before the
assignment and, for a fifth of them, one order in the 30 days after it (some with their code). One
campaign targets every customer (10% holdout, cap 14 days); codes go to an in-process adapter that
stores them in a dict, so the figures are Stammkunde's own cost (database and Python), not a
platform's API latency. Measured in the same run: ``build_report`` (baseline), resolving the
target, the dry run, the push (assignments, then codes in batches of 100), a re-run of the push
(nothing pending) and the report.

    python benchmarks/campaigns.py --customers 50000 [--database sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
from _results import write_section
from sqlalchemy import insert, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stammkunde.core.campaigns import (
    CampaignSpec,
    campaign_plan,
    campaign_report,
    create_campaign,
    get_campaign,
    resolve_target,
)
from stammkunde.core.db import make_engine, session_factory, upgrade
from stammkunde.core.metrics import build_report
from stammkunde.core.models import Customer, Order, Person
from stammkunde.core.shops import create_shop
from stammkunde.core.store import get_shop
from stammkunde.core.timeutil import month_index
from stammkunde.plugins import hookimpl
from stammkunde.plugins.adapter import (
    Capability,
    DiscountOffer,
    DiscountResult,
    DiscountTarget,
    PlatformAdapter,
    ShopConnection,
)
from stammkunde.plugins.campaigns import push_campaign
from stammkunde.plugins.manager import plugins_for_test

AS_OF = datetime(2024, 6, 30, tzinfo=UTC)
DAY = 86_400


def load(url: str, n: int, seed: int = 1) -> tuple[int, int]:
    """Create shop "bench" with n customers and their orders; return (customers, orders)."""
    engine = make_engine(url)
    upgrade(engine)
    rng = np.random.default_rng(seed)
    with session_factory(engine).begin() as s:
        shop_id = create_shop(s, "bench", "memoryshop").id
    counts = rng.integers(1, 5, n)
    cust = np.repeat(np.arange(n), counts)
    start = int(AS_OF.timestamp()) - 730 * DAY
    ts = start + rng.integers(0, 729 * DAY, cust.size)
    total = rng.integers(1_000, 20_000, cust.size) * 100
    created = AS_OF - timedelta(days=800)
    with engine.begin() as conn:
        conn.execute(insert(Person), [{"id": i + 1, "email": f"b{i}@example.com",
                                       "created_at": created} for i in range(n)])
        conn.execute(insert(Customer), [
            {"id": i + 1, "shop_id": shop_id, "platform_id": f"c{i}", "person_id": i + 1,
             "is_guest": False, "email": f"b{i}@example.com"} for i in range(n)])
        rows = [
            {"shop_id": shop_id, "platform_id": f"o{k}", "customer_id": int(c) + 1,
             "person_id": int(c) + 1, "created_at": datetime.fromtimestamp(int(t), UTC),
             "created_ts": int(t), "created_month": month_index(datetime.fromtimestamp(int(t),
                                                                                     UTC)),
             "status": "paid", "is_test": False, "currency": "EUR",
             "total": Decimal(int(v)) / 10_000, "channel": "online"}
            for k, (c, t, v) in enumerate(zip(cust, ts, total, strict=True))
        ]
        for i in range(0, len(rows), 20_000):
            conn.execute(insert(Order), rows[i : i + 20_000])
    analyze(engine)
    engine.dispose()
    return n, int(cust.size)


def analyze(engine) -> None:  # type: ignore[no-untyped-def]
    """Refresh PostgreSQL's planner statistics after a bulk load (autovacuum would, later)."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))


def add_window_orders(url: str, cid: int, seed: int = 2) -> None:
    """A fifth of the members order in the window after the push; half of the treated ones
    with their code."""
    engine = make_engine(url)
    rng = np.random.default_rng(seed)
    with engine.begin() as conn:
        members = conn.execute(text(
            "SELECT person_id, customer_id, code FROM campaign_assignments "
            "WHERE campaign_id = :c AND arm <> 'capped'"), {"c": cid}).all()
        shop_id = conn.execute(text("SELECT id FROM shops WHERE name = 'bench'")).scalar()
        buyers = [m for m in members if rng.random() < 0.2]
        t0 = int(AS_OF.timestamp())
        orders = []
        for k, (person, customer, _code) in enumerate(buyers):
            t = t0 + int(rng.integers(DAY, 29 * DAY))
            orders.append({
                "shop_id": shop_id, "platform_id": f"w{k}", "customer_id": customer,
                "person_id": person, "created_at": datetime.fromtimestamp(t, UTC),
                "created_ts": t, "created_month": month_index(datetime.fromtimestamp(t, UTC)),
                "status": "paid", "is_test": False, "currency": "EUR",
                "total": Decimal(int(rng.integers(10, 200))), "channel": "online"})
        conn.execute(insert(Order), orders)
        ids = dict(conn.execute(text("SELECT platform_id, id FROM orders WHERE shop_id = :s "
                                     "AND platform_id LIKE 'w%'"), {"s": shop_id}).all())
        coded = [{"order_id": ids[f"w{k}"], "code": code, "code_key": code.casefold()}
                 for k, (_p, _c, code) in enumerate(buyers) if code and rng.random() < 0.5]
        if coded:
            conn.execute(text("INSERT INTO order_discounts (order_id, code, code_key) "
                              "VALUES (:order_id, :code, :code_key)"), coded)
    engine.dispose()


class MemoryShop(PlatformAdapter):
    """Creates codes in a dict (``exists`` for a known code)."""

    name = "memoryshop"
    capabilities = frozenset({Capability.DISCOUNTS})

    def __init__(self) -> None:
        self.codes: dict[str, str] = {}

    def push_discounts(self, shop: ShopConnection, offer: DiscountOffer,
                       targets: Sequence[DiscountTarget]) -> Iterator[DiscountResult]:
        """Store each code once."""
        for t in targets:
            status = "exists" if t.code in self.codes else "created"
            self.codes.setdefault(t.code, t.customer_id)
            yield DiscountResult(t.customer_id, t.code, status)


class Plugin:
    """Registers the in-memory platform."""

    def __init__(self, adapter: MemoryShop) -> None:
        self.adapter = adapter

    @hookimpl
    def register_platforms(self, register) -> None:  # type: ignore[no-untyped-def]
        register(self.adapter)


def measure(url: str) -> tuple[dict[str, float], dict[str, int]]:
    """Seconds per step, and the campaign's arm counts."""
    engine = make_engine(url)
    factory = session_factory(engine)
    adapter = MemoryShop()
    out: dict[str, float] = {}
    with plugins_for_test(Plugin(adapter)) as plugins:
        with factory() as s:
            shop = get_shop(s, "bench")
            t = time.perf_counter()
            build_report(s, shop, AS_OF)
            out["shop report (baseline)"] = time.perf_counter() - t
            t = time.perf_counter()
            members = resolve_target(s, shop, {"kind": "all", "arg": None}, AS_OF)
            out["resolve target (all)"] = time.perf_counter() - t
        with factory() as s, s.begin():
            cid = create_campaign(s, get_shop(s, "bench"), CampaignSpec(
                name="bench", target="all", percent=Decimal(10)), AS_OF - timedelta(days=1)).id
        with factory() as s:
            t = time.perf_counter()
            plan = campaign_plan(s, get_campaign(s, cid), AS_OF)
            out["plan (dry run)"] = time.perf_counter() - t
        t = time.perf_counter()
        result = push_campaign(factory, plugins, cid, now=AS_OF)
        out["push (assign + codes)"] = time.perf_counter() - t
        t = time.perf_counter()
        push_campaign(factory, plugins, cid, now=AS_OF)
        out["push re-run (nothing pending)"] = time.perf_counter() - t
        add_window_orders(url, cid)
        with factory() as s:
            t = time.perf_counter()
            campaign_report(s, get_campaign(s, cid), now=AS_OF + timedelta(days=40))
            out["report"] = time.perf_counter() - t
    assert result.created == plan["counts"]["treatment"] == len(adapter.codes)
    engine.dispose()
    return out, {"members": len(members), **plan["counts"], "calls": result.calls}


def main() -> None:
    """Load, measure and write the section of RESULTS.md."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=50_000)
    ap.add_argument("--database", choices=["postgresql", "sqlite"], default="sqlite")
    args = ap.parse_args()
    drop = None
    if args.database == "postgresql":
        from tests.conftest import create_pg_database, drop_pg_database

        url, drop = create_pg_database("sk_bench"), drop_pg_database
    else:
        url = f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    try:
        n, m = load(url, args.customers)
        times, counts = measure(url)
    finally:
        if drop is not None:
            drop(url)
    base = times["shop report (baseline)"]
    lines = [f"{args.database}, {n:,} customers, {m:,} orders; campaign to all "
             f"{counts['members']:,} customers: {counts['treatment']:,} treatment, "
             f"{counts['holdout']:,} holdout, {counts['calls']} adapter calls of 100 codes", "",
             "| step | seconds | × baseline | per 1,000 members (ms) |",
             "| --- | ---: | ---: | ---: |"]
    for name, sec in times.items():
        lines.append(f"| {name} | {sec:.2f} | {sec / base:.2f} | "
                     f"{sec * 1000 / max(counts['members'], 1) * 1000:.1f} |")
    body = "\n".join(lines)
    print(body)
    write_section(f"Campaigns ({args.database})", body)


if __name__ == "__main__":
    main()
