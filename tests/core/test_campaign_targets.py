"""Campaign targets, validation, the frequency cap and the holdout draw (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import hmac
from base64 import b32encode
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from stammkunde.core.campaigns import (
    CampaignSpec,
    create_campaign,
    get_campaign,
    holdout_draw,
    member_code,
    plan_members,
    resolve_target,
)
from stammkunde.core.errors import NotFound, UserError
from stammkunde.core.models import Campaign, ContactLog
from tests.campaign_kit import add_people, instant, make_shop, shop_of

NOW = instant("2025-03-01T00:00:00Z")


@pytest.fixture
def people(sessions) -> dict[str, int]:
    make_shop(sessions, "s")
    persons = add_people(sessions, "s", [
        ("a", "a@x.de", [("2024-10-01T10:00:00Z", "50")]),            # lapsed 151 days
        ("b", "b@x.de", [("2024-11-28T10:00:00Z", "20")]),            # lapsed 93 days: newly
        ("c", "c@x.de", [("2025-02-01T10:00:00Z", "30"), ("2025-02-15T10:00:00Z", "40")]),
        ("d", "d@x.de", [("2025-01-15T10:00:00Z", "25")]),            # one order, 45 days ago
        ("e", "e@x.de", [("2024-10-01T10:00:00Z", "10")]),            # declined marketing
        ("f", "f@x.de", []),                                           # account, no order
    ], optout=["e"])
    # a guest checkout by the account holder f: one person, reached through the account
    from stammkunde.core.records import OrderRecord
    from stammkunde.core.store import store_records
    with sessions() as s, s.begin():
        store_records(s, shop_of(s, "s"), [OrderRecord(
            platform_id="g1", created_at=instant("2025-02-20T09:00:00Z"), total=Decimal("12"),
            currency="EUR", email="F@x.de")])
    return persons


def targets(sessions, spec: dict) -> list[str]:
    with sessions() as s:
        return [m.customer_platform_id
                for m in resolve_target(s, shop_of(s, "s"), spec, NOW)]


@pytest.mark.parametrize(("spec", "expected"), [
    ({"kind": "all", "arg": None}, ["a", "b", "c", "d", "f"]),
    ({"kind": "lapsed", "arg": 90}, ["a", "b"]),
    ({"kind": "newly-lapsed", "arg": 90}, ["b"]),
    ({"kind": "min-orders", "arg": 2}, ["c"]),
    ({"kind": "second-order", "arg": 30}, ["d"]),     # first order between 30 and 60 days ago
    ({"kind": "second-order", "arg": 20}, []),       # d (45 days) too old, f (9 days) too new
    ({"kind": "second-order", "arg": 5}, ["f"]),     # f's guest order, 8.6 days: 5–10 days
    ({"kind": "customers", "arg": ["d", "a", "e"]}, ["a", "d"]),  # e declined marketing
])
def test_built_in_target_kinds(sessions, people, spec, expected) -> None:
    assert sorted(targets(sessions, spec)) == expected


def test_second_order_defaults_to_the_shops_median_gap(sessions, people) -> None:
    # the only gap is c's 14 days: one-order customers whose order is 14–28 days old: none
    # (d: 44.6 days, f: 8.6 days)
    assert targets(sessions, {"kind": "second-order", "arg": None}) == []


def test_unknown_customer_ids_are_named(sessions, people) -> None:
    with pytest.raises(UserError, match="has no customer"):
        targets(sessions, {"kind": "customers", "arg": ["a", "zz"]})


def test_segment_kinds_come_from_the_scores(sessions, people) -> None:
    # the shop's typical gap is c's 14 days; ratio = days since the last order / 14:
    # a 151.6/14 and b 92.6/14 ≥ 4 → lost, d 44.6/14 = 3.2 ≥ 2.5 → lapsed, c 0.97 → repeat,
    # f (guest order 8.6 days ago) 0.6 → new; e declined marketing
    assert targets(sessions, {"kind": "lifecycle", "arg": "repeat"}) == ["c"]
    assert targets(sessions, {"kind": "lifecycle", "arg": "lapsed"}) == ["d"]
    assert targets(sessions, {"kind": "lifecycle", "arg": "lost"}) == ["a", "b"]
    assert targets(sessions, {"kind": "lifecycle", "arg": "new"}) == ["f"]
    assert sorted(targets(sessions, {"kind": "winback", "arg": None})) == ["a", "b", "d"]
    assert len(targets(sessions, {"kind": "winback", "arg": 2})) == 2
    # default points: 1 per currency unit of net spend, 50 for an account; spend stays pending
    # for the 30-day return window. Available: a 50 + 50 = 100, b 70, d 75, c 50 (both orders
    # within 30 days), f 50 → loyal tier (≥ 100): a
    assert targets(sessions, {"kind": "tier", "arg": "loyal"}) == ["a"]
    assert targets(sessions, {"kind": "points", "arg": 75}) == ["a", "d"]


def spec(**kw) -> CampaignSpec:
    base = {"name": "test", "target": "all", "percent": Decimal(10)}
    base.update(kw)
    return CampaignSpec(**base)


@pytest.mark.parametrize(("kw", "message"), [
    ({"target": "vip"}, "unknown target kind 'vip'"),
    ({"target": "segment:whales"}, "target segment needs one of"),
    ({"target": "lapsed"}, "needs a number of days"),
    ({"target": "lapsed:-3"}, "must be at least 1"),
    ({"target": "tier:gold"}, "has no loyalty tier 'gold'"),
    ({"ends_at": NOW - timedelta(days=1)}, "offer window has already ended"),
    ({"holdout": 0.95}, "holdout must be between 0 and 0.9"),
    ({"holdout": -0.1}, "holdout must be between 0 and 0.9"),
    ({"percent": None}, "give exactly one offer"),
    ({"amount": Decimal(5)}, "give exactly one offer"),
    ({"percent": Decimal(120)}, "percent must be above 0 and at most 100"),
    ({"shared_code": "a b"}, "shared code 'a b' must be"),
    ({"schedule": "fortnightly"}, "schedule must be daily, weekly"),
    ({"template": "black-friday"}, "unknown template 'black-friday'"),
])
def test_bad_input_is_one_line_and_creates_nothing(sessions, people, kw, message) -> None:
    with sessions() as s, s.begin(), pytest.raises(UserError, match=message) as info:
        create_campaign(s, shop_of(s, "s"), spec(**kw), NOW)
    assert "\n" not in str(info.value)
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Campaign)) == 0


def test_unknown_campaign_id(sessions) -> None:
    with sessions() as s:
        for bad in ("999", "abc"):
            with pytest.raises(NotFound, match=f"unknown campaign '{bad}'"):
                get_campaign(s, bad)


def test_template_fills_in_and_options_win(sessions, people) -> None:
    with sessions() as s, s.begin():
        c = create_campaign(s, shop_of(s, "s"),
                            CampaignSpec(template="win-back", amount=Decimal(5)), NOW)
        assert (c.name, c.target, c.offer_kind, c.offer_value) == (
            "win-back", {"kind": "newly-lapsed", "arg": 90}, "fixed_amount", Decimal(5))
        assert (c.schedule, c.valid_days, c.status, c.next_run_at) == ("weekly", 14,
                                                                      "scheduled", NOW)
        assert c.cap_days == 14  # frequency_cap_days of the retention settings


def expected_code(secret: str, cid: int, pid: int) -> str:
    mac = hmac.new(secret.encode(), f"{cid}:{pid}".encode(), hashlib.sha256).digest()
    return "SK-" + b32encode(mac).decode()[:10]


def test_holdout_draw_and_code_are_pinned() -> None:
    # sha256("stammkunde-holdout:1:1")[:8] as an integer / 2**64
    assert holdout_draw(1, 1) == 0.019766253299019994
    assert member_code("secret", "SK", 1, 1) == "SK-U3PGOT3ALX"


def test_cap_and_holdout_assign_exactly(sessions) -> None:
    """20 people; 3 were offered something 5 days ago in another shop, 1 of them 20 days ago."""
    make_shop(sessions, "other")
    make_shop(sessions, "s")
    roster = [(f"p{i:02d}", f"p{i:02d}@x.de", [("2024-12-01T00:00:00Z", "10")])
              for i in range(20)]
    other = add_people(sessions, "other", roster[:4])
    persons = add_people(sessions, "s", roster)
    with sessions() as s, s.begin():
        earlier = create_campaign(s, shop_of(s, "other"), spec(name="earlier"),
                                  NOW - timedelta(days=30))
        for key, days in (("p00", 5), ("p01", 5), ("p02", 5), ("p03", 20)):
            s.add(ContactLog(person_id=other[key], campaign_id=earlier.id,
                             shop_id=earlier.shop_id, contacted_at=NOW - timedelta(days=days)))
        c = create_campaign(s, shop_of(s, "s"), spec(holdout=0.25), NOW)
        # contacts by the campaign itself never cap it
        s.add(ContactLog(person_id=persons["p04"], campaign_id=c.id, shop_id=c.shop_id,
                         contacted_at=NOW - timedelta(days=1)))
        s.flush()
        planned = {p.member.customer_platform_id: p for p in plan_members(s, c, NOW)}
        cid, secret = c.id, c.code_secret
    assert other["p00"] == persons["p00"]  # one person across both shops
    capped = sorted(k for k, p in planned.items() if p.arm == "capped")
    assert capped == ["p00", "p01", "p02"]
    assert {planned[k].capped_by for k in capped} == {earlier.id}
    eligible = [k for k in sorted(persons) if k not in capped]

    def draw(pid: int) -> float:
        digest = hashlib.sha256(f"stammkunde-holdout:{cid}:{pid}".encode()).hexdigest()
        return int(digest[:16], 16) / 2**64

    expected_holdout = [k for k in eligible if draw(persons[k]) < 0.25]
    assert sorted(k for k, p in planned.items() if p.arm == "holdout") == expected_holdout
    treatment = [k for k in eligible if k not in expected_holdout]
    assert sorted(k for k, p in planned.items() if p.arm == "treatment") == treatment
    assert len(capped) + len(expected_holdout) + len(treatment) == 20
    for k in treatment:
        assert planned[k].code == expected_code(secret, cid, persons[k])
    assert all(planned[k].code is None for k in expected_holdout + capped)
