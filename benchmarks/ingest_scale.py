"""Ingest at scale: the product's own paths against a raw load of the same data, in one run.

- CSV import: a generated ``stammkunde-csv`` file of N orders through the real
  ``stammkunde import`` command (a subprocess: parsing, validation, person merge, bulk upserts,
  ANALYZE on PostgreSQL), on SQLite and on a fresh PostgreSQL database, next to a raw load of the
  same file in the same run (SQLite: ``csv.reader`` + ``executemany`` into a table of the file's
  columns; PostgreSQL: ``COPY`` of the file). Peak memory is the import process's maximum RSS.
  A second import of the same file shows idempotency (0 new) and its speed.
- Shopify bulk sync: the fake Shopify's bulk export of N orders through ``sync_shop`` (GraphQL
  bulk operation, JSONL download, mapping, storage), end to end.
- Inbox backlog: N stored signed deliveries worked off by the real ``stammkunde inbox work --once``.

    python benchmarks/ingest_scale.py                      # 1M orders, 100k deliveries
    python benchmarks/ingest_scale.py --orders 100000 --shopify-orders 20000 --deliveries 20000

Writes the section "## Ingest at scale (ingest_scale.py)" of benchmarks/RESULTS.md (``--no-write``
only prints).
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))  # tests.fakes, tests.testshop (repository only)

from _results import write_section  # noqa: E402

PG_ADMIN = os.environ.get("STAMMKUNDE_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/")
SECRET_KEY = "ingest-bench-key"
RUNNER = f"""
import sys
sys.path.insert(0, {str(HERE.parent)!r})  # tests.testshop: the signed test platform (a double)
from stammkunde.plugins.manager import get_plugins
from tests.testshop import TestshopPlugin
from stammkunde.app.cli import main
get_plugins().register(TestshopPlugin())
sys.argv = ["stammkunde", *sys.argv[1:]]
main()
"""


def make_csv(path: Path, n: int, seed: int = 18) -> None:
    """Write n orders of about n/4 customers: accounts and guests, refunds, cancellations, codes."""
    rnd = random.Random(seed)
    customers = max(1, n // 4)
    start = datetime(2022, 1, 1, tzinfo=UTC)
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write("order_id,customer_id,email,created_at,currency,total,refunded,status,channel,"
                 "discount_codes\n")
        for i in range(n):
            c = rnd.randrange(customers)
            guest = c % 10 < 3
            when = start + timedelta(seconds=rnd.randrange(3 * 365 * 86400))
            total = rnd.randrange(500, 30000)
            roll = rnd.random()
            status, refunded = "paid", ""
            if roll < 0.03:
                status = "cancelled"
            elif roll < 0.08:
                refunded = f"{rnd.randrange(100, total) / 100:.2f}"
            elif roll < 0.10:
                status = "refunded"
            code = "WELCOME10" if rnd.random() < 0.05 else ""
            fh.write(f"{i + 1},{'' if guest else f'c{c}'},customer{c}@example.com,"
                     f"{when:%Y-%m-%dT%H:%M:%SZ},EUR,{total / 100:.2f},{refunded},{status},"
                     f"{'pos' if i % 7 == 0 else 'online'},{code}\n")


def pg_database() -> str:
    """Create a fresh, uniquely named PostgreSQL database and return its URL."""
    from sqlalchemy import create_engine, text

    name = f"stk_ingest_{uuid.uuid4().hex[:10]}"
    engine = create_engine(PG_ADMIN + "postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return PG_ADMIN + name


def drop_pg(url: str) -> None:
    """Drop a database made by :func:`pg_database`."""
    from sqlalchemy import create_engine, text

    name = url.rsplit("/", 1)[1]
    engine = create_engine(PG_ADMIN + "postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def prepare(url: str, platform: str = "csv", domain: str | None = None,
            credentials: dict[str, str] | None = None) -> None:
    """Migrate the database and add the shop the data belongs to."""
    from stammkunde.core.db import make_engine, session_factory, upgrade
    from stammkunde.core.shops import create_shop

    engine = make_engine(url)
    upgrade(engine)
    with session_factory(engine)() as s, s.begin():
        create_shop(s, "bench", platform, domain=domain, credentials=credentials,
                    secret_key=SECRET_KEY)
    engine.dispose()


@dataclass
class Run:
    """A timed subprocess: seconds, peak RSS (MiB) of the process alone and of the process with
    its children at the same moment (the import's parser workers), and its last output line."""

    seconds: float
    peak_mib: float
    output: str
    tree_mib: float = 0.0


def tree_pids(root: int) -> list[int]:
    """Return a process and all its descendants, found by a scan of /proc (about 10 ms)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:  # gone meanwhile
            continue
        parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(child for child, parent in parents.items() if parent == pid)
    return found


def tree_rss(pids: list[int]) -> int:
    """Return the resident bytes of these processes now (a process gone meanwhile counts 0)."""
    page = os.sysconf("SC_PAGE_SIZE")
    total = 0
    for pid in pids:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page
        except (OSError, IndexError):
            continue
    return total


class TreeWatch:
    """Samples a process tree's resident memory every 50 ms in a thread; ``peak`` in bytes.

    The tree's processes are looked up once a second (a scan of /proc costs about 10 ms of CPU:
    20 scans a second took a fifth of a core from the measured import on 2 cores); in between
    only their own memory is read.
    """

    def __init__(self, pid: int) -> None:
        import threading

        self.pid = pid
        self.peak = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.watch, daemon=True)
        self.thread.start()

    def watch(self) -> None:
        """Sample until stopped."""
        pids = tree_pids(self.pid)
        count = 0
        while not self.done.wait(0.05):
            count += 1
            if count % 20 == 0:
                pids = tree_pids(self.pid)
            self.peak = max(self.peak, tree_rss(pids))

    def stop(self) -> int:
        """Stop sampling and return the peak."""
        self.done.set()
        self.thread.join()
        return self.peak


def stammkunde(args: list[str], url: str, home: Path) -> Run:
    """Run the real CLI (with the signed test platform registered) and measure it."""
    env = {**os.environ, "STAMMKUNDE_DATABASE_URL": url, "STAMMKUNDE_HOME": str(home),
           "STAMMKUNDE_SECRET_KEY": SECRET_KEY}
    out_path, err_path = home / "stdout.txt", home / "stderr.txt"
    home.mkdir(parents=True, exist_ok=True)
    with out_path.open("wb") as out, err_path.open("wb") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", RUNNER, *args], env=env, stdout=out,
                                stderr=err)
        watch = TreeWatch(proc.pid)
        _, status, usage = os.wait4(proc.pid, 0)  # the child's own peak RSS
        seconds = time.perf_counter() - t0
        tree = watch.stop()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"stammkunde {' '.join(args)} failed: "
                         f"{err_path.read_text()[-2000:]}")
    lines = [line for line in out_path.read_text().splitlines() if line.strip()]
    return Run(seconds, usage.ru_maxrss / 1024, lines[-1] if lines else "",
               max(tree, usage.ru_maxrss * 1024) / 2**20)


def raw_sqlite(path: Path, db: Path) -> float:
    """Load the file's rows as they are into SQLite: csv.reader + executemany, one transaction."""
    import sqlite3

    t0 = time.perf_counter()
    conn = sqlite3.connect(db)
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        conn.execute(f"CREATE TABLE raw_orders ({', '.join(header)})")
        conn.executemany(f"INSERT INTO raw_orders VALUES ({', '.join('?' * len(header))})",
                         reader)
    conn.commit()
    conn.close()
    return time.perf_counter() - t0


