"""The model reproduces the published CDNOW estimates (Fader, Hardie & Lee 2005; Fader & Hardie
2013, "The Gamma-Gamma model of monetary value"), see tests/data/README.md."""

import numpy as np
import pytest

from stammkunde.core.clv import (
    CustomerSummary,
    FittedModel,
    compress,
    fit_bgnbd,
    fit_gamma_gamma,
    fit_model,
)


def sig3(value: float) -> float:
    """Round to three significant digits."""
    return float(f"{value:.3g}")


def test_cdnow_has_2357_customers_946_of_them_repeat_buyers(cdnow):
    assert cdnow["x"].size == 2357
    assert int((cdnow["x"] > 0).sum()) == 946


def test_bgnbd_reproduces_published_parameters(cdnow):
    c = compress(cdnow["x"], cdnow["t_x"], cdnow["T"])
    fit = fit_bgnbd(c.x, c.t_x, c.T, c.count, time_unit="weeks")
    assert fit.converged, fit.message
    assert fit.n_customers == 2357
    assert (sig3(fit.r), sig3(fit.alpha), sig3(fit.a), sig3(fit.b)) == (0.243, 4.41, 0.793, 2.43)
    assert fit.r == pytest.approx(0.243, abs=5e-4)
    assert fit.alpha == pytest.approx(4.414, abs=5e-4)
    assert fit.a == pytest.approx(0.793, abs=5e-4)
    assert fit.b == pytest.approx(2.426, abs=5e-4)
    assert fit.log_likelihood == pytest.approx(-9582.4, abs=0.05)


def test_bgnbd_on_compressed_and_raw_rows_agree(cdnow):
    c = compress(cdnow["x"], cdnow["t_x"], cdnow["T"])
    assert len(c) < 2357
    raw = fit_bgnbd(cdnow["x"], cdnow["t_x"], cdnow["T"])
    packed = fit_bgnbd(c.x, c.t_x, c.T, c.count)
    np.testing.assert_allclose(raw.params, packed.params, rtol=1e-7)
    assert raw.log_likelihood == pytest.approx(packed.log_likelihood, rel=1e-12)


def test_hardie_spreadsheet_conditional_expectation(cdnow):
    # Fader & Hardie's BG/NBD spreadsheet: a customer with x = 2, t_x = 30.43, T = 38.86 weeks
    # is expected to make 1.226 purchases in the next 39 weeks (the same figure is checked by
    # lifetimes' test suite against that spreadsheet).
    fit = fit_bgnbd(cdnow["x"], cdnow["t_x"], cdnow["T"])
    assert fit.expected_purchases(39.0, 2, 30.43, 38.86) == pytest.approx(1.226, abs=5e-4)
    published = (0.243, 4.414, 0.793, 2.426)
    from stammkunde.core.clv import conditional_expected_purchases

    assert conditional_expected_purchases(published, 39.0, 2, 30.43, 38.86) == pytest.approx(
        1.226, abs=5e-4)


def test_gamma_gamma_reproduces_published_parameters(cdnow):
    repeat = cdnow["x"] > 0
    fit = fit_gamma_gamma(cdnow["x"][repeat], cdnow["zbar"][repeat])
    assert fit.converged, fit.message
    assert fit.n_customers == 946
    assert (sig3(fit.p), sig3(fit.q), sig3(fit.gamma)) == (6.25, 3.74, 15.4)
    # The note reports γ = 15.44; on these cent-rounded means the maximum is at 15.448.
    assert fit.gamma == pytest.approx(15.44, abs=0.01)
    # The note's independence check: frequency and spend are only weakly correlated (0.11).
    assert fit.frequency_value_correlation == pytest.approx(0.11, abs=0.005)


def test_fit_model_on_cdnow_gives_sensible_predictions(cdnow):
    summary = CustomerSummary(
        customer=np.arange(2357), x=cdnow["x"], t_x=cdnow["t_x"], T=cdnow["T"],
        mean_repeat_value=cdnow["zbar"], time_unit="weeks")
    model = fit_model(summary)
    assert isinstance(model, FittedModel)
    assert model.transactions.r == pytest.approx(0.243, abs=5e-4)
    pred = model.predict(summary, horizon_days=39 * 7)
    assert pred["expected_purchases"][0] == pytest.approx(1.226, abs=5e-4)
    assert np.all((pred["p_alive"] > 0) & (pred["p_alive"] <= 1))
    assert np.all(pred["clv"] >= 0) and np.all(np.isfinite(pred["clv"]))
    # Population mean order value pγ/(q-1) for customers without repeat purchases.
    first_only = cdnow["x"] == 0
    np.testing.assert_allclose(pred["expected_order_value"][first_only],
                               model.spend.mean_order_value)
