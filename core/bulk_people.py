"""Set-based storage of customers and events: the fast path of
:func:`~stammkunde.core.store.upsert_customers` and :func:`~stammkunde.core.store.upsert_events`.

A batch is stored with a handful of statements instead of a few per record:

- one query reads the stored customers the batch names, one the persons of the e-mails it needs;
- the batch is walked in order as the ORM path walks it (:class:`Directory`): new customers and
  persons are numbered in the order the ORM would create them (SQLite: on from the largest id;
  PostgreSQL: ids drawn from the sequence in that order), and inserted in bulk, sorted by key on
  PostgreSQL (``ON CONFLICT DO NOTHING``: two writers take their locks in one order);
- customer fields and events are merged in Python (newest ``updated_at`` wins, later versions of a
  batch after earlier ones) and written with one ``INSERT`` and one ``UPDATE`` of the changed rows.

The statements bypass the ORM, so they write what the ORM would: times as naive UTC in SQLAlchemy's
text format (PostgreSQL parses it), booleans as the driver writes them. What the fast path does
not take is handed back to the caller, untouched and in its original order, for the ORM path: the
records of a customer whose e-mail changes in the batch (re-homing moves its orders and events to
another person) and, on PostgreSQL, of a customer or event a concurrent writer inserted meanwhile.
The customers and persons they need are created here all the same, in the ORM's order, and their
new events get their ids here, so every row is numbered as the ORM path numbers it. One exception:
on SQLite a customer without e-mail that gains one hands back its whole batch, because the ORM path
deletes the customer's person on the way and SQLite gives its id to the next new person.

PostgreSQL values travel as one ``jsonb`` array per statement (``json`` is parsed again by every
``->>``; the driver would escape a ``text[]`` value by value).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from stammkunde.core.bulk import Bulk
from stammkunde.core.identity import normalize_email
from stammkunde.core.models import Customer, Event, Shop
from stammkunde.core.prepare import _is_newer, when_text
from stammkunde.core.records import CustomerRecord, EventRecord
from stammkunde.core.timeutil import epoch_seconds, now

#: Columns a customer record sets, with their PostgreSQL types (values travel as JSON text).
CUSTOMER_FIELDS = (
    ("first_name", "varchar"), ("last_name", "varchar"), ("accepts_marketing", "bool"),
    ("locale", "varchar"), ("tags", "text"), ("created_at", "timestamp"),
    ("updated_at", "timestamp"), ("is_guest", "bool"),
)
#: Columns of an event a record sets, with their PostgreSQL types.
EVENT_FIELDS = (
    ("customer_id", "int"), ("person_id", "int"), ("kind", "varchar"),
    ("occurred_at", "timestamp"), ("occurred_ts", "bigint"), ("points", "int"),
)


def stored_text(value: Any) -> Any:
    """Return a stored time as :func:`when_text` writes it (PostgreSQL returns a datetime)."""
    if isinstance(value, datetime):
        return value.isoformat(" ", "microseconds")[:26]
    return value


def stored_instant(value: str | datetime | None) -> datetime | None:
    """Return a stored time (naive UTC, SQLite: text) as an aware instant."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC)


def new_ids(bulk: Bulk, table: str, count: int) -> list[int]:
    """Return ids for ``count`` new rows of a table, in the order the ORM would number them.

    SQLite (write lock held): on from the largest id, as SQLite numbers a row without id;
    PostgreSQL: drawn from the table's sequence, ascending.
    """
    if count == 0:
        return []
    if not bulk.pg:
        first = bulk.next_id(table)
        return list(range(first, first + count))
    return [r[0] for r in bulk.query(
        f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) AS id "
        "FROM generate_series(1, %s) ORDER BY id", (count,))]


def _write(bulk: Bulk, table: str, columns: Sequence[tuple[str, str]],
           rows: Sequence[Sequence[Any]], conflict: str | None = None) -> set[Any]:
    """Insert rows (PostgreSQL: ``ON CONFLICT (conflict) DO NOTHING``); return the first column
    of the rows inserted (SQLite, under the write lock: all of them)."""
    if not rows:
        return set()
    names = ", ".join(c for c, _ in columns)
    if not bulk.pg:
        bulk.raw.executemany(f"INSERT INTO {table} ({names}) VALUES "
                             f"({', '.join('?' * len(columns))})", rows)
        return {row[0] for row in rows}
    values = ", ".join(f"(x->>{i})::{t}" for i, (_, t) in enumerate(columns))
    tail = f" ON CONFLICT ({conflict}) DO NOTHING" if conflict else ""
    return {r[0] for r in bulk.query(
        f"INSERT INTO {table} ({names}) SELECT {values} FROM jsonb_array_elements(%s::jsonb) AS x"
        f"{tail} RETURNING {columns[0][0]}", (json.dumps([list(row) for row in rows]),))}


