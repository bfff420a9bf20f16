"""The CLV model on real shops: holdout accuracy per calibration end, against the naive rate
extrapolation and lifetimes' BG/NBD.

Data: the two public transaction logs in tests/data (UCI "Online Retail", BTYDplus' online
grocery; provenance in tests/data/README.md). For each calibration end, customers with a first
transaction by then are fitted (`fit_model`: BG/NBD, or NBD where drop-out is not identified)
and their repeat transactions (distinct order days) in the holdout up to the log's end are
predicted by

- *ours*: the chosen family's E[Y(t) | x, t_x, T];
- *naive*: x / T × the holdout's days (`stammkunde.core.backtest.naive_extrapolation`);
- *lifetimes*: lifetimes 0.11.3's BetaGeoFitter (tight tolerance, relaxed to its default 1e-7
  if BFGS gives up), in the virtualenv benchmarks/clv_scale.py creates; "—" where it raises.

Reported per end: customers, actual holdout total, and for each method the total's error in per
cent and the mean absolute error per customer. Prints the table and rewrites the "CLV on real
shops (clv_real.py)" section of benchmarks/RESULTS.md.

Usage: python benchmarks/clv_real.py [--no-lifetimes]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from _results import write_section
from clv_scale import WORK, lifetimes_python

from stammkunde.core.backtest import naive_extrapolation
from stammkunde.core.clv import FittedModel, fit_model, summary_from_orders

HERE = Path(__file__).resolve().parent
# The loaders of the test data sets (tests/core/real_data.py), shared with the tests.
_spec = importlib.util.spec_from_file_location("real_data",
                                               HERE.parent / "tests" / "core" / "real_data.py")
real_data = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
sys.modules["real_data"] = real_data
_spec.loader.exec_module(real_data)  # type: ignore[union-attr]
TransactionLog, day_of = real_data.TransactionLog, real_data.day_of
grocery, online_retail = real_data.grocery, real_data.online_retail

TITLE = "CLV on real shops (clv_real.py)"
SHOPS = {
    "Online Retail (UCI)": (online_retail, [
        "2011-01-31", "2011-02-28", "2011-03-31", "2011-04-30", "2011-05-31", "2011-06-30",
        "2011-07-31", "2011-08-31", "2011-09-30", "2011-10-31", "2011-11-09"], "2011-12-09"),
    "Online grocery (BTYDplus)": (grocery, [f"2006-{m:02d}-{d}" for m, d in (
        (3, 31), (4, 30), (5, 31), (6, 30), (7, 31), (8, 31), (9, 30), (10, 31), (11, 30),
        (12, 31))] + ["2007-03-31", "2007-06-30"], "2007-12-31"),
}


def holdout_counts(log: TransactionLog, customers: np.ndarray, cal: float,
                   hold: float) -> np.ndarray:
    """Distinct transaction days per customer in (cal, hold], aligned with ``customers``."""
    keep = (log.day > cal) & (log.day <= hold)
    pairs = np.unique(np.stack([log.customer[keep], np.floor(log.day[keep])]), axis=1)
    ids, counts = np.unique(pairs[0], return_counts=True)
    out = np.zeros(customers.size)
    pos = np.searchsorted(ids, customers)
    found = (pos < ids.size) & (ids[np.minimum(pos, ids.size - 1)] == customers)
    out[found] = counts[pos[found]]
    return out


def lifetimes_expected(python: Path | None, x: np.ndarray, t_x: np.ndarray, T: np.ndarray,
                       horizon_weeks: float, tag: str) -> dict:
    """lifetimes' BG/NBD holdout predictions in its own virtualenv (or why there are none)."""
    if python is None:
        return {"converged": False, "errors": ["not run"]}
    data, out = WORK / f"real_{tag}.npz", WORK / f"real_{tag}.json"
    np.savez(data, x=x, t_x=t_x, T=T, horizon=horizon_weeks)
    subprocess.run([str(python), str(HERE / "_lifetimes_real.py"), str(data), str(out)],
                   check=True, env={"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
                                    "PATH": "/usr/bin:/bin"})
    return json.loads(out.read_text())


def accuracy(predicted: np.ndarray, actual: np.ndarray) -> tuple[float, float]:
    """Total error in per cent and mean absolute error per customer."""
    return (float((predicted.sum() - actual.sum()) / actual.sum() * 100),
            float(np.mean(np.abs(predicted - actual))))


