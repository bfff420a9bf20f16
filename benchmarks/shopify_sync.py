"""Benchmark: a historic Shopify sync against the fake, paced by a realistic cost bucket.

The fake and the client share a scaled clock (``--scale`` simulated seconds per real second), so a
bucket of 1000 points restoring 50 points per *simulated* second behaves as on a Standard shop
while the run takes minutes. Reported:

- paced sync: orders per second (real and simulated), the share of the rate budget used
  (points spent / (points available at the start + restore rate x simulated time)),
  THROTTLED answers and 429s (target: >= 90 %, zero);
- baseline in the same run: a naive client that ignores ``throttleStatus`` and retries a
  THROTTLED answer after one second, over the first ``--baseline-orders`` orders;
- the bulk export of the same orders (how a large shop's first sync runs);
- calls to push codes to 10,000 customers against the minimum the API limits allow, and the
  per-customer mode (one discount each) for comparison.

    python benchmarks/shopify_sync.py [--orders 100000] [--scale 150]
"""

from __future__ import annotations

import argparse
import gc
import math
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.fakes (repository only)

from _results import write_section

from stammkunde.plugins.adapter import DiscountOffer, DiscountTarget
from stammkunde.plugins.shopify import ShopifyAdapter
from stammkunde.plugins.shopify import sync as shopify_sync
from stammkunde.plugins.shopify.client import GraphQLClient, ThrottleState
from tests.fakes.shopify import Bucket, FakeShopify

MAXIMUM, RESTORE = 1000.0, 50.0


class ScaledClock:
    """Simulated seconds running ``scale`` times faster than real ones."""

    def __init__(self, scale: float) -> None:
        self.scale, self.start = scale, time.monotonic()

    def __call__(self) -> float:
        return (time.monotonic() - self.start) * self.scale

    def sleep(self, seconds: float) -> None:
        """Sleep ``seconds`` of simulated time."""
        time.sleep(max(0.0, seconds) / self.scale)


class NaiveClient(GraphQLClient):
    """The baseline: never reads throttleStatus, retries THROTTLED after a fixed second."""

    def _note_cost(self, operation: str, info: Any) -> None:
        if info.get("actualQueryCost") is not None:
            self.stats.cost += float(info["actualQueryCost"])
        self.throttle = ThrottleState(restore_rate=1.0)   # "wait 1 s", never plan ahead


def fresh_bucket(fake: FakeShopify, clock: ScaledClock) -> None:
    fake.bucket = Bucket(MAXIMUM, RESTORE, clock)
    fake.stats.clear()
    fake.cost_used = 0.0


def measure(fake: FakeShopify, clock: ScaledClock, batches: Any, limit: int | None = None
            ) -> dict[str, float]:
    """Drain a fetch and return orders, seconds, points and the budget share."""
    level0, cost0 = fake.bucket.level(), fake.cost_used
    real0, sim0 = time.monotonic(), clock()
    count = 0
    for batch in batches:
        count += len(batch.records)
        if limit is not None and count >= limit:
            break
    real, sim = time.monotonic() - real0, clock() - sim0
    spent = fake.cost_used - cost0
    return {"orders": count, "real": real, "sim": sim, "spent": spent,
            "share": spent / (level0 + RESTORE * sim), "throttled": fake.stats["throttled"],
            "http_429": fake.stats.get("served_429", 0), "calls": fake.stats["calls"]}


def min_calls(n: int) -> dict[str, int]:
    """The fewest calls the limits allow for n unique codes limited to their customers."""
    lookups = math.ceil(n / 250)            # 250 aliased codeDiscountNodeByCode per query
    adds = math.ceil((n - 1) / 250)         # discountRedeemCodeBulkAdd takes <= 250 codes
    return {"lookups": lookups, "mutations": 1 + adds, "total": lookups + 1 + 2 * adds}


def push(n: int, clock: ScaledClock, **options: Any) -> dict[str, int]:
    with FakeShopify(clock=clock) as fake:
        fake.bucket = Bucket(MAXIMUM, RESTORE, clock)
        fake.data.generate(orders=0, customers=n)
        adapter = ShopifyAdapter(sleep=clock.sleep, clock=clock)
        offer = DiscountOffer(title="Win-back", kind="percentage", value=Decimal(15),
                              starts_at=datetime(2025, 1, 1, tzinfo=UTC))
        targets = [DiscountTarget(str(1000 + i), None, f"WB-{i:05d}") for i in range(1, n + 1)]
        real0, sim0 = time.monotonic(), clock()
        results = list(adapter.push_discounts(fake.connection(**options), offer, targets))
        assert all(r.status == "created" for r in results), "a code was not created"
        ops = {k[3:]: v for k, v in fake.stats.items() if k.startswith("op_")}
        return {"total": fake.stats["calls"], "lookups": ops.get("CodesLookup", 0),
                "mutations": ops.get("DiscountCreate", 0) + ops.get("CodesBulkAdd", 0),
                "polls": ops.get("CodesBulkPoll", 0), "throttled": fake.stats["throttled"],
                "sim": round(clock() - sim0), "real": round(time.monotonic() - real0, 1)}


