"""Set-based storage of new orders: the fast path of :func:`~stammkunde.core.store.upsert_orders`.

A chunk of order records is stored with a handful of statements instead of a few per order:

- one query finds which orders exist already (they go to the per-order path, which compares
  versions), one which have a deletion or a refund waiting for them (per-order path too);
- customers: one query for the chunk's known customers, one for the persons of their e-mails; new
  persons and customers are inserted in bulk (``INSERT ... ON CONFLICT DO NOTHING``) and read back,
  so a person is still one per normalised e-mail across shops;
- orders are loaded into a temporary staging table (PostgreSQL ``COPY``, SQLite ``executemany``)
  and moved with one ``INSERT ... SELECT ... ON CONFLICT DO NOTHING RETURNING id, platform_id``;
  their refunds, discount codes and lines follow in bulk (``COPY`` / ``executemany``).

The statements bypass the ORM, so they write exactly what the ORM would: money as 1/10,000 units,
times as naive UTC (SQLite: SQLAlchemy's text format), ``refunded``/``refund_ts`` as the sum and
latest instant of the order's refunds. A record the fast path cannot take (existing order, a
customer whose e-mail changed, something waiting for the order, a concurrent insert) is handed
back to the caller untouched, in its original order.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ForeignKeyConstraint, Index, select, text
from sqlalchemy.orm import Session
from sqlalchemy.schema import AddConstraint, DropConstraint

from stammkunde.core.identity import normalize_email
from stammkunde.core.loaded import LoadedCustomers, mail_hash
from stammkunde.core.models import Customer, Order, Shop
from stammkunde.core.prepare import PreparedOrders, when_text
from stammkunde.core.timeutil import now

ORDER_COLUMNS = (
    ("shop_id", "integer"), ("platform_id", "varchar(255)"), ("customer_id", "integer"),
    ("person_id", "integer"), ("created_at", "timestamp"), ("created_ts", "bigint"),
    ("created_month", "integer"), ("updated_at", "timestamp"), ("status", "varchar(16)"),
    ("is_test", "boolean"), ("cancelled_ts", "bigint"), ("currency", "varchar(3)"),
    ("total", "bigint"), ("channel", "varchar(64)"), ("fingerprint", "varchar(32)"),
    ("refunded", "bigint"), ("refund_ts", "bigint"),
)
STAGE = "stk_stage_orders_v1"
#: A PostgreSQL load at least this large is followed by ANALYZE of the tables it filled.
ANALYZE_AFTER = 10_000
LOADED_TABLES = ("persons", "customers", "orders", "refunds", "order_discounts", "order_lines",
                 "events")
#: Session flag: this transaction holds the orders table alone and it held no order when the
#: load began (a first load, see :func:`defer_order_indexes`): new orders may be copied into it
#: directly, and an order no earlier batch of the load named cannot be stored already.
ORDERS_LOCKED = "stammkunde.orders_locked"
#: Session key: the customers a first load created (:class:`LoadedCustomers`), from
#: :func:`defer_order_indexes` to :func:`rebuild_indexes`.
LOADED_CUSTOMERS = "stammkunde.loaded_customers"
#: A file import of at least this many rows into an empty orders table builds the table's
#: secondary indexes after the load instead of updating them row by row.
DEFER_INDEXES_FROM = 50_000


class Bulk:
    """The session's driver connection with the two dialects' bulk statements side by side."""

    def __init__(self, session: Session) -> None:
        session.flush()
        self.session = session
        self.pg = session.get_bind().dialect.name == "postgresql"
        self.raw = session.connection().connection.driver_connection
        self.mark = "%s" if self.pg else "?"

    def sql(self, statement: str) -> str:
        """Return the statement with ``?`` placeholders in the driver's style."""
        return statement.replace("?", "%s") if self.pg else statement

    def in_list(self, values: Sequence[str]) -> tuple[str, Any]:
        """Return ``<values> JOIN``: the values as a table (column ``v.k``) joined to the table
        that follows, and the one parameter.

        The database looks each value up in the joined table's index: PostgreSQL joins the
        values (a filter ``= ANY``/``IN (subquery)`` was planned as a scan of the whole table
        per value while its statistics still described the empty table of a first load); SQLite
        is told by ``CROSS JOIN`` to loop over the values, not over the table.
        """
        if self.pg:  # (JSON: the driver writes it in C, a text[] it escapes value by value)
            return "json_array_elements_text(%s::json) AS v(k) JOIN", json.dumps(list(values))
        return "(SELECT value AS k FROM json_each(?)) AS v CROSS JOIN", json.dumps(list(values))

    def query(self, statement: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Run one statement on the driver connection and return its rows."""
        cur = self.raw.cursor()
        try:
            cur.execute(self.sql(statement), tuple(params))
            return list(cur.fetchall()) if cur.description else []
        finally:
            cur.close()

    def when(self, value: datetime | None) -> Any:
        """Return an aware instant as the driver stores it (naive UTC; SQLite: text)."""
        if value is None or not self.pg:
            return when_text(value)
        return value.astimezone(UTC).replace(tzinfo=None)

    def load(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """Append rows to a table: ``COPY`` on PostgreSQL, ``executemany`` on SQLite."""
        names = ", ".join(columns)
        cur = self.raw.cursor()
        try:
            if self.pg:
                with cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                marks = ", ".join("?" * len(columns))
                cur.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)
        finally:
            cur.close()

    def next_id(self, table: str) -> int:
        """SQLite (write lock held): return the id SQLite gives the table's next row (the largest
        plus one), so rows numbered from it get the ids the ORM would give them."""
        return self.query(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table}", ())[0][0]

    def id_block(self, table: str, count: int) -> int:
        """Return the first of ``count`` (1 or more) ids for new rows of a table no one else
        writes now: SQLite's next id (:meth:`next_id`), or a block of PostgreSQL's sequence
        (during a first load, which holds the table)."""
        if not self.pg:
            return self.next_id(table)
        return self.query(
            "SELECT setval(s, nextval(s) + %s - 1) - %s + 1 "
            "FROM pg_get_serial_sequence(%s, 'id') AS s", (count, count, table))[0][0]

    def lock(self, shop: Shop) -> None:
        """SQLite: take the database's write lock now, so nothing changes between reads and writes.

        (PostgreSQL needs no lock: its inserts skip what a concurrent writer inserted meanwhile.)
        """
        if not self.pg:  # (not "SET id = id": a parent key's update checks its child rows)
            self.raw.execute("UPDATE shops SET name = name WHERE id = ?", (shop.id,))

    def insert_orders(self, rows: list[tuple[Any, ...]]) -> dict[str, int]:
        """Insert new order rows; return their ids by platform id.

        PostgreSQL: ``COPY`` into a staging table, then ``INSERT ... SELECT ... ON CONFLICT DO
        NOTHING RETURNING``; during a first load (:func:`defer_order_indexes` holds the table)
        ``COPY`` into ``orders`` itself, with ids drawn from its sequence. SQLite (write lock held,
        see :meth:`lock`, and the ids checked absent): ids are numbered on from the largest and
        the rows inserted with ``executemany``.
        """
        if not self.pg:
            first = self.id_block("orders", len(rows))
            names = ", ".join(c for c, _ in ORDER_COLUMNS)
            self.raw.executemany(
                f"INSERT INTO orders (id, {names}) VALUES ({', '.join('?' * (len(rows[0]) + 1))})",
                [(first + i, *row) for i, row in enumerate(rows)])
            return {row[1]: first + i for i, row in enumerate(rows)}
        if self.session.info.get(ORDERS_LOCKED):  # a first load: no one else writes orders
            first = self.id_block("orders", len(rows))
            self.load("orders", ("id", *(c for c, _ in ORDER_COLUMNS)),
                      ((first + i, *row) for i, row in enumerate(rows)))
            return {row[1]: first + i for i, row in enumerate(rows)}
        return self.stage_orders(rows)

    def stage_orders(self, rows: list[tuple[Any, ...]]) -> dict[str, int]:
        """Stage order rows, move the new ones into ``orders``; return their ids by platform id."""
        names = ", ".join(c for c, _ in ORDER_COLUMNS)
        if self.pg:
            defs = ", ".join(f"{c} {t}" for c, t in ORDER_COLUMNS)
            self.query(f"CREATE TEMP TABLE IF NOT EXISTS {STAGE} ({defs}) ON COMMIT DROP", ())
            self.query(f"TRUNCATE {STAGE}", ())
        else:
            self.query(f"CREATE TEMP TABLE IF NOT EXISTS {STAGE} ({names})", ())
            self.query(f"DELETE FROM {STAGE}", ())
        self.load(STAGE, [c for c, _ in ORDER_COLUMNS], rows)
        moved = self.query(
            f"INSERT INTO orders ({names}) SELECT {names} FROM {STAGE} WHERE true "
            "ON CONFLICT (shop_id, platform_id) DO NOTHING RETURNING id, platform_id", ())
        return {pid: oid for oid, pid in moved}


class _People:
    """Customers and persons of a chunk: found in one query each, the missing ones inserted."""

    def __init__(self, bulk: Bulk, shop: Shop, loaded: LoadedCustomers | None = None) -> None:
        self.bulk = bulk
        self.shop = shop
        self.loaded = loaded
        # key -> (customer id, person id, e-mail of the stored customer as stored)
        self.known: dict[str, tuple[int, int, str | None]] = {}
        #: key -> hash of the normalised e-mail, for the customers found in ``loaded`` (their
        #: e-mail in ``known`` is None)
        self.mail_hashes: dict[str, int] = {}

    def find(self, keys: set[str]) -> None:
        """Find the stored customers among ``keys``: those of the first load in memory, the
        others in the database."""
        if self.loaded is None:
            self._read(keys)
            return
        found, rows, ask = self.loaded.find(list(keys))
        cids, persons, mails = rows.T.tolist()
        self.known.update(zip(found, zip(cids, persons, [None] * len(found), strict=True),
                              strict=True))
        self.mail_hashes.update(zip(found, mails, strict=True))
        self._read(ask)

    def _read(self, keys: Iterable[str]) -> None:
        """Read the stored customers among ``keys`` from the database."""
        keys = sorted(keys)
        if not keys:
            return
        expr, param = self.bulk.in_list(keys)
        for pid, cid, person, email in self.bulk.query(
                f"SELECT c.platform_id, c.id, c.person_id, c.email FROM {expr} "
                "customers c ON c.shop_id = ? AND c.platform_id = v.k",
                (param, self.shop.id)):
            self.known[pid] = (cid, person, email)

    def create(self, new: dict[str, tuple[str | None, str | None, bool]]) -> None:
        """Insert customers (key -> (normalised e-mail, stored e-mail, is guest)) and persons.

        Numbered as the ORM numbers them: persons of new e-mails in e-mail order, then persons
        without e-mail, then the customers in key order. (A first load's go the numbered way,
        which also remembers them in ``loaded``.)
        """
        if not new:
            return
        if not self.bulk.pg or self.bulk.session.info.get(ORDERS_LOCKED):
            self._create_numbered(new)
            return
        bulk, stamp = self.bulk, self.bulk.when(now())
        emails = sorted({e for e, _, _ in new.values() if e})
        persons: dict[str, int] = {}
        if emails:  # the new persons come back; only the others are looked up
            expr, param = bulk.in_list(emails)
            persons = dict(bulk.query(
                f"INSERT INTO persons (email, created_at) SELECT v.k, %s FROM "
                f"{expr.removesuffix(' JOIN')} ON CONFLICT (email) DO NOTHING "
                "RETURNING email, id", (stamp, param)))
            if len(persons) < len(emails):
                expr, param = bulk.in_list([e for e in emails if e not in persons])
                persons.update(bulk.query(
                    f"SELECT p.email, p.id FROM {expr} persons p ON p.email = v.k", (param,)))
        anonymous = sum(1 for e, _, _ in new.values() if not e)
        fresh = [r[0] for r in bulk.query(
            "INSERT INTO persons (email, created_at) SELECT NULL, %s FROM generate_series(1, %s) "
            "RETURNING id", (stamp, anonymous))] if anonymous else []
        rows = []
        for key, (email, stored, guest) in sorted(new.items()):  # one order: no deadlock
            person = persons[email] if email else fresh.pop()
            rows.append((key, person, guest, stored))
        for pid, cid, person, email in bulk.query(  # (jsonb: json is parsed again by each ->>)
                "INSERT INTO customers (shop_id, platform_id, person_id, is_guest, email) "
                "SELECT %s, x->>0, (x->>1)::int, (x->>2)::bool, x->>3 "
                "FROM jsonb_array_elements(%s::jsonb) AS x "
                "ON CONFLICT (shop_id, platform_id) DO NOTHING "
                "RETURNING platform_id, id, person_id, email",
                (self.shop.id, json.dumps(rows))):
            self.known[pid] = (cid, person, email)
        self._read(key for key in new if key not in self.known)  # inserted meanwhile

    def _create_numbered(self, new: dict[str, tuple[str | None, str | None, bool]]) -> None:
        """Insert the new persons and customers numbered here, without reading them back: on
        SQLite (write lock held) or in a first load on PostgreSQL (which holds both tables); the
        keys were checked absent."""
        bulk, stamp = self.bulk, self.bulk.when(now())
        emails = sorted({e for e, _, _ in new.values() if e})
        persons: dict[str, int] = {}
        if emails:
            expr, param = bulk.in_list(emails)
            persons = dict(bulk.query(
                f"SELECT p.email, p.id FROM {expr} persons p ON p.email = v.k", (param,)))
        emails = [e for e in emails if e not in persons]
        anonymous = sum(1 for e, _, _ in new.values() if not e)
        next_id = bulk.id_block("persons", len(emails) + anonymous) if emails or anonymous else 0
        added = []
        for email in emails:
            persons[email] = next_id
            added.append((next_id, email, stamp))
            next_id += 1
        fresh = list(range(next_id, next_id + anonymous))
        added.extend((i, None, stamp) for i in fresh)
        if added:
            bulk.load("persons", ("id", "email", "created_at"), added)
        rows = []
        for cid, (key, (email, stored, guest)) in enumerate(
                sorted(new.items()), bulk.id_block("customers", len(new))):
            person = persons[email] if email else fresh.pop()
            rows.append((cid, self.shop.id, key, person, guest, stored))
            self.known[key] = (cid, person, stored)
        bulk.load("customers", ("id", "shop_id", "platform_id", "person_id", "is_guest", "email"),
                  rows)
        if self.loaded is not None:
            self.loaded.add((key, cid, person, new[key][0]) for cid, _, key, person, _, _ in rows)


def store_new_orders(session: Session, shop: Shop, prepared: PreparedOrders, start: int,
                     stop: int) -> tuple[int, int, list[int]]:
    """Store the new orders among prepared orders ``start:stop`` in bulk; return (inserted,
    unchanged, positions left over).

    The returned positions (into ``prepared``) are the orders the caller must store one by one
    (see module docstring).
    """
    if start >= stop:
        return 0, 0, []
    bulk = Bulk(session)
    bulk.lock(shop)
    pids, fingerprints, people_of = prepared.pids, prepared.fingerprints, prepared.people
    expr, param = bulk.in_list(pids[start:stop])
    stored: dict[str, str] = {}
    if not (prepared.first_seen and session.info.get(ORDERS_LOCKED)):  # (else none is stored)
        stored = dict(bulk.query(f"SELECT o.platform_id, o.fingerprint FROM {expr} "
                                 "orders o ON o.shop_id = ? AND o.platform_id = v.k",
                                 (param, shop.id)))
    waiting = {r[0] for r in bulk.query(
        f"SELECT t.platform_id FROM {expr} order_tombstones t "
        "ON t.shop_id = ? AND t.platform_id = v.k UNION "
        f"SELECT p.order_platform_id FROM {expr} pending_refunds p "
        "ON p.shop_id = ? AND p.order_platform_id = v.k", (param, shop.id, param, shop.id))}
    unchanged = 0
    slow: list[int] = []
    fast: list[int] = []
    if stored or waiting:
        for i in range(start, stop):
            pid = pids[i]
            if pid in stored:
                if stored[pid] == fingerprints[i]:
                    unchanged += 1
                else:
                    slow.append(i)
            elif pid in waiting:
                slow.append(i)
            else:
                fast.append(i)
    else:
        fast = list(range(start, stop))
    if not fast:
        return 0, unchanged, slow
    people = _People(bulk, shop, session.info.get(LOADED_CUSTOMERS))
    people.find({people_of[i][0] for i in fast})
    known, mail_hashes = people.known, people.mail_hashes
    new: dict[str, tuple[str | None, str | None, bool]] = {}
    moving: set[str] = set()
    take: list[int] = []
    for i in fast:
        key, email, given, guest = people_of[i]
        if key in moving:
            slow.append(i)
            continue
        if key in mail_hashes:  # created by this first load
            changed = mail_hash(email) != mail_hashes[key]
        elif key in known:  # (the same e-mail as stored needs no normalising)
            was = known[key][2]
            changed = was != given and normalize_email(was) != email
        elif key in new:
            changed = new[key][0] != email
        else:
            new[key] = (email, given, guest)
            take.append(i)
            continue
        if email and changed:  # an e-mail change re-homes the customer: slow path
            moving.add(key)
            slow.append(i)
        else:
            take.append(i)
    people.create(new)
    shop_id, rows_of = shop.id, prepared.rows
    rows = []
    for i in take:
        cid, person, _ = known[people_of[i][0]]
        rows.append((shop_id, pids[i], cid, person, *rows_of[i]))
    order_ids = bulk.insert_orders(rows) if rows else {}
    refunds, codes, lines = [], [], []
    inserted = 0
    extras = prepared.extras
    for i in take:
        oid = order_ids.get(pids[i])
        if oid is None:  # inserted meanwhile by a concurrent writer: compare versions
            slow.append(i)
            continue
        inserted += 1
        if i in extras:
            its_refunds, its_codes, its_lines = extras[i]
            refunds.extend((oid, *r) for r in its_refunds)
            codes.extend((oid, *c) for c in its_codes)
            lines.extend((oid, *li) for li in its_lines)
    if refunds:
        bulk.load("refunds", ("order_id", "platform_id", "amount", "created_ts"), refunds)
    if codes:
        bulk.load("order_discounts", ("order_id", "code", "code_key"), codes)
    if lines:
        bulk.load("order_lines", ("order_id", "quantity", "price", "sku", "product_id", "title"),
                  lines)
    slow.sort()
    if people.loaded is not None:  # the one-by-one path may move these customers
        people.loaded.forget(people_of[i][0] for i in slow)
    return inserted, unchanged, slow


def analyze_after_load(session: Session, inserted: int) -> bool:
    """Refresh PostgreSQL's planner statistics after a large load; return whether it ran.

    Autovacuum analyses a grown table only after a delay, and until then the first report plans
    with the statistics of the empty table; SQLite plans without them, so this is PostgreSQL only.
    """
    return inserted >= ANALYZE_AFTER and refresh_statistics(session)


class Growth:
    """When a long load refreshes PostgreSQL's statistics: at ANALYZE_AFTER new rows, then at each
    doubling (the lookups of the next batches must not be planned for the tables it started
    with: an index on shop_id plus a filter, or a hash join over the whole table, got slower with
    every batch; autovacuum's analyse may be late or off)."""

    def __init__(self) -> None:
        self.due = ANALYZE_AFTER

    def check(self, session: Session, inserted: int) -> bool:
        """Refresh the statistics if ``inserted`` reached the next mark; return whether it ran."""
        if inserted < self.due:
            return False
        self.due = 2 * inserted
        return refresh_statistics(session)


def refresh_statistics(session: Session, tables: Sequence[str] = LOADED_TABLES) -> bool:
    """Run ANALYZE on the tables (PostgreSQL; SQLite plans without statistics); return whether
    it ran."""
    if session.get_bind().dialect.name != "postgresql":
        return False
    session.execute(text("ANALYZE " + ", ".join(tables)))
    return True


def defer_order_indexes(session: Session, shop: Shop) -> list[Index | ForeignKeyConstraint]:
    """Drop the orders table's secondary indexes (PostgreSQL: and foreign keys) if the table holds
    no order at all; return what was dropped, for :func:`rebuild_indexes` at the end of the same
    transaction.

    A first load sorts each index once instead of inserting every row into five B-trees (1M
    orders: the indexes are most of the database's work). The drop is part of the load's
    transaction, so a rolled-back load leaves them in place; on PostgreSQL it holds the orders,
    customers and persons tables (reads included) until the load commits, which an empty orders
    table (no other shop's orders yet) allows; shops and the webhook inbox stay free.
    """
    Bulk(session).lock(shop)  # SQLite: the DDL runs inside the load's transaction, not before it
    if session.scalar(select(Order.id).limit(1)) is not None:
        return []
    connection = session.connection()
    deferred: list[Index | ForeignKeyConstraint] = sorted(Order.__table__.indexes,
                                                          key=lambda ix: str(ix.name))
    for index in deferred:
        index.drop(connection)  # type: ignore[union-attr]
    if connection.dialect.name == "postgresql":
        # PostgreSQL checks a foreign key per row with a query and a row lock on the parent;
        # added back, the constraint checks all rows in one join (what pg_restore does). Not the
        # key to shops: dropping a key locks its parent table until the load commits, and the
        # webhook receiver reads shops and stores deliveries that refer to them
        keys = sorted((fk for fk in Order.__table__.foreign_key_constraints
                       if fk.referred_table.name != "shops"), key=lambda fk: str(fk.name))
        for key in keys:
            connection.execute(DropConstraint(key))
        deferred += keys
    # PostgreSQL: the drop holds the table until the load commits; SQLite: the write lock does
    session.info[ORDERS_LOCKED] = True
    session.info[LOADED_CUSTOMERS] = LoadedCustomers(complete=session.scalar(
        select(Customer.id).where(Customer.shop_id == shop.id).limit(1)) is None)
    return deferred


def rebuild_indexes(session: Session, deferred: Sequence[Index | ForeignKeyConstraint]) -> None:
    """Create what :func:`defer_order_indexes` dropped again, from the loaded rows (a foreign key
    that a row breaks fails here, and the load with it)."""
    session.info.pop(ORDERS_LOCKED, None)
    session.info.pop(LOADED_CUSTOMERS, None)
    connection = session.connection()
    sqlite = connection.dialect.name == "sqlite" and bool(deferred)
    if sqlite:  # sort with helper threads: the parser workers are done by now
        connection.exec_driver_sql(f"PRAGMA threads={min(os.cpu_count() or 1, 4)}")
    try:
        for item in deferred:
            if isinstance(item, Index):
                item.create(connection)
            else:
                connection.execute(AddConstraint(item))
    finally:
        if sqlite:
            connection.exec_driver_sql("PRAGMA threads=0")
