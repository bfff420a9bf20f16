"""Record lifetimes' BG/NBD fits on the real transaction logs as reference numbers for the tests.

lifetimes is not a dependency of Stammkunde: run this with the interpreter of the virtualenv that
benchmarks/clv_scale.py creates (benchmarks/.work/lifetimes-venv, lifetimes 0.11.3), e.g.

    benchmarks/.work/lifetimes-venv/bin/python tests/data/lifetimes_reference.py

It prints a JSON object, stored as tests/data/lifetimes_reference.json (read by
tests/core/test_clv_real.py):

    ... lifetimes_reference.py > tests/data/lifetimes_reference.json
Summaries are built here independently with pandas, in weeks (days / 7), from the same logs.
"""

import contextlib
import io
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from lifetimes import BetaGeoFitter

HERE = Path(__file__).resolve().parent


def summary(log: pd.DataFrame, end: str) -> pd.DataFrame:
    """x, t_x, T (weeks) per customer from orders on or before ``end`` (one transaction a day)."""
    days = log[log["date"] <= pd.Timestamp(end)].drop_duplicates(["customer", "date"])
    g = days.groupby("customer")["date"]
    first, last, n = g.min(), g.max(), g.count()
    out = pd.DataFrame({"x": n - 1, "t_x": (last - first).dt.days / 7.0,
                        "T": (pd.Timestamp(end) - first).dt.days / 7.0})
    return out


def fit(s: pd.DataFrame) -> dict:
    """lifetimes' BG/NBD fit and a few of its predictions; what it says when it fails."""
    bgf = BetaGeoFitter(penalizer_coef=0.0)
    errors = []
    for tol in (1e-10, 1e-8, 1e-7):  # lifetimes' default is 1e-7
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")
                bgf.fit(s["x"], s["t_x"], s["T"], tol=tol)
            break
        except Exception as exc:  # lifetimes raises ConvergenceError and others
            errors.append(type(exc).__name__)
    else:
        return {"converged": False, "errors": errors}
    params = {k: float(v) for k, v in bgf.params_.items()}
    probe = s.sort_values(["x", "t_x", "T"]).iloc[[0, len(s) // 2, -1]]
    return {
        "converged": True,
        "params": params,
        "tol": tol,
        "probe": {"x": probe["x"].tolist(), "t_x": probe["t_x"].tolist(),
                  "T": probe["T"].tolist(),
                  "expected_13_weeks": bgf.conditional_expected_number_of_purchases_up_to_time(
                      13.0, probe["x"], probe["t_x"], probe["T"]).tolist(),
                  "p_alive": np.asarray(bgf.conditional_probability_alive(
                      probe["x"], probe["t_x"], probe["T"])).tolist()},
    }


def main() -> None:
    """Fit lifetimes' BG/NBD at the calibration ends the tests use and print the results."""
    grocery = pd.read_csv(HERE / "grocery_elog.csv.gz", parse_dates=["date"])
    retail = pd.read_csv(HERE / "online_retail_invoices.csv.gz", parse_dates=["date"])
    out = {"grocery": {end: fit(summary(grocery, end))
                       for end in ("2006-06-30", "2006-12-31", "2007-06-30")},
           "online_retail": {end: fit(summary(retail, end))
                             for end in ("2011-03-31", "2011-06-30", "2011-09-09")}}
    json.dump(out, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
