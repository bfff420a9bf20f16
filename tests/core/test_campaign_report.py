"""Campaign results: attribution of redemptions, uplift arithmetic, the plan's expected cost."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from stammkunde.core.campaigns import (
    CampaignSpec,
    PlannedMember,
    TargetMember,
    campaign_plan,
    campaign_report,
    create_campaign,
    get_campaign,
    record_assignments,
)
from stammkunde.core.errors import UserError
from stammkunde.core.records import OrderStatus
from stammkunde.core.store import store_records
from tests.campaign_kit import add_people, instant, make_shop, shop_of
from tests.factories import order

NOW = instant("2025-03-01T00:00:00Z")
LATER = instant("2025-04-10T00:00:00Z")
ARMS = {"t1": "treatment", "t2": "treatment", "t3": "treatment", "t4": "treatment",
        "h1": "holdout", "h2": "holdout", "h3": "holdout", "x1": "capped"}


@pytest.fixture
def campaign(sessions) -> int:
    """Four treatment, three holdout and one capped member, assigned on 2025-03-01."""
    make_shop(sessions, "s")
    persons = add_people(sessions, "s", [
        (key, f"{key}@x.de", [("2024-12-01T00:00:00Z", "40")]) for key in ARMS
    ])
    with sessions() as s, s.begin():
        shop = shop_of(s, "s")
        c = create_campaign(s, shop, CampaignSpec(name="march", target="all",
                                                  percent=Decimal(10)), NOW)
        from sqlalchemy import select

        from stammkunde.core.models import Customer
        ids = dict(s.execute(select(Customer.platform_id, Customer.id)
                             .where(Customer.shop_id == shop.id)).all())
        planned = [
            PlannedMember(TargetMember(persons[k], k, f"{k}@x.de", ids[k]), arm,
                          code=f"SK-{k.upper()}CODE" if arm == "treatment" else None)
            for k, arm in ARMS.items()
        ]
        record_assignments(s, c, planned, NOW)
        c.status = "pushed"
        store_records(s, shop, [
            # t3 redeems its code (written in lower case) on 55.00, 5.00 refunded later
            order("t3-1", "2025-03-05T10:00:00Z", "55.00", customer="t3", email="t3@x.de",
                  codes=("sk-t3code",), refunds=(("5.00", "2025-03-06T00:00:00Z"),)),
            # t4 buys without the code; later orders outside the window or cancelled don't count
            order("t4-1", "2025-03-10T10:00:00Z", "30.00", customer="t4", email="t4@x.de"),
            order("t4-2", "2025-04-05T10:00:00Z", "100.00", customer="t4", email="t4@x.de"),
            order("t4-3", "2025-03-12T10:00:00Z", "100.00", customer="t4", email="t4@x.de",
                  status=OrderStatus.CANCELLED, cancelled="2025-03-13T00:00:00Z"),
            order("t1-t", "2025-03-12T10:00:00Z", "70.00", customer="t1", email="t1@x.de",
                  test=True, codes=("SK-T1CODE",)),
            # t2 uses t1's code: not t2's redemption (and t1 did not buy)
            order("t2-x", "2025-03-14T10:00:00Z", "0.00", customer="t2", email="t2@x.de",
                  status=OrderStatus.CANCELLED, cancelled="2025-03-14T11:00:00Z"),
            order("h2-1", "2025-03-20T10:00:00Z", "20.00", customer="h2", email="h2@x.de"),
            order("h3-0", "2025-02-27T10:00:00Z", "70.00", customer="h3", email="h3@x.de"),
            order("x1-1", "2025-03-03T10:00:00Z", "100.00", customer="x1", email="x1@x.de"),
        ])
        return c.id


def test_report_attributes_redemptions_and_computes_the_uplift(sessions, campaign) -> None:
    with sessions() as s:
        r = campaign_report(s, get_campaign(s, campaign), window_days=30, now=LATER)
    assert r["window"] == {"start": "2025-03-01T00:00:00Z", "end": "2025-03-31T00:00:00Z",
                           "days": 30, "complete": True}
    assert r["capped"] == 1
    # treatment revenue per member [0, 0, 50, 30]; holdout [0, 20, 0]
    assert r["treatment"] == {
        "members": 4, "converted": 2, "conversion_rate": 0.5, "orders": 2,
        "net_revenue": "80.00", "revenue_per_member": "20.00", "redemptions": 1,
        "redeemers": 1, "redemption_rate": 0.25, "discount_cost": "5.50"}
    assert r["holdout"] == {
        "members": 3, "converted": 1, "conversion_rate": 0.333333, "orders": 1,
        "net_revenue": "20.00", "revenue_per_member": "6.67", "redemptions": 0,
        "redeemers": 0, "redemption_rate": 0.0, "discount_cost": "0.00"}
    # the hand-computed intervals of tests/core/test_campaign_stats.py
    conv = r["uplift"]["conversion_rate"]
    assert (conv["estimate"], conv["low"], conv["high"]) == (0.166667, -0.410534, 0.609804)
    rpm = r["uplift"]["revenue_per_member"]
    assert (rpm["estimate"], rpm["low"], rpm["high"], rpm["df"]) == (
        13.333333, -23.872994, 50.53966, 4.454545)
    # incremental = (20 − 20/3) × 4 = 53.33, interval × 4; net = − 5.50 discount (10% of 55)
    assert r["incremental_revenue"] == {"estimate": "53.33", "low": "-95.49", "high": "202.16"}
    assert r["discount_cost"] == "5.50"
    assert r["net_incremental_revenue"] == {"estimate": "47.83", "low": "-100.99",
                                            "high": "196.66"}


def test_an_open_window_is_flagged_and_orders_so_far_count(sessions, campaign) -> None:
    with sessions() as s:
        r = campaign_report(s, get_campaign(s, campaign), window_days=30,
                            now=instant("2025-03-08T00:00:00Z"))
    assert r["window"]["complete"] is False
    assert (r["treatment"]["converted"], r["holdout"]["converted"]) == (1, 0)
    assert r["notes"][0].startswith("the window is still open until 2025-03-31")


def test_fixed_amount_discount_is_capped_at_the_order_total(sessions, campaign) -> None:
    with sessions() as s, s.begin():
        c = get_campaign(s, campaign)
        c.offer_kind, c.offer_value = "fixed_amount", Decimal(60)
    with sessions() as s:
        r = campaign_report(s, get_campaign(s, campaign), now=LATER)
    assert r["discount_cost"] == "55.00"


def test_report_before_push_is_refused(sessions) -> None:
    make_shop(sessions, "s")
    with sessions() as s, s.begin():
        c = create_campaign(s, shop_of(s, "s"), CampaignSpec(
            name="x", target="all", percent=Decimal(5)), NOW)
        with pytest.raises(UserError, match="has not been pushed yet"):
            campaign_report(s, c, now=NOW)


def test_plan_estimates_cost_from_aov_and_default_rate(sessions) -> None:
    make_shop(sessions, "p")
    add_people(sessions, "p", [("a", "a@x.de", [("2025-01-01T00:00:00Z", "40")]),
                               ("b", "b@x.de", [("2025-01-02T00:00:00Z", "60")]),
                               ("c", "c@x.de", [("2025-01-03T00:00:00Z", "80")])])
    with sessions() as s, s.begin():
        shop = shop_of(s, "p")
        store_records(s, shop, [order("c-r", "2025-01-04T00:00:00Z", "20.00", customer="c",
                                      email="c@x.de",
                                      refunds=(("20.00", "2025-01-05T00:00:00Z"),))])
        pct = create_campaign(s, shop, CampaignSpec(name="pct", target="all",
                                                    percent=Decimal(10), holdout=0.0), NOW)
        fixed = create_campaign(s, shop, CampaignSpec(
            name="fixed", target="all", amount=Decimal(5), minimum_order=Decimal(100),
            holdout=0.0), NOW)
        p1 = campaign_plan(s, pct, NOW)
        p2 = campaign_plan(s, fixed, NOW)
    # AOV = (40 + 60 + 80 + 20 − 20 refunded) / 4 orders = 45; 3 treatment × 5% = 0.15
    assert p1["counts"] == {"targeted": 3, "treatment": 3, "holdout": 0, "capped": 0}
    assert p1["expected"] == {
        "redemption_rate": 0.05, "redemption_rate_source": "default", "redemptions": 0.15,
        "average_order_value": "45.00", "discount_per_redemption": "4.50", "cost": "0.68"}
    # a minimum order of 100 above the AOV: the fixed 5 off applies to at least 100
    assert p2["expected"]["discount_per_redemption"] == "5.00"
    assert p2["expected"]["cost"] == "0.75"
    assert [m["customer_id"] for m in p1["members"]] == ["a", "b", "c"]
    assert all(m["code"].startswith("SK-") for m in p1["members"])


def test_plan_uses_the_shops_past_redemption_rate(sessions, campaign) -> None:
    with sessions() as s, s.begin():
        nxt = create_campaign(s, shop_of(s, "s"), CampaignSpec(
            name="april", target="all", percent=Decimal(10), holdout=0.0), LATER)
        plan = campaign_plan(s, nxt, LATER)
        stored = campaign_plan(s, get_campaign(s, campaign), LATER)
    # the March campaign: 1 redeemer of 4 treatment members
    assert (plan["expected"]["redemption_rate"], plan["expected"]["redemption_rate_source"]) \
        == (0.25, "1 past campaign(s)")
    assert stored["counts"] == {"targeted": 8, "treatment": 4, "holdout": 3, "capped": 1}
    assert stored["members"][0]["push_status"] == "pending"


def test_window_starts_with_the_offer_when_it_starts_later(sessions, campaign) -> None:
    with sessions() as s, s.begin():
        get_campaign(s, campaign).starts_at = NOW + timedelta(days=6)
    with sessions() as s:
        r = campaign_report(s, get_campaign(s, campaign), window_days=10, now=LATER)
    # window 7–17 March: t3's order on the 5th is outside, t4's on the 10th inside
    assert (r["treatment"]["converted"], r["treatment"]["redemptions"]) == (1, 0)
