"""Full report (metrics + scores + predictive model) on a large synthetic shop.

Rows are bulk-loaded straight into the tables (COPY on PostgreSQL), with BG/NBD/Gamma-Gamma
draws for the orders, a share of discount codes, refunds, cancellations and events. Measured,
in the same run: the metrics of ``build_report`` alone (baseline), the per-person query, the
scoring (model fit + predictions + numpy scores), and the full ``retention_report``.

    python benchmarks/report_scores.py --customers 200000 [--database postgresql|sqlite]

Writes the section "Report with scores and model (DATABASE)" of
benchmarks/RESULTS.md from this one run: every ratio is against the baseline measured here.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from datetime import UTC, datetime

import numpy as np
from _results import write_section
from sqlalchemy import text

from stammkunde.core.clv import fit_model
from stammkunde.core.clv.simulate import simulate_orders
from stammkunde.core.db import make_engine, session_factory, upgrade
from stammkunde.core.metrics import build_report
from stammkunde.core.segments import compute_scores, load_person_arrays, retention_report
from stammkunde.core.segments.scores import customer_summary
from stammkunde.core.settings import RetentionSettings
from stammkunde.core.shops import create_shop
from stammkunde.core.store import get_shop
from stammkunde.core.timeutil import month_index

AS_OF = datetime(2024, 6, 30, tzinfo=UTC)
DEFAULT_CUSTOMERS = 200_000
# weekly BG/NBD parameters giving about five orders per customer over three years
BGNBD = (0.9, 12.0, 0.6, 4.0)
SPEND = (6.0, 4.0, 40.0)


def generate(n: int, seed: int = 1) -> dict[str, np.ndarray]:
    """Customers and orders as arrays (order times in epoch seconds, totals in 1/10,000)."""
    rng = np.random.default_rng(seed)
    sim = simulate_orders(n, BGNBD, SPEND, 3 * 365.0, rng, as_of_day=AS_OF.timestamp() / 86_400)
    ts = (sim.order_days * 86_400).astype(np.int64)
    total = np.maximum((sim.values * 100).astype(np.int64), 1) * 100
    return {"cust": sim.customer_idx, "ts": ts, "total": total}


def _copy(conn, table: str, columns: str, rows: io.StringIO) -> None:  # type: ignore[no-untyped-def]
    rows.seek(0)
    with conn.connection.dbapi_connection.cursor() as cur, \
            cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        while chunk := rows.read(1 << 20):
            copy.write(chunk)


def load(url: str, n: int) -> tuple[int, int]:
    """Create shop "bench" with n customers; return (customers, orders)."""
    engine = make_engine(url)
    upgrade(engine)
    data = generate(n)
    cust, ts, total = data["cust"], data["ts"], data["total"]
    m = cust.size
    rng = np.random.default_rng(2)
    months = np.array([month_index(datetime.fromtimestamp(int(t), UTC)) for t in
                       np.unique(ts // 86_400) * 86_400])
    day_month = dict(zip(np.unique(ts // 86_400).tolist(), months.tolist(), strict=True))
    order_month = np.array([day_month[d] for d in (ts // 86_400).tolist()])
    channels = np.array(["online", "pos", "app"])[rng.integers(0, 3, n)][cust]
    cancelled = rng.random(m) < 0.03
    refunded = rng.random(m) < 0.05
    coded = rng.random(m) < 0.2
    with session_factory(engine).begin() as s:
        shop = create_shop(s, "bench", "csv")
        shop_id = shop.id
    with engine.begin() as conn:
        pg = engine.dialect.name == "postgresql"
        base_p = conn.execute(text("SELECT COALESCE(MAX(id), 0) FROM persons")).scalar() or 0
        base_c = conn.execute(text("SELECT COALESCE(MAX(id), 0) FROM customers")).scalar() or 0
        base_o = conn.execute(text("SELECT COALESCE(MAX(id), 0) FROM orders")).scalar() or 0
        pid = base_p + 1 + np.arange(n)
        cid = base_c + 1 + np.arange(n)
        oid = base_o + 1 + np.arange(m)
        now = "2024-07-01 00:00:00"
        null = "\\N" if pg else ""
        tables = {
            "persons": ("id, email, created_at",
                        [f"{p}\tbench{p}@example.com\t{now}" for p in pid]),
            "customers": ("id, shop_id, platform_id, person_id, is_guest, created_at",
                          [f"{c}\t{shop_id}\tc{c}\t{p}\t{'false' if pg else 0}\t2021-01-01 00:00:00"
                           for c, p in zip(cid, pid, strict=True)]),
            "orders": ("id, shop_id, platform_id, customer_id, person_id, created_at, created_ts, "
                       "created_month, status, is_test, cancelled_ts, currency, total, channel, "
                       "refunded, refund_ts",
                       [f"{o}\t{shop_id}\to{o}\t{cid[c]}\t{pid[c]}\t"
                        f"{datetime.fromtimestamp(int(t), UTC):%Y-%m-%d %H:%M:%S}\t{t}\t{mo}\t"
                        f"{'cancelled' if x else 'paid'}\t{'false' if pg else 0}\t"
                        f"{t + 86_400 if x else null}\tEUR\t{v}\t{ch}\t"
                        f"{v // 2 if rf else 0}\t{t + 3 * 86_400 if rf else null}"
                        for o, c, t, mo, x, v, ch, rf in zip(oid, cust, ts, order_month,
                                                             cancelled, total, channels, refunded,
                                                             strict=True)]),
            "refunds": ("order_id, amount, created_ts",
                        [f"{oid[k]}\t{total[k] // 2}\t{ts[k] + 3 * 86_400}"
                         for k in np.flatnonzero(refunded)]),
            "order_discounts": ("order_id, code, code_key",
                                [f"{oid[k]}\tSAVE10\tsave10" for k in np.flatnonzero(coded)]),
        }
        for table, (columns, rows) in tables.items():
            if pg:
                _copy(conn, table, columns, io.StringIO("\n".join(rows) + "\n"))
            else:
                names = [c.strip() for c in columns.split(",")]
                stmt = text(f"INSERT INTO {table} ({columns}) VALUES "
                            f"({', '.join(':' + c for c in names)})")
                values = [dict(zip(names, [None if v == "" else v for v in r.split("\t")],
                                   strict=True)) for r in rows]
                conn.execute(stmt, values)
        events = rng.random(n) < 0.3
        ev_rows = [f"{shop_id}\tev{c}\t{c}\t{p}\treview\t2024-01-01 00:00:00\t1704067200"
                   for c, p in zip(cid[events], pid[events], strict=True)]
        ev_cols = "shop_id, platform_id, customer_id, person_id, kind, occurred_at, occurred_ts"
        if pg:
            _copy(conn, "events", ev_cols, io.StringIO("\n".join(ev_rows) + "\n"))
        else:
            names = [c.strip() for c in ev_cols.split(",")]
            conn.execute(text(f"INSERT INTO events ({ev_cols}) VALUES "
                              f"({', '.join(':' + c for c in names)})"),
                         [dict(zip(names, r.split("\t"), strict=True)) for r in ev_rows])
        if pg:
            conn.execute(text("ANALYZE"))
    engine.dispose()
    return n, m


def measure(url: str) -> dict[str, float]:
    """Seconds for the baseline metrics, the per-person query, scoring, and the full report."""
    engine = make_engine(url)
    factory = session_factory(engine)
    settings = RetentionSettings()
    out = {}
    with factory() as s:
        shop = get_shop(s, "bench")
        t = time.perf_counter()
        build_report(s, shop, AS_OF)
        out["metrics (baseline)"] = time.perf_counter() - t
        t = time.perf_counter()
        people = load_person_arrays(s, shop, AS_OF, settings)
        out["per-person query"] = time.perf_counter() - t
        summary = customer_summary(people)[0]
        t = time.perf_counter()
        model = fit_model(summary)  # the fit itself limits BLAS to one thread
        out["model fit"] = time.perf_counter() - t
        t = time.perf_counter()
        scores = compute_scores(people, settings, model)
        out["scores and predictions (numpy)"] = time.perf_counter() - t
        t = time.perf_counter()
        report = retention_report(s, shop, AS_OF, settings)
        out["full report"] = time.perf_counter() - t
    out["model"] = 1.0 if scores.model_available else 0.0
    assert report["customers"] > 0
    engine.dispose()
    return out


def main() -> None:
    """Load, measure and write the section of RESULTS.md."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=DEFAULT_CUSTOMERS)
    ap.add_argument("--database", choices=["postgresql", "sqlite"], default="postgresql")
    args = ap.parse_args()
    if args.database == "postgresql":
        sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent.parent))
        from tests.conftest import create_pg_database, drop_pg_database

        url = create_pg_database("sk_bench")
    else:
        import tempfile

        url = f"sqlite:///{tempfile.mkdtemp()}/bench.db"
        drop_pg_database = None
    try:
        t = time.perf_counter()
        n, m = load(url, args.customers)
        load_s = time.perf_counter() - t
        times = measure(url)
    finally:
        if drop_pg_database is not None:
            drop_pg_database(url)
    base = times["metrics (baseline)"]
    load_avg = os.getloadavg()[0]
    size = ("" if args.customers == DEFAULT_CUSTOMERS else
            f" (size chosen with --customers; the default is {DEFAULT_CUSTOMERS:,})")
    lines = [f"{args.database}, {n:,} customers{size}, {m:,} orders (loaded in {load_s:.0f} s), "
             f"model fitted: {'yes' if times.pop('model') else 'no'}; machine load average "
             f"{load_avg:.1f} on {os.cpu_count()} cores while measuring (shared machine). "
             "All steps in one process, one after the other, on the same data; the model fit "
             "runs with one BLAS thread, as in the report.", "",
             "| step | seconds | × baseline | ms per 1,000 orders |",
             "| --- | ---: | ---: | ---: |"]
    for name, sec in times.items():
        lines.append(f"| {name} | {sec:.2f} | {sec / base:.2f} | {sec * 1e6 / m:.2f} |")
    body = "\n".join(lines)
    print(body)
    write_section(f"Report with scores and model ({args.database})", body)


if __name__ == "__main__":
    main()
