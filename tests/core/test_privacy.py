"""Privacy and lifecycle requests in the core: export, customer redact, shop redact, uninstall."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from stammkunde.core.db import make_engine, session_factory, upgrade
from stammkunde.core.inbox_models import AuditLog, InboxDelivery
from stammkunde.core.models import Customer, Event, Order, OrderLine, Person, Refund, Shop
from stammkunde.core.privacy import (
    export_customer,
    redact_customer,
    redact_shop,
    subject_hash,
    uninstall_shop,
)
from stammkunde.core.records import (
    CustomerDataRequest,
    CustomerRecord,
    CustomerRedact,
    EventRecord,
    LineItem,
    OrderRecord,
)
from stammkunde.core.records import Refund as RefundRec
from stammkunde.core.shops import create_shop
from stammkunde.core.store import store_records

T = datetime(2024, 3, 1, 12, tzinfo=UTC)
AT = datetime(2024, 7, 1, 8, 30, tzinfo=UTC)
KEY = "k"


@pytest.fixture
def db(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'p.db'}")
    upgrade(engine)
    factory = session_factory(engine)
    with factory() as s, s.begin():
        one = create_shop(s, "one", "testshop", domain="one.example",
                          credentials={"webhook_secret": "x"}, secret_key=KEY)
        two = create_shop(s, "two", "testshop", domain="two.example")
        store_records(s, one, [
            CustomerRecord("c1", email="Anna@Example.com", first_name="Anna",
                           last_name="Schmidt", accepts_marketing=True, tags=("vip",),
                           created_at=T, updated_at=T),
            OrderRecord("o1", created_at=T, updated_at=T, total=Decimal("50.00"),
                        currency="EUR", customer_id="c1", email="anna@example.com",
                        refunds=(RefundRec(Decimal("10.00"), T, "r1"),),
                        discount_codes=("WELCOME",),
                        line_items=(LineItem(2, Decimal("25.00"), sku="SKU-1", title="Mug"),)),
            OrderRecord("o2", created_at=T, updated_at=T, total=Decimal("7.50"),
                        currency="EUR", customer_id=None, email="bob@example.com"),
            EventRecord("e1", "review", T, customer_id="c1"),
        ])
        # the same person is also a customer of shop two
        store_records(s, two, [
            OrderRecord("t1", created_at=T, updated_at=T, total=Decimal("3.00"), currency="EUR",
                        customer_id="x9", email="anna@example.com"),
        ])
    return factory


def shop(s, name):
    return s.scalar(select(Shop).where(Shop.name == name))


def test_data_request_writes_everything_stored_about_the_customer(db, tmp_path):
    with db() as s, s.begin():
        out = export_customer(s, shop(s, "one"), CustomerDataRequest(
            customer_id="c1", email=None, request_id="dr-1"), tmp_path / "exports", at=AT,
            reference="testshop:evt-9")
        shop_id = shop(s, "one").id
    subject = subject_hash(shop_id, "c1", None)
    name = f"data-request-20240701T083000Z-{subject[:12]}.json"
    assert out.path == tmp_path / "exports" / "one" / name
    data = json.loads(out.path.read_text())
    assert data == {
        "shop": "one", "platform": "testshop", "request_id": "dr-1",
        "generated_at": "2024-07-01T08:30:00+00:00",
        "customers": [{
            "platform_id": "c1", "is_guest": False, "email": "Anna@Example.com",
            "person_email": "anna@example.com", "first_name": "Anna", "last_name": "Schmidt",
            "accepts_marketing": True, "tags": ["vip"],
            "created_at": "2024-03-01T12:00:00+00:00", "updated_at": "2024-03-01T12:00:00+00:00",
            "redacted_at": None,
            "orders": [{
                "platform_id": "o1", "created_at": "2024-03-01T12:00:00+00:00",
                "updated_at": "2024-03-01T12:00:00+00:00", "status": "paid",
                "cancelled_at": None, "deleted_at": None, "is_test": False, "currency": "EUR",
                "total": "50.00", "channel": "online",
                "line_items": [{"quantity": 2, "price": "25.00", "sku": "SKU-1",
                                "product_id": None, "title": "Mug"}],
                "refunds": [{"platform_id": "r1", "amount": "10.00",
                             "created_at": "2024-03-01T12:00:00+00:00"}],
                "discount_codes": ["WELCOME"],
            }],
            "events": [{"platform_id": "e1", "kind": "review",
                        "occurred_at": "2024-03-01T12:00:00+00:00", "points": None}],
        }],
    }
    assert out.path.stat().st_mode & 0o777 == 0o600
    with db() as s:
        [row] = s.scalars(select(AuditLog)).all()
    assert (row.shop_id, row.action, row.subject_hash, row.at, row.reference) == (
        shop_id, "customer_data_request", subject, AT, "testshop:evt-9")
    assert row.outcome == f"exported 1 customer(s), 1 order(s) to {out.path.name}"
    assert "anna" not in row.outcome.lower()


def test_data_request_by_email_finds_the_guest(db, tmp_path):
    with db() as s, s.begin():
        out = export_customer(s, shop(s, "one"), CustomerDataRequest(email=" BOB@example.com"),
                              tmp_path, at=AT)
    data = json.loads(out.path.read_text())
    assert [c["platform_id"] for c in data["customers"]] == ["guest:bob@example.com"]
    assert [o["total"] for o in data["customers"][0]["orders"]] == ["7.50"]


def test_data_request_for_unknown_customer_writes_an_empty_export(db, tmp_path):
    with db() as s, s.begin():
        out = export_customer(s, shop(s, "one"), CustomerDataRequest(customer_id="nobody"),
                              tmp_path, at=AT)
    assert json.loads(out.path.read_text())["customers"] == []
    assert out.outcome.startswith("no data stored; empty export data-request-")


def test_customer_redact_removes_identity_and_keeps_aggregates(db):
    with db() as s, s.begin():
        s.add(InboxDelivery(platform="testshop", shop_domain="one.example", delivery_id="q",
                            topic="orders/create", shop_id=shop(s, "one").id, status="failed",
                            body=b'{"customer": {"email": "ANNA@example.com"}}', headers={}))
        out = redact_customer(s, shop(s, "one"), CustomerRedact(customer_id="c1",
                                                                email="anna@example.com"), at=AT)
    assert out.outcome == "redacted 1 customer(s); 1 queued payload(s) and 0 export(s) dropped"
    with db() as s:
        one = shop(s, "one")
        c1 = s.scalar(select(Customer).where(Customer.shop_id == one.id,
                                             Customer.platform_id == "c1"))
        assert (c1.email, c1.first_name, c1.last_name, c1.tags, c1.accepts_marketing,
                c1.redacted_at) == (None, None, None, None, None, AT)
        # anna is also a customer of shop two: c1 moved to a new anonymous person
        anon = s.get(Person, c1.person_id)
        assert anon.email is None
        assert s.scalar(select(Person.id).where(Person.email == "anna@example.com")) is not None
        o1 = s.scalar(select(Order).where(Order.platform_id == "o1"))
        assert (o1.total, o1.person_id) == (Decimal("50.00"), anon.id)
        assert s.scalar(select(Event.person_id).where(Event.platform_id == "e1")) == anon.id
        q = s.scalar(select(InboxDelivery))
        assert (q.body, q.status) == (None, "processed")
        [row] = s.scalars(select(AuditLog)).all()
        assert (row.action, row.subject_hash) == (
            "customer_redact", subject_hash(one.id, "c1", "anna@example.com"))


def test_customer_redact_of_a_guest_renames_its_key_and_empties_the_person(db):
    with db() as s, s.begin():
        redact_customer(s, shop(s, "one"), CustomerRedact(email="bob@example.com",
                                                          order_ids=("o2",)), at=AT)
    with db() as s:
        guest = s.scalar(select(Customer).join(Order, Order.customer_id == Customer.id)
                         .where(Order.platform_id == "o2"))
        assert guest.platform_id == f"redacted:{guest.id}"
        assert guest.email is None
        assert s.get(Person, guest.person_id).email is None
        assert s.scalar(select(func.count()).select_from(Person)
                        .where(Person.email == "bob@example.com")) == 0


def test_shop_redact_deletes_the_shop_and_only_its_data(db):
    with db() as s, s.begin():
        one = shop(s, "one")
        one_id = one.id
        s.add(InboxDelivery(platform="testshop", shop_domain="one.example", delivery_id="q1",
                            topic="x", shop_id=one_id, status="processed", headers={}))
        keep = InboxDelivery(platform="testshop", shop_domain="one.example", delivery_id="q2",
                             topic="shop/redact", shop_id=one_id, status="received",
                             body=b"{}", headers={})
        s.add(keep)
        s.flush()
        keep_id = keep.id
        out = redact_shop(s, one, at=AT, keep_inbox_id=keep_id)
    assert out.outcome == "deleted shop with 2 customer(s), 2 order(s), 1 event(s)"
    with db() as s:
        assert [x.name for x in s.scalars(select(Shop))] == ["two"]
        assert [o.platform_id for o in s.scalars(select(Order))] == ["t1"]
        assert s.scalar(select(func.count()).select_from(Refund)) == 0
        assert s.scalar(select(func.count()).select_from(OrderLine)) == 0
        assert s.scalar(select(func.count()).select_from(Event)) == 0
        # anna's person stays (shop two), bob's goes
        assert sorted(p.email for p in s.scalars(select(Person))) == ["anna@example.com"]
        [kept] = s.scalars(select(InboxDelivery)).all()
        assert (kept.id, kept.shop_id, kept.body) == (keep_id, None, None)
        [row] = s.scalars(select(AuditLog)).all()
        assert (row.shop_id, row.action, row.subject_hash) == (one_id, "shop_redact", None)


def test_uninstall_deletes_credentials_and_stops_jobs(db):
    with db() as s, s.begin():
        out = uninstall_shop(s, shop(s, "one"), at=AT)
    assert out.outcome == "credentials deleted, jobs stopped"
    with db() as s:
        one = shop(s, "one")
        assert one.credentials is None
        assert one.uninstalled_at == AT
        assert one.settings["jobs_stopped_at"] == "2024-07-01T08:30:00+00:00"
        assert s.scalar(select(func.count()).select_from(Order)) == 3  # data stays
        [row] = s.scalars(select(AuditLog)).all()
        assert (row.action, row.outcome) == ("app_uninstalled", out.outcome)


def test_exports_are_deleted_after_their_retention(tmp_path):
    import os
    from datetime import timedelta

    from stammkunde.app.jobs import export_retention
    from stammkunde.core.errors import UserError
    from stammkunde.core.privacy import purge_exports

    folder = tmp_path / "exports" / "one"
    folder.mkdir(parents=True)
    old, fresh = folder / "data-request-old.json", folder / "data-request-new.json"
    for path, age_days in ((old, 31), (fresh, 29)):
        path.write_text("{}")
        when = AT.timestamp() - age_days * 86400
        os.utime(path, (when, when))
    assert purge_exports(tmp_path / "exports", at=AT) == 1
    assert [p.name for p in folder.iterdir()] == ["data-request-new.json"]
    assert purge_exports(tmp_path / "exports", timedelta(days=28), at=AT) == 1
    assert export_retention({}) == timedelta(days=30)
    assert export_retention({"STAMMKUNDE_EXPORT_RETENTION_DAYS": "7"}) == timedelta(days=7)
    with pytest.raises(UserError, match="STAMMKUNDE_EXPORT_RETENTION_DAYS"):
        export_retention({"STAMMKUNDE_EXPORT_RETENTION_DAYS": "soon"})
