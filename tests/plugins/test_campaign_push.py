"""Pushing campaigns through an adapter: batches, tags, crashes at every call, schedules."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from stammkunde.core.campaigns import CampaignSpec, create_campaign
from stammkunde.core.errors import UserError
from stammkunde.core.models import Assignment, Campaign, ContactLog, Customer
from stammkunde.plugins import hookimpl
from stammkunde.plugins.campaigns import (
    create_shop_campaign,
    push_campaign,
    run_due_campaigns,
)
from stammkunde.plugins.manager import PluginError
from tests.campaign_kit import (
    FakePlatform,
    FakeShopAdapter,
    add_people,
    fake_plugins,
    instant,
    make_shop,
    shop_of,
)

NOW = instant("2025-03-01T00:00:00Z")
SEVEN = [(f"c{i}", f"c{i}@x.de", [("2025-01-10T00:00:00Z", "40")]) for i in range(7)]


def new_campaign(sessions, plugins, shop="s", **kw) -> int:
    base = {"name": "spring", "target": "all", "percent": Decimal(10), "holdout": 0.0}
    base.update(kw)
    with sessions() as s, s.begin():
        return create_shop_campaign(s, plugins, shop_of(s, shop), CampaignSpec(**base), NOW).id


def stored(sessions, cid: int) -> list[Assignment]:
    with sessions() as s:
        return list(s.scalars(select(Assignment).where(Assignment.campaign_id == cid)
                              .order_by(Assignment.customer_platform_id)))


def contacts(sessions, cid: int) -> list[int]:
    with sessions() as s:
        return sorted(s.scalars(select(ContactLog.person_id)
                                .where(ContactLog.campaign_id == cid)))


@pytest.fixture
def shop(sessions):
    make_shop(sessions, "s")
    return add_people(sessions, "s", SEVEN)


def test_push_assigns_first_then_creates_codes_in_batches(sessions, shop) -> None:
    platform = FakePlatform()
    with fake_plugins(FakeShopAdapter(platform)) as plugins:
        cid = new_campaign(sessions, plugins, holdout=0.0, minimum_order=Decimal(25))
        result = push_campaign(sessions, plugins, cid, batch_size=3, now=NOW)
    assert (result.assigned, result.calls, result.created, result.exists) == (
        {"treatment": 7}, 3, 7, 0)
    assert [size for _, size in platform.calls] == [3, 3, 1]
    rows = stored(sessions, cid)
    assert {r.push_status for r in rows} == {"created"}
    assert sorted(platform.codes) == sorted(r.code.casefold() for r in rows)
    assert all(platform.codes[r.code.casefold()] == {r.customer_platform_id} for r in rows)
    assert contacts(sessions, cid) == sorted(shop.values())
    offer = platform.offers[0]
    assert (offer.kind, offer.value, offer.minimum_order, offer.title) == (
        "percentage", Decimal(10), Decimal(25), "spring")
    assert result.status == "pushed"
    # a second push does nothing: nothing pending
    with fake_plugins(FakeShopAdapter(platform)) as plugins:
        again = push_campaign(sessions, plugins, cid, now=NOW)
    assert (again.calls, again.created, again.assigned, again.status) == (0, 0, {}, "pushed")


def test_shared_code_goes_to_every_treatment_member(sessions, shop) -> None:
    platform = FakePlatform()
    with fake_plugins(FakeShopAdapter(platform)) as plugins:
        cid = new_campaign(sessions, plugins, shared_code="SPRING25")
        push_campaign(sessions, plugins, cid, batch_size=4, now=NOW)
    assert list(platform.codes) == ["spring25"]
    assert platform.codes["spring25"] == {f"c{i}" for i in range(7)}
    assert {r.code for r in stored(sessions, cid)} == {"SPRING25"}


CALLS = 6  # 7 treatment members in batches of 3: 3 discount calls, then 3 tag calls


@pytest.mark.parametrize("mode", ["before", "lost", "midway"])
@pytest.mark.parametrize("crash_on", range(1, CALLS + 1))
def test_resume_after_a_crash_at_every_call(sessions, shop, mode, crash_on) -> None:
    platform = FakePlatform()
    with fake_plugins(FakeShopAdapter(platform, crash_on=crash_on, mode=mode)) as plugins:
        cid = new_campaign(sessions, plugins)
        with pytest.raises(PluginError, match="connection reset"):
            push_campaign(sessions, plugins, cid, tag="spring", batch_size=3, now=NOW)
    # every assignment and contact was stored before the first call
    assert len(stored(sessions, cid)) == 7
    assert contacts(sessions, cid) == sorted(shop.values())
    with fake_plugins(FakeShopAdapter(platform)) as plugins:
        result = push_campaign(sessions, plugins, cid, batch_size=3, now=NOW)
    rows = stored(sessions, cid)
    assert result.status == "pushed" and result.pending == 0
    assert {r.push_status for r in rows} <= {"created", "exists"}
    assert sorted(platform.codes) == sorted(r.code.casefold() for r in rows)
    assert set(platform.created.values()) == {1}          # no code was created twice
    assert contacts(sessions, cid) == sorted(shop.values())  # nobody contacted twice
    assert {r.tag_status for r in rows} == {"ok"}
    assert all(platform.tags[r.customer_platform_id] == {"spring"} for r in rows)
    # the re-run sends only what is still pending: after a crash on discount call k, the
    # 3(k − 1) codes of earlier batches are stored, plus the first of batch k when it answered
    discount_calls = sum(1 for what, _ in platform.calls if what == "push_discounts")
    if crash_on <= 3:
        pending = 7 - 3 * (crash_on - 1) - (mode == "midway")
        assert discount_calls == crash_on + -(-pending // 3)
    else:
        assert discount_calls == 3


def test_limit_calls_stops_and_the_next_run_continues(sessions, shop) -> None:
    platform = FakePlatform()
    with fake_plugins(FakeShopAdapter(platform)) as plugins:
        cid = new_campaign(sessions, plugins)
        first = push_campaign(sessions, plugins, cid, batch_size=3, limit_calls=1, now=NOW)
        assert (first.calls, first.created, first.pending, first.stopped, first.status) == (
            1, 3, 4, True, "pushing")
        second = push_campaign(sessions, plugins, cid, batch_size=3, now=NOW)
    assert (second.calls, second.created, second.pending, second.status) == (2, 4, 0, "pushed")
    assert len(platform.codes) == 7


def test_failed_codes_keep_their_reason_and_can_be_retried(sessions, shop) -> None:
    platform = FakePlatform()
    with fake_plugins(FakeShopAdapter(platform, fail=["c3"])) as plugins:
        cid = new_campaign(sessions, plugins)
        result = push_campaign(sessions, plugins, cid, now=NOW)
    # a push that left a member without a code is partial, never pushed
    assert (result.created, result.failed, result.status) == (6, 1, "partial")
    row = next(r for r in stored(sessions, cid) if r.customer_platform_id == "c3")
    assert (row.push_status, row.push_reason) == ("failed", "customer is blocked")
    with fake_plugins(FakeShopAdapter(platform)) as plugins:
        assert push_campaign(sessions, plugins, cid, now=NOW).calls == 0
        retry = push_campaign(sessions, plugins, cid, retry_failed=True, now=NOW)
    assert (retry.calls, retry.created) == (1, 1)


def count(sessions, table) -> int:
    with sessions() as s:
        return s.scalar(select(func.count()).select_from(table))


def test_platform_without_discounts_or_tags_is_refused_before_anything(sessions) -> None:
    make_shop(sessions, "plain", platform="plainshop")
    make_shop(sessions, "notag", platform="notagshop")
    add_people(sessions, "notag", SEVEN)
    with fake_plugins(FakeShopAdapter()) as plugins:
        with pytest.raises(UserError, match="cannot create discount codes"):
            new_campaign(sessions, plugins, shop="plain")
        cid = new_campaign(sessions, plugins, shop="notag")
        with pytest.raises(UserError, match="cannot tag customers"):
            push_campaign(sessions, plugins, cid, tag="vip", now=NOW)
    assert count(sessions, Assignment) == 0 and count(sessions, ContactLog) == 0
    assert count(sessions, Campaign) == 1


def test_push_after_the_offer_window_ended_is_refused(sessions, shop) -> None:
    with fake_plugins(FakeShopAdapter()) as plugins:
        cid = new_campaign(sessions, plugins, ends_at=NOW + timedelta(days=2))
        with pytest.raises(UserError, match=r"offer window of campaign \d+ ended"):
            push_campaign(sessions, plugins, cid, now=NOW + timedelta(days=3))
    assert count(sessions, Assignment) == 0


def test_scheduled_plays_spawn_instances_that_offer_each_person_once(sessions) -> None:
    make_shop(sessions, "s")
    # newly lapsed on 2025-03-01 (last order 90–97 days before): b1, b2; a week later: b3
    add_people(sessions, "s", [
        ("b1", "b1@x.de", [("2024-11-28T00:00:00Z", "30")]),
        ("b2", "b2@x.de", [("2024-11-29T00:00:00Z", "30")]),
        ("b3", "b3@x.de", [("2024-12-05T00:00:00Z", "30")]),
        ("n1", "n1@x.de", [("2025-02-20T00:00:00Z", "30")]),
    ])
    platform = FakePlatform()
    with fake_plugins(FakeShopAdapter(platform)) as plugins:
        with sessions() as s, s.begin():
            parent = create_campaign(s, shop_of(s, "s"),
                                     CampaignSpec(template="win-back", holdout=0.0), NOW).id
        with pytest.raises(UserError, match="scheduled play"):
            push_campaign(sessions, plugins, parent, now=NOW)
        first = run_due_campaigns(NOW, sessions=sessions, plugins=plugins)
        assert [(r.schedule, r.error) for r in first] == [(parent, None)]
        assert first[0].result is not None and first[0].result.created == 2
        assert run_due_campaigns(NOW + timedelta(days=3), sessions=sessions,
                                 plugins=plugins) == []
        week = run_due_campaigns(NOW + timedelta(days=7), sessions=sessions, plugins=plugins)
    assert [r.result.created for r in week if r.result] == [1]
    with sessions() as s:
        instances = list(s.scalars(select(Campaign).where(Campaign.parent_id == parent)
                                   .order_by(Campaign.id)))
        assert [(c.name, c.status, c.ends_at) for c in instances] == [
            ("win-back 2025-03-01", "pushed", NOW + timedelta(days=14)),
            ("win-back 2025-03-08", "pushed", NOW + timedelta(days=21)),
        ]
        assert s.get(Campaign, parent).next_run_at == NOW + timedelta(days=14)
    assert sorted(c for holders in platform.codes.values() for c in holders) == [
        "b1", "b2", "b3"]


def test_run_due_resumes_an_instance_that_crashed(sessions) -> None:
    make_shop(sessions, "s")
    add_people(sessions, "s", [(f"b{i}", f"b{i}@x.de", [("2024-11-28T00:00:00Z", "30")])
                               for i in range(5)])
    platform = FakePlatform()
    with sessions() as s, s.begin():
        create_campaign(s, shop_of(s, "s"),
                        CampaignSpec(template="win-back", holdout=0.0), NOW)
    with fake_plugins(FakeShopAdapter(platform, crash_on=1)) as plugins:
        runs = run_due_campaigns(NOW, sessions=sessions, plugins=plugins)
    assert runs[0].error is not None and "connection reset" in runs[0].error
    with fake_plugins(FakeShopAdapter(platform)) as plugins:
        runs = run_due_campaigns(NOW + timedelta(hours=1), sessions=sessions, plugins=plugins)
    assert [(r.instance, r.result.status) for r in runs if r.result] == [(runs[0].instance,
                                                                         "pushed")]
    assert set(platform.created.values()) == {1} and len(platform.codes) == 5


def test_a_recurring_play_never_offers_a_person_twice(sessions) -> None:
    make_shop(sessions, "s")
    add_people(sessions, "s", SEVEN[:3])
    platform = FakePlatform()
    with fake_plugins(FakeShopAdapter(platform)) as plugins:
        with sessions() as s, s.begin():
            create_campaign(s, shop_of(s, "s"), CampaignSpec(
                name="everyone weekly", target="all", percent=Decimal(5), schedule="weekly",
                holdout=0.0, cap_days=0), NOW)
        run_due_campaigns(NOW, sessions=sessions, plugins=plugins)
        add_people(sessions, "s", SEVEN[3:4])  # a new customer joins during the week
        week = run_due_campaigns(NOW + timedelta(days=7), sessions=sessions, plugins=plugins)
    assert [r.result.assigned for r in week if r.result] == [{"treatment": 1}]
    assert sorted(c for holders in platform.codes.values() for c in holders) == [
        "c0", "c1", "c2", "c3"]


class VipPlugin:
    """A third-party plugin adding a target kind: customers tagged VIP in the shop."""

    @hookimpl
    def register_target_kinds(self, register) -> None:  # type: ignore[no-untyped-def]
        def vip_members(session, shop, arg, as_of):  # type: ignore[no-untyped-def]
            return session.scalars(select(Customer.person_id).where(
                Customer.shop_id == shop.id, Customer.tags.contains("vip")))

        register("vip", vip_members, description="customers tagged vip")


def test_plugins_add_target_kinds(sessions) -> None:
    from stammkunde.core.records import CustomerRecord
    from stammkunde.core.store import store_records

    make_shop(sessions, "s")
    add_people(sessions, "s", SEVEN[:3])
    with sessions() as s, s.begin():
        store_records(s, shop_of(s, "s"), [CustomerRecord("c1", "c1@x.de", tags=("vip",))])
    platform = FakePlatform()
    with fake_plugins(FakeShopAdapter(platform)) as plugins:
        plugins.register(VipPlugin())
        cid = new_campaign(sessions, plugins, target="vip")
        push_campaign(sessions, plugins, cid, now=NOW)
    assert [c for holders in platform.codes.values() for c in holders] == ["c1"]


def test_target_kinds_belong_to_their_plugin_manager() -> None:
    from stammkunde.core.campaigns import default_target_kinds
    from stammkunde.plugins.manager import Plugins

    first, second = (Plugins(load_entry_points=False) for _ in range(2))
    for manager in (first, second):  # the second manager used to raise "already registered"
        manager.register(VipPlugin())
        assert "vip" in manager.target_kinds()
    first.unregister(next(p for p in first.pm.get_plugins() if isinstance(p, VipPlugin)))
    assert "vip" not in first.target_kinds()
    assert "vip" in second.target_kinds()
    assert "vip" not in default_target_kinds()
    assert "lapsed" in first.target_kinds() and "winback" in first.target_kinds()


def test_a_plugin_kind_clashing_with_a_built_in_names_the_plugin() -> None:
    from stammkunde.plugins.manager import PluginError, Plugins

    class Clash:
        @hookimpl
        def register_target_kinds(self, register) -> None:  # type: ignore[no-untyped-def]
            register("lapsed", lambda *a: [], description="mine")

    manager = Plugins(load_entry_points=False)
    manager.register(Clash(), name="clash")
    with pytest.raises(PluginError, match=r"^plugin 'clash' \(register_target_kinds\): target "
                                          r"kind 'lapsed' is already registered$"):
        manager.target_kinds()


def test_only_treatment_members_are_contacted(sessions, shop) -> None:
    with fake_plugins(FakeShopAdapter()) as plugins:
        cid = new_campaign(sessions, plugins, holdout=0.5)
        result = push_campaign(sessions, plugins, cid, now=NOW)
    rows = stored(sessions, cid)
    treated = sorted(r.person_id for r in rows if r.arm == "treatment")
    assert result.assigned == dict(Counter(r.arm for r in rows))
    assert sum(result.assigned.values()) == 7
    assert contacts(sessions, cid) == treated
    assert all(r.code is None and r.push_status is None for r in rows if r.arm == "holdout")


def test_run_due_campaigns_with_only_an_instant(sessions, cli_env) -> None:
    """The job runner's call: database, key and plugins come from the environment."""
    make_shop(sessions, "s")
    add_people(sessions, "s", SEVEN[:2])
    with sessions() as s, s.begin():
        create_campaign(s, shop_of(s, "s"), CampaignSpec(
            name="daily", target="all", percent=Decimal(5), schedule="daily", holdout=0.0), NOW)
    platform = FakePlatform()
    with fake_plugins(FakeShopAdapter(platform)):
        runs = run_due_campaigns(NOW)
    assert [r.result.created for r in runs if r.result] == [2]
