"""The CLV model on two real public transaction logs (tests/data/README.md): the UCI "Online
Retail" invoices, where drop-out is not identified, and BTYDplus' online grocery, where it is.

Expectations come from independent computations: lifetimes 0.11.3 (numbers recorded by
tests/data/lifetimes_reference.py), a fit of the NBD count distribution with scipy.stats, a
parametric bootstrap of the intervals, and holdout counts done with plain Python sets.
"""

from __future__ import annotations

import json
from functools import cache

import numpy as np
import pytest
from real_data import DATA, TransactionLog, day_of, grocery, online_retail
from scipy.optimize import minimize
from scipy.stats import nbinom

from stammkunde.core.backtest import naive_extrapolation
from stammkunde.core.clv import (
    CustomerSummary,
    FittedModel,
    conditional_expected_purchases,
    fit_model,
    summary_from_orders,
)
from stammkunde.core.segments.lifecycle import (
    STAGES,
    expected_gap_days,
    lifecycle_stages,
    typical_gap_days,
)
from stammkunde.core.settings import RetentionSettings

LIFECYCLE = RetentionSettings().lifecycle


@cache
def logs() -> dict[str, TransactionLog]:
    """Both logs, read once."""
    return {"online_retail": online_retail(), "grocery": grocery()}


def summary_at(name: str, date: str) -> CustomerSummary:
    """The (x, t_x, T) summary in days of a log at the end of a calendar day."""
    log = logs()[name]
    return summary_from_orders(log.customer, log.day, log.value, day_of(date) + 0.999)


def lifetimes_reference() -> dict:
    """lifetimes' BG/NBD fits recorded by tests/data/lifetimes_reference.py."""
    return json.loads((DATA / "lifetimes_reference.json").read_text())


def test_the_logs_have_the_published_size() -> None:
    retail, groc = logs()["online_retail"], logs()["grocery"]
    # UCI: 4,372 customer ids, of which 4,338 have a valid (non-cancelled, priced) invoice.
    assert (retail.customer.size, np.unique(retail.customer).size) == (18532, 4338)
    # BTYDplus documentation: 10,483 transactions of 1,525 customers in 2006-2007.
    assert (groc.customer.size, np.unique(groc.customer).size) == (10483, 1525)


MONTH_ENDS = ["2011-01-31", "2011-02-28", "2011-03-31", "2011-04-30", "2011-05-31", "2011-06-30",
              "2011-07-31", "2011-08-31", "2011-09-30", "2011-10-31", "2011-11-30"]


@pytest.mark.parametrize("end", MONTH_ENDS)
def test_online_retail_is_never_refused_and_fits_nbd_at_every_month_end(end: str) -> None:
    s = summary_at("online_retail", end)
    model = fit_model(s)
    assert isinstance(model, FittedModel), model
    assert model.family == "nbd" and model.dropout_weight == 0.0
    assert "do not identify drop-out" in model.reason


def _nbd_by_count_distribution(s: CustomerSummary) -> tuple[float, float]:
    """NBD (r, α) in weeks by maximising the negative binomial pmf of x over T (scipy.stats)."""
    x, T = s.x, s.T / 7.0

    def nll(theta: np.ndarray) -> float:
        r, alpha = np.exp(theta)
        return -float(nbinom.logpmf(x, r, alpha / (alpha + T)).sum())

    res = minimize(nll, np.array([0.0, 2.0]), method="Nelder-Mead",
                   options={"xatol": 1e-10, "fatol": 1e-10, "maxiter": 4000})
    return tuple(np.exp(res.x))  # type: ignore[return-value]


@pytest.mark.parametrize("end", ["2011-03-31", "2011-09-09"])
def test_nbd_parameters_equal_an_independent_count_likelihood_fit(end: str) -> None:
    # The event-time likelihood and the count pmf differ by T^x / x!, free of parameters, so
    # both have the same maximum.
    s = summary_at("online_retail", end)
    model = fit_model(s)
    r, alpha = _nbd_by_count_distribution(s)
    assert model.transactions.r == pytest.approx(r, rel=1e-5)
    assert model.transactions.alpha == pytest.approx(alpha, rel=1e-5)


