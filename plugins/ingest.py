"""Move records from an adapter into the store: file imports and resumable syncs.

A sync stores each batch and its cursor in one transaction, so a killed sync resumes right after
the last stored batch and never stores a batch twice.
"""

from __future__ import annotations

import csv
import inspect
import queue
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session, object_session, sessionmaker

from stammkunde.core.bulk import (
    DEFER_INDEXES_FROM,
    Growth,
    PreparedOrders,
    analyze_after_load,
    defer_order_indexes,
    rebuild_indexes,
)
from stammkunde.core.db import CACHE_KIB, MMAP_SIZE
from stammkunde.core.errors import FieldError, UserError
from stammkunde.core.freshness import mark_stale
from stammkunde.core.models import Shop
from stammkunde.core.prepare import fewer_collections
from stammkunde.core.records import Batch, Record
from stammkunde.core.shops import credentials
from stammkunde.core.store import (
    UpsertStats,
    get_shop,
    load_cursor,
    save_cursor,
    store_prepared,
    store_records,
)
from stammkunde.core.timeutil import now
from stammkunde.plugins.adapter import (
    Capability,
    PlatformAdapter,
    Secret,
    ShopConnection,
    WebhookEnvelope,
)
from stammkunde.plugins.manager import Plugins

Progress = Callable[[int, int | None], None]
MAX_SHOWN = 20


def connection_for(shop: Shop, secret_key: str | None) -> ShopConnection:
    """Build the adapter's view of a shop, with credentials decrypted into Secret strings."""
    creds = {k: Secret(v) for k, v in credentials(shop, secret_key).items()}
    session = object_session(shop)
    return ShopConnection(
        name=shop.name, platform=shop.platform, domain=shop.domain, currency=shop.currency,
        timezone=shop.timezone, credentials=creds, options=dict(shop.settings or {}),
        database=session.get_bind() if session is not None else None,
    )


def webhook_connection(shop: Shop) -> ShopConnection:
    """The shop as ``parse_webhook`` sees it: currency, timezone, options, no credentials."""
    return ShopConnection(
        name=shop.name, platform=shop.platform, domain=shop.domain, currency=shop.currency,
        timezone=shop.timezone, options=dict(shop.settings or {}),
    )


_ONE_ARGUMENT: dict[object, bool] = {}


def _old_contract(adapter: PlatformAdapter) -> bool:
    """Return whether the adapter's ``parse_webhook`` takes the envelope alone (the old contract).

    A guarded adapter is looked through to the plugin's own method (the guard itself accepts
    anything); the answer is kept per function, so a delivery costs no signature inspection.
    """
    method = getattr(adapter, "_adapter", adapter).parse_webhook
    key = getattr(method, "__func__", method)
    if key not in _ONE_ARGUMENT:
        try:
            params = inspect.signature(method).parameters
        except (TypeError, ValueError):  # pragma: no cover - builtins and C callables
            params = {}  # type: ignore[assignment]
        positional = [p for p in params.values()
                      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)]
        _ONE_ARGUMENT[key] = (len(positional) == 1
                              and positional[0].kind != positional[0].VAR_POSITIONAL)
    return _ONE_ARGUMENT[key]


def parse_delivery(adapter: PlatformAdapter, envelope: WebhookEnvelope,
                   shop: ShopConnection) -> list[Record]:
    """Call ``adapter.parse_webhook(envelope, shop)``; an adapter of the older one-argument
    contract still works, with a DeprecationWarning."""
    if _old_contract(adapter):
        warnings.warn(f"{type(getattr(adapter, '_adapter', adapter)).__name__}.parse_webhook"
                      "(envelope) is the old contract: accept parse_webhook(envelope, shop)",
                      DeprecationWarning, stacklevel=2)
        return adapter.parse_webhook(envelope)  # type: ignore[call-arg]
    return adapter.parse_webhook(envelope, shop)


_END = object()


