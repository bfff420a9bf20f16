"""A synthetic demo shop: realistic, reproducible orders, customers and events for a tour.

The purchase process follows the BG/NBD story: each customer buys at their own Poisson rate
(``Gamma(r, alpha)`` across customers) and, after every purchase, drops out for good with their own
probability (``Beta(a, b)``). Order values follow Gamma-Gamma: each customer has a typical spend,
their orders scatter around it. Time runs through a seasonal calendar (Black Friday, Christmas,
summer lull) in the shop's time zone, so cohorts and monthly numbers look like a real European shop.

The same seed always yields byte-identical records; the window is the two years that end on
:data:`DEMO_END`, whatever the wall clock says, so a report as of ``DEMO_END`` is reproducible.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

import numpy as np
from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session, sessionmaker

from stammkunde.core.demo_calendar import (
    CHANNEL_SHARES,
    CHANNELS,
    CODE_PERCENT,
    DEMO_AS_OF,
    DEMO_END,
    DEMO_START,
    DEMO_TZ,
    GUEST_CHANNEL_SHARES,
    Calendar,
    seasonal_code,
)
from stammkunde.core.demo_people import name_and_email, vary_case
from stammkunde.core.models import (
    Campaign,
    Customer,
    Event,
    Order,
    OrderDiscount,
    OrderLine,
    Person,
    Shop,
    SyncState,
)
from stammkunde.core.models import Refund as RefundRow
from stammkunde.core.offer_models import (
    MarketingOptOut,
    SimulatedCustomerField,
    SimulatedCustomerTag,
    SimulatedDiscount,
)
from stammkunde.core.records import (
    CustomerRecord,
    EventRecord,
    OrderRecord,
    OrderStatus,
    Record,
    Refund,
)
from stammkunde.core.shops import create_shop
from stammkunde.core.store import store_records

__all__ = ["DEMO_AS_OF", "DEMO_END", "DEMO_START", "DEMO_TZ", "DemoData", "LoadedDemo", "Params",
           "generate_demo", "load_demo"]

CURRENCY = "EUR"
BATCH = 1000
STAFF_ID = "cus_staff"
STAFF_EMAIL = "shop-team@stammkunde-demo.example"
#: The demo shop runs on the built-in simulated platform (codes, tags and fields kept locally).
PLATFORM = "simulated"


def demo_locale(customer_id: str) -> str:
    """Return a demo customer's language: one in five writes English, the rest German."""
    digest = hashlib.sha256(customer_id.encode()).digest()
    return "en" if digest[0] % 5 == 0 else "de"


@dataclass(frozen=True)
class Params:
    """Parameters of the synthetic shop (rates per day of a season-free calendar)."""

    r: float = 0.4  # BG/NBD: shape of the purchase-rate distribution
    alpha: float = 120.0  # BG/NBD: scale (days) of the purchase-rate distribution
    a: float = 1.0  # BG/NBD: dropout probability ~ Beta(a, b)
    b: float = 3.0
    spend_p: float = 6.0  # Gamma-Gamma: shape of one order's value around the customer's mean
    spend_q: float = 4.0  # Gamma-Gamma: shape of the customers' spend rates
    spend_gamma: float = 35.0  # Gamma-Gamma: scale; mean order value = p * gamma / (q - 1)
    min_order_cents: int = 490
    growth: float = 0.5  # acquisition at the end of the window is 1.5x the start
    guest_share: float = 0.15
    merge_share: float = 0.006  # account holders who also check out as a guest (other spelling)
    same_channel: float = 0.75  # later orders stay in the first order's channel this often
    marketing_share: float = 0.45
    welcome_share: float = 0.55  # newsletter sign-ups who redeem WELCOME10 on their first order
    loyalty_code_share: float = 0.03
    lower_case_code_share: float = 0.05
    cancel_share: float = 0.02
    refund_share: float = 0.07
    full_refund_share: float = 0.55
    review_share: float = 0.10
    referral_share: float = 0.03
    test_orders: int = 5


@dataclass(frozen=True)
class DemoData:
    """The generated shop: canonical records, ready for :func:`store.store_records`."""

    customers: list[CustomerRecord]
    orders: list[OrderRecord]
    events: list[EventRecord]
    seed: int
    people: int

    def records(self) -> Iterator[Record]:
        """Yield every record: customers first, then orders, then events."""
        yield from self.customers
        yield from self.orders
        yield from self.events


def _money(cents: int) -> Decimal:
    return Decimal(int(cents)).scaleb(-2)


@dataclass
class _Person:
    """One buying human while the generator runs."""

    index: int
    customer_id: str | None
    email: str
    first: str
    last: str
    channel: str
    marketing: bool
    times: list[datetime]


