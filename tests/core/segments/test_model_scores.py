"""Scores of a simulated shop where the predictive model is fitted: P(alive) drives the stages."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import numpy as np
import pytest

from stammkunde.core.backtest import backtest_report, run_backtest
from stammkunde.core.clv import FittedModel
from stammkunde.core.metrics import to_json
from stammkunde.core.segments import (
    compute_scores,
    score_customers,
    score_report,
    win_back_targets,
)
from stammkunde.core.segments.data import load_person_arrays
from stammkunde.core.segments.lifecycle import AT_RISK, LAPSED, LOST
from stammkunde.core.settings import RetentionSettings
from stammkunde.core.store import get_shop
from tests.simulated import AS_OF


def scores(sessions):  # type: ignore[no-untyped-def]
    with sessions() as s:
        return score_customers(s, get_shop(s, "sim"), AS_OF, RetentionSettings())


def trusted(sessions):  # type: ignore[no-untyped-def]
    """The sim shop scored with its fitted model, P(alive) fully trusted (dropout_weight 1)."""
    sc = scores(sessions)
    with sessions() as s:
        people = load_person_arrays(s, get_shop(s, "sim"), AS_OF, sc.settings)
    return compute_scores(people, sc.settings, replace(sc.model, dropout_weight=1.0))


def test_model_columns_and_stages_follow_p_alive(sessions, sim_shop) -> None:
    sc = trusted(sessions)
    assert isinstance(sc.model, FittedModel)
    buyers = sc.customers
    assert buyers.all() and len(sc) == 300
    assert np.isfinite(sc.p_alive).all() and np.isfinite(sc.clv).all()
    multi = sc.people.order_days > 1
    lc = sc.settings.lifecycle
    p = sc.p_alive[multi]
    expected = np.select([p < lc.lost_p_alive, p < lc.lapsed_p_alive, p < lc.at_risk_p_alive],
                         [LOST, LAPSED, AT_RISK], default=-1)
    stage = sc.stage[multi]
    assert (stage[expected >= 0] == expected[expected >= 0]).all()
    assert (stage[expected < 0] < AT_RISK).all()
    # one-day customers have P(alive) 1 and keep the ratio rule
    assert (sc.p_alive[~multi] == 1.0).all()


def test_win_back_with_the_model(sessions, sim_shop) -> None:
    sc = trusted(sessions)
    ranked = win_back_targets(sc)
    assert ranked and [r["rank"] for r in ranked] == list(range(1, len(ranked) + 1))
    values = [r["expected_value"] for r in ranked]
    assert values == sorted(values, reverse=True)
    index = {cid: i for i, cid in enumerate(sc.people.customer_id)}
    for r in ranked[:20]:
        i = index[r["customer_id"]]
        if sc.people.order_days[i] > 1:
            # P(win back) = P(alive); value = P·E[order]·margin + CLV
            assert r["p_win_back"] == pytest.approx(sc.p_alive[i])
            assert float(r["expected_value"]) == pytest.approx(
                sc.p_alive[i] * sc.expected_order_value[i] * 0.3 + sc.clv[i], abs=1e-4)


def test_report_section_with_the_model(sessions, sim_shop) -> None:
    section = to_json(score_report(scores(sessions), 0.5))
    model = section["clv_model"]
    assert model["available"] is True and model["customers"] == 300
    assert set(model["bgnbd"]) >= {"r", "alpha", "a", "b", "log_likelihood", "time_unit"}
    assert set(model["gamma_gamma"]) >= {"p", "q", "gamma"}
    assert sorted(section["clv_by_channel"]) == ["online", "pos"]
    assert sorted(section["clv_by_first_code"]) == ["(none)", "welcome"]
    assert section["clv_by_first_code"]["welcome"]["customers"] == 60
    assert section["notes"][0].startswith("Predictive CLV and P(alive) come from BG/NBD")


def test_backtest_counts_holdout_transactions_per_customer(sessions, sim_shop) -> None:
    cal, hold = AS_OF - timedelta(days=180), AS_OF
    with sessions() as s:
        bt = run_backtest(s, get_shop(s, "sim"), cal, hold)
    # independent count from the records: order days (UTC) per customer in (cal, hold] for
    # customers whose first order is on or before cal
    days: dict[str, set[int]] = {}
    first: dict[str, float] = {}
    for o in sim_shop:
        cid = o.customer_id
        first[cid] = min(first.get(cid, float("inf")), o.created_at.timestamp())
        if cal < o.created_at <= hold:
            days.setdefault(cid, set()).add(int(o.created_at.timestamp()) // 86_400)
    cohort = [c for c, t in first.items() if t <= cal.timestamp()]
    assert bt.x.size == len(cohort)
    assert bt.actual.sum() == sum(len(days.get(c, ())) for c in cohort)
    report = backtest_report(bt)
    assert report["model"]["available"] is True
    table = report["calibration_table"]
    assert [row["repeat_purchases"] for row in table] == ["0", "1", "2", "3", "4", "5", "6",
                                                          "7+"]
    assert sum(row["customers"] for row in table) == len(cohort)
    assert report["predicted_total"] == pytest.approx(float(bt.predicted.sum()))
    assert report["mae"] == pytest.approx(float(np.mean(np.abs(bt.predicted - bt.actual))))
    # the model fitted on simulated BG/NBD data predicts the total within 25 %
    assert abs(report["error_percent"]) < 25