def read_ahead(batches: Iterator[Batch], depth: int = 2) -> Iterator[Batch]:
    """Yield an adapter's batches while the next ones are read in a background thread.

    The adapter's parsing (or its network calls) for the next batches runs while the caller
    stores the current one; the databases release the interpreter lock while they work, so the
    two overlap. An adapter's exception is raised here, in the caller's thread, at the point in
    the sequence where it happened; a caller that stops early stops the reader too.
    """
    handoff: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            for batch in batches:
                if not put(batch):
                    break
        except BaseException as exc:  # handed over to the caller's thread
            put(exc)
            return
        finally:
            close = getattr(batches, "close", None)
            if stop.is_set() and close is not None:
                close()
        put(_END)

    thread = threading.Thread(target=read, name="stammkunde-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item = handoff.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join(timeout=5)


@dataclass
class ImportResult:
    """What an import stored and what it refused."""

    stats: UpsertStats = field(default_factory=UpsertStats)
    rows: int = 0
    rejected: list = field(default_factory=list)
    rejected_file: Path | None = None


class ImportRejected(FieldError):
    """The file had bad rows and nothing was imported; ``problems`` lists them."""

    def __init__(self, path: Path, problems: list) -> None:
        self.problems = problems
        shown = "; ".join(f"line {p.line}: {p.reason}" for p in problems[:MAX_SHOWN])
        more = f" (and {len(problems) - MAX_SHOWN} more)" if len(problems) > MAX_SHOWN else ""
        super().__init__(
            "{file}: {count} bad row(s), nothing imported: {shown}{more}; fix them or use "
            "{skip_invalid}",
            file=path.name, count=len(problems), shown=shown, more=more,
        )


class NotSynced(UserError):
    """The shop's platform has no API to sync from (a CSV shop: its orders are imported)."""

    def __init__(self, shop: str, platform: str, *, imported: bool) -> None:
        self.shop = shop
        self.imported = imported
        how = ("its orders are imported from files, not synced" if imported
               else f"platform {platform!r} cannot sync orders")
        super().__init__(f"shop {shop!r} is a {platform} shop: {how}")


def file_platform(plugins: Plugins, shop_platform: str, fmt: str | None) -> str:
    """Return the platform whose adapter reads a file of format ``fmt`` for a shop.

    Without a format, the shop's own adapter reads it if it imports files, else the CSV reader
    (``stammkunde-csv``). A named format goes to the shop's own adapter if it declares it (in
    ``file_formats``), else to the adapter that declares it, else to the shop's own adapter if it
    imports files without declaring formats (it decides); anything else is a one-line error.
    """
    own = plugins.platform(shop_platform)
    imports = Capability.IMPORT_FILE in own.capabilities
    if imports and (fmt is None or fmt in own.file_formats):
        return shop_platform
    readers = {f: name for name, a in plugins.platforms().items()
               if Capability.IMPORT_FILE in a.capabilities for f in a.file_formats}
    if fmt is None:
        fmt = "stammkunde-csv"
    if fmt in readers:
        return readers[fmt]
    if imports and not own.file_formats:
        return shop_platform
    raise UserError(f"unknown format {fmt!r} (known: {', '.join(sorted(readers))})")


@fewer_collections()
def import_file(
    factory: sessionmaker[Session],
    plugins: Plugins,
    shop_name: str,
    path: Path,
    *,
    fmt: str | None = None,
    skip_invalid: bool = False,
    secret_key: str | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Import a file in one transaction: all rows or, with bad rows, nothing (unless skipping)."""
    result = ImportResult()
    with factory() as session, session.begin(), _unmapped(session):
        shop = get_shop(session, shop_name)
        platform = file_platform(plugins, shop.platform, fmt)
        adapter: PlatformAdapter = plugins.platform(platform)
        conn = connection_for(shop, secret_key)
        storing = True
        deferred: list = []
        growth = Growth()
        # guarded: a crash names the plugin; the next batches are parsed while one is stored
        for number, batch in enumerate(read_ahead(adapter.import_file(path, fmt, conn))):
            expected = batch.meta.get("rows")
            if number == 0 and isinstance(expected, int) and expected >= DEFER_INDEXES_FROM:
                deferred = defer_order_indexes(session, shop)  # a first load into no orders
            rejected = list(batch.meta.get("rejected", ()))
            result.rejected.extend(rejected)
            result.rows += len(batch.records) + len(rejected)
            if rejected and not skip_invalid:
                storing = False
            prepared = batch.meta.get("prepared")
            if storing and isinstance(prepared, PreparedOrders):  # orders only, prepared already
                result.stats += store_prepared(session, shop, prepared, batch.records)  # type: ignore[arg-type]
            elif storing:
                result.stats += store_records(session, shop, batch.records)
            growth.check(session, result.stats.inserted)  # in the load's transaction
            if progress:
                progress(result.rows, batch.meta.get("rows"))  # type: ignore[arg-type]
        if result.rejected and not skip_invalid:
            session.rollback()
            raise ImportRejected(path, result.rejected)
        if result.rows == 0:
            raise UserError(f"{path.name} has a header but no rows")
        rebuild_indexes(session, deferred)
        mark_stale(session, shop.id)
    with factory() as session, session.begin():
        analyze_after_load(session, result.stats.inserted)
    if result.rejected:
        result.rejected_file = write_rejected(path, result.rejected)
    return result


#: SQLite's page cache while importing (KiB): the import writes more than it reads again, and a
#: load of millions of orders must stay within its memory budget beside the parser workers.
IMPORT_CACHE_KIB = 32 * 1024


@contextmanager
def _unmapped(session: Session) -> Iterator[None]:
    """SQLite: read without the memory map and with a smaller page cache while importing, so a
    big file's import keeps its resident memory small instead of mapping the database file."""
    sqlite = session.get_bind().dialect.name == "sqlite"
    if sqlite:
        session.execute(text("PRAGMA mmap_size=0"))
        session.execute(text(f"PRAGMA cache_size=-{IMPORT_CACHE_KIB}"))
    yield
    if sqlite:  # (after a rolled-back import the connection went back to the pool as it is)
        session.execute(text(f"PRAGMA mmap_size={MMAP_SIZE}"))
        session.execute(text(f"PRAGMA cache_size=-{CACHE_KIB}"))


def write_rejected(path: Path, rejected: list) -> Path:
    """Write rejected rows with their line and reason to ``<file>.rejected.csv``."""
    out = path.with_name(path.name + ".rejected.csv")
    columns = list(dict.fromkeys(k for r in rejected for k in r.row))
    with out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["line", "reason", *columns])
        for r in rejected:
            writer.writerow([r.line, r.reason, *(r.row.get(c, "") for c in columns)])
    return out


@dataclass
class SyncResult:
    """What a sync stored, per resource."""

    stats: dict[str, UpsertStats] = field(default_factory=dict)
    resumed: dict[str, bool] = field(default_factory=dict)


@fewer_collections()
def sync_shop(
    factory: sessionmaker[Session],
    plugins: Plugins,
    shop_name: str,
    *,
    since: datetime | None = None,
    secret_key: str | None = None,
    resources: tuple[str, ...] = ("customers", "orders"),
    progress: Callable[[str, int, int | None], None] | None = None,
    max_batches: int | None = None,
) -> SyncResult:
    """Fetch customers and orders through the adapter, storing each batch with its checkpoint.

    Without ``since`` an incremental sync continues from the last completed sync's high-water
    mark; an interrupted sync resumes from its stored cursor. ``max_batches`` stops early (tests
    use it to simulate a crash between batches). The high-water mark is the sync's start, or the
    ``high_water`` an adapter reports in ``Batch.meta`` (the upper bound of a resumed window).
    """
    result = SyncResult()
    with factory() as session:
        shop = get_shop(session, shop_name)
        adapter = plugins.platform(shop.platform)
        if Capability.SYNC not in adapter.capabilities:
            raise NotSynced(shop.name, shop.platform,
                            imported=Capability.IMPORT_FILE in adapter.capabilities)
        conn = connection_for(shop, secret_key)
        shop_id = shop.id
    started = now()
    for resource in resources:
        fetch = adapter.fetch_orders if resource == "orders" else adapter.fetch_customers
        with factory() as session:
            state = load_cursor(session, session.get(Shop, shop_id), resource)  # type: ignore[arg-type]
            cursor = state.cursor if state else None
            effective_since = since or (state.high_water if state else None)
        result.resumed[resource] = cursor is not None
        stats = UpsertStats()
        done = 0
        high_water = started
        growth = Growth()
        # guarded; the next page is fetched while this one is stored
        for count, batch in enumerate(read_ahead(fetch(conn, effective_since, cursor))):
            # An adapter whose cursor snapshots the sync window (so a resumed sync reads the
            # window of the first attempt) says up to when it has seen changes.
            reported = batch.meta.get("high_water")
            if isinstance(reported, datetime):
                high_water = reported
            with factory() as session, session.begin():
                shop = session.get(Shop, shop_id)
                stats += store_records(session, shop, batch.records)  # type: ignore[arg-type]
                save_cursor(session, shop, resource, batch.cursor,  # type: ignore[arg-type]
                            done=len(batch.records))
            done += len(batch.records)
            if stats.inserted >= growth.due:
                with factory() as session, session.begin():
                    growth.check(session, stats.inserted)
            if progress:
                progress(resource, done, batch.total)
            if max_batches is not None and count + 1 >= max_batches:
                result.stats[resource] = stats
                _mark_stale(factory, shop_id)
                return result
        with factory() as session, session.begin():
            save_cursor(session, session.get(Shop, shop_id), resource, None,  # type: ignore[arg-type]
                        high_water=high_water)
        with factory() as session, session.begin():
            analyze_after_load(session, stats.inserted)
        result.stats[resource] = stats
    _mark_stale(factory, shop_id)
    return result


def _mark_stale(factory: sessionmaker[Session], shop_id: int) -> None:
    """A sync that stored anything leaves the shop's numbers stale until they are refreshed."""
    with factory() as session, session.begin():
        mark_stale(session, shop_id)