def _purchase_times(rng: np.random.Generator, n: int, p: Params, days: float) -> list[np.ndarray]:
    """Simulate BG/NBD purchase times (operational days from the window start) per customer."""
    u = rng.random(n)
    g = p.growth
    first = days * (np.sqrt(1.0 + g * (2.0 + g) * u) - 1.0) / g
    rate = rng.gamma(p.r, 1.0 / p.alpha, n)
    dropout = rng.beta(p.a, p.b, n)
    times: list[list[float]] = [[t] for t in first]
    current = first.copy()
    active = np.ones(n, dtype=bool)
    while active.any():
        idx = np.flatnonzero(active)
        drops = rng.random(idx.size) < dropout[idx]
        gaps = rng.exponential(1.0, idx.size) / rate[idx]
        nxt = current[idx] + gaps
        keep = ~drops & (nxt < days)
        for i, t in zip(idx[keep], nxt[keep], strict=True):
            times[i].append(float(t))
        current[idx] = nxt
        active[idx] = keep
    return [np.asarray(t) for t in times]


def generate_demo(customers: int = 5000, seed: int = 42, params: Params | None = None) -> DemoData:
    """Return a reproducible synthetic shop with ``customers`` buying people."""
    if customers < 1:
        raise ValueError("the demo shop needs at least one customer")
    p = params or Params()
    rng = np.random.default_rng(seed)
    cal = Calendar(DEMO_START, DEMO_END)
    op_times = _purchase_times(rng, customers, p, float(cal.days))
    spend_rate = rng.gamma(p.spend_q, 1.0 / p.spend_gamma, customers)
    guest = rng.random(customers) < p.guest_share
    used_emails: set[str] = set()
    people: list[_Person] = []
    account_no = 0
    flat = np.concatenate(op_times)
    sizes = np.array([t.size for t in op_times])
    channel_draw = rng.random(flat.size)
    stamps = np.split(np.arange(flat.size), np.cumsum(sizes)[:-1])
    # Account numbers follow the order in which people first bought, as a shop numbers them.
    for i in sorted(range(customers), key=lambda i: (float(op_times[i][0]), i)):
        first, last, email = name_and_email(rng, used_emails)
        shares = GUEST_CHANNEL_SHARES if guest[i] else CHANNEL_SHARES
        first_channel = CHANNELS[int(np.searchsorted(np.cumsum(shares), rng.random()))]
        cid = None
        if not guest[i]:
            account_no += 1
            cid = f"cus_{account_no:06d}"
        people.append(_Person(i, cid, email, first, last, first_channel,
                              bool(not guest[i] and rng.random() < p.marketing_share), []))
    people.sort(key=lambda x: x.index)
    # One entry per purchase: (instant, person, k-th purchase of that person, channel)
    raw: list[tuple[datetime, int, int, str]] = []
    for person in people:
        for k, j in enumerate(stamps[person.index]):
            channel = person.channel
            if k > 0 and channel_draw[j] >= p.same_channel:
                shares = GUEST_CHANNEL_SHARES if person.customer_id is None else CHANNEL_SHARES
                channel = CHANNELS[int(np.searchsorted(np.cumsum(shares), rng.random()))]
            at = cal.instant(float(flat[j]), store=channel == "pos")
            person.times.append(at)
            raw.append((at, person.index, k, channel))
    raw.sort()
    values = rng.gamma(p.spend_p, 1.0, len(raw))
    return _Builder(rng, p, people).build(raw, values, spend_rate, seed)