def test_nbd_equals_lifetimes_bgnbd_at_its_no_drop_out_limit() -> None:
    ref = lifetimes_reference()["online_retail"]
    # lifetimes converges only at the first end, to a = 2e-6 (the no-drop-out limit) ...
    first = ref["2011-03-31"]
    assert first["converged"] and first["params"]["a"] < 1e-5
    assert not ref["2011-06-30"]["converged"] and not ref["2011-09-09"]["converged"]
    model = fit_model(summary_at("online_retail", "2011-03-31"))
    tx = model.transactions
    # ... where its r, α and predictions equal our NBD's.
    assert tx.r == pytest.approx(first["params"]["r"], rel=1e-5)
    assert tx.alpha == pytest.approx(first["params"]["alpha"], rel=1e-5)
    probe = first["probe"]
    ours = tx.expected_purchases(13.0, np.array(probe["x"]), np.array(probe["t_x"]),
                                 np.array(probe["T"]))
    np.testing.assert_allclose(ours, probe["expected_13_weeks"], rtol=1e-5)
    # E[Y(t) | x, T] = t (r + x) / (α + T) by hand
    assert ours[1] == pytest.approx(13.0 * (tx.r + probe["x"][1]) / (tx.alpha + probe["T"][1]))


@pytest.mark.parametrize("end", ["2006-06-30", "2006-12-31", "2007-06-30"])
def test_grocery_is_bgnbd_and_equals_lifetimes(end: str) -> None:
    ref = lifetimes_reference()["grocery"][end]
    model = fit_model(summary_at("grocery", end))
    assert model.family == "bgnbd" and model.dropout_weight == 1.0
    np.testing.assert_allclose(model.transactions.params,
                               [ref["params"][k] for k in ("r", "alpha", "a", "b")], rtol=1e-6)
    probe = ref["probe"]
    args = (np.array(probe["x"]), np.array(probe["t_x"]), np.array(probe["T"]))
    np.testing.assert_allclose(model.transactions.expected_purchases(13.0, *args),
                               probe["expected_13_weeks"], rtol=1e-6)
    np.testing.assert_allclose(model.transactions.probability_alive(*args), probe["p_alive"],
                               rtol=1e-6)
    # The grocery log has no order values: every repeat buyer "spends" 1, Gamma-Gamma is not
    # identified and the fallback (each customer's average order value) says so.
    assert model.spend is None and "spends the same" in model.spend_note


def test_the_issues_two_day_customer_is_lost_not_loyal() -> None:
    # A customer who bought on the data's first two days and never again: with BG/NBD forced
    # on these data, P(alive) stays high; with the NBD the ratio rule judges them.
    s = summary_at("online_retail", "2011-12-09")
    model = fit_model(s)
    two_days = np.flatnonzero((s.x == 1) & (s.t_x == 1) & (s.T == 373))
    assert two_days.size >= 1
    stage = _stages(s, model)[two_days]
    # ratio = 372 days since the last order / the 7-day floor on their 1-day rhythm = 53 ≥ 4
    assert [STAGES[k] for k in stage] == ["lost"] * two_days.size


def _stages(s: CustomerSummary, model: FittedModel, weight: float | None = None) -> np.ndarray:
    """Lifecycle stages of a summary in days whose log has one order per transaction day."""
    orders = s.x + 1
    day = 86_400.0
    first_ts = -s.T * day
    last_ts = first_ts + s.t_x * day
    shop_gap = typical_gap_days(orders, first_ts, last_ts, LIFECYCLE.default_gap_days)
    gap = expected_gap_days(orders, first_ts, last_ts, shop_gap,
                            LIFECYCLE.min_expected_gap_days)
    w = model.dropout_weight if weight is None else weight
    p = model.predict(s, intervals=False)["p_alive"]
    return lifecycle_stages(orders, -last_ts / day, gap, LIFECYCLE, p if w > 0 else None, s.x,
                            w)


def test_stages_do_not_jump_when_the_family_switches_between_two_days() -> None:
    # The grocery shop's fit switches from NBD to BG/NBD between these two days.
    day1, day2 = summary_at("grocery", "2006-04-23"), summary_at("grocery", "2006-04-24")
    m1, m2 = fit_model(day1), fit_model(day2)
    assert (m1.family, m2.family) == ("nbd", "bgnbd")
    assert m1.dropout_weight == 0.0 and 0.0 < m2.dropout_weight < 0.1
    np.testing.assert_array_equal(day1.customer, day2.customer)
    before = _stages(day1, m1)
    after = _stages(day2, m2)
    by_ratio = _stages(day2, m2, weight=0.0)
    hard_switch = _stages(day2, m2, weight=1.0)
    moved = int((after != before).sum())
    moved_by_time = int((by_ratio != before).sum())  # a day passes, orders arrive
    moved_by_switch = int((hard_switch != before).sum())
    # A hard switch to P(alive) would move ~19 % of the customers in one day; the weighted rule
    # moves only those the passing day moves plus a few near a threshold.
    assert moved_by_switch > 0.15 * day1.x.size
    assert moved < moved_by_switch / 3
    assert moved - moved_by_time < 0.03 * day1.x.size
    # and who leaves the ratio rule's stage only ever goes towards what P(alive) says
    differ = after != by_ratio
    towards = np.sign(after[differ] - by_ratio[differ]) == np.sign(
        hard_switch[differ] - by_ratio[differ])
    assert towards.all()