def raw_postgres(path: Path, url: str) -> float:
    """Load the file into PostgreSQL as it is: COPY ... FROM STDIN (CSV, header)."""
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    t0 = time.perf_counter()
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        header = path.open(encoding="utf-8").readline().strip().split(",")
        cur.execute(f"CREATE TABLE raw_orders ({', '.join(h + ' text' for h in header)})")
        with cur.copy("COPY raw_orders FROM STDIN (FORMAT csv, HEADER true)") as copy, \
                path.open("rb") as fh:
            while block := fh.read(1 << 20):
                copy.write(block)
    return time.perf_counter() - t0


def orders_floor(url: str) -> float:
    """Seconds the database needs to insert the stored orders once more into an empty copy of
    the orders table with the same indexes and foreign keys (one INSERT ... SELECT): what the
    schema alone costs, without parsing, validation or person merge."""
    if url.startswith("sqlite"):
        import re
        import sqlite3

        conn = sqlite3.connect(url.split("///", 1)[1])
        conn.execute("PRAGMA foreign_keys=ON")
        ddl = [sql for (sql,) in conn.execute(
            "SELECT sql FROM sqlite_master WHERE tbl_name = 'orders' AND sql IS NOT NULL")]
        for sql in ddl:
            sql = re.sub(r"\b(CREATE TABLE) orders\b", r"\1 orders_floor", sql)
            sql = re.sub(r"\bON orders\b", "ON orders_floor", sql)
            conn.execute(re.sub(r"\b(ix|uq)_orders", r"\1_floor", sql))
        t0 = time.perf_counter()
        with conn:
            conn.execute("INSERT INTO orders_floor SELECT * FROM orders")
        seconds = time.perf_counter() - t0
        conn.execute("DROP TABLE orders_floor")
        conn.close()
        return seconds
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        conn.execute("CREATE TABLE orders_floor (LIKE orders INCLUDING ALL)")
        for (fk,) in conn.execute("SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                                  "WHERE conrelid = 'orders'::regclass AND contype = 'f'"):
            conn.execute(f"ALTER TABLE orders_floor ADD {fk}")
        conn.commit()
        t0 = time.perf_counter()
        conn.execute("INSERT INTO orders_floor SELECT * FROM orders")
        conn.commit()
        seconds = time.perf_counter() - t0
        conn.execute("DROP TABLE orders_floor")
    return seconds


def count_orders(url: str) -> int:
    """Return how many orders the database holds."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM orders")).scalar_one()
    engine.dispose()
    return n


def import_rows(work: Path, csv_path: Path, n: int, kinds: list[str],
                cleanup: list[Callable[[], None]], full: bool = True) -> list[str]:
    """CSV import on each database next to the raw load; return table rows (``full=False``: the
    first load alone, for its speed and memory)."""
    rows = []
    for kind in kinds:
        if kind == "sqlite" and not full:
            url = f"sqlite:///{work / f'memory-{n}.db'}"
        elif kind == "sqlite":
            url = f"sqlite:///{work / f'import-{n}.db'}"
            raw = raw_sqlite(csv_path, work / f"raw-{n}.db")
            raw_label = "executemany"
        elif not full:
            url = pg_database()
            cleanup.append(lambda u=url: drop_pg(u))
        else:
            raw_url = pg_database()
            cleanup.append(lambda u=raw_url: drop_pg(u))
            raw = raw_postgres(csv_path, raw_url)
            url = pg_database()
            cleanup.append(lambda u=url: drop_pg(u))
            raw_label = "COPY"
        prepare(url)
        home = work / f"home-{kind}-{n}"
        first = stammkunde(["import", "bench", str(csv_path)], url, home)
        stored = count_orders(url)
        if not full:  # a memory run: the first load alone
            print(f"{kind} {n:,}: import {first.seconds:.1f} s ({n / first.seconds:,.0f}/s), "
                  f"peak {first.peak_mib:.0f} MiB, with workers {first.tree_mib:.0f} MiB",
                  flush=True)
            rows.append(f"| {kind} | {n:,} | {stored:,} | {first.seconds:.1f} | "
                        f"{n / first.seconds:,.0f} | {first.peak_mib:.0f} | "
                        f"{first.tree_mib:.0f} |")
            continue
        again = stammkunde(["import", "bench", str(csv_path)], url, home)
        floor = orders_floor(url)
        add_shop(url, "second")
        second = stammkunde(["import", "second", str(csv_path)], url, home)
        rate = n / first.seconds
        print(f"{kind} {n:,}: import {first.seconds:.1f} s ({rate:,.0f}/s, peak "
              f"{first.peak_mib:.0f} MiB, with workers {first.tree_mib:.0f} MiB) raw {raw:.2f} s; "
              f"orders table alone {floor:.2f} s; again {again.seconds:.1f} s: {again.output}; "
              f"second shop {second.seconds:.1f} s", flush=True)
        rows.append(
            f"| {kind} | {n:,} | {stored:,} | {first.seconds:.1f} | {rate:,.0f} | "
            f"{raw_label} {raw:.2f} s ({n / raw:,.0f}/s) | {first.seconds / raw:.1f}× | "
            f"{floor:.2f} s ({n / floor:,.0f}/s) | {first.seconds / floor:.1f}× | "
            f"{first.peak_mib:.0f} / {first.tree_mib:.0f} | {second.seconds:.1f} "
            f"({n / second.seconds:,.0f}/s) | {again.seconds:.1f} "
            f"({n / again.seconds:,.0f}/s): {again.output} |")
    return rows


def add_shop(url: str, name: str) -> None:
    """Add another CSV shop to a database."""
    from stammkunde.core.db import make_engine, session_factory
    from stammkunde.core.shops import create_shop

    engine = make_engine(url)
    with session_factory(engine)() as s, s.begin():
        create_shop(s, name, "csv")
    engine.dispose()


def main() -> None:
    """Run the benchmark and write its RESULTS.md section."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, nargs="+", default=[1_000_000],
                        help="CSV sizes (orders), e.g. 100000 1000000")
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--shopify-orders", type=int, default=1_000_000,
                        help="orders in the fake Shopify's bulk export (0: skip)")
    parser.add_argument("--deliveries", type=int, default=100_000,
                        help="inbox backlog size (0: skip)")
    parser.add_argument("--memory-orders", type=int, default=5_000_000,
                        help="a first load of this many orders for speed and memory (0: skip)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ingest-scale-"))
    cleanup: list[Callable[[], None]] = []
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    import_table: list[str] = []
    memory_table: list[str] = []
    extra: list[str] = []

    def publish(final: bool) -> None:
        """Print the section and write it to RESULTS.md (after every part, so a long run that
        is stopped early still leaves what it measured; "partial" says so)."""
        lines = [
            f"Run: `python benchmarks/ingest_scale.py --orders "
            f"{' '.join(map(str, args.orders))} --shopify-orders {args.shopify_orders} "
            f"--deliveries {args.deliveries} --memory-orders {args.memory_orders}` on "
            f"{os.cpu_count()} cores shared with other work "
            f"(load average {load_before:.1f} at start, {os.getloadavg()[0]:.1f} "
            f"{'at the end' if final else 'now: partial results, the run goes on'}), "
            f"{time.perf_counter() - started:.0f} s so far. The seconds are noisy; the ratios "
            "compare runs of the same moment.",
            "",
            "CSV import (`stammkunde import`, a subprocess: start-up and its parser worker "
            "processes included; generated `stammkunde-csv` with about 4 orders per customer, "
            "30 % guests, refunds, cancellations, codes) into a new database, against a raw "
            "load of the same file; then the same file into a second shop of that database, "
            "and again into the first (nothing new). Peak RSS: the import process's own "
            "maximum / the most the process and its workers held at one moment (sampled every "
            "50 ms):",
            "",
            "| database | orders | stored | import s | orders/s | raw load | import / raw | "
            "orders table alone | import / orders table | peak RSS MiB | "
            "second shop s (non-empty database) | re-import s (idempotent) |",
            "|---|---:|---:|---:|---:|---|---:|---|---:|---:|---|---|",
            *import_table,
            "",
            "*Orders table alone*: the stored orders inserted once more, by the database itself "
            "(one `INSERT ... SELECT`), into an empty copy of the orders table with the same "
            "indexes and foreign keys: what the schema costs without parsing, validation, "
            "person merge, customers, refunds and codes, when indexes are maintained row by row. "
            "A first load into an empty orders table (the first import) builds the secondary "
            "indexes (PostgreSQL: and foreign keys) after its rows and keeps the customers it "
            "created in memory; a second shop's import finds orders and maintains them per "
            "row, and looks every customer up. Issue targets: at least 25,000 "
            "orders/s, and an import within 10× of the raw load.",
            "",
            *([f"A first load of {args.memory_orders:,} orders (the same generator), for its "
               "speed and memory:", "",
               "| database | orders | stored | import s | orders/s | peak RSS MiB (import) | "
               "peak RSS MiB (with workers) |",
               "|---|---:|---:|---:|---:|---:|---:|", *memory_table, ""]
              if memory_table else []),
            *extra,
        ]
        body = "\n".join(lines)
        print(body, flush=True)
        if not args.no_write:
            write_section("Ingest at scale (ingest_scale.py)", body)

    try:
        for n in args.orders:
            csv_path = work / f"orders-{n}.csv"
            t0 = time.perf_counter()
            make_csv(csv_path, n)
            print(f"generated {n:,} orders ({csv_path.stat().st_size / 2**20:.0f} MiB) in "
                  f"{time.perf_counter() - t0:.1f} s", flush=True)
            import_table += import_rows(work, csv_path, n, args.databases, cleanup)
            csv_path.unlink()
            publish(False)
        if args.memory_orders:
            csv_path = work / f"orders-{args.memory_orders}.csv"
            make_csv(csv_path, args.memory_orders)
            memory_table += import_rows(work, csv_path, args.memory_orders, args.databases,
                                        cleanup, full=False)
            csv_path.unlink()
            for leftover in work.glob(f"memory-{args.memory_orders}.db*"):
                leftover.unlink()
            publish(False)
        if args.deliveries:
            extra += inbox_rows(work, args.deliveries, args.databases, cleanup)
            publish(False)
        if args.shopify_orders:
            extra += shopify_rows(work, args.shopify_orders, args.databases, cleanup)
    finally:
        for undo in cleanup:
            undo()
        shutil.rmtree(work, ignore_errors=True)
    publish(True)


