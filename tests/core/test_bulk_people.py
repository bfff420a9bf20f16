"""The bulk path of customers and events: the same rows and counts as the ORM path."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import astuple
from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from stammkunde.core import store
from stammkunde.core.errors import InvalidRecord
from stammkunde.core.models import Base, Customer, Event, Order, Person
from stammkunde.core.records import CustomerRecord, EventRecord
from stammkunde.core.shops import create_shop
from tests.factories import at, order

T0 = at("2024-03-01T00:00:00Z")


def _reset(engine: Engine) -> None:
    """Empty every table and restart the ids, so two runs number their rows alike."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            names = ", ".join(t.name for t in Base.metadata.sorted_tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(table.delete())


def _snapshot(session: Session) -> dict[str, list[tuple]]:
    """Every stored row of persons, customers, events and the orders' owners."""
    def rows(*columns) -> list[tuple]:  # type: ignore[no-untyped-def]
        return [tuple(r) for r in session.execute(select(*columns).order_by(columns[0]))]

    c = Customer
    return {
        "persons": rows(Person.id, Person.email),
        "customers": rows(c.id, c.shop_id, c.platform_id, c.person_id, c.is_guest, c.email,
                          c.first_name, c.last_name, c.accepts_marketing, c.locale, c.tags,
                          c.created_at, c.updated_at, c.redacted_at),
        "events": rows(Event.id, Event.shop_id, Event.platform_id, Event.customer_id,
                       Event.person_id, Event.kind, Event.occurred_at, Event.occurred_ts,
                       Event.points),
        "orders": rows(Order.id, Order.platform_id, Order.customer_id, Order.person_id),
    }


Step = tuple[str, str, list]  # (shop, "customers" | "events" | "orders", records)


def _run(engine: Engine, sessions, steps: list[Step], customers: Callable,  # type: ignore[no-untyped-def]
         events: Callable) -> tuple[list[tuple], dict[str, list[tuple]]]:
    """Apply the steps (one transaction each) on empty tables; return the counts and rows."""
    _reset(engine)
    with sessions.begin() as s:
        for name in ("one", "two"):
            create_shop(s, name, "csv")
    counts = []
    for shop_name, kind, records in steps:
        with sessions.begin() as s:
            shop = store.get_shop(s, shop_name)
            if kind == "customers":
                stats = customers(s, shop, records)
            elif kind == "events":
                stats = events(s, shop, records)
            else:
                stats = store.store_records(s, shop, records)
            counts.append(astuple(stats))
    with sessions() as s:
        return counts, _snapshot(s)


def _compare(engine: Engine, sessions, steps: list[Step]) -> dict[str, list[tuple]]:  # type: ignore[no-untyped-def]
    orm = _run(engine, sessions, steps, store._upsert_customers_orm, store._upsert_events_orm)
    bulk = _run(engine, sessions, steps, store.upsert_customers, store.upsert_events)
    assert bulk[0] == orm[0]
    for table, rows in orm[1].items():
        assert bulk[1][table] == rows, table
    return bulk[1]


EMAILS = ["a@x.de", "A@X.de ", "b@x.de", "c@x.de", "d@x.de", "e@x.de", None, None, "junk"]


def _customer(rng: random.Random, pid: str, emails: list[str | None]) -> CustomerRecord:
    updated = rng.choice([None, *(T0 + timedelta(days=d) for d in range(4))])
    return CustomerRecord(
        platform_id=pid, email=rng.choice(emails),
        created_at=rng.choice([None, T0 - timedelta(days=rng.randrange(100))]),
        updated_at=updated, first_name=rng.choice([None, "Anna", "Ben"]),
        last_name=rng.choice([None, "Roth"]), accepts_marketing=rng.choice([None, True, False]),
        tags=rng.choice([None, (), ("vip",), ("vip", "b2b")]),
        locale=rng.choice([None, "de", "en"]))


def _event(rng: random.Random, i: int, emails: list[str | None]) -> EventRecord:
    customer = rng.choice([None, *(f"c{k}" for k in range(8))])
    email = rng.choice(EMAILS[:6]) if customer is None else rng.choice(emails)
    return EventRecord(platform_id=f"e{rng.randrange(12)}", kind=rng.choice([" Review", "signup "]),
                       occurred_at=T0 + timedelta(hours=i), customer_id=customer, email=email,
                       points=rng.choice([None, 5, 10]))


