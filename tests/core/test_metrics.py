"""Retention metrics against a small shop whose numbers are worked out by hand below.

Shop "s1" (Europe/Berlin), report as of 2024-06-30 (end of day, Berlin = 21:59:59.999999Z):

person | valid orders (net)                         | first channel | first-order month (Berlin)
Anna   | o1 100, o2 50-20=30, o3 80  -> 3, 210      | online        | 2024-01
Ben    | o4 40 (guest), o6 20 (account, same e-mail) | pos           | 2024-02 (o4 is Jan 31 23:30Z)
       |   o5 cancelled before as_of: not counted    |               |
Carl   | o7 200 refunded in full -> 1, 0             | online        | 2024-03
Dora   | o8 30 (Jun 30 23:00 Berlin)                 | app           | 2024-06
       |   o9 after as_of, o10 a test order: not counted
Eve    | o11 70 (refund after as_of), o12 10 (cancelled after as_of) -> 2, 80 | online | 2024-06

customers 5, orders 9, net 380.00, repeat rate 3/5, orders/customer 1.8
gaps (days): Anna 30, 60; Ben 90.520833 (Jan 31 23:30 -> May 1 12:00); Eve 9
  mean 189.520833/4 = 47.380208, median (30+60)/2 = 45
AOV 380/9 = 42.22; historic CLV mean 76.00, median of 0,30,60,80,210 = 60.00
returning share (380 - (100+40+0+30+70)) / 380 = 140/380
formula CLV: 380/9 × (9 orders / 5 customers in the last 365 days) × 1/(1-0.6) = 190.00
"""

from __future__ import annotations

import pytest

from stammkunde.core.metrics import build_report, to_json
from stammkunde.core.records import OrderStatus
from stammkunde.core.shops import create_shop
from stammkunde.core.store import store_records
from stammkunde.core.timeutil import parse_instant
from tests.factories import order

CANCELLED = OrderStatus.CANCELLED
ORDERS = [
    order("o1", "2024-01-10T10:00:00Z", "100.00", customer="A1", email="anna@example.com",
          codes=("WELCOME",)),
    order("o2", "2024-02-09T10:00:00Z", "50.00", customer="A1", email="anna@example.com",
          refunds=(("20.00", "2024-02-15T09:00:00Z"),), channel="pos"),
    order("o3", "2024-04-09T10:00:00Z", "80.00", customer="A1", email="anna@example.com"),
    order("o4", "2024-01-31T23:30:00Z", "40.00", email="ben@example.com", channel="POS"),
    order("o5", "2024-03-01T12:00:00Z", "60.00", email="ben@example.com", status=CANCELLED,
          cancelled="2024-03-02T00:00:00Z"),
    order("o6", "2024-05-01T12:00:00Z", "20.00", customer="B1", email=" BEN@Example.com "),
    order("o7", "2024-03-15T09:00:00Z", "200.00", customer="C1", email="carl@example.com",
          status=OrderStatus.REFUNDED, refunds=(("200.00", "2024-03-20T00:00:00Z"),)),
    order("o8", "2024-06-30T21:00:00Z", "30.00", customer="D1", channel="app"),
    order("o9", "2024-07-01T08:00:00Z", "30.00", customer="D1", channel="app"),
    order("o10", "2024-05-05T08:00:00Z", "999.00", customer="D1", test=True),
    order("o11", "2024-06-01T10:00:00Z", "70.00", customer="E1",
          refunds=(("70.00", "2024-07-05T00:00:00Z"),)),
    order("o12", "2024-06-10T10:00:00Z", "10.00", customer="E1", status=CANCELLED,
          cancelled="2024-07-02T00:00:00Z"),
]


@pytest.fixture
def shop(sessions):  # type: ignore[no-untyped-def]
    with sessions.begin() as s:
        s1 = create_shop(s, "s1", "csv", timezone="Europe/Berlin")
        store_records(s, s1, ORDERS)
        s2 = create_shop(s, "s2", "csv")
        store_records(s, s2, [order("x1", "2024-03-01T00:00:00Z", "55.00", customer="X9",
                                    email="ANNA@example.com")])
    return "s1"


def report(sessions, name: str, as_of: str) -> dict:  # type: ignore[no-untyped-def]
    from stammkunde.core.store import get_shop

    with sessions() as s:
        shop = get_shop(s, name)
        return to_json(build_report(s, shop, parse_instant(as_of, shop.timezone,
                                                           end_of_day=True)))


