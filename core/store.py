"""Idempotent upserts of canonical records: the only way data enters the core.

Rules (tested in ``tests/core/test_store.py``):
- an order or customer is identified by (shop, platform id); storing the same record twice changes
  nothing, and a version with an older ``updated_at`` than the stored one is ignored;
- a record without ``updated_at`` (a file import has no versions) replaces the stored version;
- an order in another currency than the shop's is refused (:func:`check_currency`): its amounts
  would otherwise be summed as the shop's money. An adapter that knows the amount in the shop's
  currency (Shopify's ``shopMoney``) hands over that amount, in the shop's currency;
- a customer with an e-mail belongs to the Person with that normalised e-mail, in every shop;
  a guest (e-mail, no account) is a customer with the platform id ``guest:<e-mail>``;
- refunds are a union by platform id: a refund reported on its own (:class:`RefundRecord`) or by
  an earlier version of the order is kept when a version without it arrives, and a refund or a
  deletion that arrives before its order is applied when the order arrives
  (:mod:`stammkunde.core.pending`); a deleted order stays deleted unless a version newer than the
  deletion arrives.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, fields
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from stammkunde.core.bulk import LOADED_CUSTOMERS, store_new_orders
from stammkunde.core.bulk_people import store_customers, store_events
from stammkunde.core.errors import InvalidRecord, NotFound
from stammkunde.core.identity import normalize_email
from stammkunde.core.models import (
    Customer,
    Event,
    Order,
    OrderDiscount,
    OrderLine,
    Person,
    Refund,
    Shop,
    SyncState,
)
from stammkunde.core.pending import apply_pending, store_refunds, tombstone, tombstones_for
from stammkunde.core.prepare import (  # noqa: F401 - part of the store's interface
    STATUSES,
    PreparedOrders,
    _aware,
    _is_newer,
    attributable,
    check_currency,
    fingerprint,
    prepare_orders,
    validate_order,
)
from stammkunde.core.records import (
    CustomerRecord,
    EventRecord,
    OrderDeleted,
    OrderRecord,
    OrderStatus,
    Record,
    RefundRecord,
)
from stammkunde.core.timeutil import epoch_seconds, month_index, now

CHUNK = 500
#: Orders per bulk statement set: big enough to amortise round trips, small enough for memory.
BULK_CHUNK = 5000


@dataclass
class UpsertStats:
    """What one upsert call did, by kind of change."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    stale: int = 0
    deleted: int = 0
    ignored: int = 0
    unattributed: int = 0
    pending: int = 0

    def __iadd__(self, other: UpsertStats) -> UpsertStats:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        return self


def get_shop(session: Session, name: str) -> Shop:
    """Return the shop with this name or raise NotFound naming it."""
    shop = session.scalar(select(Shop).where(Shop.name == name))
    if shop is None:
        raise NotFound(f"unknown shop {name!r} (see `stammkunde shops list`)")
    return shop


class _Resolver:
    """Find or create persons and customers for a batch, with one query per chunk."""

    def __init__(self, session: Session, shop: Shop) -> None:
        self.session = session
        self.shop = shop
        self.customers: dict[str, Customer] = {}
        self.persons: dict[str, Person] = {}

    def preload(self, keys: set[str], emails: set[str]) -> None:
        new_keys = sorted(keys - self.customers.keys())
        for i in range(0, len(new_keys), CHUNK):
            rows = self.session.scalars(
                select(Customer).where(
                    Customer.shop_id == self.shop.id,
                    Customer.platform_id.in_(new_keys[i : i + CHUNK]),
                )
            )
            self.customers.update({c.platform_id: c for c in rows})
        new_emails = sorted(emails - self.persons.keys())
        for i in range(0, len(new_emails), CHUNK):
            rows = self.session.scalars(
                select(Person).where(Person.email.in_(new_emails[i : i + CHUNK]))
            )
            self.persons.update({p.email: p for p in rows if p.email})

    def person_for(self, email: str | None) -> Person:
        if email is None:
            person = Person()
            self.session.add(person)
            return person
        person = self.persons.get(email)
        if person is None:
            person = Person(email=email)
            self.session.add(person)
            self.persons[email] = person
        return person

    def customer(self, platform_id: str | None, email_raw: str | None, *,
                 flush: bool = True) -> Customer:
        """Find or create the customer; ``flush=False`` leaves new rows for one later flush."""
        email = normalize_email(email_raw)
        key = platform_id or f"guest:{email}"
        cust = self.customers.get(key)
        if cust is None:
            cust = Customer(
                shop_id=self.shop.id, platform_id=key, is_guest=platform_id is None,
                email=email_raw.strip() if email_raw else None,
            )
            cust.person = self.person_for(email)
            self.session.add(cust)
            if flush:
                self.session.flush()
            self.customers[key] = cust
        elif email and (cust.email is None or normalize_email(cust.email) != email):
            self.move(cust, email, email_raw)
        return cust

    def move(self, cust: Customer, email: str, email_raw: str | None) -> None:
        """Re-home a customer whose e-mail changed onto the person with that e-mail."""
        person = self.person_for(email)
        self.session.flush()
        old = cust.person_id
        cust.email = email_raw.strip() if email_raw else email
        cust.person_id = person.id
        for table in (Order, Event):
            self.session.execute(
                update(table).where(table.customer_id == cust.id).values(person_id=person.id)
            )
        self.session.flush()
        others = self.session.scalar(
            select(Customer.id).where(Customer.person_id == old).limit(1)
        )
        if others is None:
            orphan = self.session.get(Person, old)
            if orphan is not None and orphan.email is None:
                self.session.delete(orphan)


