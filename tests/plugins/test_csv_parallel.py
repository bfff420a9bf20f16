"""A large CSV file is parsed by worker processes: the same batches, rows and refusals as when
one process reads it, and a first load builds the orders' indexes after the rows."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select
from sqlalchemy.orm import Session

from stammkunde.core import bulk
from stammkunde.core.errors import UserError
from stammkunde.core.models import Customer, Order, Person, Refund, Shop
from stammkunde.core.records import OrderDeleted
from stammkunde.core.shops import create_shop
from stammkunde.core.store import delete_orders, prepare_orders
from stammkunde.plugins import get_plugins, ingest
from stammkunde.plugins.adapter import ShopConnection
from stammkunde.plugins.csvfile import adapter
from stammkunde.plugins.ingest import ImportRejected, import_file
from tests.plugins.test_csvfile import HEADER

SHOP = ShopConnection(name="till", platform="csv", currency="EUR", timezone="Europe/Berlin")


def messy_file(path: Path, n: int = 1200, *, quotes_from: int | None = 900) -> Path:
    """Orders with every kind of row the reader meets: bad values, repeated ids (near and far),
    blank lines, CRLF line ends, too many fields, and (from a row on) quoted fields with commas
    and line breaks."""
    rnd = random.Random(7)
    out = ["\ufeff" + HEADER]
    for i in range(1, n + 1):
        pid = str(i if rnd.random() > 0.01 else rnd.randrange(1, i + 1))  # repeats, near or far
        customer = f"c{rnd.randrange(n // 3)}" if rnd.random() < 0.7 else ""
        email = f"p{rnd.randrange(n // 3)}@example.com" if not customer or rnd.random() < .5 \
            else ""
        total = f"{rnd.randrange(100, 9000) / 100:.2f}"
        refunded = f"{float(total) / 2:.2f}" if rnd.random() < 0.1 else ""
        status = rnd.choice(["paid", "paid", "pending", "cancelled", "refunded"])
        code = "SPRING" if rnd.random() < 0.1 else ""
        created = f"2024-{rnd.randrange(1, 13):02d}-{rnd.randrange(1, 29):02d}T10:00:00"
        roll = rnd.random()
        if roll < 0.01:
            total = "abc"
        elif roll < 0.02:
            email = "not-an-address"
        row = f"{pid},{customer},{email},{created},EUR,{total},{refunded},{status},pos,{code}"
        if quotes_from is not None and i >= quotes_from and rnd.random() < 0.2:
            row = (f'{pid},{customer},{email or "q@example.com"},{created},EUR,{total},,paid,'
                   f'"web, mobile",\"A\nB;C\"')
        if roll > 0.995:
            row += ",extra"
        out.append(row + ("\r" if rnd.random() < 0.05 else ""))
        if rnd.random() < 0.02:
            out.append("")
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path


def batches(path: Path, workers: int, monkeypatch) -> list[tuple]:  # type: ignore[no-untyped-def]
    """Every batch as plain data: records, refusals, and whether it came prepared."""
    monkeypatch.setenv("STAMMKUNDE_IMPORT_WORKERS", str(workers))
    got = []
    for batch in adapter.read_csv(path, SHOP):
        records = list(batch.records)
        prepared = batch.meta.get("prepared")
        if prepared is not None:  # what the worker sent is what this process would prepare
            assert prepared.first_seen  # (ids of earlier batches were refused)
            assert replace(prepared, first_seen=False) == prepare_orders(
                records, SHOP.currency, SHOP.timezone)
        got.append((records, batch.meta["rejected"], batch.meta["rows"], prepared is not None))
    return got


@pytest.mark.parametrize("quotes_from", [900, 1, None])
def test_workers_read_exactly_what_one_process_reads(tmp_path, monkeypatch, quotes_from) -> None:
    path = messy_file(tmp_path / "orders.csv", quotes_from=quotes_from)
    monkeypatch.setattr(adapter, "BLOCK", 4096)  # blocks of ~50 lines: many batches
    monkeypatch.setattr(adapter, "BATCH", 50)
    alone = batches(path, 0, monkeypatch)
    parallel = batches(path, 2, monkeypatch)
    flat = [[(r, rej) for r, rej, _, _ in run] for run in (alone, parallel)]
    records = [[r for recs, _ in run for r in recs] for run in flat]
    rejected = [[r for _, rej in run for r in rej] for run in flat]
    assert records[0] == records[1]
    assert rejected[0] == rejected[1]
    assert len(records[0]) > 1000 and len(rejected[0]) > 20
    reasons = {r.reason.split(" ")[0] for r in rejected[0]}
    assert {"order_id", "more", "total", "email"} <= reasons
    # a batch with an id seen in an earlier batch is read again here, without prepared rows
    assert any(prepared for *_, prepared in parallel)
    assert not any(prepared for *_, prepared in alone)


def test_a_bad_byte_names_its_line_when_workers_read(tmp_path, monkeypatch) -> None:
    path = messy_file(tmp_path / "orders.csv", quotes_from=None)
    lines = path.read_bytes().split(b"\n")
    lines[700] = lines[700].replace(b"EUR", b"E\xffR")
    path.write_bytes(b"\n".join(lines))
    monkeypatch.setattr(adapter, "BLOCK", 4096)
    for workers in (0, 2):
        monkeypatch.setenv("STAMMKUNDE_IMPORT_WORKERS", str(workers))
        with pytest.raises(UserError, match=r"not UTF-8 \(bad byte at line 701\)"):
            list(adapter.read_csv(path, SHOP))


def test_worker_count_comes_from_the_environment_or_the_file_size() -> None:
    assert adapter.import_workers(10**6, {"STAMMKUNDE_IMPORT_WORKERS": "0"}) == 0
    assert adapter.import_workers(5, {"STAMMKUNDE_IMPORT_WORKERS": "3"}) == 3
    assert adapter.import_workers(adapter.PARALLEL_FROM - 1, {}) == 0
    with pytest.raises(UserError, match="STAMMKUNDE_IMPORT_WORKERS must be a number"):
        adapter.import_workers(5, {"STAMMKUNDE_IMPORT_WORKERS": "two"})


def stored(sessions, shop: str) -> list[tuple]:  # type: ignore[no-untyped-def]
    """Every stored order of a shop with its customer, person, refunds and codes."""
    with sessions() as s:
        shop_id = s.scalar(select(Shop.id).where(Shop.name == shop))
        orders = s.scalars(select(Order).where(Order.shop_id == shop_id)).all()
        customers = {c.id: c for c in s.scalars(select(Customer))}
        persons = {p.id: p.email for p in s.scalars(select(Person))}
        return sorted(
            (o.platform_id, o.created_at, o.total, o.status, o.channel, o.refunded,
             o.refund_ts, o.cancelled_ts, o.created_month, o.fingerprint,
             customers[o.customer_id].platform_id, customers[o.customer_id].email,
             customers[o.customer_id].is_guest, persons[o.person_id],
             sorted((r.amount, r.created_ts) for r in o.refunds),
             sorted(d.code for d in o.discounts))
            for o in orders)


def indexes(sessions) -> set[str]:  # type: ignore[no-untyped-def]
    with sessions() as s:
        return {ix["name"] for ix in inspect(s.connection()).get_indexes("orders")}


def test_a_parallel_first_load_stores_what_one_process_stores(sessions, tmp_path,
                                                              monkeypatch) -> None:
    path = messy_file(tmp_path / "orders.csv")
    monkeypatch.setattr(adapter, "BLOCK", 4096)
    monkeypatch.setattr(ingest, "DEFER_INDEXES_FROM", 100)
    with sessions.begin() as s:
        for name in ("parallel", "alone"):
            create_shop(s, name, "csv", timezone="Europe/Berlin")
    all_indexes = indexes(sessions)
    postgres = sessions.kw["bind"].dialect.name == "postgresql"
    assert {"ix_orders_history", "ix_orders_shop_ts"} <= all_indexes
    dropped: list[str] = []
    original = bulk.defer_order_indexes

    def watched(session, shop):  # type: ignore[no-untyped-def]
        found = original(session, shop)
        dropped.extend(str(ix.name) for ix in found)
        return found

    monkeypatch.setattr(ingest, "defer_order_indexes", watched)
    results = {}
    for name, workers in (("parallel", 2), ("alone", 0)):  # the first load finds no orders
        monkeypatch.setenv("STAMMKUNDE_IMPORT_WORKERS", str(workers))
        results[name] = import_file(sessions, get_plugins(), name, path, skip_invalid=True)
        assert indexes(sessions) == all_indexes
    # the first load rebuilt the four secondary indexes (PostgreSQL: and the foreign keys); the
    # second found orders and kept them
    keys = ["fk_orders_customer_id_customers", "fk_orders_person_id_persons",
            "fk_orders_shop_id_shops"]
    assert sorted(dropped) == sorted(["ix_orders_customer_id", "ix_orders_history",
                                      "ix_orders_shop_channel", "ix_orders_shop_ts"]
                                     + (keys[:2] if postgres else []))
    with sessions() as s:
        assert sorted(fk["name"] for fk in inspect(s.connection()).get_foreign_keys("orders")) \
            == keys
    a, b = results["parallel"], results["alone"]
    assert (a.rows, a.stats.inserted, len(a.rejected)) == (b.rows, b.stats.inserted,
                                                           len(b.rejected))
    assert a.rejected == b.rejected
    assert stored(sessions, "parallel") == stored(sessions, "alone")
    assert len(stored(sessions, "alone")) == b.stats.inserted > 1000
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Refund)) > 0
    monkeypatch.setenv("STAMMKUNDE_IMPORT_WORKERS", "2")  # again: nothing changes
    again = import_file(sessions, get_plugins(), "parallel", path, skip_invalid=True)
    assert (again.stats.inserted, again.stats.updated, again.stats.unchanged) == (
        0, 0, b.stats.inserted)


def test_a_refused_first_load_keeps_the_indexes(sessions, tmp_path, monkeypatch) -> None:
    path = messy_file(tmp_path / "orders.csv")
    monkeypatch.setattr(ingest, "DEFER_INDEXES_FROM", 100)
    monkeypatch.setenv("STAMMKUNDE_IMPORT_WORKERS", "2")
    with sessions.begin() as s:
        create_shop(s, "till", "csv")
    before = indexes(sessions)
    with pytest.raises(ImportRejected):
        import_file(sessions, get_plugins(), "till", path)
    assert indexes(sessions) == before
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Order)) == 0


def test_seen_ids_runs_stop_growing_at_their_cap(monkeypatch) -> None:
    import numpy as np

    monkeypatch.setattr(adapter, "MAX_RUN", 250)
    seen = adapter.SeenIds()
    for lo in range(0, 1000, 100):
        seen.add(np.arange(lo, lo + 100, dtype=np.int64) * 7, np.arange(lo, lo + 100) + 2)
    assert max(len(keys) for keys, _ in seen.runs) <= 250
    assert sum(len(keys) for keys, _ in seen.runs) == 1000
    found = seen.find(np.array([0, 7 * 999, 7 * 500, 3, 7 * 1000], dtype=np.int64))
    assert found.tolist() == [2, 1001, 502, 0, 0]


def test_webhooks_are_stored_while_a_first_load_holds_the_orders(sessions, database_url,
                                                                 tmp_path, monkeypatch) -> None:
    """The receiver's two statements (find the shop, store the delivery) do not wait for a first
    load: it locks orders, customers and persons, not shops or the inbox."""
    from stammkunde.core.db import make_engine
    from stammkunde.core.inbox_models import InboxDelivery
    from stammkunde.plugins.adapter import WebhookEnvelope
    from stammkunde.webhooks.inbox import find_shop, record_delivery

    path = messy_file(tmp_path / "orders.csv", quotes_from=None)
    monkeypatch.setattr(ingest, "DEFER_INDEXES_FROM", 100)
    monkeypatch.setattr(adapter, "BATCH", 200)
    monkeypatch.setenv("STAMMKUNDE_IMPORT_WORKERS", "0")
    with sessions.begin() as s:
        create_shop(s, "till", "csv")
        create_shop(s, "web", "shopify", domain="web.myshopify.com")
    postgres = database_url.startswith("postgresql")
    options = {"connect_args": {"options": "-c lock_timeout=2000"}} if postgres else {}
    other = make_engine(database_url, **options)
    seen: list[int | None] = []

    def during_load(done: int, total: int | None) -> None:  # called inside the import
        if seen or not postgres:  # (SQLite: one writer at a time, the load holds the file)
            return
        with other.connect() as conn, Session(bind=conn) as s:
            shop = find_shop(s, "shopify", "web.myshopify.com")
        assert shop is not None
        stored = record_delivery(other, WebhookEnvelope(
            platform="shopify", topic="orders/create", shop_domain="web.myshopify.com",
            delivery_id="d-1", raw_body=b"{}"), shop.id)
        seen.append(stored.id)

    try:
        result = import_file(sessions, get_plugins(), "till", path, skip_invalid=True,
                             progress=during_load)
    finally:
        other.dispose()
    assert result.stats.inserted > 1000
    if postgres:
        assert len(seen) == 1 and seen[0] is not None
        with sessions() as s:
            assert s.scalar(select(func.count()).select_from(InboxDelivery)) == 1


def test_a_first_load_does_not_look_up_orders(sessions, tmp_path, monkeypatch) -> None:
    """A first load's batches are not looked up in orders: the table was empty and the reader
    refuses repeated ids. A second shop's load is not a first load and looks them up."""
    path = messy_file(tmp_path / "orders.csv", quotes_from=None)
    monkeypatch.setattr(ingest, "DEFER_INDEXES_FROM", 100)
    monkeypatch.setenv("STAMMKUNDE_IMPORT_WORKERS", "2")
    with sessions.begin() as s:
        create_shop(s, "till", "csv")
        create_shop(s, "web", "csv")
    statements: list[str] = []
    query = bulk.Bulk.query

    def watched_query(self, statement, params):  # type: ignore[no-untyped-def]
        statements.append(statement)
        return query(self, statement, params)

    monkeypatch.setattr(bulk.Bulk, "query", watched_query)
    lookup = "SELECT o.platform_id, o.fingerprint"
    first = import_file(sessions, get_plugins(), "till", path, skip_invalid=True)
    assert first.stats.inserted > 1000
    assert not any(lookup in st for st in statements)
    if sessions.kw["bind"].dialect.name == "sqlite":  # the index builds' helper threads: gone
        with sessions() as s:
            assert s.connection().exec_driver_sql("PRAGMA threads").scalar_one() == 0
    statements.clear()
    second = import_file(sessions, get_plugins(), "web", path, skip_invalid=True)
    assert second.stats.inserted == first.stats.inserted
    assert any(lookup in st for st in statements)
    assert stored(sessions, "till") == stored(sessions, "web")