def test_kpis_as_of_end_of_june(sessions, shop) -> None:
    r = report(sessions, shop, "2024-06-30")
    assert r["as_of"] == "2024-06-30T21:59:59.999999Z"
    assert (r["customers"], r["orders"], r["net_revenue"]) == (5, 9, "380.00")
    assert r["repeat_rate"] == 0.6
    assert r["orders_per_customer"] == 1.8
    assert r["days_between_orders"] == {"mean": 47.380208, "median": 45.0, "gaps": 4}
    assert r["aov"] == "42.22"
    assert r["historic_clv"] == {"mean": "76.00", "median": "60.00"}
    assert r["returning_revenue_share"] == round(140 / 380, 6)
    assert r["formula_clv"] == {"value": "190.00", "aov": "42.22", "orders_per_year": 1.8,
                                "lifetime_years": 2.5, "margin": 1.0}


def test_cohorts_use_the_shops_time_zone(sessions, shop) -> None:
    r = report(sessions, shop, "2024-06-30")
    assert r["cohorts"] == [
        {"cohort": "2024-01", "customers": 1, "retention": [1.0, 1.0, 0.0, 1.0, 0.0, 0.0]},
        {"cohort": "2024-02", "customers": 1, "retention": [1.0, 0.0, 0.0, 1.0, 0.0]},
        {"cohort": "2024-03", "customers": 1, "retention": [1.0, 0.0, 0.0, 0.0]},
        {"cohort": "2024-06", "customers": 2, "retention": [1.0]},
    ]


def test_channels_group_customers_by_first_order(sessions, shop) -> None:
    ch = report(sessions, shop, "2024-06-30")["channels"]
    assert sorted(ch) == ["app", "online", "pos"]
    online = ch["online"]
    assert (online["customers"], online["orders"], online["net_revenue"]) == (3, 6, "290.00")
    assert online["repeat_rate"] == round(2 / 3, 6)
    assert online["days_between_orders"] == {"mean": 33.0, "median": 30.0, "gaps": 3}
    assert online["aov"] == "48.33"
    assert online["historic_clv"] == {"mean": "96.67", "median": "80.00"}
    assert online["returning_revenue_share"] == round(120 / 290, 6)
    pos = ch["pos"]
    assert (pos["customers"], pos["orders"], pos["net_revenue"], pos["repeat_rate"]) == (
        1, 2, "60.00", 1.0)
    assert pos["days_between_orders"]["median"] == 90.520833
    assert pos["returning_revenue_share"] == round(20 / 60, 6)
    app = ch["app"]
    assert (app["customers"], app["orders"], app["repeat_rate"]) == (1, 1, 0.0)
    assert app["days_between_orders"] == {"mean": None, "median": None, "gaps": 0}
    assert app["returning_revenue_share"] == 0.0


def test_as_of_ignores_later_orders_and_later_refunds(sessions, shop) -> None:
    r = report(sessions, shop, "2024-02-10")
    # o1 100, o2 50 (its refund on Feb 15 is later), o4 40
    assert (r["customers"], r["orders"], r["net_revenue"]) == (2, 3, "190.00")
    assert r["repeat_rate"] == 0.5
    assert r["days_between_orders"] == {"mean": 30.0, "median": 30.0, "gaps": 1}
    assert r["returning_revenue_share"] == round(50 / 190, 6)


def test_cancellation_counts_from_its_own_date(sessions, shop) -> None:
    # o5 was created Mar 1 12:00 and cancelled Mar 2: valid as of Mar 1, not as of Mar 2
    assert report(sessions, shop, "2024-03-01")["orders"] == 4  # o1 o2 o4 o5
    assert report(sessions, shop, "2024-03-02")["orders"] == 3


def test_other_shop_is_separate_but_the_person_is_shared(sessions, shop) -> None:
    r = report(sessions, "s2", "2024-06-30")
    assert (r["customers"], r["orders"], r["net_revenue"]) == (1, 1, "55.00")


def test_empty_shop_reports_zeros_not_errors(sessions) -> None:
    with sessions.begin() as s:
        create_shop(s, "empty", "csv")
    r = report(sessions, "empty", "2024-06-30")
    assert (r["customers"], r["orders"], r["net_revenue"], r["aov"]) == (0, 0, "0.00", None)
    assert r["cohorts"] == [] and r["channels"] == {}
