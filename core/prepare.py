"""Order records checked and turned into the store's row values, without a database.

Everything here works on plain records and values, so a worker process can prepare a file's orders
for :func:`stammkunde.core.store.store_prepared` with nothing but this module loaded (no
SQLAlchemy, no plugins).
"""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from stammkunde.core.errors import InvalidRecord
from stammkunde.core.identity import normalize_email
from stammkunde.core.money import to_units
from stammkunde.core.records import OrderRecord, OrderStatus
from stammkunde.core.timeutil import epoch_seconds, zone

STATUS = {s: s.value for s in OrderStatus} | {s.value: s.value for s in OrderStatus}
#: The cyclic garbage collector's thresholds while a load runs. A load keeps a few batches of
#: small objects alive (records, row tuples, a worker's unpickled answer), none of them in a
#: cycle; Python's default (700, 10, 10) scans them again every few hundred allocations, which
#: tripled the cost of unpickling a worker's batch (3.1 against 1.1 µs an order, measured).
LOAD_GC_THRESHOLD = (50_000, 50, 100)


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Run the cyclic garbage collector less often while a load runs (usable as a decorator)."""
    before = gc.get_threshold()
    gc.set_threshold(*LOAD_GC_THRESHOLD)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def _aware(value: datetime | None, what: str, pid: str) -> None:
    if value is not None and value.tzinfo is not UTC and (
            value.tzinfo is None or value.utcoffset() is None):
        raise InvalidRecord(f"{what} of {pid!r} is a naive datetime; times must be aware UTC")


def check_currency(rec: OrderRecord, shop_currency: str) -> None:
    """Raise InvalidRecord naming the currency when an order is not in the shop's currency."""
    if rec.currency == shop_currency:
        return
    currency = (rec.currency or "").strip().upper()
    if currency != shop_currency.strip().upper():
        raise InvalidRecord(f"order {rec.platform_id!r} is in {currency or '(no currency)'}, "
                            f"not in the shop's currency {shop_currency.upper()}")


STATUSES = frozenset(s.value for s in OrderStatus)


def validate_order(rec: OrderRecord, shop_currency: str | None = None) -> None:
    """Raise InvalidRecord when an order breaks the canonical model's rules.

    With ``shop_currency`` the order must also be in that currency (:func:`check_currency`).
    """
    pid = rec.platform_id
    if not pid:
        raise InvalidRecord("order without platform id")
    if shop_currency is not None:
        check_currency(rec, shop_currency)
    _aware(rec.created_at, "created_at", pid)
    _aware(rec.updated_at, "updated_at", pid)
    _aware(rec.cancelled_at, "cancelled_at", pid)
    total = rec.total
    if not isinstance(total, Decimal) or not total.is_finite():
        raise InvalidRecord(f"total of order {pid!r} must be a finite Decimal")
    if total < 0:
        raise InvalidRecord(f"total of order {pid!r} is negative ({total})")
    if rec.refunds:
        refunded = Decimal(0)
        for refund in rec.refunds:
            _aware(refund.created_at, "refund created_at", pid)
            if not isinstance(refund.amount, Decimal) or refund.amount < 0:
                raise InvalidRecord(f"refund of order {pid!r} must be a non-negative Decimal")
            refunded += refund.amount
        if refunded > total:
            raise InvalidRecord(f"order {pid!r} refunds {refunded} of a total of {total}")
    if rec.status not in STATUSES:
        raise InvalidRecord(f"order {pid!r} has an unknown status {rec.status!r}")


def attributable(rec: OrderRecord) -> bool:
    """Return True when an order names its buyer (an account id or an e-mail).

    An order without either (a walk-in sale at the till) cannot belong to any customer: the store
    counts it as ``unattributed`` and keeps it out of every per-customer metric, the same for
    every platform.
    """
    return bool(rec.customer_id) or normalize_email(rec.email) is not None


def _is_newer(incoming: datetime | None, stored: datetime | None) -> bool:
    """Incoming wins unless both are versioned and the stored one is as new or newer."""
    return incoming is None or stored is None or incoming > stored


def _instant(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def fingerprint(rec: OrderRecord) -> str:
    """Return a digest of everything an order record says, to recognise an unchanged re-delivery.

    Instants enter as epoch seconds: two records that name the same instants in different time
    zones say the same thing. (A test changes each field of OrderRecord and expects a new
    digest, so a field added later cannot be forgotten here.)
    """
    said = (
        rec.platform_id, rec.created_at.timestamp(), str(rec.total), rec.currency,
        str(rec.status), _instant(rec.updated_at), rec.customer_id, rec.email,
        tuple((str(r.amount), r.created_at.timestamp(), r.platform_id) for r in rec.refunds)
        if rec.refunds else (),
        rec.discount_codes, rec.channel, rec.is_test, _instant(rec.cancelled_at),
        tuple((li.quantity, str(li.price), li.sku, li.product_id, li.title)
              for li in rec.line_items) if rec.line_items else (),
        rec.customer_name,
    )
    return hashlib.blake2b(repr(said).encode(), digest_size=16).hexdigest()


def when_text(value: datetime | None) -> str | None:
    """Return an aware instant as stored: naive UTC text in SQLAlchemy's format, which both
    databases read (PostgreSQL parses it into the timestamp column)."""
    if value is None:
        return None
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:26]  # drop "+00:00"