def test_a_first_load_that_breaks_a_key_fails_and_stores_nothing(sessions, tmp_path,
                                                                 monkeypatch) -> None:
    """An order of a customer that does not exist fails the whole load: per row on SQLite, when
    the dropped key is added back at the end on PostgreSQL."""
    import sqlite3

    from sqlalchemy.exc import IntegrityError

    path = messy_file(tmp_path / "orders.csv", quotes_from=None)
    monkeypatch.setattr(ingest, "DEFER_INDEXES_FROM", 100)
    monkeypatch.setenv("STAMMKUNDE_IMPORT_WORKERS", "2")
    with sessions.begin() as s:
        create_shop(s, "till", "csv")
    before = indexes(sessions)
    insert = bulk.Bulk.insert_orders

    def broken(self, rows):  # type: ignore[no-untyped-def]
        shop_id, pid, _customer, *rest = rows[0]
        return insert(self, [(shop_id, pid, 10**9, *rest), *rows[1:]])

    monkeypatch.setattr(bulk.Bulk, "insert_orders", broken)
    with pytest.raises((IntegrityError, sqlite3.IntegrityError), match=r"(?i)foreign key"):
        import_file(sessions, get_plugins(), "till", path, skip_invalid=True)
    assert indexes(sessions) == before
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Order)) == 0
        assert s.scalar(select(func.count()).select_from(Customer)) == 0


