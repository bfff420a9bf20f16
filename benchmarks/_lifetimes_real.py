"""Baseline for clv_real.py: lifetimes' BG/NBD holdout predictions, run in its own virtualenv.

Usage: python _lifetimes_real.py DATA.npz OUT.json
DATA holds x, t_x, T (weeks) and the holdout length ``horizon`` (weeks); OUT gets the expected
holdout purchases per customer, or why lifetimes gave none.
"""

import contextlib
import io
import json
import sys
import warnings

import numpy as np
import pandas as pd
from lifetimes import BetaGeoFitter


def main() -> None:
    """Fit BG/NBD with lifetimes (tight tolerance first) and predict the holdout."""
    data = np.load(sys.argv[1])
    x, t_x, T = (pd.Series(data[k]) for k in ("x", "t_x", "T"))
    horizon = float(data["horizon"])
    errors = []
    for tol in (1e-10, 1e-8, 1e-7):
        bgf = BetaGeoFitter(penalizer_coef=0.0)
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")
                bgf.fit(x, t_x, T, tol=tol)
        except Exception as exc:  # ConvergenceError and numerical failures
            errors.append(type(exc).__name__)
            continue
        expected = np.asarray(
            bgf.conditional_expected_number_of_purchases_up_to_time(horizon, x, t_x, T),
            dtype=float)
        out = {"converged": True, "tol": tol, "params": [float(v) for v in bgf.params_],
               "expected": expected.tolist()}
        break
    else:
        out = {"converged": False, "errors": errors}
    with open(sys.argv[2], "w") as fh:
        json.dump(out, fh)


if __name__ == "__main__":
    main()
