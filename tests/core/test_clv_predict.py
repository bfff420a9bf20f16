"""fit_model and FittedModel.predict: CLV arithmetic, defaults, and degenerate shops."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stammkunde.core.clv import (
    DEFAULT_HORIZON_DAYS,
    CustomerSummary,
    FittedModel,
    ModelUnavailable,
    conditional_expected_purchases,
    fit_model,
    monthly_discount_rate,
    summary_from_orders,
)
from stammkunde.core.clv.simulate import simulate_orders

MONTH_DAYS = 365.25 / 12


@pytest.fixture(scope="module")
def shop():
    """A simulated shop with 3,000 customers over two years, its summary and fitted model."""
    rng = np.random.default_rng(5)
    orders = simulate_orders(3000, (0.5, 8.0, 0.8, 3.0), (5.0, 4.0, 20.0), 730.0, rng)
    summary = summary_from_orders(orders.customer_idx, orders.order_days, orders.values,
                                  orders.as_of_day)
    model = fit_model(summary)
    assert isinstance(model, FittedModel), model
    return summary, model


def test_default_discount_rate_is_ten_percent_a_year_compounded_monthly():
    assert monthly_discount_rate(0.10) == pytest.approx(1.1 ** (1 / 12) - 1)
    assert (1 + monthly_discount_rate(0.10)) ** 12 == pytest.approx(1.10)
    assert abs(DEFAULT_HORIZON_DAYS - 365.25) < 1e-9


def test_clv_is_the_discounted_sum_of_monthly_margin(shop):
    summary, model = shop
    pred = model.predict(summary, margin=0.3, annual_discount_rate=0.1)
    weeks = summary.in_unit("weeks")
    i = int(np.argmax(summary.x))
    d = monthly_discount_rate(0.1)
    by_hand = 0.0
    previous = 0.0
    for m in range(1, 13):
        cumulative = conditional_expected_purchases(
            model.transactions.params, m * MONTH_DAYS / 7, weeks.x[i], weeks.t_x[i], weeks.T[i])
        by_hand += 0.3 * pred["expected_order_value"][i] * (cumulative - previous) / (1 + d) ** m
        previous = cumulative
    assert pred["clv"][i] == pytest.approx(by_hand, rel=1e-10)
    assert pred["expected_purchases"][i] == pytest.approx(previous, rel=1e-10)


def test_predictions_are_aligned_with_the_summary_and_finite(shop):
    summary, model = shop
    pred = model.predict(summary, horizon_days=90)
    np.testing.assert_array_equal(pred["customer"], summary.customer)
    for key in ("expected_purchases", "p_alive", "expected_order_value", "clv"):
        assert pred[key].shape == (len(summary),)
        assert np.all(np.isfinite(pred[key])) and np.all(pred[key] >= 0)
    # A longer horizon never lowers expected purchases or CLV.
    longer = model.predict(summary, horizon_days=365.25)
    assert np.all(longer["expected_purchases"] >= pred["expected_purchases"])
    assert np.all(longer["clv"] >= pred["clv"])


def test_partial_last_month_at_the_horizon(shop):
    summary, model = shop
    one_month = model.predict(summary, horizon_days=MONTH_DAYS)
    d = monthly_discount_rate(0.1)
    np.testing.assert_allclose(
        one_month["clv"],
        0.3 * one_month["expected_order_value"] * one_month["expected_purchases"] / (1 + d))
    half = model.predict(summary, horizon_days=MONTH_DAYS / 2)
    np.testing.assert_allclose(
        half["clv"],
        0.3 * half["expected_order_value"] * half["expected_purchases"] / (1 + d) ** 0.5)


def summary_of(x, t_x, T, values=None):
    """A summary in days from plain lists."""
    x = np.asarray(x, dtype=float)
    values = np.where(x > 0, 20.0, 0.0) if values is None else np.asarray(values, dtype=float)
    return CustomerSummary(np.arange(x.size), x, np.asarray(t_x, dtype=float),
                           np.asarray(T, dtype=float), values)


@pytest.mark.parametrize(("summary", "code"), [
    (summary_of([], [], []), "no_customers"),
    (summary_of([1] * 10, [5] * 10, [20] * 10), "too_few_customers"),
    (summary_of([0] * 100, [0] * 100, [3] * 100), "single_day"),
    (summary_of([0] * 100, [0] * 100, np.arange(100)), "no_repeat_buyers"),
    (summary_of([1] * 5 + [0] * 95, [4] * 5 + [0] * 95, [50] * 100), "too_few_repeat_buyers"),
])
def test_thin_data_is_refused_with_a_reason(summary, code):
    result = fit_model(summary)
    assert isinstance(result, ModelUnavailable)
    assert result.code == code
    assert result.reason


def test_all_orders_on_one_day_is_explained():
    cust = np.arange(200)
    s = summary_from_orders(cust, np.full(200, 100.3), np.full(200, 25.0), as_of=100.9)
    result = fit_model(s)
    assert isinstance(result, ModelUnavailable) and result.code == "single_day"


def test_identical_spend_falls_back_to_each_customers_average_order_value(shop):
    summary, model = shop
    flat = CustomerSummary(summary.customer, summary.x, summary.t_x, summary.T,
                           np.where(summary.x > 0, 42.0, 0.0))
    result = fit_model(flat)
    # The purchase model is the same; the spend model is replaced by the plain average.
    assert isinstance(result, FittedModel) and result.spend is None
    assert "spends the same" in result.spend_note and "average order value" in result.spend_note
    assert result.transactions.params == model.transactions.params
    pred = result.predict(flat, margin=0.3)
    # Without mean_value every repeat buyer's own average is 42, and so is the shop's.
    np.testing.assert_array_equal(pred["expected_order_value"], np.full(len(flat), 42.0))
    base = model.predict(summary, margin=0.3)
    np.testing.assert_allclose(pred["clv"], base["clv"] / base["expected_order_value"] * 42.0,
                               rtol=1e-12)


def test_nobody_ever_leaving_is_refused_rather_than_fitted_to_absurd_parameters():
    # 300 clockwork customers who bought every day up to today: no heterogeneity and no
    # drop-out to learn, so the likelihood keeps improving as parameters run off to infinity.
    T = np.arange(300) % 50 + 10.0
    result = fit_model(summary_of(T, T, T), time_unit="days")
    assert isinstance(result, ModelUnavailable)
    assert result.code == "transactions_not_converged"
    assert "edge of the allowed range" in result.reason


@st.composite
def small_shops(draw):
    """Arbitrary small order books: up to 60 customers, up to 400 orders over 200 days."""
    n = draw(st.integers(1, 400))
    cust = draw(st.lists(st.integers(0, 59), min_size=n, max_size=n))
    days = draw(st.lists(st.floats(0, 200), min_size=n, max_size=n))
    values = draw(st.lists(st.floats(0.01, 500), min_size=n, max_size=n))
    return np.array(cust), np.array(days), np.array(values)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_shops())
def test_any_small_shop_gives_a_model_or_a_reason_never_a_crash(book):
    cust, days, values = book
    summary = summary_from_orders(cust, days, values, as_of=200.0)
    result = fit_model(summary, min_customers=5, min_repeat=3)
    if isinstance(result, ModelUnavailable):
        assert result.code and result.reason
        return
    pred = result.predict(summary)
    for key in ("expected_purchases", "p_alive", "expected_order_value", "clv"):
        assert np.all(np.isfinite(pred[key])) and np.all(pred[key] >= 0)