def _steps(seed: int, *, moves: bool) -> list[Step]:
    rng = random.Random(seed)
    # odd seeds: e-mails change only between e-mails (on SQLite a customer without e-mail
    # gaining one sends its whole batch through the ORM path)
    emails = EMAILS[:6] if seed % 2 else [None, None, *EMAILS]
    steps: list[Step] = []
    fixed: dict[str, str | None] = {}  # without moves: each customer keeps its first e-mail
    for i in range(8):
        shop = rng.choice(["one", "two"])
        kind = rng.choice(["customers", "customers", "events", "orders"])
        if kind == "customers":
            records = [_customer(rng, f"c{rng.randrange(10)}", emails)
                       for _ in range(rng.randrange(1, 25))]
        elif kind == "events":
            records = [_event(rng, i * 100 + j, emails) for j in range(rng.randrange(1, 20))]
        else:
            records = [order(f"o{i}-{j}", "2024-02-01T00:00:00Z", "5",
                             customer=rng.choice([None, "c1", "c2"]),
                             email=rng.choice(EMAILS[:6])) for j in range(3)]
        if not moves:
            records = [_keep_email(r, shop, fixed) for r in records]
        steps.append((shop, kind, records))
    return steps


def _keep_email(rec, shop: str, fixed: dict[str, str | None]):  # type: ignore[no-untyped-def]
    from dataclasses import replace

    key = f"{shop}/{getattr(rec, 'customer_id', None) or rec.platform_id}"
    if isinstance(rec, CustomerRecord) or getattr(rec, "customer_id", None):
        return replace(rec, email=fixed.setdefault(key, rec.email))
    return rec


@pytest.mark.parametrize("seed", range(12))
def test_random_batches_store_what_the_orm_path_stores(engine, sessions, seed) -> None:
    _compare(engine, sessions, _steps(seed, moves=True))