class _Builder:
    """Turn simulated purchases into canonical records (codes, refunds, events, oddities)."""

    def __init__(self, rng: np.random.Generator, p: Params, people: list[_Person]) -> None:
        self.rng = rng
        self.p = p
        self.people = people
        self.orders: list[OrderRecord] = []
        self.events: list[EventRecord] = []
        self.last_touch: dict[str, datetime] = {}

    def _event(self, kind: str, at: datetime, person: _Person) -> None:
        if at < DEMO_END:
            self.events.append(EventRecord(
                platform_id="", kind=kind, occurred_at=at.replace(microsecond=0),
                customer_id=person.customer_id,
                email=None if person.customer_id else person.email))

    def _code(self, k: int, at: datetime, welcome: bool) -> str | None:
        """Return the discount code of a person's k-th order at this instant, if any."""
        code = None
        if k == 0 and welcome:
            code = "WELCOME10"
        else:
            code = seasonal_code(at, self.rng.random())
            if code is None and k > 0 and self.rng.random() < self.p.loyalty_code_share:
                code = "STAMMKUNDE5"
        if code is not None and self.rng.random() < self.p.lower_case_code_share:
            code = code.lower()
        return code

    def build(self, raw: list[tuple[datetime, int, int, str]], values: np.ndarray,
              spend_rate: np.ndarray, seed: int) -> DemoData:
        """Return the records for purchases (instant, person, k-th purchase, channel)."""
        rng, p = self.rng, self.p
        welcome: dict[int, bool] = {}
        for person in self.people:
            if person.customer_id is None:
                continue
            if person.marketing:
                welcome[person.index] = bool(rng.random() < p.welcome_share)
                before = timedelta(minutes=float(rng.uniform(1, 45)))
                later = timedelta(days=float(rng.uniform(2, 120)))
                at = person.times[0] - before if welcome[person.index] else person.times[0] + later
                self._event("newsletter", at.replace(microsecond=0), person)
            self._event("signup", person.times[0] - timedelta(minutes=3), person)
        # A few account holders later check out as a guest, typing their e-mail differently.
        regulars = [x.index for x in self.people if x.customer_id is not None and len(x.times) > 1]
        accounts = sum(1 for x in self.people if x.customer_id is not None)
        count = min(len(regulars), max(3, round(p.merge_share * accounts)))
        merge_from = {regulars[int(i)] for i in rng.permutation(len(regulars))[:count]}
        for n, (at, idx, k, channel) in enumerate(raw):
            person = self.people[idx]
            cents = max(p.min_order_cents, round(float(values[n]) / spend_rate[idx] * 100))
            code = self._code(k, at, welcome.get(idx, False))
            if code is not None:
                pct = CODE_PERCENT[code.upper()]
                cents = (cents * (100 - pct) + 50) // 100
            email = person.email
            cid = person.customer_id
            if person.customer_id is None and k > 0 and rng.random() < 0.3:
                email = vary_case(rng, email)
            if idx in merge_from and k == len(person.times) - 1:
                cid, email = None, vary_case(rng, email, force=True)
            self._order(at, cents, channel, cid, email, (code,) if code else (),
                        f"{person.first} {person.last}")
            if rng.random() < p.review_share:
                self._event("review", at + timedelta(days=float(rng.uniform(4, 30))), person)
        self._referrals()
        self._test_orders()
        self._number()
        self._finish_orders()
        customers = self._customer_records()
        return DemoData(customers=customers, orders=self.orders, events=self.events, seed=seed,
                        people=len(self.people))

    def _order(self, at: datetime, cents: int, channel: str, cid: str | None, email: str,
               codes: tuple[str, ...], name: str | None, *, is_test: bool = False) -> None:
        self.orders.append(OrderRecord(
            platform_id="", created_at=at, total=_money(cents), currency=CURRENCY,
            customer_id=cid, email=email, discount_codes=codes, channel=channel, is_test=is_test,
            customer_name=name, updated_at=at))

    def _number(self) -> None:
        """Number orders and events in time order, as a shop's counter does."""
        self.orders = [replace(o, platform_id=str(1001 + n)) for n, o in enumerate(
            sorted(self.orders, key=lambda o: o.created_at))]
        self.events = [replace(e, platform_id=f"ev_{n + 1:07d}") for n, e in enumerate(
            sorted(self.events, key=lambda e: e.occurred_at))]

    def _finish_orders(self) -> None:
        """Cancel some orders, refund some others; set ``updated_at`` to the last change."""
        rng, p = self.rng, self.p
        done: list[OrderRecord] = []
        for order in self.orders:
            draw = rng.random()
            changed = order
            if not order.is_test and draw < p.cancel_share:
                when = order.created_at + timedelta(minutes=float(rng.uniform(10, 2880)))
                if when < DEMO_END:
                    when = when.replace(microsecond=0)
                    changed = replace(order, status=OrderStatus.CANCELLED, cancelled_at=when,
                                       updated_at=when)
            elif not order.is_test and draw < p.cancel_share + p.refund_share:
                changed = self._refund(order)
            done.append(changed)
            key = order.customer_id or order.email or ""
            self.last_touch[key] = max(self.last_touch.get(key, changed.updated_at or DEMO_START),
                                       changed.updated_at or DEMO_START)
        self.orders = done

    def _refund(self, order: OrderRecord) -> OrderRecord:
        rng = self.rng
        when = (order.created_at + timedelta(days=float(rng.uniform(2, 21)))).replace(microsecond=0)
        full = rng.random() < self.p.full_refund_share
        total_cents = int(order.total.scaleb(2))
        part = rng.uniform(0.15, 0.6)
        if when >= DEMO_END:
            return order
        cents = total_cents if full else max(100, min(total_cents, round(total_cents * part)))
        status = OrderStatus.REFUNDED if cents == total_cents else OrderStatus.PAID
        refund = Refund(amount=_money(cents), created_at=when,
                        platform_id=f"re_{order.platform_id}")
        return replace(order, status=status, refunds=(refund,), updated_at=when)

    def _referrals(self) -> None:
        """Some account holders refer a later customer: a referral event at that first order."""
        rng = self.rng
        by_start = sorted(self.people, key=lambda x: (x.times[0], x.index))
        starts = [x.times[0] for x in by_start]
        for referrer in self.people:
            if referrer.customer_id is None or rng.random() >= self.p.referral_share:
                continue
            later = bisect_right(starts, referrer.times[0])
            if later < len(by_start):
                friend = by_start[int(rng.integers(later, len(by_start)))]
                self._event("referral", friend.times[0] + timedelta(minutes=1), referrer)

    def _test_orders(self) -> None:
        """Shop staff test the checkout: at launch, and after a payment provider change."""
        rng = self.rng
        launch = DEMO_START + timedelta(hours=9)
        moments = [launch + timedelta(hours=3 * i) for i in range(3)]
        moments += [DEMO_START + timedelta(days=400, hours=10 + i) for i in range(2)]
        for at in moments[: self.p.test_orders]:
            self._order(at, int(rng.integers(100, 2000)), "online", STAFF_ID, STAFF_EMAIL,
                        (), "Shop Team", is_test=True)

    def _customer_records(self) -> list[CustomerRecord]:
        out: list[CustomerRecord] = []
        for person in self.people:
            if person.customer_id is None:
                continue
            created = (person.times[0] - timedelta(minutes=3)).replace(microsecond=0)
            touched = self.last_touch.get(person.customer_id, created)
            out.append(CustomerRecord(
                platform_id=person.customer_id, email=person.email, created_at=created,
                updated_at=max(created, touched), first_name=person.first, last_name=person.last,
                accepts_marketing=person.marketing, locale=demo_locale(person.customer_id)))
        start = DEMO_START + timedelta(hours=8)
        out.append(CustomerRecord(platform_id=STAFF_ID, email=STAFF_EMAIL, created_at=start,
                                  updated_at=start, first_name="Shop", last_name="Team",
                                  accepts_marketing=False, tags=("staff",)))
        return sorted(out, key=lambda c: c.platform_id)


