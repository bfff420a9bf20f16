"""BG/NBD likelihood, gradient, predictions and parameter recovery."""

import numpy as np
import pytest

from stammkunde.core.clv import (
    compress,
    conditional_expected_purchases,
    expected_purchases_new,
    fit_bgnbd,
    probability_alive,
)
from stammkunde.core.clv.bgnbd import log_likelihood_and_gradient, log_likelihood_terms
from stammkunde.core.clv.simulate import simulate_bgnbd

CDNOW_PARAMS = (0.243, 4.414, 0.793, 2.426)


def finite_difference(x, t_x, T, w, theta, h=1e-6):
    """Central-difference gradient of the weighted log-likelihood."""
    out = []
    for step in np.eye(theta.size) * h:
        up = log_likelihood_and_gradient(theta + step, x, t_x, T, w)[0]
        down = log_likelihood_and_gradient(theta - step, x, t_x, T, w)[0]
        out.append((up - down) / (2 * h))
    return np.array(out)


@pytest.mark.parametrize("theta", [
    np.log(CDNOW_PARAMS),
    np.array([0.7, -1.2, 1.3, -0.4]),  # a > 1 and b < 1
    np.array([-2.0, 3.0, -1.5, 2.0]),
])
def test_analytic_gradient_matches_finite_differences(cdnow, theta):
    c = compress(cdnow["x"], cdnow["t_x"], cdnow["T"])
    _, grad = log_likelihood_and_gradient(theta, c.x, c.t_x, c.T, c.count)
    np.testing.assert_allclose(grad, finite_difference(c.x, c.t_x, c.T, c.count, theta),
                               rtol=1e-6, atol=1e-4)


def test_weighted_likelihood_is_the_sum_over_customers(cdnow):
    c = compress(cdnow["x"], cdnow["t_x"], cdnow["T"])
    theta = np.log(CDNOW_PARAMS)
    total, _ = log_likelihood_and_gradient(theta, c.x, c.t_x, c.T, c.count)
    per_customer = log_likelihood_terms(theta, cdnow["x"], cdnow["t_x"], cdnow["T"])
    assert total == pytest.approx(per_customer.sum(), rel=1e-12)


def test_single_customer_likelihood_by_hand():
    # x = 0: L = (α/(α+T))^r, the probability of no purchase while certainly alive.
    r, alpha, a, b = 0.5, 2.0, 1.5, 3.0
    value = log_likelihood_terms(np.log([r, alpha, a, b]), [0.0], [0.0], [10.0])[0]
    assert value == pytest.approx(r * np.log(alpha / (alpha + 10.0)))


def test_p_alive_is_one_without_repeat_purchases_and_falls_with_silence():
    assert probability_alive(CDNOW_PARAMS, 0, 0, 38.86) == 1.0
    recent = probability_alive(CDNOW_PARAMS, 5, 38.0, 38.86)
    silent = probability_alive(CDNOW_PARAMS, 5, 5.0, 38.86)
    assert 0 < silent < recent < 1
    # the formula written out
    r, alpha, a, b = CDNOW_PARAMS
    odds = a / (b + 5 - 1) * ((alpha + 38.86) / (alpha + 5.0)) ** (r + 5)
    assert silent == pytest.approx(1 / (1 + odds))


def test_new_customer_expectation_is_the_conditional_one_at_age_zero():
    t = np.array([1.0, 10.0, 52.0, 500.0])
    np.testing.assert_allclose(expected_purchases_new(CDNOW_PARAMS, t),
                               conditional_expected_purchases(CDNOW_PARAMS, t, 0, 0, 0))


def test_new_customer_expectation_matches_simulation():
    rng = np.random.default_rng(11)
    x, _, _ = simulate_bgnbd(CDNOW_PARAMS, np.full(400_000, 52.0), rng)
    expected = expected_purchases_new(CDNOW_PARAMS, 52.0)
    assert x.mean() == pytest.approx(expected, abs=3 * x.std() / np.sqrt(x.size))


def test_large_frequency_and_huge_age_stay_finite_and_bounded():
    x = np.array([200.0, 200.0, 1000.0, 200.0, 3.0])
    t_x = np.array([38.0, 1e6, 1e7, 0.5, 1e5])
    T = np.array([38.86, 1e6, 1e7, 1e6, 1e7])
    alive = probability_alive(CDNOW_PARAMS, x, t_x, T)
    assert np.all((alive >= 0) & (alive <= 1))
    expected = conditional_expected_purchases(CDNOW_PARAMS, 39.0, x, t_x, T)
    assert np.all(np.isfinite(expected)) and np.all(expected >= 0)
    # While alive, a customer who bought 200 times in 39 weeks buys at most at the posterior
    # mean rate (r + x)/(α + T) (less, because they may still drop out), but not much less.
    r, alpha, _, _ = CDNOW_PARAMS
    ceiling = (r + 200) / (alpha + 38.86) * 39
    assert 0.5 * ceiling < expected[0] / alive[0] < ceiling
    assert alive[3] == 0.0 and expected[3] == 0.0