def test_delta_method_intervals_agree_with_a_parametric_bootstrap() -> None:
    s = summary_at("grocery", "2006-12-31")
    model = fit_model(s)
    tx = model.transactions
    pred = model.predict(s, horizon_days=91.0, margin=1.0)
    rng = np.random.default_rng(3)
    draws = np.exp(rng.multivariate_normal(np.log(tx.params), tx.log_covariance, size=2000))
    weeks = s.in_unit("weeks")
    for i in (int(np.argmax(s.x)), int(np.flatnonzero(s.x == 3)[0]),
              int(np.flatnonzero(s.x == 0)[0])):
        values = np.array([conditional_expected_purchases(tuple(d), 13.0, weeks.x[i],
                                                          weeks.t_x[i], weeks.T[i])
                           for d in draws])
        # The delta method on the log scale gives the bootstrap's 5 % and 95 % quantiles.
        low, high = np.quantile(values, [0.05, 0.95])
        assert pred["expected_purchases_low"][i] == pytest.approx(low, rel=0.03)
        assert pred["expected_purchases_high"][i] == pytest.approx(high, rel=0.03)
        assert pred["expected_purchases_low"][i] < pred["expected_purchases"][i] < pred[
            "expected_purchases_high"][i]


def test_nbd_interval_by_hand() -> None:
    # E = t (r + x) / (α + T): d log E / d log r = r / (r + x), d log E / d log α = -α / (α + T).
    s = summary_at("online_retail", "2011-09-09")
    model = fit_model(s)
    tx = model.transactions
    pred = model.predict(s, horizon_days=91.0)
    weeks = s.in_unit("weeks")
    i = int(np.argmax(s.x))
    g = np.array([tx.r / (tx.r + weeks.x[i]), -tx.alpha / (tx.alpha + weeks.T[i])])
    half = 1.6448536269514722 * np.sqrt(g @ tx.log_covariance @ g)
    expected = 13.0 * (tx.r + weeks.x[i]) / (tx.alpha + weeks.T[i])
    assert pred["expected_purchases"][i] == pytest.approx(expected, rel=1e-12)
    assert pred["expected_purchases_low"][i] == pytest.approx(expected * np.exp(-half), rel=1e-6)
    assert pred["expected_purchases_high"][i] == pytest.approx(expected * np.exp(half), rel=1e-6)


def _holdout_days(log: TransactionLog, cal_end: str, hold_end: str) -> dict[int, int]:
    """Distinct order days per customer in (cal_end, hold_end], counted with sets."""
    lo, hi = day_of(cal_end), day_of(hold_end)
    days: dict[int, set[float]] = {}
    for c, d in zip(log.customer.tolist(), log.day.tolist(), strict=True):
        if lo < d <= hi:
            days.setdefault(c, set()).add(d)
    return {c: len(v) for c, v in days.items()}


def test_online_retail_holdout_model_and_naive_extrapolation() -> None:
    cal, hold = "2011-09-09", "2011-12-09"
    log = logs()["online_retail"]
    s = summary_at("online_retail", cal)
    counts = _holdout_days(log, cal, hold)
    actual = np.array([counts.get(int(c), 0) for c in s.customer], dtype=float)
    horizon = day_of(hold) - day_of(cal)
    model = fit_model(s)
    predicted = model.transactions.expected_purchases(horizon / 7.0, s.x, s.t_x / 7.0,
                                                      s.T / 7.0)
    naive = naive_extrapolation(s.x, s.T, horizon)
    k = int(np.argmax(s.x))
    assert naive[k] == pytest.approx(s.x[k] / s.T[k] * 91.0)
    # The Christmas quarter: the NBD's total is 12-26 % low (as the issue reports), the naive
    # extrapolation's too; both are reported by `clv backtest`.
    error = (predicted.sum() - actual.sum()) / actual.sum()
    assert -0.26 < error < -0.12
    assert np.isfinite(np.abs(naive - actual).mean())
