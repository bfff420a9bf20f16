"""The bulk path of the store: the same rows as the one-by-one path, chunk after chunk."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select, text

from stammkunde.core import bulk, store
from stammkunde.core.models import Customer, Order, OrderDiscount, Person, Refund
from stammkunde.core.records import LineItem, OrderDeleted, OrderRecord, OrderStatus
from stammkunde.core.shops import create_shop
from stammkunde.core.store import store_records
from tests.factories import at, order


def _count(session, model) -> int:  # type: ignore[no-untyped-def]
    return session.scalar(select(func.count()).select_from(model))


def _rows(session, shop_id: int) -> list[tuple]:  # type: ignore[no-untyped-def]
    """Every stored order field a report reads, with its customer's key and person's e-mail."""
    query = (select(Order.platform_id, Customer.platform_id, Customer.email, Customer.is_guest,
                    Person.email, Order.created_at, Order.created_ts, Order.created_month,
                    Order.updated_at, Order.status, Order.cancelled_ts, Order.currency,
                    Order.total, Order.channel, Order.refunded, Order.refund_ts,
                    Order.fingerprint, Order.is_test)
             .join(Customer, Customer.id == Order.customer_id)
             .join(Person, Person.id == Order.person_id).where(Order.shop_id == shop_id)
             .order_by(Order.platform_id))
    return [tuple(r) for r in session.execute(query)]


RECORDS = [
    order("1", "2024-01-31T23:30:00Z", "10.00", customer="c1", email=" A@x.de ",
          refunds=(("2.50", "2024-02-02T00:00:00Z"), ("1.00", "2024-02-03T00:00:00Z")),
          codes=("Welcome", "Welcome", " ")),
    order("2", "2024-02-01T10:00:00Z", "20.00", email="a@x.de", channel=" POS "),
    order("3", "2024-02-02T10:00:00Z", "30.00", customer="c2",
          status=OrderStatus.CANCELLED, updated="2024-02-05T00:00:00Z"),
    order("4", "2024-02-03T10:00:00Z", "40.00", customer="c1", email="a@x.de", test=True),
]


@pytest.mark.parametrize("chunk", [1, 2, 5000])
def test_bulk_rows_equal_what_the_orm_path_writes(sessions, monkeypatch, chunk) -> None:
    with sessions.begin() as s:
        orm_shop = create_shop(s, "orm", "csv", timezone="Europe/Berlin")
        bulk_shop = create_shop(s, "bulk", "csv", timezone="Europe/Berlin")
        # the one-by-one path alone, as before the bulk path existed
        monkeypatch.setattr(store, "store_new_orders",
                            lambda _s, _shop, _p, start, stop: (0, 0, list(range(start, stop))))
        store_records(s, orm_shop, RECORDS)
        monkeypatch.undo()
        monkeypatch.setattr(store, "BULK_CHUNK", chunk)
        stats = store_records(s, bulk_shop, RECORDS)
        assert (stats.inserted, stats.updated) == (4, 0)
    with sessions() as s:
        orm_rows, bulk_rows = _rows(s, orm_shop.id), _rows(s, bulk_shop.id)
        assert bulk_rows == orm_rows
        assert len(bulk_rows) == 4
        first = bulk_rows[0]
        # local month (Berlin: 2024-02-01 00:30), refunds summed, latest refund instant
        assert (first[7], first[14], first[15]) == (2024 * 12 + 1, Decimal("3.50"),
                                                    int(at("2024-02-03T00:00:00Z").timestamp()))
        assert first[1:5] == ("c1", "A@x.de", False, "a@x.de")
        assert bulk_rows[1][1:5] == ("guest:a@x.de", "a@x.de", True, "a@x.de")
        assert bulk_rows[2][9:11] == ("cancelled", int(at("2024-02-05T00:00:00Z").timestamp()))
        codes = s.scalars(select(OrderDiscount.code).join(Order).where(
            Order.shop_id == bulk_shop.id)).all()
        assert codes == ["Welcome"]
        # one person for a@x.de across both shops, an anonymous one for c2 in each shop
        assert _count(s, Person) == 3
    with sessions.begin() as s:  # storing it again changes nothing
        again = store_records(s, s.get(type(bulk_shop), bulk_shop.id), RECORDS)
        assert (again.inserted, again.updated, again.unchanged) == (0, 0, 4)


def test_customer_changing_email_inside_one_batch_is_rehomed(sessions) -> None:
    with sessions.begin() as s:
        shop = create_shop(s, "s", "csv")
        stats = store_records(s, shop, [
            order("1", "2024-01-01T10:00:00Z", "10.00", customer="c1", email="a@x.de"),
            order("2", "2024-01-02T10:00:00Z", "20.00", customer="c1", email="b@x.de"),
        ])
        assert stats.inserted == 2
        cust = s.scalar(select(Customer))
        assert cust.email == "b@x.de"
        b = s.scalar(select(Person.id).where(Person.email == "b@x.de"))
        assert s.scalars(select(Order.person_id)).all() == [b, b]


def test_waiting_deletion_and_refund_are_applied_and_lines_stored(sessions) -> None:
    from stammkunde.core.records import RefundRecord

    with sessions.begin() as s:
        shop = create_shop(s, "s", "csv")
        store_records(s, shop, [
            OrderDeleted("9", deleted_at=at("2024-01-05T00:00:00Z")),
            RefundRecord(order_id="8", amount=Decimal("3"), created_at=at("2024-01-06T00:00:00Z"),
                         platform_id="r8"),
        ])
        line = LineItem(quantity=2, price=Decimal("4.50"), sku="S", title="T")
        stats = store_records(s, shop, [
            # a version older than the deletion stays deleted
            order("9", "2024-01-01T10:00:00Z", "10.00", customer="c1",
                  updated="2024-01-02T00:00:00Z"),
            order("8", "2024-01-01T10:00:00Z", "10.00", customer="c1"),
            OrderRecord(platform_id="7", created_at=at("2024-01-01T10:00:00Z"),
                        total=Decimal("9.00"), currency="eur", customer_id="c1",
                        line_items=(line,)),
        ])
        assert stats.inserted == 3
        got = {o.platform_id: o for o in s.scalars(select(Order))}
        assert got["9"].deleted_at == at("2024-01-05T00:00:00Z")
        assert got["8"].refunded == Decimal("3") and [r.platform_id for r in got["8"].refunds] \
            == ["r8"]
        assert [(li.quantity, li.price, li.sku) for li in got["7"].lines] == [
            (2, Decimal("4.50"), "S")]
        assert got["7"].currency == "EUR"
        assert _count(s, Refund) == 1


def test_analyze_runs_after_a_large_postgresql_load(sessions, monkeypatch) -> None:
    with sessions.begin() as s:
        shop = create_shop(s, "s", "csv")
        store_records(s, shop, RECORDS)
    monkeypatch.setattr(bulk, "ANALYZE_AFTER", 4)
    with sessions.begin() as s:
        ran = bulk.analyze_after_load(s, 4)
        assert ran == (s.get_bind().dialect.name == "postgresql")
        if ran:  # ANALYZE sets the planner's row estimate of the table it read
            assert s.scalar(text("SELECT reltuples FROM pg_class WHERE relname = 'orders'")) \
                == 4
    with sessions.begin() as s:
        assert bulk.analyze_after_load(s, 3) is False