def test_a_first_load_finds_its_own_customers_without_the_database(sessions, tmp_path,
                                                                   monkeypatch) -> None:
    """A first load remembers the customers it created: only a customer whose e-mail changed
    (moved by the one-by-one path) is looked up again, and the result is what a load that
    looks every customer up stores."""
    rows = [HEADER]
    for i in range(1, 601):
        c = i % 60
        email = f"p{c}@example.com"
        if c == 5 and i > 300:  # c5 changes e-mail half-way
            email = "new5@example.com"
        if c == 6 and i in (366, 426):  # c6 changes e-mail, then back
            email = "other6@example.com"
        customer = f"c{c}" if c < 50 else ""  # c50..c59: guests, by e-mail
        rows.append(f"{i},{customer},{email},2024-01-{i % 28 + 1:02d}T10:00:00Z,EUR,10.00,,paid,"
                    ",")
    rows.append("601,c70,first70@example.com,2024-02-01T10:00:00Z,EUR,5.00,,paid,,")
    rows.append("602,c70,second70@example.com,2024-02-02T10:00:00Z,EUR,5.00,,paid,,")
    rows += [f"{i},c70,second70@example.com,2024-02-03T10:00:00Z,EUR,5.00,,paid,,"
             if i not in (650, 690) else  # c80: first stored one by one (a deletion waits)
             f"{i},c80,c80@example.com,2024-02-03T10:00:00Z,EUR,5.00,,paid,,"
             for i in range(603, 700)]
    path = tmp_path / "orders.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    monkeypatch.setattr(ingest, "DEFER_INDEXES_FROM", 100)
    monkeypatch.setattr(adapter, "BLOCK", 2048)  # batches of ~40 rows
    monkeypatch.setenv("STAMMKUNDE_IMPORT_WORKERS", "2")
    with sessions.begin() as s:
        for name in ("till", "web"):
            delete_orders(s, create_shop(s, name, "csv"), [OrderDeleted("650")])
    asked: list[str] = []
    query = bulk.Bulk.query

    def watched_query(self, statement, params):  # type: ignore[no-untyped-def]
        if statement.startswith("SELECT c.platform_id"):
            asked.extend(json.loads(params[0]))
        return query(self, statement, params)

    monkeypatch.setattr(bulk.Bulk, "query", watched_query)
    first = import_file(sessions, get_plugins(), "till", path)
    assert first.stats.inserted == 699
    assert {"c70", "c80"} <= set(asked) <= {"c5", "c6", "c70", "c80"}
    asked.clear()
    import_file(sessions, get_plugins(), "web", path)  # not a first load: asks for everyone
    assert len(set(asked)) == 62
    assert stored(sessions, "till") == stored(sessions, "web")
    with sessions() as s:
        emails = {pid: email for pid, email in s.execute(
            select(Customer.platform_id, Customer.email).join(Shop).where(Shop.name == "till"))}
    assert (emails["c5"], emails["c6"], emails["c70"]) == (
        "new5@example.com", "p6@example.com", "second70@example.com")


def test_a_load_runs_the_garbage_collector_less_often_and_restores_it(sessions, tmp_path,
                                                                     monkeypatch) -> None:
    import gc

    from stammkunde.core.prepare import LOAD_GC_THRESHOLD

    path = messy_file(tmp_path / "orders.csv", n=300, quotes_from=None)
    monkeypatch.setenv("STAMMKUNDE_IMPORT_WORKERS", "0")
    with sessions.begin() as s:
        create_shop(s, "till", "csv")
    before = gc.get_threshold()
    during: list[tuple[int, ...]] = []
    import_file(sessions, get_plugins(), "till", path, skip_invalid=True,
                progress=lambda done, total: during.append(gc.get_threshold()))
    assert during and set(during) == {LOAD_GC_THRESHOLD}
    assert gc.get_threshold() == before != LOAD_GC_THRESHOLD
    with pytest.raises(ImportRejected):  # (restored after a failed load too)
        import_file(sessions, get_plugins(), "till", path)
    assert gc.get_threshold() == before
