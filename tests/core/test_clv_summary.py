"""summary_from_orders and compress, on examples small enough to check by hand."""

import numpy as np
import pytest

from stammkunde.core.clv import compress, days_to_unit, summary_from_orders, unit_to_days


def test_same_day_orders_merge_and_orders_after_as_of_are_ignored():
    # customer 0: day 0 (10 + 5, one transaction), day 3 (20), day 7 (30)
    # customer 1: a single order on day 2
    # customer 2: day 5, and day 12 which is after as_of (day 10.5)
    # customer 3: only an order after as_of, so not in the summary
    cust = np.array([0, 0, 0, 0, 1, 2, 2, 3])
    days = np.array([0.2, 0.9, 3.5, 7.0, 2.0, 5.0, 12.0, 11.0])
    values = np.array([10.0, 5.0, 20.0, 30.0, 8.0, 1.0, 4.0, 9.0])
    s = summary_from_orders(cust, days, values, as_of=10.5)
    np.testing.assert_array_equal(s.customer, [0, 1, 2])
    np.testing.assert_array_equal(s.x, [2, 0, 0])
    np.testing.assert_array_equal(s.t_x, [7, 0, 0])
    np.testing.assert_array_equal(s.T, [10, 8, 5])
    np.testing.assert_array_equal(s.mean_repeat_value, [25.0, 0.0, 0.0])
    assert s.time_unit == "days"
    assert len(s) == 3


def test_repeat_value_sums_same_day_orders_into_one_transaction():
    cust = np.array([4, 4, 4, 4])
    days = np.array([1.0, 2.1, 2.7, 5.0])
    values = np.array([100.0, 10.0, 30.0, 20.0])
    s = summary_from_orders(cust, days, values, as_of=6.0)
    # repeat transactions: day 2 (10 + 30 = 40) and day 5 (20): mean 30, first order left out
    assert s.x.tolist() == [2.0]
    assert s.mean_repeat_value.tolist() == [30.0]
    assert s.t_x.tolist() == [4.0]
    assert s.T.tolist() == [5.0]


def test_input_order_does_not_matter():
    rng = np.random.default_rng(3)
    cust = rng.integers(0, 50, 500)
    days = rng.uniform(0, 100, 500)
    values = rng.uniform(1, 50, 500)
    a = summary_from_orders(cust, days, values, as_of=100.0)
    perm = rng.permutation(500)
    b = summary_from_orders(cust[perm], days[perm], values[perm], as_of=100.0)
    for field in ("customer", "x", "t_x", "T"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    np.testing.assert_allclose(a.mean_repeat_value, b.mean_repeat_value)


def test_datetime64_input_and_day_offset_for_the_shop_time_zone():
    cust = np.array([0, 0])
    times = np.array(["2024-03-01T23:30", "2024-03-02T00:30"], dtype="datetime64[m]")
    as_of = np.datetime64("2024-03-10T12:00")
    utc = summary_from_orders(cust, times, np.array([1.0, 2.0]), as_of)
    assert (utc.x[0], utc.t_x[0], utc.T[0]) == (1, 1, 9)
    # In UTC+1 both orders fall on 2 March.
    local = summary_from_orders(cust, times, np.array([1.0, 2.0]), as_of, day_offset=1 / 24)
    assert (local.x[0], local.t_x[0], local.T[0]) == (0, 0, 8)


def test_valid_mask_drops_cancelled_orders():
    cust = np.array([0, 0, 0])
    days = np.array([0.0, 1.0, 2.0])
    s = summary_from_orders(cust, days, np.array([1.0, 2.0, 3.0]), 5.0,
                            valid=np.array([True, False, True]))
    assert (s.x[0], s.t_x[0], s.mean_repeat_value[0]) == (1, 2, 3.0)


def test_no_orders_gives_an_empty_summary():
    s = summary_from_orders(np.array([], dtype=int), np.array([]), np.array([]), 10.0)
    assert len(s) == 0


def test_customer_index_must_be_integer():
    with pytest.raises(TypeError):
        summary_from_orders(np.array([0.0]), np.array([1.0]), np.array([1.0]), 2.0)


def test_unit_conversion():
    s = summary_from_orders(np.array([0, 0]), np.array([0.0, 14.0]), np.array([1.0, 1.0]), 28.0)
    w = s.in_unit("weeks")
    assert (w.t_x[0], w.T[0], w.time_unit) == (2.0, 4.0, "weeks")
    assert w.in_unit("days").T[0] == pytest.approx(28.0)
    assert days_to_unit(365.25, "months") == pytest.approx(12.0)
    assert unit_to_days(1, "years") == 365.25
    with pytest.raises(ValueError, match="unknown time unit"):
        days_to_unit(1, "fortnights")


def test_compress_returns_unique_triples_counts_and_the_way_back():
    x = np.array([1, 0, 1, 1, 0])
    t_x = np.array([2.0, 0.0, 2.0, 3.0, 0.0])
    T = np.array([5.0, 4.0, 5.0, 5.0, 4.0])
    c = compress(x, t_x, T)
    assert len(c) == 3
    assert sorted(zip(c.x, c.t_x, c.T, c.count, strict=True)) == [
        (0, 0, 4, 2), (1, 2, 5, 2), (1, 3, 5, 1)]
    np.testing.assert_array_equal(c.x[c.inverse], x)
    np.testing.assert_array_equal(c.t_x[c.inverse], t_x)
    np.testing.assert_array_equal(c.T[c.inverse], T)
