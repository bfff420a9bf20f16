"""The demo shop: reproducible, realistic within stated ranges, valid, and loadable twice."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from stammkunde.app.cli import cli
from stammkunde.core.demo import (
    DEMO_AS_OF,
    DEMO_END,
    DEMO_START,
    DemoData,
    generate_demo,
    load_demo,
)
from stammkunde.core.demo_calendar import CODE_PERCENT, DEMO_TZ, black_friday
from stammkunde.core.identity import normalize_email
from stammkunde.core.metrics import build_report
from stammkunde.core.models import (
    Customer,
    Event,
    Order,
    OrderDiscount,
    Person,
    Refund,
    Shop,
)
from stammkunde.core.records import OrderRecord, OrderStatus
from stammkunde.core.shops import create_shop
from stammkunde.core.store import get_shop, store_records, validate_order

COUNTED = (Shop, Person, Customer, Order, Refund, OrderDiscount, Event)


@pytest.fixture(scope="module")
def big() -> DemoData:
    return generate_demo(5000, 42)


@pytest.fixture(scope="module")
def small() -> DemoData:
    return generate_demo(500, 42)


def person_keys(data: DemoData) -> dict[str, str]:
    """Map each order to its human: the account's e-mail, or the guest's, normalised."""
    emails = {c.platform_id: normalize_email(c.email) for c in data.customers}
    return {o.platform_id: emails.get(o.customer_id or "") or normalize_email(o.email) or ""
            for o in data.orders}


def valid(data: DemoData) -> list[OrderRecord]:
    return [o for o in data.orders if o.status != OrderStatus.CANCELLED and not o.is_test]


def buyers(data: DemoData) -> Counter[str]:
    """Valid orders per human (accounts and guests merged by e-mail, as the store does)."""
    keys = person_keys(data)
    return Counter(keys[o.platform_id] for o in valid(data))


def test_same_seed_gives_identical_records_and_another_seed_does_not() -> None:
    first, again, other = generate_demo(300, 7), generate_demo(300, 7), generate_demo(300, 8)
    assert repr(list(first.records())) == repr(list(again.records()))
    assert repr(list(first.records())) != repr(list(other.records()))


def test_exact_figures_for_seed_42_with_500_customers(small: DemoData) -> None:
    assert (len(small.customers), len(small.orders), len(small.events)) == (413, 801, 656)
    assert Counter(o.status.value for o in small.orders) == {
        "paid": 755, "refunded": 25, "cancelled": 21}
    assert Counter(o.channel for o in small.orders) == {
        "online": 481, "pos": 167, "app": 79, "marketplace": 74}
    assert Counter(e.kind for e in small.events) == {
        "signup": 412, "newsletter": 182, "review": 51, "referral": 11}
    assert Counter(c for o in small.orders for c in o.discount_codes) == {
        "WELCOME10": 102, "SUMMER10": 21, "STAMMKUNDE5": 9, "BLACKFRIDAY20": 7,
        "welcome10": 4, "XMAS15": 3}
    assert sum(o.customer_id is None for o in small.orders) == 130
    assert sum(len(o.refunds) for o in small.orders) == 48
    assert sum(o.total for o in small.orders) == Decimal("54337.05")
    assert sum(r.amount for o in small.orders for r in o.refunds) == Decimal("2402.39")
    assert small.orders[0].platform_id == "1001" and small.orders[0].is_test


def test_shares_are_in_the_stated_ranges(big: DemoData) -> None:
    per_person = buyers(big)
    assert 4900 <= len(per_person) <= 5000  # a few only ever placed a cancelled order
    assert 0.25 <= sum(n >= 2 for n in per_person.values()) / len(per_person) <= 0.35
    orders = big.orders
    share = Counter(o.channel for o in orders)
    assert 0.50 <= share["online"] / len(orders) <= 0.70
    assert 0.12 <= share["pos"] / len(orders) <= 0.25
    assert 0.06 <= share["app"] / len(orders) <= 0.15
    assert 0.06 <= share["marketplace"] / len(orders) <= 0.14
    assert 0.015 <= sum(o.status == OrderStatus.CANCELLED for o in orders) / len(orders) <= 0.025
    assert 0.12 <= sum(o.customer_id is None for o in orders) / len(orders) <= 0.18
    assert 0.05 <= sum(bool(o.refunds) for o in orders) / len(orders) <= 0.09
    assert sum(o.is_test for o in orders) == 5
    good = valid(big)
    assert Decimal(55) <= sum(o.total for o in good) / len(good) <= Decimal(80)


def test_later_orders_mostly_stay_in_the_first_orders_channel(big: DemoData) -> None:
    first: dict[str, str] = {}
    same = later = 0
    keys = person_keys(big)
    for order in big.orders:
        key = keys[order.platform_id]
        if key in first:
            later += 1
            same += order.channel == first[key]
        else:
            first[key] = order.channel
    assert 0.75 <= same / later <= 0.9


def test_codes_are_welcome_on_first_orders_and_seasonal_in_season(big: DemoData) -> None:
    seen: set[str] = set()
    keys = person_keys(big)
    for order in big.orders:
        key = keys[order.platform_id]
        for code in order.discount_codes:
            day = order.created_at.astimezone(DEMO_TZ).date()
            canonical = code.upper()
            assert canonical in CODE_PERCENT
            if canonical == "WELCOME10":
                assert key not in seen and order.customer_id is not None
            if canonical == "BLACKFRIDAY20":
                assert 0 <= (day - black_friday(day.year)).days <= 3
            if canonical == "XMAS15":
                assert day.month == 12 and day.day <= 20
            if canonical == "SUMMER10":
                assert day.month in (7, 8)
            if canonical == "STAMMKUNDE5":
                assert key in seen
        seen.add(key)


def test_every_record_keeps_the_canonical_rules(big: DemoData) -> None:
    accounts = {c.platform_id for c in big.customers}
    for order in big.orders:
        validate_order(order)
        assert order.created_at.tzinfo is UTC and order.updated_at is not None
        assert DEMO_START <= order.created_at <= order.updated_at < DEMO_END
        assert order.total == order.total.quantize(Decimal("0.01")) and order.total > 0
        assert order.currency == "EUR"
        refunded = sum((r.amount for r in order.refunds), Decimal(0))
        assert refunded <= order.total
        for refund in order.refunds:
            assert isinstance(refund.amount, Decimal) and refund.amount.as_tuple().exponent == -2
            assert order.created_at < refund.created_at < DEMO_END
            assert refund.created_at.tzinfo is UTC
        assert (order.status == OrderStatus.REFUNDED) == (bool(order.refunds)
                                                         and refunded == order.total)
        if order.status == OrderStatus.CANCELLED:
            assert order.cancelled_at is not None and order.cancelled_at > order.created_at
            assert not order.refunds
        if order.customer_id is None:
            assert normalize_email(order.email) is not None
        else:
            assert order.customer_id in accounts
        if order.is_test:
            assert order.customer_id == "cus_staff"
    for event in big.events:
        assert event.occurred_at.tzinfo is UTC and event.occurred_at < DEMO_END
        assert event.customer_id in accounts or normalize_email(event.email)
    for customer in big.customers:
        assert customer.created_at is not None and customer.created_at.tzinfo is UTC
    assert len({o.platform_id for o in big.orders}) == len(big.orders)
    assert len({e.platform_id for e in big.events}) == len(big.events)
    assert [o.created_at for o in big.orders] == sorted(o.created_at for o in big.orders)


def test_some_account_holders_also_check_out_as_guests_spelled_differently(
    small: DemoData,
) -> None:
    accounts = {c.email for c in small.customers}
    twins = [o.email for o in small.orders
             if o.customer_id is None and normalize_email(o.email) in accounts]
    assert twins == ["E.lange@example.com ", "Quentin.Franke@EXAMPLE.ORG",
                     "Emilschneider@example.com "]


def counts(sessions: sessionmaker[Session]) -> dict[str, int]:
    with sessions() as s:
        return {t.__tablename__: s.scalar(select(func.count()).select_from(t)) or 0
                for t in COUNTED}


def test_loading_twice_replaces_the_demo_and_keeps_other_shops(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as s, s.begin():
        other = create_shop(s, "till", "csv")
        store_records(s, other, [
            OrderRecord(platform_id=f"t{i}", created_at=DEMO_START, total=Decimal("9.90"),
                        currency="EUR", email=f"walk-in{i % 2}@till.example") for i in range(3)])
    before = counts(sessions)
    loaded = load_demo(sessions, customers=300, seed=5)
    once = counts(sessions)
    assert load_demo(sessions, customers=300, seed=5) == loaded
    assert counts(sessions) == once
    assert once["shops"] == 2
    data = generate_demo(300, 5)
    assert once["orders"] - before["orders"] == len(data.orders) == loaded.orders
    assert once["events"] - before["events"] == len(data.events)
    assert once["persons"] - before["persons"] == 301  # 300 buyers and the shop's staff
    with sessions() as s:
        shop = get_shop(s, "demo")
        assert (shop.platform, shop.currency, shop.timezone) == (
            "simulated", "EUR", "Europe/Berlin")
        report = build_report(s, shop, DEMO_AS_OF)
        per_person = buyers(data)
        assert report["customers"] == len(per_person)
        assert report["orders"] == sum(per_person.values())
        refunds = sum(r.amount for o in valid(data) for r in o.refunds)
        assert report["net_revenue"] == sum(o.total for o in valid(data)) - refunds
        merged = s.scalar(select(func.count()).select_from(
            select(Customer.person_id).where(Customer.shop_id == shop.id)
            .group_by(Customer.person_id).having(func.count() > 1).subquery()))
        assert merged == 3
    load_demo(sessions, customers=50, seed=5)  # a smaller demo leaves no orphans behind
    assert counts(sessions)["persons"] - before["persons"] == 51


def test_cli_demo_loads_and_prints_the_report(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("STAMMKUNDE_HOME", str(tmp_path))
    monkeypatch.delenv("STAMMKUNDE_DATABASE_URL", raising=False)
    runner = CliRunner()
    result = runner.invoke(cli, ["demo", "--customers", "200", "--seed", "1"],
                           catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "loaded shop demo (seed 1)" in result.output
    assert "repeat purchase rate" in result.output
    assert "as of 2026-10-31T22:59:59Z" in result.output
    again = runner.invoke(cli, ["demo", "--customers", "200", "--seed", "1", "--json"],
                          catch_exceptions=False)
    assert again.exit_code == 0
    report = json.loads(again.stdout)
    assert report["customers"] == len(buyers(generate_demo(200, 1)))
    assert (tmp_path / "stammkunde.db").is_file()