def _apply_order(order: Order, rec: OrderRecord, shop: Shop, cust: Customer) -> None:
    order.fingerprint = fingerprint(rec)
    order.customer_id = cust.id
    order.person_id = cust.person_id
    order.created_at = rec.created_at
    order.created_ts = epoch_seconds(rec.created_at)
    order.created_month = month_index(rec.created_at, shop.timezone)
    order.updated_at = rec.updated_at
    order.status = OrderStatus(rec.status).value
    order.is_test = rec.is_test
    cancelled = rec.cancelled_at
    if rec.status == OrderStatus.CANCELLED and cancelled is None:
        cancelled = rec.updated_at or rec.created_at
    order.cancelled_ts = epoch_seconds(cancelled) if cancelled else None
    if order.deleted_at is not None and (
        rec.updated_at is None or rec.updated_at > order.deleted_at
    ):
        order.deleted_at = None
    order.currency = rec.currency.upper()
    order.total = rec.total
    order.channel = (rec.channel or "online").strip().lower() or "online"
    reported = {r.platform_id for r in rec.refunds if r.platform_id}
    kept = [r for r in order.refunds if r.platform_id and r.platform_id not in reported]
    order.refunds = [
        Refund(platform_id=r.platform_id, amount=r.amount, created_ts=epoch_seconds(r.created_at))
        for r in rec.refunds
    ] + kept
    order.discounts = [
        OrderDiscount(code=c.strip(), code_key=c.strip().casefold())
        for c in dict.fromkeys(rec.discount_codes) if c.strip()
    ]
    order.lines = [
        OrderLine(quantity=li.quantity, price=li.price, sku=li.sku, product_id=li.product_id,
                  title=li.title)
        for li in rec.line_items
    ]


def upsert_orders(session: Session, shop: Shop, records: Sequence[OrderRecord]) -> UpsertStats:
    """Store orders idempotently; the newest platform ``updated_at`` wins."""
    return store_prepared(session, shop, prepare_orders(records, shop.currency, shop.timezone),
                          records)


def store_prepared(session: Session, shop: Shop, prepared: PreparedOrders,
                   records: Sequence[OrderRecord]) -> UpsertStats:
    """Store orders prepared by :func:`prepare_orders` from ``records`` for this shop.

    New orders are stored in bulk (:mod:`stammkunde.core.bulk`), chunk by chunk; an order that
    exists already, whose customer changed e-mail or that something waits for is compared and
    stored one by one (from its record). Orders prepared for another currency or time zone than
    the shop's are prepared again.
    """
    if (prepared.currency, prepared.timezone) != (shop.currency, shop.timezone):
        prepared = prepare_orders(records, shop.currency, shop.timezone)
    stats = UpsertStats(unattributed=prepared.unattributed)
    for start in range(0, len(prepared), BULK_CHUNK):
        stop = min(start + BULK_CHUNK, len(prepared))
        inserted, unchanged, rest = store_new_orders(session, shop, prepared, start, stop)
        stats.inserted += inserted
        stats.unchanged += unchanged
        _upsert_one_by_one(session, shop, [records[prepared.index[i]] for i in rest], stats)
    return stats