def shopify_rows(work: Path, n: int, kinds: list[str],
                 cleanup: list[Callable[[], None]]) -> list[str]:
    """Shopify bulk sync of n orders from the fake, through ``sync_shop``; return table lines.

    First the adapter alone (``fetch_orders``: bulk operation, JSONL download, mapping; nothing
    stored), then the whole sync on each database. The fake runs in this process; its export
    files (Shopify's side of the work) are written once beforehand and timed on their own.
    """
    import gc
    import resource

    from sqlalchemy import update

    from stammkunde.core.db import make_engine, session_factory
    from stammkunde.core.models import Shop
    from stammkunde.plugins.ingest import sync_shop
    from stammkunde.plugins.manager import get_plugins
    from stammkunde.plugins.shopify import ShopifyAdapter
    from tests.fakes.shopify import FakeShopify
    from tests.fakes.shopify.schema import admin_schema

    def peak_mib() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    settings = {"bulk_threshold": 1, "poll_interval": 0}
    rows = []
    with FakeShopify(maximum=1e9, restore_rate=1e9) as fake:
        t0 = time.perf_counter()
        fake.data.generate(orders=n, customers=max(1, n // 5))
        built = time.perf_counter() - t0
        admin_schema()  # loaded before the freeze: no collection scans it or the shop again
        gc.freeze()  # the fake's orders and schema live for the whole run
        t0 = time.perf_counter()
        # the files the bulk operations will serve (the fake reuses an unchanged shop's export)
        size = fake.data.bulk_export("orders", True).path.stat().st_size
        size += fake.data.bulk_export("customers", False).path.stat().st_size
        exported = time.perf_counter() - t0
        print(f"shopify fake: {n:,} orders built in {built:.1f} s, exported in {exported:.1f} s "
              f"({size / 2**20:,.0f} MiB JSONL; peak {peak_mib():.0f} MiB)", flush=True)
        t0 = time.perf_counter()
        fetched = sum(len(b.records) for b in
                      ShopifyAdapter().fetch_orders(fake.connection(**settings)))
        seconds = time.perf_counter() - t0
        print(f"shopify adapter only: {fetched:,} orders in {seconds:.1f} s "
              f"({fetched / seconds:,.0f}/s)", flush=True)
        rows.append(f"| adapter only (`fetch_orders`, nothing stored) | {fetched:,} | – | "
                    f"{seconds:.1f} | {fetched / seconds:,.0f} | {peak_mib():.0f} |")
        for kind in kinds:
            url = f"sqlite:///{work / f'shopify-{n}.db'}" if kind == "sqlite" else pg_database()
            if kind != "sqlite":
                cleanup.append(lambda u=url: drop_pg(u))
            prepare(url, "shopify", fake.domain, {"access_token": fake.token})
            engine = make_engine(url)
            with session_factory(engine)() as s, s.begin():
                s.execute(update(Shop).values(settings={"base_url": fake.base_url, **settings}))
            t0 = time.perf_counter()
            result = sync_shop(session_factory(engine), get_plugins(), "bench",
                               secret_key=SECRET_KEY)
            seconds = time.perf_counter() - t0
            engine.dispose()
            orders = result.stats["orders"].inserted
            print(f"shopify {kind}: {orders:,} orders in {seconds:.1f} s "
                  f"({orders / seconds:,.0f}/s, peak {peak_mib():.0f} MiB)", flush=True)
            rows.append(f"| `sync_shop` on {kind} (customers, then orders) | {orders:,} | "
                        f"{result.stats['customers'].inserted:,} | {seconds:.1f} | "
                        f"{orders / seconds:,.0f} | {peak_mib():.0f} |")
    return [f"Shopify bulk sync from the fake Shopify in this process (`sync_shop`: bulk "
            f"operation, JSONL download streamed in 1 MiB chunks, mapping, batches of 2,000 "
            f"stored with their cursor). The fake's shop of {n:,} orders was built in "
            f"{built:.0f} s and its export files ({size / 2**20:,.0f} MiB, Shopify's side of the "
            f"work) written in {exported:.0f} s, before the runs; \"adapter only\" is "
            "`fetch_orders` without storing; peak RSS is this benchmark process's maximum so "
            "far:", "",
            "| run | orders | customers | seconds | orders/s | peak RSS MiB |",
            "|---|---:|---:|---:|---:|---:|", *rows, ""]


def inbox_rows(work: Path, n: int, kinds: list[str],
               cleanup: list[Callable[[], None]]) -> list[str]:
    """n stored deliveries worked off by ``stammkunde inbox work --once``; return table lines."""
    from sqlalchemy import insert

    from stammkunde.core.db import make_engine
    from stammkunde.core.inbox_models import InboxDelivery
    from tests.testshop import order_body

    out = ["Inbox backlog (`stammkunde inbox work --once`, default 2 threads, batches of 200 "
           "deliveries per transaction; signed `testshop` order deliveries, 1 in 5 a second "
           "version of an earlier order):", "",
           "| database | deliveries | orders stored | seconds | deliveries/s |",
           "|---|---:|---:|---:|---:|"]
    now = datetime.now(UTC)
    rows = []
    for i in range(n):
        order = i if i % 5 else max(0, i - 7)  # every fifth: a newer version of an earlier order
        body = order_body(str(order + 1), updated_at=f"2024-05-01T10:00:{i % 60:02d}Z",
                          created_at="2024-05-01T09:00:00Z", total=f"{10 + i % 90}.00",
                          customer_id=f"c{order % (n // 4 + 1)}")
        rows.append({"platform": "testshop", "shop_domain": "load.example",
                     "delivery_id": f"d{i}", "topic": "orders/create", "shop_id": 1,
                     "status": "received", "attempts": 0, "body": body, "headers": {},
                     "received_at": now})
    for kind in kinds:
        url = f"sqlite:///{work / f'inbox-{n}.db'}" if kind == "sqlite" else pg_database()
        if kind != "sqlite":
            cleanup.append(lambda u=url: drop_pg(u))
        prepare(url, "testshop", "load.example", {"webhook_secret": "s"})
        engine = make_engine(url)
        with engine.begin() as conn:
            for lo in range(0, n, 10_000):
                conn.execute(insert(InboxDelivery.__table__), rows[lo : lo + 10_000])
        engine.dispose()
        run = stammkunde(["inbox", "work", "--once"], url, work / f"home-inbox-{kind}")
        stored = count_orders(url)
        print(f"inbox {kind}: {n:,} in {run.seconds:.1f} s: {run.output}", flush=True)
        out.append(f"| {kind} | {n:,} | {stored:,} | {run.seconds:.1f} | "
                   f"{n / run.seconds:,.0f} |")
    return [*out, "", "The seconds include the command's start (imports, migrations check).", ""]


if __name__ == "__main__":
    main()
