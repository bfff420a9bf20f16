"""The store: idempotent upserts, newest version wins, one person per e-mail."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from stammkunde.core.errors import InvalidRecord
from stammkunde.core.models import Customer, Order, Person
from stammkunde.core.records import CustomerRecord, OrderDeleted, OrderStatus
from stammkunde.core.shops import create_shop
from stammkunde.core.store import store_records
from tests.factories import at, order


def _count(session, model) -> int:  # type: ignore[no-untyped-def]
    return session.scalar(select(func.count()).select_from(model))


def test_same_record_twice_changes_nothing(sessions) -> None:
    rec = order("1", "2024-01-01T10:00:00Z", "10.00", customer="c1", email="a@x.de",
                refunds=(("2.50", "2024-01-02T00:00:00Z"),), codes=("WELCOME",))
    with sessions.begin() as s:
        shop = create_shop(s, "s", "csv")
        first = store_records(s, shop, [rec])
        second = store_records(s, shop, [rec])
        assert (first.inserted, second.inserted, second.unchanged) == (1, 0, 1)
        assert _count(s, Order) == 1
        stored = s.scalar(select(Order))
        assert stored.total == Decimal("10.00")
        assert [r.amount for r in stored.refunds] == [Decimal("2.50")]
        assert [d.code for d in stored.discounts] == ["WELCOME"]


def test_older_version_never_overwrites_newer(sessions) -> None:
    new = order("1", "2024-01-01T10:00:00Z", "10.00", customer="c1",
                status=OrderStatus.CANCELLED, updated="2024-01-03T00:00:00Z")
    old = order("1", "2024-01-01T10:00:00Z", "10.00", customer="c1",
                updated="2024-01-02T00:00:00Z")
    with sessions.begin() as s:
        shop = create_shop(s, "s", "csv")
        store_records(s, shop, [new])
        stats = store_records(s, shop, [old])
        assert stats.stale == 1
        assert s.scalar(select(Order.status)) == "cancelled"
        newer = order("1", "2024-01-01T10:00:00Z", "12.00", customer="c1",
                      updated="2024-01-04T00:00:00Z")
        assert store_records(s, shop, [newer]).updated == 1
        assert s.scalar(select(Order.status)) == "paid"
        assert s.scalar(select(Order.total)) == Decimal("12.00")
        assert s.scalar(select(Order.cancelled_ts)) is None


def test_two_versions_in_one_batch_keep_the_newest(sessions) -> None:
    a = order("1", "2024-01-01T10:00:00Z", "10.00", customer="c", updated="2024-01-05T00:00:00Z")
    b = order("1", "2024-01-01T10:00:00Z", "99.00", customer="c", updated="2024-01-02T00:00:00Z")
    with sessions.begin() as s:
        shop = create_shop(s, "s", "csv")
        store_records(s, shop, [a, b])
        assert s.scalar(select(Order.total)) == Decimal("10.00")


def test_guest_and_account_with_same_email_are_one_person_across_shops(sessions) -> None:
    with sessions.begin() as s:
        one = create_shop(s, "one", "csv")
        two = create_shop(s, "two", "csv")
        store_records(s, one, [order("1", "2024-01-01T00:00:00Z", "5", email="Anna@Example.com")])
        store_records(s, one, [order("2", "2024-01-02T00:00:00Z", "5", customer="77",
                                     email="  anna@example.COM ")])
        store_records(s, two, [order("9", "2024-01-03T00:00:00Z", "5", customer="x",
                                     email="ａnna@example.com")])  # full-width a, NFKC folds it
        assert _count(s, Person) == 1
        assert _count(s, Customer) == 3
        assert {c.platform_id for c in s.scalars(select(Customer))} == {
            "guest:anna@example.com", "77", "x"}
        assert len(set(s.scalars(select(Order.person_id)))) == 1


def test_customer_who_gains_an_email_joins_that_person_with_their_orders(sessions) -> None:
    with sessions.begin() as s:
        shop = create_shop(s, "s", "csv")
        store_records(s, shop, [order("1", "2024-01-01T00:00:00Z", "5", email="b@x.de")])
        store_records(s, shop, [order("2", "2024-01-02T00:00:00Z", "5", customer="42")])
        assert _count(s, Person) == 2
        store_records(s, shop, [CustomerRecord(platform_id="42", email="B@x.de",
                                               updated_at=at("2024-01-03T00:00:00Z"))])
        assert _count(s, Person) == 1
        assert len(set(s.scalars(select(Order.person_id)))) == 1


@pytest.mark.parametrize(
    ("rec", "message"),
    [
        (order("1", "2024-01-01T00:00:00Z", "-1", customer="c"), "negative"),
        (order("1", "2024-01-01T00:00:00Z", "5", customer="c",
               refunds=(("6", "2024-01-02T00:00:00Z"),)), "refunds 6 of a total of 5"),
    ],
)
def test_invalid_orders_are_refused_and_nothing_is_stored(sessions, rec, message) -> None:
    with sessions() as s, s.begin():
        shop = create_shop(s, "s", "csv")
        with pytest.raises(InvalidRecord, match=message):
            store_records(s, shop, [rec])
        assert _count(s, Order) == 0


def test_an_order_without_buyer_is_counted_not_stored(sessions) -> None:
    with sessions.begin() as s:
        shop = create_shop(s, "s", "csv")
        stats = store_records(s, shop, [order("1", "2024-01-01T00:00:00Z", "5"),
                                        order("2", "2024-01-01T00:00:00Z", "5", email=" ")])
        assert (stats.inserted, stats.unattributed) == (0, 2)
        assert _count(s, Order) == 0


def test_naive_datetime_is_refused(sessions) -> None:
    from dataclasses import replace
    from datetime import datetime

    rec = replace(order("1", "2024-01-01T00:00:00Z", "5", customer="c"),
                  created_at=datetime(2024, 1, 1))
    with sessions.begin() as s:
        shop = create_shop(s, "s", "csv")
        with pytest.raises(InvalidRecord, match="naive"):
            store_records(s, shop, [rec])


def test_deleted_order_is_kept_but_marked(sessions) -> None:
    with sessions.begin() as s:
        shop = create_shop(s, "s", "csv")
        store_records(s, shop, [order("1", "2024-01-01T00:00:00Z", "5", customer="c")])
        stats = store_records(s, shop, [OrderDeleted("1", at("2024-02-01T00:00:00Z")),
                                        OrderDeleted("404")])
        assert (stats.deleted, stats.pending) == (1, 1)  # "404" waits as a tombstone
        assert s.scalar(select(Order.deleted_at)) == at("2024-02-01T00:00:00Z")


def test_an_order_or_refund_in_another_currency_is_refused(sessions) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from stammkunde.core.records import RefundRecord
    from stammkunde.core.store import get_shop

    with sessions() as s, s.begin():
        create_shop(s, "eur", "csv", currency="EUR")
    chf = replace(order("o1", "2024-01-01T00:00:00Z", "30.00", customer="c1"), currency="chf")
    with sessions() as s, s.begin():
        shop = get_shop(s, "eur")
        with pytest.raises(InvalidRecord) as info:
            store_records(s, shop, [order("o0", "2024-01-01T00:00:00Z", "10.00",
                                          customer="c0"), chf])
        assert str(info.value) == "order 'o1' is in CHF, not in the shop's currency EUR"
        refund = RefundRecord(order_id="o0", amount=Decimal("5.00"),
                              created_at=at("2024-01-02T00:00:00Z"), platform_id="r1",
                              currency="USD")
        with pytest.raises(InvalidRecord) as info:
            store_records(s, shop, [refund])
        assert str(info.value) == ("refund 'r1' of order 'o0' is in USD, not in the shop's "
                                   "currency EUR")
        assert _count(s, Order) == 0
        stats = store_records(s, shop, [replace(chf, currency="eur"),
                                        replace(refund, currency="EUR")])
        assert (stats.inserted, stats.updated) == (1, 0)


def test_the_fingerprint_covers_every_field_of_an_order() -> None:
    """An order that differs in any one field is not "unchanged" (a field added to OrderRecord
    later and forgotten in the fingerprint would make its changes invisible)."""
    import dataclasses
    from datetime import UTC, datetime, timedelta

    from stammkunde.core.records import LineItem, OrderRecord, Refund
    from stammkunde.core.store import fingerprint

    when = datetime(2024, 5, 1, 10, tzinfo=UTC)
    base = OrderRecord(platform_id="1", created_at=when, total=Decimal("10.00"), currency="EUR",
                       updated_at=when, customer_id="c1", email="a@example.com",
                       refunds=(Refund(Decimal("1"), when, "r1"),), discount_codes=("X",),
                       channel="pos", cancelled_at=when,
                       line_items=(LineItem(1, Decimal("10.00"), "s", "p", "t"),),
                       customer_name="A B")
    changed = {
        "platform_id": "2", "created_at": when + timedelta(seconds=1),
        "total": Decimal("10.01"), "currency": "CHF", "status": OrderStatus.CANCELLED,
        "updated_at": None, "customer_id": None, "email": "b@example.com",
        "refunds": (Refund(Decimal("2"), when, "r1"),), "discount_codes": ("Y",),
        "channel": None, "is_test": True, "cancelled_at": None,
        "line_items": (LineItem(2, Decimal("10.00"), "s", "p", "t"),), "customer_name": None,
    }
    assert set(changed) == {f.name for f in dataclasses.fields(OrderRecord)}
    digests = {fingerprint(dataclasses.replace(base, **{name: value}))
               for name, value in changed.items()}
    assert len(digests | {fingerprint(base)}) == len(changed) + 1
    # the same instants written in another zone say the same thing
    berlin = dataclasses.replace(base, created_at=when.astimezone(
        __import__("zoneinfo").ZoneInfo("Europe/Berlin")))
    assert fingerprint(berlin) == fingerprint(base)