@dataclass(frozen=True)
class LoadedDemo:
    """What :func:`load_demo` stored."""

    shop: str
    customers: int
    orders: int
    events: int
    seed: int


def _delete_shop(session: Session, name: str) -> None:
    """Remove a shop with every row scoped to it, and persons nobody else refers to."""
    shop_id = session.scalar(select(Shop.id).where(Shop.name == name))
    if shop_id is None:
        return
    orders = select(Order.id).where(Order.shop_id == shop_id).scalar_subquery()
    persons = [row[0] for row in session.execute(
        select(Customer.person_id).where(Customer.shop_id == shop_id).distinct())]
    # campaigns first: their assignments and deliveries refer to customers (database cascade)
    for scoped in (Campaign, MarketingOptOut, SimulatedDiscount, SimulatedCustomerTag,
                   SimulatedCustomerField):
        session.execute(delete(scoped).where(scoped.shop_id == shop_id))
    for child in (RefundRow, OrderDiscount, OrderLine):
        session.execute(delete(child).where(child.order_id.in_(orders)))
    for table in (Order, Event, SyncState, Customer):
        session.execute(delete(table).where(table.shop_id == shop_id))
    session.execute(delete(Shop).where(Shop.id == shop_id))
    for i in range(0, len(persons), BATCH):
        chunk = persons[i : i + BATCH]
        session.execute(delete(Person).where(
            Person.id.in_(chunk),
            ~exists().where(Customer.person_id == Person.id),
            ~exists().where(Order.person_id == Person.id),
            ~exists().where(Event.person_id == Person.id),
        ))


def load_demo(
    factory: sessionmaker[Session],
    shop_name: str = "demo",
    customers: int = 5000,
    seed: int = 42,
    progress: Callable[[int, int], None] | None = None,
) -> LoadedDemo:
    """Create (or replace) the demo shop and store a generated history in one transaction."""
    data = generate_demo(customers, seed)
    batches = [data.customers[i : i + BATCH] for i in range(0, len(data.customers), BATCH)]
    batches += [data.orders[i : i + BATCH] for i in range(0, len(data.orders), BATCH)]
    batches += [data.events[i : i + BATCH] for i in range(0, len(data.events), BATCH)]
    with factory() as session, session.begin():
        _delete_shop(session, shop_name)
        shop = create_shop(session, shop_name, PLATFORM, currency=CURRENCY,
                           timezone=DEMO_TZ.key,
                           settings={"demo": {"customers": customers, "seed": seed}})
        done = 0
        for batch in batches:
            store_records(session, shop, batch)
            done += len(batch)
            if progress is not None:
                progress(done, sum(len(b) for b in batches))
            session.expunge_all()
            shop = session.merge(shop, load=False)
    return LoadedDemo(shop=shop_name, customers=len(data.customers), orders=len(data.orders),
                      events=len(data.events), seed=seed)
