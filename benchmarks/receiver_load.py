"""Webhook receiver under load and under faults, against a bare "return 200" baseline.

Everything runs on loopback: waitress processes (the production ``stammkunde serve`` code)
serving either a bare Flask endpoint or the real receiver (signature check + durable inbox insert,
processing deferred to the worker in "ack path" rows, or inline after the answer), on SQLite and
on a fresh PostgreSQL database; the load generator is a threaded Python client with one requests
session per thread. Then the fault runs: kill -9 (a worker at 1/3, master and workers at 2/3,
restart, platform-style retries, inbox sweep), a duplicate storm, a database outage during load,
and the hypothesis fuzz at 10,000 examples.

    python benchmarks/receiver_load.py            # full run (a few minutes)
    python benchmarks/receiver_load.py --quick    # reduced sizes for CI

Writes the section "## Webhook receiver (receiver_load.py)" of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))  # the testshop platform lives in the tests tree

from _results import write_section  # noqa: E402
from receiver_harness import (  # noqa: E402
    Server,
    Tally,
    create_pg_database,
    delivery,
    drop_pg_database,
    free_port,
    kill_run,
    percentile,
    prepare_database,
    send_all,
    set_pg_down,
    tally,
    waiting,
)

from stammkunde.core.db import make_engine, session_factory  # noqa: E402
from stammkunde.plugins.manager import get_plugins  # noqa: E402
from stammkunde.webhooks.inbox import Processor  # noqa: E402
from tests.testshop import TestshopPlugin  # noqa: E402

WORKERS = 2
THREADS = 16


@dataclass(frozen=True)
class LoadRow:
    """One throughput or paced run."""

    name: str
    deliveries: int
    seconds: float
    p50_ms: float
    p99_ms: float
    non_2xx: int

    @property
    def rate(self) -> float:
        """Acknowledged deliveries per second."""
        return self.deliveries / self.seconds


def sweep(db_url: str, home: Path) -> Callable[[], None]:
    """Return a function that processes what a crash left in the inbox."""
    def run() -> None:
        engine = make_engine(db_url)
        Processor(session_factory(engine), get_plugins(), home / "exports").process_pending(
            limit=1_000_000)
        engine.dispose()
    return run


def load(name: str, db_url: str, home: Path, n: int, *, mode: str = "receiver",
         processing: str = "worker", rate: float | None = None, prefix: str = "d",
         inbox_worker: bool = False) -> LoadRow:
    """Run one load: start the server, warm it up, send n deliveries, stop."""
    home.mkdir(parents=True, exist_ok=True)
    server = Server(db_url, home, free_port(), workers=WORKERS, mode=mode, processing=processing)
    server.start()
    worker = server.start_inbox_worker() if inbox_worker else None
    try:
        send_all(server.url, [delivery(i, prefix="warm") for i in range(200)], threads=THREADS)
        if worker is not None:  # steady state: the worker is up and has worked the warm-up off
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and waiting(db_url):
                time.sleep(0.2)
        items = [delivery(i, prefix=prefix) for i in range(n)]
        t0 = time.perf_counter()
        sent = send_all(server.url, items, threads=THREADS, rate=rate)
        seconds = time.perf_counter() - t0
        if worker is not None:  # the worker must keep up: wait for the backlog to drain
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and waiting(db_url):
                time.sleep(0.2)
            left = waiting(db_url)
            after = time.perf_counter() - t0 - seconds
            name += (f" (backlog drained {after:.0f} s after)" if not left
                     else f" ({left:,} still waiting {after:.0f} s after)")
    finally:
        if worker is not None:
            worker.kill()
            worker.wait()
        server.stop()
    return LoadRow(name, len(sent.acked), seconds, percentile(sent.latencies, 0.5) * 1000,
                   percentile(sent.latencies, 0.99) * 1000,
                   sum(c for s, c in sent.statuses.items() if not 200 <= s < 300))


def storm(db_url: str, home: Path, n: int) -> tuple[Tally, int]:
    """Every delivery three times, shuffled, concurrently; each order must be counted once."""
    home.mkdir(parents=True, exist_ok=True)
    server = Server(db_url, home, free_port(), workers=WORKERS, processing="inline")
    server.start()
    items = [delivery(i, prefix="s") for i in range(n)]
    storm_items = items * 3
    random.Random(11).shuffle(storm_items)
    try:
        sent = send_all(server.url, storm_items, threads=THREADS)
    finally:
        server.stop()
    sweep(db_url, home)()
    return tally(db_url, [i[0] for i in items], sent), len(storm_items)


def outage(db_url: str, home: Path, n: int, rate: float, down_seconds: float) -> tuple[Tally,
                                                                                         int]:
    """Deliveries at a fixed rate; the database goes away for a while at a third of them."""
    home.mkdir(parents=True, exist_ok=True)
    server = Server(db_url, home, free_port(), workers=WORKERS, processing="inline")
    server.start()
    items = [delivery(i, prefix="o") for i in range(n)]
    done = threading.Event()

    def chaos(count: int) -> None:
        if count >= n // 3 and not done.is_set():
            done.set()
            set_pg_down(db_url, True)
            threading.Timer(down_seconds, set_pg_down, (db_url, False)).start()

    try:
        sent = send_all(server.url, items, threads=THREADS, rate=rate, on_progress=chaos)
        unavailable = sent.statuses.get(503, 0)
        time.sleep(down_seconds)
        for _ in range(10):  # the platform retries
            missing = [it for it in items if it[0] not in sent.acked]
            if not missing:
                break
            time.sleep(1)
            send_all(server.url, missing, threads=THREADS, sent=sent)
    finally:
        server.stop()
    sweep(db_url, home)()
    return tally(db_url, [i[0] for i in items], sent), unavailable


def fuzz(examples: int) -> tuple[str, float]:
    """Run the hypothesis fuzz tests with this many examples each; return outcome and time."""
    env = {**os.environ, "STAMMKUNDE_FUZZ_EXAMPLES": str(examples)}
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:logging", "-p", "no:cacheprovider",
         str(HERE.parent / "tests" / "webhooks" / "test_fuzz.py")],
        env=env, capture_output=True, text=True, cwd=HERE.parent)
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    return (lines[-1] if lines else f"exit {proc.returncode}"), time.perf_counter() - t0


def fault_row(name: str, t: Tally, extra: str = "") -> str:
    """Format a fault run as a table row."""
    return (f"| {name} | {t.delivered:,} | {t.attempts:,} | {t.acknowledged:,} | {t.stored:,} | "
            f"{t.processed_orders:,} | {t.lost} | {t.doubled} | {extra} |")


def main() -> None:
    """Run the benchmark and write its RESULTS.md section."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="reduced sizes (CI)")
    parser.add_argument("--load-only", action="store_true",
                        help="throughput rows only; print, do not write RESULTS.md")
    args = parser.parse_args()
    n_load = 1000 if args.quick else 4000
    n_paced = 1000 if args.quick else 3000
    n_kill = 1000 if args.quick else 10_000
    n_storm = 300 if args.quick else 1500
    n_outage = 600 if args.quick else 2000
    n_fuzz = 1000 if args.quick else 10_000
    get_plugins().register(TestshopPlugin())
    work = Path(tempfile.mkdtemp(prefix="receiver-load-"))
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    pg_urls: list[str] = []
    counter = itertools.count()

    def fresh(kind: str) -> str:
        if kind == "sqlite":
            url = f"sqlite:///{work / f'db-{next(counter)}.db'}"
        else:
            url = create_pg_database()
            pg_urls.append(url)
        prepare_database(url)
        return url

    try:
        rows = [load("bare Flask endpoint (return 200)", fresh("sqlite"), work / "bare", n_load,
                     mode="bare")]
        print(rows[-1], flush=True)
        for kind in ("sqlite", "postgresql"):
            rows.append(load(f"receiver, {kind}: default deployment (serve + worker draining "
                             "the inbox)", fresh(kind), work / f"default-{kind}", n_load,
                             inbox_worker=True))
            print(rows[-1], flush=True)
            rows.append(load(f"receiver, {kind}: ack path alone (verify + durable insert, "
                             "no worker)", fresh(kind), work / f"ack-{kind}", n_load))
            print(rows[-1], flush=True)
            rows.append(load(f"receiver, {kind}: --processing inline", fresh(kind),
                             work / f"inline-{kind}", n_load, processing="inline"))
            print(rows[-1], flush=True)
        paced = load("receiver, postgresql: default deployment, paced 200/s",
                     fresh("postgresql"), work / "paced", n_paced, rate=200.0,
                     inbox_worker=True)
        print(paced, flush=True)
        paced_worker = load("receiver, postgresql: --processing inline, paced 200/s",
                            fresh("postgresql"), work / "paced-inline", n_paced,
                            processing="inline", rate=200.0)
        print(paced_worker, flush=True)
        if args.load_only:
            return

        kill_url = fresh("postgresql")
        kill_tally, kill_events = kill_run(kill_url, work / "kill", n_kill,
                                           threads=THREADS, sweep=sweep(kill_url, work / "kill"))
        print(kill_tally, kill_events, flush=True)
        storm_tally, storm_sent = storm(fresh("postgresql"), work / "storm", n_storm)
        print(storm_tally, flush=True)
        outage_tally, unavailable = outage(fresh("postgresql"), work / "outage", n_outage,
                                           rate=250.0, down_seconds=2.0)
        print(outage_tally, unavailable, flush=True)
        fuzz_result, fuzz_seconds = fuzz(n_fuzz)
        print(fuzz_result, flush=True)
    finally:
        for url in pg_urls:
            drop_pg_database(url)
    total = time.perf_counter() - started

    bare = rows[0].rate
    lines = [
        f"Run: `python benchmarks/receiver_load.py{' --quick' if args.quick else ''}` on "
        f"{os.cpu_count()} cores, waitress {WORKERS} processes × 8 threads (as "
        f"`stammkunde serve`), {THREADS} client threads "
        f"(requests sessions) on 127.0.0.1; total {total:.0f} s; load average {load_before:.1f} "
        f"at start, {os.getloadavg()[0]:.1f} at end (the machine is shared). "
        "\"Default deployment\" is `stammkunde serve` as the README runs it (acknowledge only: "
        "signature, shop lookup, inbox insert, commit) with the inbox worker beside it: the "
        "`stammkunde inbox work` command itself, in a separate process, working off the inbox "
        "in batches (measured once it has started and worked the 200 warm-up deliveries off, "
        "as a worker that runs beside the server all along); \"ack path alone\" "
        "has no worker running; \"inline\" also processes each delivery in the web worker "
        "right after answering.",
        "",
        "| endpoint | deliveries | deliveries/s | vs bare | p50 ack ms | p99 ack ms | non-2xx |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in [*rows, paced, paced_worker]:
        lines.append(f"| {r.name} | {r.deliveries:,} | {r.rate:,.0f} | {r.rate / bare:.0%} | "
                     f"{r.p50_ms:.1f} | {r.p99_ms:.1f} | {r.non_2xx} |")
    pg_ack = next(r for r in rows if r.name.startswith("receiver, postgresql: default"))
    lines += [
        "",
        f"Targets: PostgreSQL default deployment at {pg_ack.rate / bare:.0%} of the bare endpoint "
        f"(target ≥ 50%); p99 ack at 200 deliveries/s = {paced.p99_ms:.1f} ms (target < 100 ms).",
        "",
        "Fault runs (PostgreSQL; lost = acknowledged but not in the inbox; doubled = an inbox "
        "key or an order stored more than once):",
        "",
        "| run | delivered | attempts | acknowledged | stored once | orders once | lost | "
        "doubled | notes |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
        fault_row("kill -9 (worker at 1/3, master+workers at 2/3, restart)", kill_tally,
                  f"worker killed at {kill_events['worker_killed_at']:,}, server at "
                  f"{kill_events['server_killed_at']:,}; retry rounds "
                  f"{kill_events['retried_rounds']}"),
        fault_row("duplicate storm (each delivery 3x, shuffled)", storm_tally,
                  f"{storm_sent:,} posts"),
        fault_row("database away 2 s during 250/s load", outage_tally,
                  f"{unavailable} answered 503, retried"),
        "",
        f"Fuzz (hypothesis, {n_fuzz:,} examples per property, 2 properties): {fuzz_result} "
        f"in {fuzz_seconds:.0f} s.",
    ]
    body = "\n".join(lines)
    print(body)
    write_section("Webhook receiver (receiver_load.py)", body)


if __name__ == "__main__":
    main()