def _update(bulk: Bulk, table: str, columns: Sequence[tuple[str, str]],
            rows: Sequence[Sequence[Any]]) -> None:
    """Set the columns of rows given as (id, *values)."""
    if not rows:
        return
    if not bulk.pg:
        sets = ", ".join(f"{c} = ?" for c, _ in columns)
        bulk.raw.executemany(f"UPDATE {table} SET {sets} WHERE id = ?",
                             [(*row[1:], row[0]) for row in rows])
        return
    sets = ", ".join(f"{c} = (x->>{i + 1})::{t}" for i, (c, t) in enumerate(columns))
    bulk.query(f"UPDATE {table} AS t SET {sets} FROM jsonb_array_elements(%s::jsonb) AS x "
               "WHERE t.id = (x->>0)::int", (json.dumps([list(row) for row in rows]),))


def _forget(session: Session) -> None:
    """Expire the session's customers and events: the statements changed them behind its back."""
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Customer | Event):
            session.expire(obj)


class Directory:
    """The customers a batch names, found or created in bulk, with the persons of their e-mails.

    ``stored`` holds the stored customers (key -> id, person id, e-mail, then ``fields``);
    after :meth:`create`, ``ids`` holds every customer of the batch that the fast path may use
    (key -> customer id, person id), ``moving`` the keys whose e-mail changes in the batch and
    ``conflicted`` (PostgreSQL) the keys a concurrent writer inserted first.
    """

    def __init__(self, bulk: Bulk, shop: Shop, fields: Sequence[tuple[str, str]]) -> None:
        self.bulk = bulk
        self.shop = shop
        self.fields = fields
        self.stored: dict[str, tuple[Any, ...]] = {}
        self.ids: dict[str, tuple[int, int]] = {}
        self.moving: set[str] = set()
        self.created: set[str] = set()
        self.conflicted: set[str] = set()
        #: a customer without e-mail gains one: the ORM path deletes its person meanwhile, and
        #: SQLite may give that id to the next new person (see :meth:`ahead`)
        self.orphans = False
        self._calls: list[str | None] = []  # the ORM's person_for calls that may create a person
        self._new: dict[str, tuple[int, bool, str | None]] = {}  # key -> call, guest, e-mail

    def find(self, keys: Iterable[str]) -> None:
        """Read the stored customers among ``keys``."""
        keys = sorted(set(keys))
        if not keys:
            return
        times = [3 + i for i, (_, t) in enumerate(self.fields) if t == "timestamp"]
        expr, param = self.bulk.in_list(keys)
        names = "".join(f", c.{c}" for c, _ in self.fields)
        for pid, *row in self.bulk.query(
                f"SELECT c.platform_id, c.id, c.person_id, c.email{names} FROM {expr} "
                "customers c ON c.shop_id = ? AND c.platform_id = v.k", (param, self.shop.id)):
            for i in times:
                row[i] = stored_text(row[i])
            self.stored[pid] = tuple(row)
            self.ids[pid] = (row[0], row[1])

    def plan(self, wanted: Iterable[tuple[str, str | None, bool]]) -> None:
        """Walk the batch's (key, e-mail as given, is a guest) in order, as the ORM path does:
        note the new customers, the persons it would create and the e-mail changes."""
        state = {key: normalize_email(row[2]) for key, row in self.stored.items()}
        calls, new = self._calls, self._new
        for key, given, guest in wanted:
            email = normalize_email(given)
            if key not in state:
                new[key] = (len(calls), guest, given.strip() if given else None)
                calls.append(email)
                state[key] = email
            elif email and state[key] != email:  # re-homed onto the new e-mail's person
                self.moving.add(key)
                self.orphans = self.orphans or state[key] is None
                calls.append(email)
                state[key] = email

    def ahead(self) -> bool:
        """Return whether the whole batch must take the ORM path to number persons alike."""
        return self.orphans and not self.bulk.pg

    def create(self, values: Mapping[str, Sequence[Any]]) -> None:
        """Insert the planned persons and customers (``values``: a new customer's ``fields``,
        else NULL but ``is_guest``), numbered as the ORM would number them."""
        bulk = self.bulk
        emails = sorted({e for e in self._calls if e})
        persons: dict[str, int] = {}
        if emails:
            expr, param = bulk.in_list(emails)
            persons = dict(bulk.query(
                f"SELECT p.email, p.id FROM {expr} persons p ON p.email = v.k", (param,)))
        ref: list[int] = []  # call -> index into the new persons, or the stored person's id
        fresh: list[str | None] = []
        planned: dict[str, int] = {}
        for email in self._calls:
            if email is None or (email not in persons and email not in planned):
                if email is not None:
                    planned[email] = len(fresh)
                ref.append(len(fresh))
                fresh.append(email)
            else:
                ref.append(-1 if email in persons else planned[email])
        ids = new_ids(bulk, "persons", len(fresh))
        stamp = when_text(now())
        rows = sorted(zip(ids, fresh, [stamp] * len(fresh), strict=True),
                      key=lambda r: (r[1] is None, r[1] or ""))
        inserted = _write(bulk, "persons", (("id", "int"), ("email", "varchar"),
                                            ("created_at", "timestamp")), rows, "email")
        lost = sorted({e for i, e in zip(ids, fresh, strict=True) if e and i not in inserted})
        if lost:  # a concurrent writer created these persons first
            expr, param = bulk.in_list(lost)
            persons.update(bulk.query(
                f"SELECT p.email, p.id FROM {expr} persons p ON p.email = v.k", (param,)))
        person_ids = [persons[e] if e and e in persons else ids[i] for i, e in
                      enumerate(fresh)]
        if not self._new:
            return
        customer_ids = new_ids(bulk, "customers", len(self._new))
        guest_at = [i for i, (c, _) in enumerate(self.fields) if c == "is_guest"]
        rows = []
        person_of: dict[str, int] = {}
        for cid, (key, (call, guest, given)) in zip(customer_ids, self._new.items(), strict=True):
            email = self._calls[call]
            person = persons[email] if ref[call] < 0 and email else person_ids[ref[call]]
            person_of[key] = person
            row = list(values.get(key) or [None] * len(self.fields))
            if key not in values:
                for i in guest_at:
                    row[i] = guest
            rows.append((key, cid, self.shop.id, person, given, *row))
            self.ids[key] = (cid, person)
        if bulk.pg:  # one order of unique-index locks for every writer
            rows.sort(key=lambda r: r[0])
        columns = (("platform_id", "varchar"), ("id", "int"), ("shop_id", "int"),
                   ("person_id", "int"), ("email", "varchar"), *self.fields)
        self.created = _write(bulk, "customers", columns, rows, "shop_id, platform_id")
        self.conflicted = set(self._new) - self.created
        if self.conflicted:
            for key in self.conflicted:
                del self.ids[key]
            # the persons made for them alone (no e-mail) belong to nobody now
            alone = [person_of[k] for k in self.conflicted if self._calls[self._new[k][0]] is None]
            if alone:
                bulk.query("DELETE FROM persons WHERE id = ANY(%s)", (alone,))