def main() -> None:
    """Run the benchmark, print a table and rewrite this script's RESULTS.md section."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--baseline-orders", type=int, default=20_000)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--per-customer", type=int, default=2_000)
    parser.add_argument("--scale", type=float, default=150.0)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    clock = ScaledClock(args.scale)
    with FakeShopify(clock=clock) as fake:
        t = time.monotonic()
        fake.data.generate(orders=args.orders, customers=max(1, args.orders // 5))
        fake.data.orders.keys()
        gc.freeze()  # the fake's 100k orders are permanent: keep the collector from rescanning
        print(f"fake shop: {args.orders} orders generated in {time.monotonic() - t:.1f} s")
        fresh_bucket(fake, clock)
        adapter = ShopifyAdapter(sleep=clock.sleep, clock=clock)
        paced = measure(fake, clock, adapter.fetch_orders(
            fake.connection(name="paced", bulk_threshold=None)))
        fresh_bucket(fake, clock)
        naive_client = NaiveClient(fake.domain, fake.token, base_url=fake.base_url,
                                   sleep=clock.sleep, clock=clock, max_retries=10_000)
        naive = measure(fake, clock, shopify_sync.fetch(
            naive_client, "orders", None, None, page_size=None, bulk_threshold=None,
            poll_interval=0), limit=args.baseline_orders)
        fresh_bucket(fake, clock)
        bulk = measure(fake, clock, adapter.fetch_orders(
            fake.connection(name="bulk", bulk_threshold=1, poll_interval=2.0)))
    codes = push(args.customers, clock)
    least = min_calls(args.customers)
    single = push(args.per_customer, clock, per_customer=True)

    def rate(m: dict[str, float], key: str) -> float:
        return m["orders"] / m[key] if m[key] else float("inf")

    rows = [
        ("paced GraphQL pages (ours)", paced), (f"naive baseline, first {naive['orders']}", naive),
        ("bulk export (JSONL)", bulk)]
    lines = [f"{args.orders:,} orders from the fake Shopify; bucket {MAXIMUM:g} points, "
             f"restore {RESTORE:g}/s (simulated), clock x{args.scale:g}; pages sized to half the "
             "bucket (10 orders with lineItems(first: 10), requested 492 points) for both "
             "clients, so they differ only in pacing.", "",
             "| run | orders | orders/s (simulated) | orders/s (real) | budget used | "
             "THROTTLED | 429 | calls |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for label, m in rows:
        lines.append(f"| {label} | {m['orders']:,} | {rate(m, 'sim'):.1f} | {rate(m, 'real'):.0f} "
                     f"| {100 * m['share']:.1f} % | {m['throttled']} | {m['http_429']} "
                     f"| {m['calls']} |")
    lines += ["", f"Paced vs naive: {rate(paced, 'sim') / rate(naive, 'sim'):.2f}x the orders per "
              f"simulated second, {naive['throttled']} vs {paced['throttled']} THROTTLED answers.",
              "", f"Codes for {args.customers:,} customers (groups of 1,001 customers: one "
              "discount each, first code with the create, the rest in bulk adds of 250):", "",
              "| | lookups | creating mutations | polls | total calls | THROTTLED |",
              "|---|---:|---:|---:|---:|---:|",
              f"| ours | {codes['lookups']} | {codes['mutations']} | {codes['polls']} | "
              f"{codes['total']} | {codes['throttled']} |",
              f"| minimum the limits allow | {least['lookups']} | {least['mutations']} | "
              f"{least['mutations'] - 1} | {least['total']} | 0 |",
              f"| one discount per customer ({args.per_customer:,} customers) | "
              f"{single['lookups']} | {single['mutations']} | {single['polls']} | "
              f"{single['total']} | {single['throttled']} |",
              "", f"Ours uses {codes['total'] / least['total']:.2f}x the minimum calls; one "
              f"discount per customer needs {single['total'] / args.per_customer:.2f} calls per "
              f"customer ({single['total'] / args.per_customer * args.customers:,.0f} for "
              f"{args.customers:,})."]
    body = "\n".join(lines)
    print(body)
    if not args.no_write:
        write_section("Shopify sync (shopify_sync.py)", body)


if __name__ == "__main__":
    main()