def _upsert_one_by_one(session: Session, shop: Shop, records: Sequence[OrderRecord],
                       stats: UpsertStats) -> None:
    """Compare each order with its stored version and store it through the ORM."""
    resolver = _Resolver(session, shop)
    for i in range(0, len(records), CHUNK):
        chunk = list(records[i : i + CHUNK])
        resolver.preload(
            {r.customer_id or f"guest:{normalize_email(r.email)}" for r in chunk},
            {e for r in chunk if (e := normalize_email(r.email))},
        )
        existing = {
            o.platform_id: o
            for o in session.scalars(
                select(Order).where(
                    Order.shop_id == shop.id,
                    Order.platform_id.in_([r.platform_id for r in chunk]),
                )
            )
        }
        deleted = tombstones_for(session, shop, [r.platform_id for r in chunk if
                                                 r.platform_id not in existing])
        created: list[Order] = []
        todo: list[OrderRecord] = []
        for rec in chunk:
            order = existing.get(rec.platform_id)
            if order is not None and order.fingerprint == fingerprint(rec):
                stats.unchanged += 1
            elif order is not None and not _is_newer(rec.updated_at, order.updated_at):
                stats.stale += 1
            else:
                todo.append(rec)
        for rec in todo:  # new customers of the chunk are inserted in one flush
            resolver.customer(rec.customer_id, rec.email, flush=False)
        session.flush()
        for rec in todo:
            order = existing.get(rec.platform_id)
            cust = resolver.customer(rec.customer_id, rec.email)
            if order is None:
                order = Order(shop_id=shop.id, platform_id=rec.platform_id,
                              deleted_at=deleted.get(rec.platform_id))
                session.add(order)
                created.append(order)
                stats.inserted += 1
            else:
                stats.updated += 1
            _apply_order(order, rec, shop, cust)
        apply_pending(session, shop, created)
        session.flush()


def upsert_customers(
    session: Session, shop: Shop, records: Sequence[CustomerRecord]
) -> UpsertStats:
    """Store customer accounts idempotently; the newest ``updated_at`` wins.

    Stored in bulk (:mod:`stammkunde.core.bulk_people`); the records of a customer whose e-mail
    changes go through the ORM (:func:`_upsert_customers_orm`), after the others.
    """
    session.info.pop(LOADED_CUSTOMERS, None)  # (a first load's orders find them in the database)
    for rec in records:
        for what, value in (("created_at", rec.created_at), ("updated_at", rec.updated_at)):
            _aware(value, what, rec.platform_id)
    if not records or not all(r.platform_id for r in records):  # (no id: a guest's key)
        return _upsert_customers_orm(session, shop, records)
    inserted, updated, stale, slow, created = store_customers(session, shop, records)
    stats = UpsertStats(inserted=inserted, updated=updated, stale=stale)
    if slow:
        stats += _upsert_customers_orm(session, shop, [records[i] for i in slow], created)
    return stats


def _upsert_customers_orm(session: Session, shop: Shop, records: Sequence[CustomerRecord],
                          created: Set[str] = frozenset()) -> UpsertStats:
    """Store customer records one by one through the ORM; customers ``created`` for them in
    this batch count as new."""
    stats = UpsertStats()
    resolver = _Resolver(session, shop)
    resolver.preload({r.platform_id for r in records},
                     {e for r in records if (e := normalize_email(r.email))})
    existed_before = {r.platform_id for r in records
                      if r.platform_id in resolver.customers and r.platform_id not in created}
    for rec in records:
        for what, value in (("created_at", rec.created_at), ("updated_at", rec.updated_at)):
            _aware(value, what, rec.platform_id)
        resolver.customer(rec.platform_id, rec.email, flush=False)
    session.flush()
    seen: set[str] = set()
    for rec in records:
        cust = resolver.customer(rec.platform_id, rec.email)
        existed = rec.platform_id in existed_before or rec.platform_id in seen
        seen.add(rec.platform_id)
        if existed and not _is_newer(rec.updated_at, cust.updated_at):
            stats.stale += 1
            continue
        cust.first_name = rec.first_name
        cust.last_name = rec.last_name
        if rec.accepts_marketing is not None:  # absent fields keep what is stored
            cust.accepts_marketing = rec.accepts_marketing
        if rec.locale is not None:
            cust.locale = rec.locale
        if rec.tags is not None:
            cust.tags = ",".join(rec.tags) if rec.tags else None
        cust.created_at = rec.created_at or cust.created_at
        cust.updated_at = rec.updated_at
        cust.is_guest = False
        stats.updated += existed
        stats.inserted += not existed
    session.flush()
    return stats


def upsert_events(session: Session, shop: Shop, records: Sequence[EventRecord]) -> UpsertStats:
    """Store loyalty-relevant events idempotently by (shop, platform id).

    Stored in bulk (:mod:`stammkunde.core.bulk_people`); the events of a customer whose e-mail
    changes go through the ORM (:func:`_upsert_events_orm`), after the others.
    """
    session.info.pop(LOADED_CUSTOMERS, None)  # (a first load's orders find them in the database)
    for rec in records:
        _aware(rec.occurred_at, "occurred_at", rec.platform_id)
        if not rec.customer_id and not normalize_email(rec.email):
            raise InvalidRecord(f"event {rec.platform_id!r} has neither customer id nor e-mail")
    if not records:
        return UpsertStats()
    inserted, unchanged, slow, ids = store_events(session, shop, records)
    stats = UpsertStats(inserted=inserted, unchanged=unchanged)
    if slow:
        stats += _upsert_events_orm(session, shop, [records[i] for i in slow], ids)
    return stats