@pytest.mark.parametrize("seed", range(4))
def test_batches_without_email_changes_take_no_orm_path(engine, sessions, monkeypatch,
                                                         seed) -> None:
    steps = _steps(100 + seed, moves=False)
    orm = _run(engine, sessions, steps, store._upsert_customers_orm, store._upsert_events_orm)

    def refuse(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("the ORM path was taken")

    monkeypatch.setattr(store, "_upsert_customers_orm", refuse)
    monkeypatch.setattr(store, "_upsert_events_orm", refuse)
    assert _run(engine, sessions, steps, store.upsert_customers, store.upsert_events) == orm


def test_hand_computed_batch(engine, sessions) -> None:
    day = [T0 + timedelta(days=d) for d in range(4)]
    steps: list[Step] = [
        ("one", "customers", [
            CustomerRecord("c1", email="Anna@X.de", updated_at=day[1], first_name="Anna",
                           accepts_marketing=True, tags=("vip", "b2b"), locale="de"),
            CustomerRecord("c2", updated_at=day[1], first_name="Ben"),
        ]),
        ("two", "customers", [CustomerRecord("k9", email="anna@x.de", updated_at=day[1])]),
        ("one", "customers", [
            CustomerRecord("c1", email="anna@x.de", updated_at=day[0], first_name="Old"),  # stale
            CustomerRecord("c1", email="anna@x.de", updated_at=day[2], first_name="Anna M."),
            CustomerRecord("c1", updated_at=day[2], first_name="Tie"),  # stale: a tie
            CustomerRecord("c3", email="c@x.de", created_at=day[0], updated_at=day[3]),
            CustomerRecord("c3", email="c@x.de", updated_at=None, last_name="Last"),  # wins
        ]),
        ("one", "events", [
            EventRecord("e1", " Review ", day[1], customer_id="c1", points=5),
            EventRecord("e2", "signup", day[1], email="Gast@x.de"),
            EventRecord("e1", "review", day[2], customer_id="c1", points=7),
        ]),
    ]
    counts, rows = _run(engine, sessions, steps, store.upsert_customers, store.upsert_events)
    assert [c[:4] for c in counts] == [(2, 0, 0, 0), (1, 0, 0, 0), (1, 2, 0, 2), (2, 0, 1, 0)]
    persons = dict((email, pid) for pid, email in rows["persons"])
    assert set(persons) == {"anna@x.de", None, "c@x.de", "gast@x.de"}
    by_key = {(r[1], r[2]): r for r in rows["customers"]}
    c1, k9 = by_key[(1, "c1")], by_key[(2, "k9")]
    assert c1[3] == k9[3] == persons["anna@x.de"]
    # the newest version's fields; absent marketing, tags, locale keep the stored ones
    assert c1[4:11] == (False, "Anna@X.de", "Anna M.", None, True, "de", "vip,b2b")
    assert c1[12] == day[2]
    c3 = by_key[(1, "c3")]
    assert (c3[7], c3[11], c3[12]) == ("Last", day[0], None)
    assert by_key[(1, "guest:gast@x.de")][4] is True
    events = {r[2]: r for r in rows["events"]}
    assert events["e1"][3:] == (c1[0], c1[3], "review", day[2], int(day[2].timestamp()), 7)
    assert events["e2"][5] == "signup"


def test_invalid_records_are_refused_before_anything_is_written(sessions) -> None:
    naive = (T0 + timedelta(days=1)).replace(tzinfo=None)
    with sessions.begin() as s:
        shop = create_shop(s, "s", "csv")
        with pytest.raises(InvalidRecord, match="naive"):
            store.upsert_customers(s, shop, [CustomerRecord("c1", email="a@x.de"),
                                             CustomerRecord("c2", updated_at=naive)])
        with pytest.raises(InvalidRecord, match="neither"):
            store.upsert_events(s, shop, [EventRecord("e1", "review", T0, customer_id="c1"),
                                          EventRecord("e2", "review", T0)])
        assert s.scalars(select(Customer)).all() == []
        assert s.scalars(select(Person)).all() == []


def test_a_customer_loaded_in_the_session_sees_the_bulk_update(sessions) -> None:
    with sessions.begin() as s:
        shop = create_shop(s, "s", "csv")
        store.upsert_customers(s, shop, [CustomerRecord("c1", first_name="A")])
        cust = s.scalar(select(Customer))
        store.upsert_customers(s, shop, [CustomerRecord("c1", first_name="B")])
        assert cust.first_name == "B"


@pytest.mark.parametrize("kind", ["customers", "events"])
def test_postgresql_rows_a_concurrent_writer_inserted_first_take_the_orm_path(
        engine, sessions, monkeypatch, kind) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite: the bulk path holds the write lock from its first read")
    from stammkunde.core import bulk_people

    plan = bulk_people.Directory.plan

    def plan_then_race(self, wanted) -> None:  # type: ignore[no-untyped-def]
        plan(self, wanted)
        with sessions.begin() as other:  # commits before the bulk path inserts
            shop = store.get_shop(other, "s")
            store._upsert_customers_orm(other, shop, [
                CustomerRecord("c1", email="a@x.de", updated_at=T0, first_name="Other")])
            store._upsert_events_orm(other, shop, [
                EventRecord("e1", "other", T0, customer_id="c1")])

    with sessions.begin() as s:
        create_shop(s, "s", "csv")
    monkeypatch.setattr(bulk_people.Directory, "plan", plan_then_race)
    with sessions.begin() as s:
        shop = store.get_shop(s, "s")
        if kind == "customers":
            stats = store.upsert_customers(s, shop, [
                CustomerRecord("c1", email="a@x.de", updated_at=T0 + timedelta(days=1),
                               first_name="Mine"),
                CustomerRecord("c2", updated_at=T0, first_name="Two")])
            assert astuple(stats)[:4] == (1, 1, 0, 0)
        else:
            stats = store.upsert_events(s, shop, [
                EventRecord("e1", "mine", T0, customer_id="c1", points=3),
                EventRecord("e2", "mine", T0, customer_id="c2")])
            assert astuple(stats)[:4] == (1, 0, 1, 0)
    with sessions() as s:
        customers = {c.platform_id: c for c in s.scalars(select(Customer))}
        assert set(customers) == {"c1", "c2"}
        assert s.scalar(select(func.count()).select_from(Person)) == 2  # none left behind
        if kind == "customers":
            assert customers["c1"].first_name == "Mine"
        else:
            events = {e.platform_id: e for e in s.scalars(select(Event))}
            assert (events["e1"].kind, events["e1"].points) == ("mine", 3)
            assert events["e1"].customer_id == customers["c1"].id
