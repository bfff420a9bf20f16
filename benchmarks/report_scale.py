"""Report at scale: bulk-load a big synthetic shop into SQLite and PostgreSQL, time the report.

    python benchmarks/report_scale.py                       # 1,000,000 customers, 5,000,000 orders
    python benchmarks/report_scale.py --customers 20000 --orders 100000   # CI smoke size

The shop is generated column-wise with numpy (not through record objects) straight into the tables
of ``core/models.py``: persons, customers, orders, refunds, order_discounts, money in 1/10,000
units, ``created_ts``/``created_month`` in UTC (the benchmark shop's time zone). Each phase (load,
report) runs in its own subprocess so its peak memory (``ru_maxrss``) is its own. The baseline is
one full scan of the shop's orders (``COUNT``/``SUM``), the least any report has to read.

Loading uses each database's bulk path: SQLite through the ``sqlite3`` module with journal and
sync off, PostgreSQL through ``COPY``. Secondary indexes are dropped first and rebuilt after the
load (timed separately); PostgreSQL skips foreign-key triggers during the copy
(``session_replication_role = replica``: the rows are consistent by construction) and is vacuumed
and analysed afterwards, as autovacuum would. The full-size run rewrites its section of
benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import re
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from sqlalchemy import event, make_url, text

from stammkunde.core import metrics
from stammkunde.core.db import make_engine, session_factory, upgrade
from stammkunde.core.metrics import build_report
from stammkunde.core.shops import create_shop
from stammkunde.core.store import get_shop

TITLE = "Report at scale (report_scale.py)"
CUSTOMERS, ORDERS = 1_000_000, 5_000_000
TARGET_S = 8.0
PG_BASE = "postgresql+psycopg://postgres@127.0.0.1:5432"
SHOP = "bench"
START = int(datetime(2024, 11, 1, tzinfo=UTC).timestamp())
END = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())
AS_OF = datetime.fromtimestamp(END - 1, UTC)
CHANNELS = ("online", "pos", "app", "marketplace")
CHANNEL_SHARES = (0.58, 0.20, 0.12, 0.10)
CODES = ("WELCOME10", "BLACKFRIDAY20", "XMAS15", "SUMMER10", "STAMMKUNDE5")
CHUNK = 200_000
TABLES = ("persons", "customers", "orders", "refunds", "order_discounts")


@dataclass
class Shop:
    """A generated shop as columns, with the figures a correct report must reproduce."""

    acquired: np.ndarray  # per customer: epoch seconds of the first order
    guest: np.ndarray
    order_customer: np.ndarray  # per order (ids are 1-based, orders sorted by time)
    order_ts: np.ndarray
    total_units: np.ndarray
    channel: np.ndarray  # index into CHANNELS
    cancelled_ts: np.ndarray  # -1 when not cancelled
    is_test: np.ndarray
    refunded: np.ndarray  # per order, units refunded (0 for none)
    refund_ts: np.ndarray  # per order, epoch seconds of its refund (-1 for none)
    refund_order: np.ndarray  # order ids with a refund
    discount_order: np.ndarray
    discount_code: np.ndarray

    def expected(self) -> dict[str, int]:
        """Customers with a valid order, valid orders and their net revenue in units."""
        valid = (self.cancelled_ts < 0) & ~self.is_test
        return {
            "customers": int(np.unique(self.order_customer[valid]).size),
            "orders": int(valid.sum()),
            "net_units": int(self.total_units[valid].sum() - self.refunded[valid].sum()),
            "rows": int(self.acquired.size * 2 + self.order_ts.size + self.refund_order.size
                        + self.discount_order.size),
        }


def generate(customers: int, orders: int, seed: int) -> Shop:
    """Return a shop of ``customers`` people placing ``orders`` orders (each at least one)."""
    if orders < customers or customers < 1:
        raise SystemExit("need at least one customer and at least one order per customer")
    rng = np.random.default_rng(seed)
    acquired = rng.integers(START, END, customers)
    propensity = rng.gamma(0.5, 1.0, customers)
    counts = 1 + rng.multinomial(orders - customers, propensity / propensity.sum())
    cust = np.repeat(np.arange(customers), counts)
    ts = acquired[cust] + (rng.random(orders) * (END - acquired[cust])).astype(np.int64)
    ts[np.cumsum(counts) - counts] = acquired  # the first order is the acquisition
    home = np.searchsorted(np.cumsum(CHANNEL_SHARES), rng.random(customers))
    other = np.searchsorted(np.cumsum(CHANNEL_SHARES), rng.random(orders))
    channel = np.where(rng.random(orders) < 0.75, home[cust], other).astype(np.int8)
    spend_rate = rng.gamma(4.0, 1.0 / 35.0, customers)
    cents = np.maximum(490, np.rint(rng.gamma(6.0, 1.0, orders) / spend_rate[cust] * 100))
    total = cents.astype(np.int64) * 100
    is_test = rng.random(orders) < 0.0002
    cancelled = rng.random(orders) < 0.02
    cancelled_ts = np.where(cancelled, np.minimum(ts + rng.integers(600, 172_800, orders),
                                                  END - 1), -1)
    refund = ~cancelled & ~is_test & (rng.random(orders) < 0.06)
    full = rng.random(orders) < 0.55
    partial = (total * rng.uniform(0.15, 0.6, orders)).astype(np.int64) // 100 * 100
    refunded = np.where(refund, np.where(full, total, partial), 0)
    refund_ts = np.minimum(ts + rng.integers(2 * 86_400, 21 * 86_400, orders), END - 1)
    coded = rng.random(orders) < 0.15
    code = rng.integers(0, len(CODES), orders)
    order = np.argsort(ts, kind="stable")  # order ids follow time, as a shop's counter does
    cust, ts, channel, total = cust[order], ts[order], channel[order], total[order]
    is_test, cancelled_ts, refunded = is_test[order], cancelled_ts[order], refunded[order]
    refund_ts, coded, code = refund_ts[order], coded[order], code[order]
    ids = np.arange(1, orders + 1)
    has_refund = refunded > 0
    return Shop(
        acquired=acquired, guest=rng.random(customers) < 0.1, order_customer=cust + 1,
        order_ts=ts, total_units=total, channel=channel, cancelled_ts=cancelled_ts,
        is_test=is_test, refunded=refunded, refund_ts=np.where(has_refund, refund_ts, -1),
        refund_order=ids[has_refund], discount_order=ids[coded], discount_code=code[coded],
    )


def stamps(ts: np.ndarray) -> list[str]:
    """Format epoch seconds as naive UTC 'YYYY-MM-DD HH:MM:SS' (the DateTime column format)."""
    sec = ts.astype("datetime64[s]")
    days = sec.astype("datetime64[D]")
    months = sec.astype("datetime64[M]")
    years = sec.astype("datetime64[Y]")
    year = years.astype(np.int64) + 1970
    month = (months - years).astype(np.int64) + 1
    day = (days - months).astype(np.int64) + 1
    tod = (sec - days).astype(np.int64)
    buf = np.full((ts.size, 19), ord("0"), dtype=np.uint8)
    for col, value, width in ((0, year, 4), (5, month, 2), (8, day, 2), (11, tod // 3600, 2),
                              (14, tod // 60 % 60, 2), (17, tod % 60, 2)):
        for k in range(width):
            buf[:, col + width - 1 - k] += (value // 10**k % 10).astype(np.uint8)
    buf[:, [4, 7]] = ord("-")
    buf[:, 10] = ord(" ")
    buf[:, [13, 16]] = ord(":")
    return buf.view("S19").ravel().astype("U19").tolist()


def table_rows(shop: Shop, shop_id: int, table: str) -> tuple[list[str], Iterator[Sequence[Any]]]:
    """Return the column names and the rows (in chunks of tuples) of one table."""
    n_cust = shop.acquired.size

    def chunks(n: int, make: Any) -> Iterator[Sequence[Any]]:
        for lo in range(0, n, CHUNK):
            yield from make(lo, min(lo + CHUNK, n))

    if table == "persons":
        def make(lo: int, hi: int) -> Any:
            ids = range(lo + 1, hi + 1)
            return zip(ids, [f"c{i}@bench.example" for i in ids],
                       stamps(shop.acquired[lo:hi]), strict=True)
        return ["id", "email", "created_at"], chunks(n_cust, make)
    if table == "customers":
        def make(lo: int, hi: int) -> Any:
            ids = range(lo + 1, hi + 1)
            guest = shop.guest[lo:hi].tolist()
            email = [f"c{i}@bench.example" for i in ids]
            pid = [f"guest:{e}" if g else str(i) for i, e, g in zip(ids, email, guest,
                                                                    strict=True)]
            return zip(ids, [shop_id] * (hi - lo), pid, ids, guest, email,
                       stamps(shop.acquired[lo:hi]), strict=True)
        return (["id", "shop_id", "platform_id", "person_id", "is_guest", "email", "created_at"],
                chunks(n_cust, make))
    if table == "orders":
        months = shop.order_ts.astype("datetime64[s]").astype("datetime64[M]").astype(np.int64)
        month_index = months + 1970 * 12
        names = np.array(CHANNELS, dtype=object)

        def make(lo: int, hi: int) -> Any:
            ids = range(lo + 1, hi + 1)
            cust = shop.order_customer[lo:hi].tolist()
            cancelled = shop.cancelled_ts[lo:hi]
            full = shop.refunded[lo:hi] == shop.total_units[lo:hi]
            status = np.where(cancelled >= 0, "cancelled", np.where(full, "refunded", "paid"))
            return zip(ids, [shop_id] * (hi - lo), [str(i) for i in ids], cust, cust,
                       stamps(shop.order_ts[lo:hi]), shop.order_ts[lo:hi].tolist(),
                       month_index[lo:hi].tolist(), status.tolist(), shop.is_test[lo:hi].tolist(),
                       [None if c < 0 else c for c in cancelled.tolist()],
                       ["EUR"] * (hi - lo), shop.total_units[lo:hi].tolist(),
                       names[shop.channel[lo:hi]].tolist(), shop.refunded[lo:hi].tolist(),
                       [None if t < 0 else t for t in shop.refund_ts[lo:hi].tolist()],
                       strict=True)
        return (["id", "shop_id", "platform_id", "customer_id", "person_id", "created_at",
                 "created_ts", "created_month", "status", "is_test", "cancelled_ts", "currency",
                 "total", "channel", "refunded", "refund_ts"], chunks(shop.order_ts.size, make))
    if table == "refunds":
        def make(lo: int, hi: int) -> Any:
            order = shop.refund_order[lo:hi]
            return zip(range(lo + 1, hi + 1), order.tolist(),
                       shop.refunded[order - 1].tolist(), shop.refund_ts[order - 1].tolist(),
                       strict=True)
        return ["id", "order_id", "amount", "created_ts"], chunks(shop.refund_order.size, make)
    codes = np.array(CODES, dtype=object)

    def make_codes(lo: int, hi: int) -> Any:
        names = codes[shop.discount_code[lo:hi]].tolist()
        return zip(range(lo + 1, hi + 1), shop.discount_order[lo:hi].tolist(), names,
                   [c.casefold() for c in names], strict=True)
    return (["id", "order_id", "code", "code_key"],
            chunks(shop.discount_order.size, make_codes))


def _sqlite_path(url: str) -> str:
    return str(make_url(url).database)


def _pg_conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def bulk_load(url: str, shop: Shop) -> dict[str, float]:
    """Create the schema and the shop, then bulk-load every table; return phase timings."""
    engine = make_engine(url)
    upgrade(engine)
    with session_factory(engine)() as session, session.begin():
        shop_id = create_shop(session, SHOP, "csv", currency="EUR", timezone="UTC").id
    engine.dispose()
    sqlite = url.startswith("sqlite")
    con: Any = sqlite3.connect(_sqlite_path(url), isolation_level=None) if sqlite else \
        psycopg.connect(_pg_conninfo(url), autocommit=True)
    if sqlite:
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "foreign_keys=OFF",
                       "cache_size=-262144", "temp_store=MEMORY"):
            con.execute(f"PRAGMA {pragma}")
        indexes = con.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
            f"AND tbl_name IN ({', '.join('?' * len(TABLES))})", TABLES).fetchall()
    else:
        con.execute("SET session_replication_role = replica")
        indexes = con.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
            "AND tablename = ANY(%s) AND indexname NOT IN (SELECT conname FROM pg_constraint)",
            (list(TABLES),)).fetchall()
    for name, _ in indexes:
        con.execute(f'DROP INDEX "{name}"')
    t0 = time.perf_counter()
    if sqlite:
        con.execute("BEGIN")
    for table in TABLES:
        cols, rows = table_rows(shop, shop_id, table)
        if sqlite:
            con.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES "
                            f"({', '.join('?' * len(cols))})", rows)
        else:
            with con.cursor().copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
    if sqlite:
        con.execute("COMMIT")
    t1 = time.perf_counter()
    for _, sql in indexes:
        con.execute(sql)
    if sqlite:
        con.execute("PRAGMA journal_mode=WAL")
    else:
        for table in TABLES:
            con.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT COALESCE(MAX(id), 1) FROM {table}))")
        # COPY leaves the visibility map unset: until a vacuum, an index-only scan visits the
        # table for every row; autovacuum would get there later.
        con.execute("VACUUM (ANALYZE)")
    t2 = time.perf_counter()
    con.close()
    return {"load_s": t1 - t0, "index_s": t2 - t1}


def _shape(sql: str) -> str:
    """Return SQL with bind parameters (``:x``, ``%(x)s``, ``?``) and spacing made uniform."""
    return " ".join(re.sub(r"%\(\w+\)s|(?<!:):\w+|\?", "?", sql).split())


def _statement_name(statement: str) -> str:
    """Name a metrics SQL statement by the module constant it came from."""
    shape = _shape(statement)
    for name, value in vars(metrics).items():
        if name.startswith("_") and isinstance(value, str) and _shape(value) == shape:
            return name.lstrip("_")
    table = re.search(r"\bFROM\s+(orders)\b", shape) or re.search(r"\bFROM\s+(\w+)", shape)
    return f"query on {table.group(1)}" if table else shape[:40]


class _TimedRows:
    """The driver cursor of a statement run by ``metrics.raw_rows``, timing how long it is read.

    Rows are fetched in chunks (as the driver would buffer them anyway), so the timing adds one
    clock read per 10,000 rows, not per row.
    """

    def __init__(self, cursor: Any) -> None:
        self.cursor = cursor
        self.fetch_s = 0.0

    def __iter__(self) -> Iterator[Any]:
        while True:
            t0 = time.perf_counter()
            chunk = self.cursor.fetchmany(10_000)
            self.fetch_s += time.perf_counter() - t0
            if not chunk:
                return
            yield from chunk


def run_report(url: str, explain: Path | None = None) -> dict[str, Any]:
    """Time one full scan of the shop's orders (baseline) and then ``build_report``.

    Every SQL statement of the report is timed: those through SQLAlchemy with engine events, the
    main order query (run on the driver's cursor by ``metrics.raw_rows``, outside those events)
    by wrapping that function: its execution and, separately, reading its rows. With
    ``explain`` the plans (EXPLAIN QUERY PLAN / EXPLAIN, not executed) go to that file.
    """
    engine = make_engine(url)
    statements: list[tuple[str, str, Any, float]] = []
    raw_reads: list[tuple[str, _TimedRows]] = []
    original_raw_rows = metrics.raw_rows

    def timed_raw_rows(conn: Any, sql: Any, params: dict[str, Any]) -> Any:
        t0 = time.perf_counter()
        cursor = original_raw_rows(conn, sql, params)
        name = f"{_statement_name(str(sql))} (driver cursor)"
        statements.append((name, str(sql), params, time.perf_counter() - t0))
        rows = _TimedRows(cursor)
        raw_reads.append((name, rows))
        return rows

    def before(conn: Any, cursor: Any, statement: str, params: Any, context: Any,
               many: bool) -> None:
        conn.info["t0"] = time.perf_counter()

    def after(conn: Any, cursor: Any, statement: str, params: Any, context: Any,
              many: bool) -> None:
        statements.append((_statement_name(statement), statement, params,
                           time.perf_counter() - conn.info["t0"]))

    with session_factory(engine)() as session:
        shop = get_shop(session, SHOP)
        t0 = time.perf_counter()
        session.execute(text("SELECT COUNT(*), SUM(total) FROM orders WHERE shop_id = :s"),
                        {"s": shop.id}).one()
        t1 = time.perf_counter()
        event.listen(engine, "before_cursor_execute", before)
        event.listen(engine, "after_cursor_execute", after)
        metrics.raw_rows = timed_raw_rows  # type: ignore[assignment]
        try:
            report = build_report(session, shop, AS_OF)
            t2 = time.perf_counter()
        finally:
            metrics.raw_rows = original_raw_rows  # type: ignore[assignment]
            event.remove(engine, "before_cursor_execute", before)
            event.remove(engine, "after_cursor_execute", after)
        if explain is not None:
            _explain(session, statements, explain, url.startswith("sqlite"))
    engine.dispose()
    return {"baseline_s": t1 - t0, "report_s": t2 - t1, "customers": report["customers"],
            "orders": report["orders"], "net_revenue": str(report["net_revenue"]),
            "cohorts": len(report["cohorts"]), "channels": len(report["channels"]),
            "statements": [[name, round(seconds, 3)] for name, _, _, seconds in statements],
            "reads": [[name, round(rows.fetch_s, 3)] for name, rows in raw_reads]}


def _explain(session: Any, statements: list[tuple[str, str, Any, float]], path: Path,
             sqlite: bool) -> None:
    """Write the plan of every timed statement to ``path``."""
    out: list[str] = []
    raw = session.connection().connection.driver_connection
    for name, statement, params, seconds in statements:
        out.append(f"## {name} ({seconds:.2f} s)")
        cur = raw.cursor()
        if sqlite:
            cur.execute("EXPLAIN QUERY PLAN " + statement, params)
            out += [f"    {row[0]:>3} {row[1]:>3} {row[3]}" for row in cur.fetchall()]
        else:
            cur.execute("EXPLAIN " + statement, params)
            out += [f"    {row[0]}" for row in cur.fetchall()]
        out.append("")
    path.write_text("\n".join(out), encoding="utf-8")


def phase(name: str, url: str, customers: int, orders: int, seed: int,
          explain: Path | None = None) -> dict[str, Any]:
    """Run one phase in this process and return its measurements (peak RSS included)."""
    if name == "load":
        t0 = time.perf_counter()
        shop = generate(customers, orders, seed)
        result: dict[str, Any] = {"generate_s": time.perf_counter() - t0, **shop.expected()}
        result.update(bulk_load(url, shop))
    else:
        result = run_report(url, explain)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def run_phase(name: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run a phase in a fresh interpreter (its own peak memory) or in-process."""
    explain = None
    if args.explain is not None and name == "report":
        explain = Path(args.explain) / f"report_scale_plans_{backend_of(url)}.txt"
    if not args.isolate:
        return phase(name, url, args.customers, args.orders, args.seed, explain)
    command = [sys.executable, __file__, "--phase", name, "--url", url, "--customers",
               str(args.customers), "--orders", str(args.orders), "--seed", str(args.seed)]
    if explain is not None:
        command += ["--explain-file", str(explain)]
    out = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def backend_of(url: str) -> str:
    """Return "sqlite" or "postgresql" for a database URL."""
    return "sqlite" if url.startswith("sqlite") else "postgresql"


def _create_pg(base: str) -> str:
    name = f"sk_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_pg_conninfo(f"{base}/postgres"), autocommit=True) as con:
        con.execute(f'CREATE DATABASE "{name}"')
    return f"{base}/{name}"


def _drop_pg(url: str) -> None:
    name = make_url(url).database
    base = url.rsplit("/", 1)[0]
    with psycopg.connect(_pg_conninfo(f"{base}/postgres"), autocommit=True) as con:
        con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    """Load and report on one backend in a fresh database, removed afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix="sk_bench_"))
    url = f"sqlite:///{workdir / 'bench.db'}" if backend == "sqlite" else _create_pg(args.pg)
    try:
        load = run_phase("load", url, args)
        report = run_phase("report", url, args)
    finally:
        if backend == "postgresql":
            _drop_pg(url)
        for path in workdir.iterdir():
            path.unlink()
        workdir.rmdir()
    return {"load": load, "report": report}


def _versions() -> str:
    with psycopg.connect(_pg_conninfo(f"{PG_BASE}/postgres")) as con:
        pg = con.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
    return (f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
            f"PostgreSQL {pg}, {os.cpu_count()} cores")


def table(results: dict[str, Any], customers: int, orders: int) -> str:
    """Return the results as a Markdown table."""
    lines = ["| backend | rows loaded | generate s | load s | rows/s | index+vacuum s | report s | "
             "scan s | report/scan | peak RSS load MB | peak RSS report MB | counts match | "
             "< 8 s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    for backend, r in results.items():
        load, rep = r["load"], r["report"]
        lines.append(
            f"| {backend} | {load['rows']:,} | {load['generate_s']:.1f} | {load['load_s']:.1f} | "
            f"{load['rows'] / load['load_s']:,.0f} | {load['index_s']:.1f} | "
            f"{rep['report_s']:.2f} | {rep['baseline_s']:.2f} | "
            f"{rep['report_s'] / max(rep['baseline_s'], 1e-9):.1f}x | "
            f"{load['peak_rss_mb']:,.0f} | {rep['peak_rss_mb']:,.0f} | "
            f"{'yes' if matches(load, rep) else 'NO'} | "
            f"{'yes' if rep['report_s'] < TARGET_S else 'NO'} |")
    lines += ["", "Where the report's time goes (seconds): each SQL statement until the database "
              "answers (those on the driver's cursor included), reading the main query's rows "
              "from that cursor, then the rest (numpy and Python):", ""]
    for backend, r in results.items():
        rep = r["report"]
        reads = rep.get("reads", [])
        spent = sum(sec for _, sec in rep["statements"]) + sum(sec for _, sec in reads)
        parts = [f"{name} {sec:.2f}" for name, sec in rep["statements"]]
        parts += [f"reading rows of {name} {sec:.2f}" for name, sec in reads]
        lines.append(f"- {backend}: " + ", ".join([*parts, f"rest {rep['report_s'] - spent:.2f}"]))
    return "\n".join(lines)


def matches(load: dict[str, Any], report: dict[str, Any]) -> bool:
    """Return True when the report counts exactly the generated customers, orders and revenue."""
    return (report["customers"], report["orders"], Decimal(report["net_revenue"])) == (
        load["customers"], load["orders"], Decimal(load["net_units"]) / 10_000)


def _write(body: str) -> None:
    spec = importlib.util.spec_from_file_location("_results", Path(__file__).with_name(
        "_results.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.write_section(TITLE, body)


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--customers", type=int, default=CUSTOMERS)
    p.add_argument("--orders", type=int, default=ORDERS)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--backends", default="sqlite,postgresql")
    p.add_argument("--pg", default=PG_BASE, help="PostgreSQL server URL (no database).")
    p.add_argument("--isolate", action=argparse.BooleanOptionalAction, default=True,
                   help="Run each phase in its own process (default) to measure its memory.")
    p.add_argument("--write", action=argparse.BooleanOptionalAction, default=None,
                   help="Rewrite the RESULTS.md section (default: only at full size).")
    p.add_argument("--explain", metavar="DIR", default=None,
                   help="Write the query plans of the report's statements into DIR.")
    p.add_argument("--phase", choices=("load", "report"), help=argparse.SUPPRESS)
    p.add_argument("--explain-file", help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; return the measurements per backend."""
    args = parse(argv)
    if args.phase:
        result = phase(args.phase, args.url, args.customers, args.orders, args.seed,
                       Path(args.explain_file) if args.explain_file else None)
        print(json.dumps(result))
        return result
    load_before = os.getloadavg()[0]
    results = {b: run_backend(b, args) for b in args.backends.split(",") if b}
    full = (args.customers, args.orders) == (CUSTOMERS, ORDERS)
    size = "" if full else (f" (sizes chosen with --customers/--orders; the default is "
                            f"{CUSTOMERS:,} customers, {ORDERS:,} orders)")
    body = "\n".join([
        f"{args.customers:,} customers, {args.orders:,} orders{size} (seed {args.seed}); "
        f"{_versions()}; 1-minute load average {load_before:.1f} at the start, "
        f"{os.getloadavg()[0]:.1f} at the end (the cores are shared). Report = `build_report` "
        "(KPIs, cohorts, channel breakdown) as of the end of the data; scan = "
        "`SELECT COUNT(*), SUM(total)` over the shop's orders, measured right before the "
        "report in the same process (the baseline of report/scan).",
        "",
        table(results, args.customers, args.orders),
    ])
    print(body)
    if args.write or (args.write is None and full):
        _write(body)
    return results


if __name__ == "__main__":
    main()