def _upsert_events_orm(session: Session, shop: Shop, records: Sequence[EventRecord],
                       numbered: Mapping[str, int] | None = None) -> UpsertStats:
    """Store event records one by one through the ORM; a new event takes its id from
    ``numbered`` (by platform id) if it is there."""
    stats = UpsertStats()
    resolver = _Resolver(session, shop)
    resolver.preload({r.customer_id or f"guest:{normalize_email(r.email)}" for r in records},
                     {e for r in records if (e := normalize_email(r.email))})
    for rec in records:
        _aware(rec.occurred_at, "occurred_at", rec.platform_id)
        if not rec.customer_id and not normalize_email(rec.email):
            raise InvalidRecord(f"event {rec.platform_id!r} has neither customer id nor e-mail")
        resolver.customer(rec.customer_id, rec.email, flush=False)
    session.flush()
    ids = sorted({r.platform_id for r in records})
    existing: dict[str, Event] = {}
    for i in range(0, len(ids), CHUNK):
        existing.update((e.platform_id, e) for e in session.scalars(
            select(Event).where(Event.shop_id == shop.id, Event.platform_id.in_(ids[i : i + CHUNK]))
        ))
    for rec in records:
        cust = resolver.customer(rec.customer_id, rec.email)
        event = existing.get(rec.platform_id)
        if event is None:
            event = Event(shop_id=shop.id, platform_id=rec.platform_id,
                          id=numbered.get(rec.platform_id) if numbered else None)
            session.add(event)
            existing[rec.platform_id] = event
            stats.inserted += 1
        else:
            stats.unchanged += 1
        event.customer_id, event.person_id = cust.id, cust.person_id
        event.kind = rec.kind.strip().lower()
        event.occurred_at = rec.occurred_at
        event.occurred_ts = epoch_seconds(rec.occurred_at)
        event.points = rec.points
    session.flush()
    return stats


def delete_orders(session: Session, shop: Shop, records: Sequence[OrderDeleted]) -> UpsertStats:
    """Mark orders deleted on the platform; they stop counting but are kept for audit.

    Deleting an order that is not stored yet leaves a tombstone, so it arrives already deleted.
    """
    stats = UpsertStats()
    for rec in records:
        when = rec.deleted_at or now()
        result = session.execute(
            update(Order)
            .where(Order.shop_id == shop.id, Order.platform_id == rec.platform_id)
            .values(deleted_at=when)
        )
        if result.rowcount:  # type: ignore[attr-defined]
            stats.deleted += result.rowcount  # type: ignore[attr-defined]
        else:
            tombstone(session, shop, rec.platform_id, when)
            stats.pending += 1
    session.flush()
    return stats


def refund_orders(session: Session, shop: Shop, records: Sequence[RefundRecord]) -> UpsertStats:
    """Store refunds reported on their own; one whose order is not stored yet waits for it."""
    for rec in records:
        if rec.currency is not None and rec.currency.strip().upper() != shop.currency.upper():
            raise InvalidRecord(f"refund {rec.platform_id or ''!r} of order {rec.order_id!r} is in "
                                f"{rec.currency.strip().upper()}, not in the shop's currency "
                                f"{shop.currency.upper()}")
    attached, known, pending = store_refunds(session, shop, records)
    return UpsertStats(updated=attached, unchanged=known, pending=pending)


def store_records(session: Session, shop: Shop, records: Iterable[Record]) -> UpsertStats:
    """Store a mixed batch of canonical records; kinds the store does not keep are counted."""
    groups: dict[type, list[Record]] = {}
    for rec in records:
        groups.setdefault(type(rec), []).append(rec)
    stats = UpsertStats()
    for kind, store in ((CustomerRecord, upsert_customers), (OrderRecord, upsert_orders),
                        (EventRecord, upsert_events), (RefundRecord, refund_orders),
                        (OrderDeleted, delete_orders)):
        if kind in groups:
            stats += store(session, shop, groups.pop(kind))  # type: ignore[operator]
    stats.ignored += sum(len(v) for v in groups.values())
    return stats


def load_cursor(session: Session, shop: Shop, resource: str) -> SyncState | None:
    """Return the stored checkpoint of a sync, if any."""
    return session.get(SyncState, (shop.id, resource))


def save_cursor(
    session: Session, shop: Shop, resource: str, cursor: str | None, *, done: int = 0,
    high_water: datetime | None = None,
) -> None:
    """Store the checkpoint reached by a sync, in the same transaction as its data."""
    state = session.get(SyncState, (shop.id, resource))
    if state is None:
        state = SyncState(shop_id=shop.id, resource=resource, done=0)
        session.add(state)
    state.cursor = cursor
    state.done = (state.done or 0) + done
    if high_water is not None:
        state.high_water = high_water
    state.updated_at = now()