@pytest.mark.parametrize(("params", "x", "t_x", "T", "t"), [
    (CDNOW_PARAMS, 2, 30.43, 38.86, 39.0),
    (CDNOW_PARAMS, 200, 38.0, 38.86, 39.0),
    (CDNOW_PARAMS, 1000, 5e6, 1e7, 1e6),
    (CDNOW_PARAMS, 50, 1e6, 1e7, 0.1),
    (CDNOW_PARAMS, 0, 0.0, 1e7, 0.1),
    ((2.0, 50.0, 3.5, 10.0), 10, 500.0, 1000.0, 1e5),
    ((0.5, 1.0, 0.2, 0.5), 0, 0.0, 1e7, 0.1),  # a + b < 1
    ((0.243, 4.414, 1.0000001, 2.426), 10, 20.0, 38.86, 39.0),  # a at the removable pole
])
def test_conditional_expectation_matches_high_precision_reference(params, x, t_x, T, t):
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 50
    r, alpha, a, b = (mp.mpf(v) for v in params)
    xm, txm, Tm, tm = (mp.mpf(v) for v in (x, t_x, T, t))
    z = tm / (alpha + Tm + tm)
    alive_part = (a + b + xm - 1) / (a - 1) * (
        1 - ((alpha + Tm) / (alpha + Tm + tm)) ** (r + xm) * mp.hyp2f1(r + xm, b + xm,
                                                                     a + b + xm - 1, z))
    odds = a / (b + xm - 1) * ((alpha + Tm) / (alpha + txm)) ** (r + xm) if x > 0 else 0
    reference = float(alive_part / (1 + odds))
    ours = float(conditional_expected_purchases(params, t, x, t_x, T))
    assert ours == pytest.approx(reference, rel=1e-6, abs=1e-300)


def test_simulated_parameters_are_recovered_within_three_standard_errors():
    truth = (0.5, 6.0, 0.7, 2.5)
    rng = np.random.default_rng(20240601)
    x, t_x, T = simulate_bgnbd(truth, rng.uniform(10.0, 80.0, 20_000), rng)
    c = compress(x, t_x, T)
    fit = fit_bgnbd(c.x, c.t_x, c.T, c.count)
    assert fit.converged, fit.message
    for name, true_value in zip(("r", "alpha", "a", "b"), truth, strict=True):
        estimate, se = getattr(fit, name), fit.standard_errors[name]
        assert abs(estimate - true_value) < 3 * se, (name, estimate, true_value, se)
        assert se < 0.5 * true_value


def test_gradient_at_the_optimum_is_zero(cdnow):
    fit = fit_bgnbd(cdnow["x"], cdnow["t_x"], cdnow["T"])
    _, grad = log_likelihood_and_gradient(np.log(fit.params), cdnow["x"], cdnow["t_x"],
                                          cdnow["T"], np.ones(2357))
    assert np.max(np.abs(grad)) < 1e-6


@pytest.mark.parametrize(("x", "t_x", "T", "message"), [
    ([1.5], [1.0], [2.0], "whole numbers"),
    ([1.0], [3.0], [2.0], "between 0 and T"),
    ([], [], [], "no customers"),
])
def test_invalid_triples_are_rejected(x, t_x, T, message):
    with pytest.raises(ValueError, match=message):
        fit_bgnbd(np.array(x), np.array(t_x), np.array(T))


def test_nearly_constant_dropout_still_predicts():
    # With a and b in the hundreds of thousands ₂F₁ overflows; the answer is then the limit of a
    # fixed drop-out probability p = a/(a+b+x): (1 - ((α+T)/(α+T+p·t))^(r+x)) / p.
    r, alpha, a, b = params = (2.39, 43.4, 2.3e5, 7.7e5)
    x, T, t = np.array([0.0, 3.0, 40.0]), np.array([0.0, 20.0, 30.0]), 52.0
    ours = conditional_expected_purchases(params, t, x, np.where(x > 0, T, 0), T)
    p = a / (a + b + x)
    limit = (1 - ((alpha + T) / (alpha + T + p * t)) ** (r + x)) / p
    limit *= probability_alive(params, x, np.where(x > 0, T, 0), T)
    np.testing.assert_allclose(ours, limit, rtol=1e-5)
