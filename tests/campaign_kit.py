"""Helpers for the campaign tests: a recording fake platform with discounts and tags."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy.orm import Session, sessionmaker

from stammkunde.core.models import Shop
from stammkunde.core.records import CustomerRecord, OrderRecord
from stammkunde.core.shops import create_shop
from stammkunde.core.store import store_records
from stammkunde.plugins import hookimpl
from stammkunde.plugins.adapter import (
    Capability,
    DiscountOffer,
    DiscountResult,
    DiscountTarget,
    PlatformAdapter,
    ShopConnection,
)
from stammkunde.plugins.manager import Plugins, plugins_for_test
from tests.factories import at


class Crash(RuntimeError):
    """The fake platform's simulated failure."""


@dataclass
class FakePlatform:
    """What the shop holds: codes (case-insensitive, like the platforms) and customer tags."""

    codes: dict[str, set[str]] = field(default_factory=dict)
    created: Counter[str] = field(default_factory=Counter)
    tags: dict[str, set[str]] = field(default_factory=dict)
    calls: list[tuple[str, int]] = field(default_factory=list)
    offers: list[DiscountOffer] = field(default_factory=list)


class FakeShopAdapter(PlatformAdapter):
    """Creates codes idempotently (``exists`` for a known code) and can crash on a given call.

    ``crash_on`` is the 1-based number of the call that fails: ``mode="before"`` fails before
    doing anything, ``"lost"`` creates the batch's codes and then fails before answering (the
    answer is lost), ``"midway"`` creates and answers the first target and then fails.
    """

    name = "fakeshop"
    display_name = "Fake shop"
    capabilities = frozenset({Capability.DISCOUNTS, Capability.TAGS})

    def __init__(self, platform: FakePlatform | None = None, *, crash_on: int | None = None,
                 mode: str = "lost", fail: Iterable[str] = ()) -> None:
        self.platform = platform or FakePlatform()
        self.crash_on = crash_on
        self.mode = mode
        self.fail = set(fail)
        self.n_calls = 0

    def _call(self, what: str, size: int) -> bool:
        self.n_calls += 1
        self.platform.calls.append((what, size))
        return self.crash_on is not None and self.n_calls == self.crash_on

    def _create(self, offer: DiscountOffer, t: DiscountTarget) -> DiscountResult:
        if t.customer_id in self.fail:
            return DiscountResult(t.customer_id, t.code, "failed", reason="customer is blocked")
        key = t.code.casefold()
        holders = self.platform.codes.get(key)
        if holders is not None and (offer.shared_code is None or t.customer_id in holders):
            return DiscountResult(t.customer_id, t.code, "exists", platform_id=key)
        if holders is None:
            self.platform.codes[key] = set()
            self.platform.created[key] += 1
        self.platform.codes[key].add(t.customer_id)
        return DiscountResult(t.customer_id, t.code, "created", platform_id=key)

    def push_discounts(self, shop: ShopConnection, offer: DiscountOffer,
                       targets: Sequence[DiscountTarget]) -> Iterator[DiscountResult]:
        """Create codes; crash as configured."""
        crash = self._call("push_discounts", len(targets))
        self.platform.offers.append(offer)
        if crash and self.mode == "before":
            raise Crash("connection reset before the request")
        results = []
        for t in targets:
            results.append(self._create(offer, t))
            if crash and self.mode == "midway":
                yield from results
                raise Crash("connection reset mid-batch")
        if crash and self.mode == "lost":
            raise Crash("connection reset after the request")
        yield from results

    def tag_customers(self, shop: ShopConnection, tag: str, customer_ids: Iterable[str], *,
                      remove: bool = False) -> dict[str, str]:
        """Add a tag to each customer."""
        ids = list(customer_ids)
        crash = self._call("tag_customers", len(ids))
        for cid in ids:
            self.platform.tags.setdefault(cid, set()).add(tag)
        if crash:
            raise Crash("connection reset after tagging")
        return {cid: "ok" for cid in ids}


class NoDiscountAdapter(PlatformAdapter):
    """A platform that can import but not create discounts."""

    name = "plainshop"
    capabilities = frozenset({Capability.IMPORT_FILE})


class NoTagAdapter(FakeShopAdapter):
    """Discounts but no tags."""

    name = "notagshop"
    capabilities = frozenset({Capability.DISCOUNTS})


class FakePlugin:
    """A plugin registering the fake adapters (the adapter object can be swapped per run)."""

    def __init__(self, adapter: FakeShopAdapter) -> None:
        self.adapter = adapter

    @hookimpl
    def register_platforms(self, register) -> None:  # type: ignore[no-untyped-def]
        register(self.adapter)
        register(NoDiscountAdapter())
        register(NoTagAdapter(self.adapter.platform))


@contextmanager
def fake_plugins(adapter: FakeShopAdapter) -> Iterator[Plugins]:
    """Install only the built-ins and the fake platforms for the duration of a test."""
    with plugins_for_test(FakePlugin(adapter)) as plugins:
        yield plugins


def make_shop(sessions: sessionmaker[Session], name: str = "shop",
              platform: str = "fakeshop") -> int:
    """Create a shop and return its id."""
    with sessions() as s, s.begin():
        return create_shop(s, name, platform).id


def add_people(sessions: sessionmaker[Session], shop_name: str,
               people: Sequence[tuple[str, str, Sequence[tuple[str, str]]]], *,
               optout: Iterable[str] = ()) -> dict[str, int]:
    """Store customers (id, e-mail, [(order time, total)…]); return customer id → person id."""
    from sqlalchemy import select

    from stammkunde.core.models import Customer
    from stammkunde.core.store import get_shop

    records: list[CustomerRecord | OrderRecord] = []
    opt = set(optout)
    for cid, email, orders in people:
        records.append(CustomerRecord(platform_id=cid, email=email,
                                      accepts_marketing=False if cid in opt else None))
        for i, (when, total) in enumerate(orders):
            records.append(OrderRecord(platform_id=f"{cid}-o{i}", created_at=at(when),
                                       total=Decimal(total), currency="EUR", status="paid",
                                       customer_id=cid, email=email))
    with sessions() as s, s.begin():
        shop = get_shop(s, shop_name)
        store_records(s, shop, records)
        rows = s.execute(select(Customer.platform_id, Customer.person_id)
                         .where(Customer.shop_id == shop.id))
        return {pid: person for pid, person in rows}


def shop_of(session: Session, name: str) -> Shop:
    """Return a shop by name."""
    from stammkunde.core.store import get_shop

    return get_shop(session, name)


def instant(text: str) -> datetime:
    """Parse an ISO instant."""
    return at(text)