@dataclass
class PreparedOrders:
    """Order records checked and turned into the store's row values, without a database.

    Built by :func:`prepare_orders` and stored by
    :func:`stammkunde.core.store.store_prepared`. It holds plain lists of strings and numbers, so a
    worker process can build it and hand it over cheaply. Order ``i`` is ``records[index[i]]``
    of the records it was prepared from (attributable, the latest version of its id).
    """

    currency: str
    timezone: str
    unattributed: int = 0
    #: None of these orders was in an earlier batch of the same load (the reader refuses a
    #: repeated id), so during a first load none of them can be stored already.
    first_seen: bool = False
    index: list[int] = field(default_factory=list)
    pids: list[str] = field(default_factory=list)
    fingerprints: list[str] = field(default_factory=list)
    #: (customer key, normalised e-mail, e-mail as given without spaces, is a guest)
    people: list[tuple[str, str | None, str | None, bool]] = field(default_factory=list)
    #: the order row from ``created_at`` on (ORDER_COLUMNS after shop, platform, customer, person)
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    #: order i -> (refunds, discount codes, lines), rows without the order id
    extras: dict[int, tuple[list[tuple[Any, ...]], ...]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.pids)


def prepare_rows(prepared: PreparedOrders, records: Sequence[OrderRecord]) -> None:
    """Append the rows of validated, attributable records (one per id) with their fingerprints
    already in ``prepared.fingerprints``."""
    tz = zone(prepared.timezone)
    utc_shop = tz.key == "UTC"
    cancelled_status = OrderStatus.CANCELLED
    fingerprints = prepared.fingerprints
    rows, people, pids, extras = prepared.rows, prepared.people, prepared.pids, prepared.extras
    for rec in records:
        i = len(pids)
        pids.append(rec.platform_id)
        email = normalize_email(rec.email) if rec.email else None
        people.append((rec.customer_id or f"guest:{email}", email,
                       rec.email.strip() if rec.email else None, rec.customer_id is None))
        created = rec.created_at
        cancelled = rec.cancelled_at
        if cancelled is None and rec.status == cancelled_status:
            cancelled = rec.updated_at or created
        if rec.refunds:
            refunded = sum(to_units(r.amount) for r in rec.refunds)
            refund_ts: int | None = max(int(r.created_at.timestamp()) for r in rec.refunds)
        else:
            refunded, refund_ts = 0, None
        local = created if utc_shop and created.tzinfo is UTC else created.astimezone(tz)
        channel = rec.channel
        rows.append((
            when_text(created), int(created.timestamp()), local.year * 12 + local.month - 1,
            when_text(rec.updated_at), STATUS[rec.status], rec.is_test,
            int(cancelled.timestamp()) if cancelled else None, rec.currency.upper(),
            to_units(rec.total), (channel.strip().lower() or "online") if channel else "online",
            fingerprints[i], refunded, refund_ts,
        ))
        if rec.refunds or rec.discount_codes or rec.line_items:
            extras[i] = (
                [(r.platform_id, to_units(r.amount), epoch_seconds(r.created_at))
                 for r in rec.refunds],
                [(c.strip(), c.strip().casefold())
                 for c in dict.fromkeys(rec.discount_codes) if c.strip()],
                [(li.quantity, to_units(li.price), li.sku, li.product_id, li.title)
                 for li in rec.line_items],
            )


def prepare_orders(records: Sequence[OrderRecord], currency: str, timezone: str) -> PreparedOrders:
    """Check order records for a shop of this currency and time zone and turn them into the
    store's row values (no database needed: a worker process may do it).

    Raises InvalidRecord for a record that breaks the canonical model's rules
    (:func:`validate_order`). An order without buyer is only counted (``unattributed``); of two
    versions of one order in the records the newer one is kept.
    """
    for rec in records:
        validate_order(rec, currency)
    prepared = PreparedOrders(currency=currency, timezone=timezone)
    latest: dict[str, int] = {}
    for j, rec in enumerate(records):
        if not attributable(rec):
            prepared.unattributed += 1
            continue
        seen = latest.get(rec.platform_id)  # a batch may itself hold two versions of one order
        if seen is None or _is_newer(rec.updated_at, records[seen].updated_at):
            latest[rec.platform_id] = j
    prepared.index = list(latest.values())
    chosen = [records[j] for j in prepared.index]
    prepared.fingerprints = [fingerprint(r) for r in chosen]
    prepare_rows(prepared, chosen)
    return prepared


