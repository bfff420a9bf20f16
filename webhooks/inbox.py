"""The durable inbox: store a verified delivery once, then process it into the core.

Storing and processing are separate transactions. A delivery is acknowledged only after its inbox
row is committed; processing (adapter ``parse_webhook`` → core upsert or privacy action) runs
afterwards, in the request (inline) or in ``stammkunde inbox work``. A delivery that cannot be
processed is marked ``failed`` with an error that names no person, and stays for
``stammkunde inbox replay``. A processed delivery keeps its key and outcome but drops its body.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import time
import traceback
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    ARRAY,
    JSON,
    BigInteger,
    Engine,
    LargeBinary,
    Select,
    bindparam,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from stammkunde.core.bulk import LOADED_TABLES, refresh_statistics
from stammkunde.core.errors import UserError
from stammkunde.core.freshness import mark_stale
from stammkunde.core.inbox_models import InboxDelivery, InboxStatus
from stammkunde.core.models import Shop, UTCDateTime
from stammkunde.core.privacy import apply_privacy, is_privacy_record
from stammkunde.core.records import OrderDeleted, OrderRecord, Record, RefundRecord
from stammkunde.core.shops import normalize_domain
from stammkunde.core.store import store_records
from stammkunde.core.timeutil import now
from stammkunde.plugins.adapter import PlatformAdapter, ShopConnection, WebhookEnvelope
from stammkunde.plugins.ingest import parse_delivery, webhook_connection
from stammkunde.plugins.manager import PluginError, Plugins

log = logging.getLogger("stammkunde.webhooks")

EMAIL = re.compile(r"[^\s@'\"<>()]+@[^\s@'\"<>()]+")
MAX_ERROR = 500
UNAVAILABLE = (OperationalError, InterfaceError, PoolTimeout)
BATCH = 200  # deliveries per transaction when working off the inbox
#: A processor refreshes PostgreSQL's planner statistics after this many deliveries, then after
#: every ``ANALYZE_EVERY`` more (see :meth:`Processor.refresh_statistics`).
ANALYZE_FIRST = 1_000
ANALYZE_EVERY = 20_000
#: The tables a worked-off backlog grows: their statistics are refreshed.
GROWN_TABLES = (*LOADED_TABLES, "webhook_inbox")
SKIPPED = "skipped"  # process() found nothing to do: already processed, or no such delivery


class ProcessingError(UserError):
    """A delivery cannot be processed for a reason the merchant can fix (e.g. unknown shop)."""


def find_shop(session: Session, platform: str, domain: str | None) -> Shop | None:
    """Return the platform's shop whose domain matches (case, scheme and slash ignored)."""
    key = normalize_domain(domain)
    if not key:
        return None
    variants = [f"{scheme}{key}{slash}" for scheme in ("", "https://", "http://")
                for slash in ("", "/")]
    shops = session.scalars(
        select(Shop).where(Shop.platform == platform, func.lower(Shop.domain).in_(variants))
        .order_by(Shop.id)
    ).all()
    return shops[0] if shops else None


def safe_error(exc: BaseException) -> str:
    """Describe a processing error without personal data.

    Our own errors (``UserError``) carry messages written to name fields and ids, not people;
    they are kept with e-mail addresses masked. Any other exception's message may quote the
    payload, so only its type and where it was raised are kept (for a plugin's crash, which the
    plugin manager wraps in a ``PluginError``, those of the plugin's own exception).
    """
    if isinstance(exc, PluginError) and exc.__cause__ is not None:
        exc = exc.__cause__
    if isinstance(exc, UserError) and not isinstance(exc, PluginError):
        text = f"{type(exc).__name__}: {exc}"
    else:
        frames = traceback.extract_tb(exc.__traceback__)
        where = ""
        if frames:
            last = frames[-1]
            where = f" in {os.path.basename(last.filename)}:{last.lineno} ({last.name})"
        text = f"{type(exc).__name__}{where} (message withheld: it may quote the payload)"
    return EMAIL.sub("<e-mail>", text)[:MAX_ERROR]


