"""Gamma-Gamma spend model: likelihood, gradient, conditional expectation, recovery."""

import numpy as np
import pytest
from scipy.special import gammaln

from stammkunde.core.clv import expected_order_value, fit_gamma_gamma, frequency_value_correlation
from stammkunde.core.clv.gamma_gamma import log_likelihood, log_likelihood_and_gradient
from stammkunde.core.clv.simulate import simulate_mean_values


@pytest.mark.parametrize("theta", [np.log([6.25, 3.74, 15.44]), np.array([-0.5, 0.1, 4.0])])
def test_analytic_gradient_matches_finite_differences(cdnow, theta):
    repeat = cdnow["x"] > 0
    x, m = cdnow["x"][repeat], cdnow["zbar"][repeat]
    _, grad = log_likelihood_and_gradient(theta, x, m)
    h = 1e-6
    numeric = [(log_likelihood_and_gradient(theta + e, x, m)[0]
                - log_likelihood_and_gradient(theta - e, x, m)[0]) / (2 * h)
               for e in np.eye(3) * h]
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-4)


def test_likelihood_of_one_customer_by_hand():
    p, q, g, x, m = 2.0, 3.0, 10.0, 2.0, 5.0
    by_hand = (gammaln(p * x + q) - gammaln(p * x) - gammaln(q) + q * np.log(g)
               + (p * x - 1) * np.log(m) + p * x * np.log(x) - (p * x + q) * np.log(g + m * x))
    assert log_likelihood((p, q, g), [x], [m]) == pytest.approx(by_hand)


def test_conditional_order_value_shrinks_towards_the_population_mean():
    params = (6.25, 3.74, 15.44)
    population = 6.25 * 15.44 / (3.74 - 1)
    assert expected_order_value(params, 0, 0) == pytest.approx(population)
    # weighted average of the population mean and the customer's own mean
    x, m = 4.0, 60.0
    weight = 6.25 * x / (6.25 * x + 3.74 - 1)
    assert expected_order_value(params, x, m) == pytest.approx(
        (1 - weight) * population + weight * m)
    assert population < expected_order_value(params, x, m) < m


def test_simulated_parameters_are_recovered_within_three_standard_errors():
    truth = (6.0, 4.0, 15.0)
    rng = np.random.default_rng(7)
    x = 1.0 + rng.poisson(2.0, 20_000)
    m = simulate_mean_values(truth, x, rng)
    fit = fit_gamma_gamma(x, m)
    assert fit.converged, fit.message
    for name, true_value in zip(("p", "q", "gamma"), truth, strict=True):
        estimate, se = getattr(fit, name), fit.standard_errors[name]
        assert abs(estimate - true_value) < 3 * se, (name, estimate, true_value, se)
    assert abs(fit.frequency_value_correlation) < 0.05


def test_correlation_is_nan_when_it_cannot_be_computed():
    assert np.isnan(frequency_value_correlation([1, 1, 1], [2.0, 3.0, 4.0]))
    assert np.isnan(frequency_value_correlation([0, 2], [0.0, 3.0]))


def test_non_repeat_customers_are_rejected():
    with pytest.raises(ValueError, match="repeat customers only"):
        fit_gamma_gamma([0.0, 2.0], [0.0, 3.0])