def run(use_lifetimes: bool) -> list[dict]:
    """Every shop and calibration end: ours, naive and lifetimes."""
    python = lifetimes_python() if use_lifetimes else None
    rows = []
    for shop, (loader, ends, last) in SHOPS.items():
        log = loader()
        hold = day_of(last) + 0.999
        for end in ends:
            cal = day_of(end) + 0.999
            s = summary_from_orders(log.customer, log.day, log.value, cal)
            start = time.perf_counter()
            model = fit_model(s)
            t_fit = time.perf_counter() - start
            actual = holdout_counts(log, s.customer, cal, hold)
            horizon_days = float(np.floor(hold) - np.floor(cal))
            weeks = s.in_unit("weeks")
            row = {"shop": shop, "end": end, "customers": len(s),
                   "repeat": int((s.x > 0).sum()), "actual": float(actual.sum()),
                   "t_fit": t_fit}
            if isinstance(model, FittedModel):
                predicted = model.transactions.expected_purchases(
                    horizon_days / 7.0, weeks.x, weeks.t_x, weeks.T)
                row["family"] = model.family
                row["weight"] = model.dropout_weight
                row["ours"] = accuracy(predicted, actual)
            else:
                row["family"] = f"none ({model.code})"
            row["naive"] = accuracy(naive_extrapolation(s.x, s.T, horizon_days), actual)
            base = lifetimes_expected(python, weeks.x, weeks.t_x, weeks.T, horizon_days / 7.0,
                                      f"{loader.__name__}_{end}")
            expected = np.asarray(base.get("expected", []), dtype=float)
            if base["converged"] and np.all(np.isfinite(expected)):
                row["lifetimes"] = accuracy(expected, actual)
            elif base["converged"]:
                row["lifetimes_note"] = f"{int((~np.isfinite(expected)).sum())} NaN predictions"
            rows.append(row)
            print_row(row)
    return rows


def cell(pair: tuple[float, float] | None) -> str:
    """'error % | MAE' or dashes."""
    return "— | —" if pair is None else f"{pair[0]:+.1f} % | {pair[1]:.3f}"


def print_row(row: dict) -> None:
    """One line per calibration end as it completes."""
    print(f"{row['shop'][:14]:14} {row['end']} {row['customers']:>5} customers "
          f"{row['family']:>5} | ours {cell(row.get('ours'))} | naive {cell(row['naive'])} | "
          f"lifetimes {cell(row.get('lifetimes'))}", flush=True)


def render(rows: list[dict]) -> str:
    """The RESULTS.md section."""
    out = [
        "Holdout: from the day after each calibration end to the log's last day (Online "
        "Retail 2011-12-09, grocery 2007-12-31); transactions are distinct order days. *Ours* = "
        "`fit_model`'s family (BG/NBD, or NBD where BG/NBD's drop-out is not identified; the "
        "P(alive) weight is how far lifecycle stages trust P(alive)); *naive* = x / T × the "
        "holdout's days; *lifetimes* = lifetimes 0.11.3's BG/NBD, — where it raised "
        "(ConvergenceError at every tolerance) or returned NaN predictions. Error = "
        "(predicted − actual total) / actual total; MAE = mean absolute error per customer.",
        "",
        "| shop | calibration end | customers | repeat buyers | actual | family (P(alive) "
        "weight) | ours: error | ours: MAE | naive: error | naive: MAE | lifetimes: error | "
        "lifetimes: MAE |",
        "|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        fam = f"{r['family']} ({r['weight']:.2f})" if "weight" in r else r["family"]
        out.append(f"| {r['shop']} | {r['end']} | {r['customers']:,} | {r['repeat']:,} | "
                   f"{r['actual']:,.0f} | {fam} | {cell(r.get('ours'))} | {cell(r['naive'])} | "
                   f"{cell(r.get('lifetimes'))} |")
    out.append("")
    for shop in SHOPS:
        mine = [r for r in rows if r["shop"] == shop and "ours" in r]
        total = sum(1 for r in mine if abs(r["ours"][0]) < abs(r["naive"][0]))
        mae = sum(1 for r in mine if r["ours"][1] < r["naive"][1])
        same = [r for r in mine if "lifetimes" in r]
        agree = max((abs(r["ours"][1] - r["lifetimes"][1]) for r in same), default=0.0)
        fails = [r["end"] + (f" ({r['lifetimes_note']})" if "lifetimes_note" in r else "")
                 for r in rows if r["shop"] == shop and "lifetimes" not in r]
        out.append(
            f"- {shop}: a model at {len(mine)} of "
            f"{sum(1 for r in rows if r['shop'] == shop)} calibration ends; ours has the "
            f"smaller total error at {total} and the smaller MAE at {mae} of them than the naive "
            f"extrapolation; lifetimes gave predictions at {len(same)} (largest MAE difference "
            f"to ours {agree:.1e}), none at {len(fails)}"
            + (f": {', '.join(fails)}" if fails else "") + ".")
    return "\n".join(out)


def main() -> None:
    """Run, print and write the RESULTS.md section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-lifetimes", action="store_true",
                        help="skip lifetimes (no virtualenv needed)")
    args = parser.parse_args()
    rows = run(not args.no_lifetimes)
    write_section(TITLE, render(rows))


if __name__ == "__main__":
    main()