def _order_ids(records: Sequence[Record]) -> list[str]:
    ids = set()
    for rec in records:
        if isinstance(rec, OrderRecord | OrderDeleted):
            ids.add(rec.platform_id)
        elif isinstance(rec, RefundRecord):
            ids.add(rec.order_id)
    return sorted(ids)


def lock_keys(shop_id: int, order_ids: Iterable[str]) -> list[int]:
    """Return the advisory lock keys of a shop's orders, sorted (the order they are taken in)."""
    return sorted(int.from_bytes(hashlib.blake2b(f"{shop_id}:{pid}".encode(),
                                                 digest_size=8).digest(), "big", signed=True)
                  for pid in set(order_ids))


_LOCK_KEYS = text(
    "SELECT count(pg_advisory_xact_lock(k)) FROM unnest(CAST(:keys AS bigint[])) AS k"
).bindparams(bindparam("keys", type_=ARRAY(BigInteger)))


def lock_for(session: Session, shop: Shop, records: Sequence[Record]) -> None:
    """Serialise the processing of deliveries that touch the same orders (PostgreSQL).

    Two versions of one order processed at once must not overtake each other, and a refund must
    not slip past its order being inserted; each transaction therefore takes a transaction-level
    advisory lock per order id it touches, and before them a share lock on the shop row, which
    privacy requests take exclusively (they act on the whole shop). The order locks are taken in
    one statement, in ascending key order (``unnest`` walks the sorted array in order), so two
    transactions never wait for each other crosswise. Deliveries of different orders proceed in
    parallel. SQLite serialises writers by itself.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    exclusive = any(is_privacy_record(r) for r in records)
    query = select(Shop.id).where(Shop.id == shop.id)
    session.execute(query.with_for_update() if exclusive else query.with_for_update(read=True))
    keys = lock_keys(shop.id, _order_ids(records))
    if keys:
        session.execute(_LOCK_KEYS, {"keys": keys})


@dataclass(frozen=True)
class Stored:
    """The result of storing a delivery: its inbox id and whether it was a duplicate."""

    id: int | None
    duplicate: bool


_INSERT = text(
    "INSERT INTO webhook_inbox (platform, shop_domain, delivery_id, topic, shop_id, status, "
    "attempts, body, headers, received_at, triggered_at) VALUES (:platform, :shop_domain, "
    ":delivery_id, :topic, :shop_id, :status, 0, :body, :headers, :received_at, :triggered_at) "
    "ON CONFLICT (platform, shop_domain, delivery_id) DO NOTHING RETURNING id"
).bindparams(
    bindparam("body", type_=LargeBinary), bindparam("headers", type_=JSON),
    bindparam("received_at", type_=UTCDateTime), bindparam("triggered_at", type_=UTCDateTime),
)


def record_delivery(
    engine: Engine, envelope: WebhookEnvelope, shop_id: int | None, *,
    received_at: datetime | None = None,
) -> Stored:
    """Insert a verified delivery unless its (platform, shop domain, delivery id) is known.

    One statement in its own (auto-committed) transaction, prepared once:
    ``INSERT ... ON CONFLICT DO NOTHING RETURNING id`` (PostgreSQL and SQLite ≥ 3.35 share the
    syntax); no id back means the delivery was already stored. When this returns, the row is
    committed: the caller may acknowledge. ``engine`` may be an :func:`ack_engine` (no ping
    before each statement, already in autocommit).
    """
    values = {
        "platform": envelope.platform,
        "shop_domain": normalize_domain(envelope.shop_domain),
        "delivery_id": envelope.delivery_id,
        "topic": envelope.topic,
        "shop_id": shop_id,
        "status": InboxStatus.RECEIVED,
        "body": envelope.raw_body,
        "headers": dict(envelope.headers),
        "received_at": received_at or now(),
        "triggered_at": envelope.triggered_at,
    }
    if engine.dialect.name in ("postgresql", "sqlite"):
        for retry in (False, True):
            try:
                if autocommit(engine):
                    new_id = _insert_on_driver(engine, values)
                else:
                    with engine.connect() as conn:
                        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                        new_id = conn.execute(_INSERT, values).scalar()
                return Stored(new_id, new_id is None)
            except DBAPIError as exc:
                # A pooled connection the server dropped (restart): the pool is invalidated
                # and one fresh connection tried. Safe to repeat: a row the lost answer had
                # committed makes it a duplicate, still stored once.
                if retry or not exc.connection_invalidated:
                    raise
    try:  # other databases: plain insert, duplicate detected by the unique constraint
        with engine.begin() as conn:
            new_id = conn.execute(
                insert(InboxDelivery.__table__).values(values)).inserted_primary_key[0]
    except IntegrityError:
        return Stored(None, True)
    return Stored(new_id, False)


_DRIVER_INSERT = (
    "INSERT INTO webhook_inbox (platform, shop_domain, delivery_id, topic, shop_id, status, "
    "attempts, body, headers, received_at, triggered_at) VALUES (%s, %s, %s, %s, %s, %s, 0, %s, "
    "%s, %s, %s) ON CONFLICT (platform, shop_domain, delivery_id) DO NOTHING RETURNING id")


def _naive_utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC).replace(tzinfo=None)


def _insert_on_driver(engine: Engine, values: dict[str, Any]) -> int | None:
    """Run the acknowledging insert on a pooled driver connection (PostgreSQL, autocommit).

    What SQLAlchemy's statement layer would add per delivery (compiling from the cache, bind
    processing, a result object) is done here directly: times as naive UTC (as ``UTCDateTime``
    stores them), headers as JSON text. A driver error is raised as SQLAlchemy's, with a dropped
    connection invalidated (``connection_invalidated``), as the statement layer does.
    """
    params = (values["platform"], values["shop_domain"], values["delivery_id"], values["topic"],
              values["shop_id"], values["status"], values["body"], json.dumps(values["headers"]),
              _naive_utc(values["received_at"]), _naive_utc(values["triggered_at"]))
    dbapi_error = engine.dialect.loaded_dbapi.Error
    try:
        raw = engine.raw_connection()
    except dbapi_error as exc:  # cannot connect: as engine.connect() reports it
        raise DBAPIError.instance(None, None, exc, dbapi_error, dialect=engine.dialect) from exc
    try:
        cursor = raw.cursor()
        try:
            cursor.execute(_DRIVER_INSERT, params)
            row = cursor.fetchone()
        finally:
            cursor.close()
    except dbapi_error as exc:
        gone = engine.dialect.is_disconnect(exc, raw.dbapi_connection, None)
        if gone:
            raw.invalidate(exc)
        raise DBAPIError.instance(_DRIVER_INSERT, None, exc, dbapi_error,  # no payload in logs
                                  connection_invalidated=gone, dialect=engine.dialect) from exc
    finally:
        raw.close()
    return None if row is None else int(row[0])


#: Connections an acknowledging process keeps for its inserts (about one per request thread).
ACK_POOL_SIZE = 10
ACK_POOL_OVERFLOW = 6


def ack_engine(url: str, **options: Any) -> Engine:
    """Return an engine for :func:`record_delivery` alone on PostgreSQL: autocommit, no ping.

    The app's engine pings every pooled connection before use (one round trip more per
    delivery) and switches it to autocommit and back; this one keeps ``ACK_POOL_SIZE``
    connections in autocommit and does neither (a connection the server dropped is replaced
    by :func:`record_delivery` itself). Each insert still commits durably before the answer.
    """
    from stammkunde.core.db import make_engine

    engine = make_engine(url, **{**options, "pool_pre_ping": False,
                                 "isolation_level": "AUTOCOMMIT", "pool_reset_on_return": None,
                                 "pool_size": ACK_POOL_SIZE, "max_overflow": ACK_POOL_OVERFLOW})
    _AUTOCOMMIT.add(engine)
    return engine


_AUTOCOMMIT: weakref.WeakSet[Engine] = weakref.WeakSet()


def autocommit(engine: Engine) -> bool:
    """Return whether the engine is an :func:`ack_engine` (connections in autocommit)."""
    return engine in _AUTOCOMMIT


@dataclass
class ReplayResult:
    """What a replay or a pending sweep did."""

    processed: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)


class Processor:
    """Turns stored deliveries into core records; safe to run in several processes at once."""

    def __init__(
        self, sessions: sessionmaker[Session], plugins: Plugins, exports_dir: Path, *,
        observe: Callable[[str, str, str, float], None] | None = None,
        sleep: Callable[[float], None] = time.sleep, attempts: int = 5,
    ) -> None:
        self.sessions = sessions
        self.plugins = plugins
        self.exports_dir = exports_dir
        self.observe = observe
        self.sleep = sleep
        self.attempts = attempts
        self._counting = threading.Lock()
        self._since_analyze = 0
        self._analyze_at = ANALYZE_FIRST

    def process(self, inbox_id: int) -> str:
        """Process one delivery; return its new status, or ``skipped`` if it needed nothing.

        Database outages propagate (the delivery stays ``received`` for a later sweep); conflicts
        with a concurrent writer are retried; anything else marks the delivery ``failed``.
        """
        started = time.perf_counter()
        for attempt in range(1, self.attempts + 1):
            try:
                status, platform, topic = self._process_once(inbox_id)
            except IntegrityError as exc:
                if attempt < self.attempts:
                    self.sleep(0.02 * attempt)
                    continue
                return self._fail(inbox_id, exc, started)
            except UNAVAILABLE:
                if attempt < self.attempts:
                    self.sleep(0.05 * attempt)
                    continue
                raise
            except DBAPIError as exc:  # bad data for the database (e.g. value too long)
                return self._fail(inbox_id, exc, started)
            except Exception as exc:
                return self._fail(inbox_id, exc, started)
            if status != SKIPPED and self.observe:
                self.observe(platform, topic, status, time.perf_counter() - started)
            return status
        raise AssertionError("unreachable")  # pragma: no cover

    def _process_once(self, inbox_id: int) -> tuple[str, str, str]:
        with self.sessions() as session, session.begin():
            # Claim the row: on PostgreSQL a concurrent processor of the same row waits here and
            # then sees it processed; on SQLite this takes the write lock up front.
            claimed = session.execute(
                update(InboxDelivery)
                .where(InboxDelivery.id == inbox_id, InboxDelivery.status != InboxStatus.PROCESSED)
                .values(attempts=InboxDelivery.attempts + 1)
            ).rowcount  # type: ignore[attr-defined]
            row = session.get(InboxDelivery, inbox_id)
            if row is None or not claimed:
                return SKIPPED, "", ""
            if row.body is None:
                raise ProcessingError("payload is no longer stored; it cannot be replayed")
            shop = self._shop(session, row)
            adapter = self.plugins.platform(row.platform)
            envelope = WebhookEnvelope(
                platform=row.platform, topic=row.topic, shop_domain=row.shop_domain or None,
                delivery_id=row.delivery_id, raw_body=row.body, headers=dict(row.headers or {}),
                triggered_at=row.triggered_at,
            )
            records = parse_delivery(adapter, envelope, webhook_connection(shop))
            privacy = [r for r in records if is_privacy_record(r)]
            data = [r for r in records if not is_privacy_record(r)]
            lock_for(session, shop, records)
            if data:
                store_records(session, shop, data)
                mark_stale(session, shop.id)  # the debounced refresh picks it up
            if privacy:
                apply_privacy(session, shop, privacy, self.exports_dir,
                              reference=f"{row.platform}:{row.delivery_id}",
                              keep_inbox_id=row.id)
            row.status = InboxStatus.PROCESSED
            row.processed_at = now()
            row.body = None
            row.error = None
            return InboxStatus.PROCESSED, row.platform, row.topic

    def _shop(self, session: Session, row: InboxDelivery) -> Shop:
        shop = session.get(Shop, row.shop_id) if row.shop_id else None
        if shop is None:
            shop = find_shop(session, row.platform, row.shop_domain)
        if shop is None:
            raise ProcessingError(
                f"no {row.platform} shop with domain {row.shop_domain or '(none)'!r}; add it "
                "(`stammkunde shops add`) and replay"
            )
        row.shop_id = shop.id
        return shop

    def _fail(self, inbox_id: int, exc: BaseException, started: float) -> str:
        error = safe_error(exc)
        with self.sessions() as session, session.begin():
            row = session.get(InboxDelivery, inbox_id)
            if row is None:
                return InboxStatus.FAILED
            row.status = InboxStatus.FAILED
            row.error = error
            row.attempts = (row.attempts or 0) + 1
            platform, topic, delivery = row.platform, row.topic, row.delivery_id
        log.warning("webhook processing failed", extra={
            "inbox_id": inbox_id, "platform": platform, "topic": topic,
            "delivery_id": delivery, "outcome": "failed", "error": error})
        if self.observe:
            self.observe(platform, topic, InboxStatus.FAILED, time.perf_counter() - started)
        return InboxStatus.FAILED

    def process_batch(self, ids: Sequence[int]) -> ReplayResult:
        """Process several deliveries in one transaction, in id order; return what happened.

        See :meth:`_batch` (the same, for deliveries named by id instead of claimed).
        """
        if len(ids) <= 1:
            return self._run(ids)
        return self._batch(ids=sorted(ids))

    def claim_batch(self, *, cutoff: datetime, partition: tuple[int, int] = (0, 1),
                    batch: int = BATCH, after: int = 0) -> ReplayResult:
        """Claim up to ``batch`` waiting deliveries received by ``cutoff`` and process them.

        The oldest waiting deliveries (with an id above ``after``) nobody else is processing are
        taken: on PostgreSQL with ``FOR UPDATE SKIP LOCKED``, so concurrent workers (threads,
        processes, the servers' sweepers) take different deliveries without waiting for each
        other; SQLite's one writer claims them with its write lock. Nothing claimed: an empty
        result.
        """
        return self._batch(cutoff=cutoff, partition=partition, limit=batch, after=after)

    def _batch(self, *, ids: Sequence[int] | None = None, cutoff: datetime | None = None,
               partition: tuple[int, int] = (0, 1), limit: int = BATCH,
               after: int = 0) -> ReplayResult:
        """Claim deliveries (by id, or the oldest waiting) and process them in one transaction.

        Consecutive deliveries that carry only orders are stored with one bulk upsert (the newest
        ``updated_at`` of an order still wins); other records are stored delivery by delivery, in
        order. A delivery that cannot be parsed (bad payload, unknown shop, no stored body) is
        marked ``failed`` alone in the same transaction while the others are stored; a privacy
        request is processed on its own right after the batch. If storing fails (a conflict, bad
        data for the database), the batch is rolled back and its deliveries are processed one by
        one, so the failure is recorded on the one delivery it belongs to. A database outage
        propagates and leaves every delivery of the batch ``received``.
        """
        started = time.perf_counter()
        claimed: list[int] = []
        try:
            done, failed, alone = self._batch_once(ids, cutoff, partition, limit, after,
                                                   claimed)
        except UNAVAILABLE:
            raise
        except Exception:
            return self._run(claimed if ids is None else ids)
        result = ReplayResult()
        if ids is not None:
            got = {row[0] for row in done} | {f[0] for f in failed} | set(alone)
            result.skipped = [i for i in ids if i not in got]
        each = (time.perf_counter() - started) / max(len(done) + len(failed), 1)
        for inbox_id, platform, topic in done:
            result.processed.append(inbox_id)
            if self.observe:
                self.observe(platform, topic, InboxStatus.PROCESSED, each)
        for inbox_id, platform, topic, delivery, error in failed:
            result.failed.append(inbox_id)
            log.warning("webhook processing failed", extra={
                "inbox_id": inbox_id, "platform": platform, "topic": topic,
                "delivery_id": delivery, "outcome": "failed", "error": error})
            if self.observe:
                self.observe(platform, topic, InboxStatus.FAILED, each)
        if alone:
            extra = self._run(alone)
            result.processed += extra.processed
            result.failed += extra.failed
            result.skipped += extra.skipped
        return result

    def _batch_once(
        self, ids: Sequence[int] | None, cutoff: datetime | None, partition: tuple[int, int],
        limit: int, after: int, claimed: list[int],
    ) -> tuple[list[tuple[int, str, str]], list[tuple[int, str, str, str, str]], list[int]]:
        inbox = InboxDelivery
        with self.sessions() as session, session.begin():
            columns = (inbox.id, inbox.platform, inbox.topic, inbox.shop_domain,
                       inbox.delivery_id, inbox.body, inbox.headers, inbox.triggered_at,
                       inbox.shop_id)
            if ids is not None:
                which = [inbox.id.in_(ids), inbox.status != InboxStatus.PROCESSED]
                skip = False
            else:
                part, parts = partition
                which = [inbox.status == InboxStatus.RECEIVED, inbox.received_at <= cutoff,
                         inbox.id > after]
                if parts > 1:
                    which.append(inbox.id % parts == part)
                skip = True
            # PostgreSQL: the claim is a row lock (FOR UPDATE; SKIP LOCKED for waiting
            # deliveries) held until the commit, and the attempt is counted with the outcome.
            # SQLite: an UPDATE ... RETURNING takes the one write lock up front.
            counted = session.get_bind().dialect.name != "postgresql"
            if counted:
                pick = select(inbox.id).where(*which).order_by(inbox.id)
                if ids is None:
                    pick = pick.limit(limit)
                rows = session.execute(
                    update(inbox).where(inbox.id.in_(pick.scalar_subquery()))
                    .values(attempts=inbox.attempts + 1).returning(*columns)
                    .execution_options(synchronize_session=False)).all()
                rows.sort(key=lambda r: r.id)
            else:
                query = select(*columns).where(*which).order_by(inbox.id)
                if ids is None:
                    query = query.limit(limit)
                rows = session.execute(query.with_for_update(skip_locked=skip)).all()
            tried = {} if counted else {"attempts": inbox.attempts + 1}
            claimed[:] = [row.id for row in rows]
            shops: dict[object, Shop | None] = {}
            views: dict[int, ShopConnection] = {}
            adapters: dict[str, PlatformAdapter] = {}
            parsed: list[tuple[int, Shop, list[Record]]] = []
            failed: list[tuple[int, str, str, str, str]] = []
            alone: list[int] = []
            new_shop: dict[int, list[int]] = {}
            for row in rows:
                try:
                    if row.body is None:
                        raise ProcessingError(
                            "payload is no longer stored; it cannot be replayed")
                    key = row.shop_id or (row.platform, normalize_domain(row.shop_domain))
                    if key not in shops:
                        found = session.get(Shop, row.shop_id) if row.shop_id else None
                        shops[key] = found or find_shop(session, row.platform, row.shop_domain)
                    shop = shops[key]
                    if shop is None:
                        raise ProcessingError(
                            f"no {row.platform} shop with domain {row.shop_domain or '(none)'!r};"
                            " add it (`stammkunde shops add`) and replay")
                    if row.platform not in adapters:
                        adapters[row.platform] = self.plugins.platform(row.platform)
                    if shop.id not in views:
                        views[shop.id] = webhook_connection(shop)
                    records = parse_delivery(adapters[row.platform], WebhookEnvelope(
                        platform=row.platform, topic=row.topic,
                        shop_domain=row.shop_domain or None, delivery_id=row.delivery_id,
                        raw_body=row.body, headers=dict(row.headers or {}),
                        triggered_at=row.triggered_at), views[shop.id])
                except UNAVAILABLE:
                    raise
                except Exception as exc:  # this delivery alone fails; the batch goes on
                    failed.append((row.id, row.platform, row.topic, row.delivery_id,
                                   safe_error(exc)))
                    continue
                if any(is_privacy_record(r) for r in records):
                    alone.append(row.id)  # one by one, after this batch (whole-shop locks)
                    continue
                if row.shop_id is None:
                    new_shop.setdefault(shop.id, []).append(row.id)
                parsed.append((row.id, shop, records))
            by_shop: dict[int, tuple[Shop, list[Record]]] = {}
            for _, shop, records in parsed:
                by_shop.setdefault(shop.id, (shop, []))[1].extend(records)
            for shop_id in sorted(by_shop):  # locks in one sorted sweep: no deadlock
                lock_for(session, *by_shop[shop_id])
            for shop, segment in _segments(parsed):
                store_records(session, shop, segment)
            for shop_id in sorted(by_shop):  # the debounced refresh picks them up
                mark_stale(session, shop_id)
            for shop_id, members in new_shop.items():
                session.execute(update(inbox).where(inbox.id.in_(members))
                                .values(shop_id=shop_id)
                                .execution_options(synchronize_session=False))
            if parsed:
                session.execute(
                    update(inbox).where(inbox.id.in_([i for i, _, _ in parsed]))
                    .values(status=InboxStatus.PROCESSED, processed_at=now(), body=None,
                            error=None, **tried)
                    .execution_options(synchronize_session=False))
            if failed:
                session.connection().execute(
                    update(inbox).where(inbox.id == bindparam("inbox_id"))
                    .values(status=InboxStatus.FAILED, error=bindparam("why"), **tried),
                    [{"inbox_id": f[0], "why": f[4]} for f in failed])
            if alone and counted:  # not tried here: the attempt is counted when it is
                session.execute(update(inbox).where(inbox.id.in_(alone))
                                .values(attempts=inbox.attempts - 1)
                                .execution_options(synchronize_session=False))
            stored = {inbox_id for inbox_id, _, _ in parsed}
            return ([(row.id, row.platform, row.topic) for row in rows if row.id in stored],
                    failed, alone)

    def refresh_statistics(self, processed: int) -> bool:
        """Count processed deliveries; refresh the planner statistics when due (PostgreSQL).

        A backlog worked off into young tables would otherwise be planned with the statistics of
        the empty tables (autovacuum analyses late, or not at all where it is off): lookups of a
        batch's orders and customers then scan the whole shop instead of using the index, and get
        slower with every batch. Due after ``ANALYZE_FIRST`` deliveries of this processor, then
        every ``ANALYZE_EVERY``; returns whether it ran.
        """
        with self._counting:
            self._since_analyze += processed
            if self._since_analyze < self._analyze_at:
                return False
            self._since_analyze, self._analyze_at = 0, ANALYZE_EVERY
        with self.sessions() as session, session.begin():
            return refresh_statistics(session, GROWN_TABLES)

    def _run(self, ids: Iterable[int]) -> ReplayResult:
        result = ReplayResult()
        for inbox_id in ids:
            status = self.process(inbox_id)
            {InboxStatus.PROCESSED: result.processed, InboxStatus.FAILED: result.failed}.get(
                status, result.skipped).append(inbox_id)
        return result

    def process_pending(self, *, older_than: timedelta = timedelta(0), limit: int = 2000,
                        at: datetime | None = None, partition: tuple[int, int] = (0, 1),
                        batch: int = BATCH) -> ReplayResult:
        """Process deliveries still ``received`` (e.g. left by a crash), oldest first.

        Batches of ``batch`` deliveries are claimed (see :meth:`claim_batch`) until about
        ``limit`` were taken or none waits; each claim starts after the last one's highest id,
        so the scan does not walk the processed deliveries again and again. ``partition=(k, n)``
        takes only ids with ``id % n == k`` (not needed for concurrent workers: they skip each
        other's claims).
        """
        cutoff = (at or now()) - older_than
        result = ReplayResult()
        taken = after = 0
        while taken < limit:
            done = self.claim_batch(cutoff=cutoff, partition=partition,
                                    batch=min(batch, limit - taken), after=after)
            seen = [*done.processed, *done.failed, *done.skipped]
            if not seen:
                break
            taken += len(seen)
            after = max(after, *seen)
            result.processed += done.processed
            result.failed += done.failed
            result.skipped += done.skipped
            self.refresh_statistics(len(done.processed))
        return result

    def drain(self, stop: threading.Event, *, min_age: float = 0.0, interval: float = 1.0,
              limit: int = 2000, batch: int = BATCH) -> None:
        """Process waiting deliveries older than ``min_age`` seconds until ``stop`` is set.

        Sleeps ``interval`` seconds after each round that worked the inbox off (fewer than
        ``limit`` deliveries waited), and while the database is away: deliveries that arrive
        meanwhile are then taken together, in larger batches, instead of one transaction each.
        """
        while not stop.is_set():
            try:
                result = self.process_pending(older_than=timedelta(seconds=min_age),
                                              limit=limit, batch=batch)
            except (DBAPIError, PoolTimeout) as exc:
                log.warning("inbox drain waits for the database", extra={
                    "outcome": "deferred", "error": type(exc).__name__})
                stop.wait(interval)
                continue
            except Exception:  # never let the thread die: the next round tries again
                log.exception("inbox drain round failed")
                stop.wait(interval)
                continue
            if len(result.processed) + len(result.failed) + len(result.skipped) < limit:
                stop.wait(interval)

    def replay(self, ids: Sequence[int] = (), *, all_failed: bool = False) -> ReplayResult:
        """Process failed (or named) deliveries again; processed ones are skipped."""
        with self.sessions() as session:
            query: Select[tuple[int]] = select(InboxDelivery.id).order_by(InboxDelivery.id)
            if all_failed:
                query = query.where(InboxDelivery.status == InboxStatus.FAILED)
            else:
                query = query.where(InboxDelivery.id.in_(list(ids)))
            found = list(session.scalars(query))
        missing = sorted(set(ids) - set(found)) if not all_failed else []
        if missing:
            raise UserError(f"no inbox deliveries with id(s) {', '.join(map(str, missing))}")
        return self._run(found)


def _segments(parsed: Sequence[tuple[int, Shop, list[Record]]]
              ) -> Iterable[tuple[Shop, list[Record]]]:
    """Group a batch's records for storing: runs of order-only deliveries of one shop merge."""
    run: list[Record] = []
    run_shop: Shop | None = None
    for _, shop, records in parsed:
        only_orders = bool(records) and all(isinstance(r, OrderRecord) for r in records)
        if only_orders and (run_shop is None or run_shop.id == shop.id):
            run_shop = shop
            run.extend(records)
            continue
        if run_shop is not None:
            yield run_shop, run
            run, run_shop = [], None
        if only_orders:
            run_shop, run = shop, list(records)
        elif records:
            yield shop, records
    if run_shop is not None:
        yield run_shop, run


def oldest_waiting(session: Session, at: datetime | None = None) -> float | None:
    """Return the age in seconds of the oldest delivery not processed yet (None: none waits)."""
    first = session.scalar(select(func.min(InboxDelivery.received_at)).where(
        InboxDelivery.status == InboxStatus.RECEIVED))
    if first is None:
        return None
    if first.tzinfo is None:  # func.min() bypasses the column type on SQLite
        first = datetime.fromisoformat(str(first)).replace(tzinfo=UTC)
    return max(0.0, ((at or now()) - first).total_seconds())


def list_deliveries(
    session: Session, *, status: str | None = None, limit: int = 100
) -> list[InboxDelivery]:
    """Return inbox deliveries, newest first, optionally of one status."""
    if status is not None and status not in InboxStatus.ALL:
        raise UserError(f"unknown status {status!r} (one of {', '.join(InboxStatus.ALL)})")
    query = select(InboxDelivery).order_by(InboxDelivery.id.desc()).limit(limit)
    if status:
        query = query.where(InboxDelivery.status == status)
    return list(session.scalars(query))


def backlog(session: Session) -> dict[str, int]:
    """Return how many deliveries wait: received (not processed yet) and failed."""
    counts = dict.fromkeys((InboxStatus.RECEIVED, InboxStatus.FAILED), 0)
    rows = session.execute(
        select(InboxDelivery.status, func.count()).where(
            InboxDelivery.status.in_(list(counts))).group_by(InboxDelivery.status)
    )
    for status, count in rows:
        counts[status] = count
    return counts