def store_customers(session: Session, shop: Shop, records: Sequence[CustomerRecord],
                    ) -> tuple[int, int, int, list[int], set[str]]:
    """Store customer records in bulk; return (inserted, updated, stale, positions left over,
    keys of the customers created).

    The records must have platform ids and aware times (the caller checks). The positions left
    over are the records the caller must store through the ORM (see module docstring); a
    customer created here for one of them counts as new there.
    """
    bulk = Bulk(session)
    bulk.lock(shop)
    people = Directory(bulk, shop, CUSTOMER_FIELDS)
    people.find(r.platform_id for r in records)
    people.plan((r.platform_id, r.email, False) for r in records)
    if people.ahead():
        return 0, 0, 0, list(range(len(records))), set()
    moving, stored = people.moving, people.stored
    merged: dict[str, list[Any]] = {}
    newest: dict[str, datetime | None] = {}
    counts: dict[str, list[int]] = {}  # key -> [inserted, updated, stale]
    slow: list[int] = []
    for i, rec in enumerate(records):
        key = rec.platform_id
        if key in moving:
            slow.append(i)
            continue
        row = merged.get(key)
        if row is None:
            old = stored.get(key)
            row = merged[key] = list(old[3:]) if old else [None] * 7 + [False]
            newest[key] = stored_instant(old[9]) if old else None
            counts[key] = [0, 0, 0]
            existed = old is not None
        else:
            existed = True
        if existed and not _is_newer(rec.updated_at, newest[key]):
            counts[key][2] += 1
            continue
        row[0] = rec.first_name
        row[1] = rec.last_name
        if rec.accepts_marketing is not None:  # absent fields keep what is stored
            row[2] = rec.accepts_marketing
        if rec.locale is not None:
            row[3] = rec.locale
        if rec.tags is not None:
            row[4] = ",".join(rec.tags) if rec.tags else None
        if rec.created_at:
            row[5] = when_text(rec.created_at)
        row[6] = when_text(rec.updated_at)
        row[7] = False
        newest[key] = rec.updated_at
        counts[key][1 if existed else 0] += 1
    people.create({k: row for k, row in merged.items() if k not in stored})
    if people.conflicted:
        slow.extend(i for i, r in enumerate(records) if r.platform_id in people.conflicted)
        slow.sort()
    changed = [(stored[k][0], *row) for k, row in merged.items()
               if k in stored and tuple(row) != stored[k][3:]]
    _update(bulk, "customers", CUSTOMER_FIELDS, changed)
    _forget(session)
    kept = [c for k, c in counts.items() if k not in people.conflicted]
    return (sum(c[0] for c in kept), sum(c[1] for c in kept), sum(c[2] for c in kept), slow,
            people.created)


