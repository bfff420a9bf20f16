"""Baseline for clv_scale.py: fit and predict with lifetimes, run inside its own virtualenv.

Usage: python _lifetimes_run.py DATA.npz OUT.npz HORIZON_WEEKS MONTHLY_DISCOUNT
Reads x, t_x, T (weeks) and mean repeat value m; writes parameters, timings and predictions.
"""

import json
import sys
import time

import numpy as np
import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter
from lifetimes.utils import ConvergenceError


def fit_tight(fitter, *args):
    """Fit with a tight tolerance, falling back to lifetimes' default if BFGS gives up."""
    for tol in (1e-10, 1e-8, 1e-7):
        try:
            fitter.fit(*args, tol=tol)
            return tol
        except ConvergenceError:
            continue
    raise RuntimeError("lifetimes did not converge")


def main() -> None:
    """Run the lifetimes pipeline on one data file and save its results."""
    data_path, out_path, horizon, monthly = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(
        sys.argv[4])
    data = np.load(data_path)
    x = pd.Series(data["x"])
    t_x = pd.Series(data["t_x"])
    T = pd.Series(data["T"])
    m = pd.Series(data["m"])
    timings = {}

    start = time.perf_counter()
    bgf = BetaGeoFitter(penalizer_coef=0.0)
    bg_tol = fit_tight(bgf, x, t_x, T)
    timings["fit_bgnbd"] = time.perf_counter() - start

    start = time.perf_counter()
    repeat = (x > 0) & (m > 0)
    ggf = GammaGammaFitter(penalizer_coef=0.0)
    gg_tol = fit_tight(ggf, x[repeat], m[repeat])
    timings["fit_gamma_gamma"] = time.perf_counter() - start

    start = time.perf_counter()
    expected = bgf.conditional_expected_number_of_purchases_up_to_time(horizon, x, t_x, T)
    alive = bgf.conditional_probability_alive(x, t_x, T)
    clv = ggf.customer_lifetime_value(bgf, x, t_x, T, m, time=12, discount_rate=monthly,
                                      freq="W")
    timings["predict"] = time.perf_counter() - start

    np.savez(
        out_path,
        expected=np.asarray(expected, dtype=float),
        alive=np.asarray(alive, dtype=float),
        clv=np.asarray(clv, dtype=float),
        meta=json.dumps({
            "bgnbd": [float(bgf.params_[k]) for k in ("r", "alpha", "a", "b")],
            "gamma_gamma": [float(ggf.params_[k]) for k in ("p", "q", "v")],
            "tol": [bg_tol, gg_tol],
            "timings": timings,
        }),
    )


if __name__ == "__main__":
    main()