def store_events(session: Session, shop: Shop, records: Sequence[EventRecord],
                 ) -> tuple[int, int, list[int], dict[str, int]]:
    """Store event records in bulk; return (inserted, unchanged, positions left over, ids of
    their new events).

    The records must have aware times and a customer id or an e-mail (the caller checks). The
    positions left over are the records the caller must store through the ORM: those of a
    customer whose e-mail changes, and every record of an event one of them names; the ids are
    numbered with the others, in the order the ORM would number them.
    """
    bulk = Bulk(session)
    bulk.lock(shop)
    keys = [r.customer_id or f"guest:{normalize_email(r.email)}" for r in records]
    people = Directory(bulk, shop, (("is_guest", "bool"),))
    people.find(keys)
    people.plan(zip(keys, (r.email for r in records), (r.customer_id is None for r in records),
                    strict=True))
    if people.ahead():
        return 0, 0, list(range(len(records))), {}
    people.create({})
    aside = people.moving | people.conflicted
    slow_pids = {r.platform_id for r, k in zip(records, keys, strict=True) if k in aside}
    pids = sorted({r.platform_id for r in records})
    stored: dict[str, tuple[Any, ...]] = {}
    if pids:
        expr, param = bulk.in_list(pids)
        names = "".join(f", e.{c}" for c, _ in EVENT_FIELDS)
        for pid, eid, *row in bulk.query(
                f"SELECT e.platform_id, e.id{names} FROM {expr} "
                "events e ON e.shop_id = ? AND e.platform_id = v.k", (param, shop.id)):
            row[3] = stored_text(row[3])
            stored[pid] = (eid, *row)
    final: dict[str, tuple[Any, ...]] = {}
    seen: dict[str, int] = {}  # pid -> records of it
    new: list[str] = []  # new events in order of first appearance
    ids = people.ids
    for rec, key in zip(records, keys, strict=True):
        pid = rec.platform_id
        if pid not in stored and pid not in seen:
            new.append(pid)
        seen[pid] = seen.get(pid, 0) + 1
        if pid in slow_pids:
            continue
        final[pid] = (*ids[key], rec.kind.strip().lower(), when_text(rec.occurred_at),
                      epoch_seconds(rec.occurred_at), rec.points)
    numbered = dict(zip(new, new_ids(bulk, "events", len(new)), strict=True))
    rows = [(pid, eid, shop.id, *final[pid]) for pid, eid in numbered.items() if pid in final]
    if bulk.pg:
        rows.sort(key=lambda r: r[0])
    inserted = _write(bulk, "events", (("platform_id", "varchar"), ("id", "int"),
                                       ("shop_id", "int"), *EVENT_FIELDS), rows,
                      "shop_id, platform_id")
    lost = set(new) - inserted  # a concurrent writer inserted these: the ORM path compares
    _update(bulk, "events", EVENT_FIELDS,
            [(stored[pid][0], *row) for pid, row in final.items()
             if pid in stored and row != stored[pid][1:]])
    _forget(session)
    reserved = {pid: numbered[pid] for pid in slow_pids if pid in numbered}
    slow_pids |= lost
    slow = [i for i, r in enumerate(records) if r.platform_id in slow_pids]
    unchanged = sum(n for pid, n in seen.items() if pid not in slow_pids) - len(inserted)
    return len(inserted), unchanged, slow, reserved
