"""The CSV adapter: the stammkunde-csv format, its errors, and all-or-nothing imports."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from stammkunde.core.errors import UserError
from stammkunde.core.models import Order
from stammkunde.core.shops import create_shop
from stammkunde.plugins import get_plugins
from stammkunde.plugins.ingest import ImportRejected, import_file

HEADER = ("order_id,customer_id,email,created_at,currency,total,refunded,status,channel,"
          "discount_codes")


def write(tmp_path: Path, *lines: str, name: str = "orders.csv", header: str = HEADER) -> Path:
    path = tmp_path / name
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def shop(sessions):  # type: ignore[no-untyped-def]
    with sessions.begin() as s:
        create_shop(s, "till", "csv", timezone="Europe/Berlin")
    return "till"


def run(sessions, path: Path, **kw):  # type: ignore[no-untyped-def]
    return import_file(sessions, get_plugins(), "till", path, **kw)


def orders(sessions) -> list[Order]:  # type: ignore[no-untyped-def]
    with sessions() as s:
        return list(s.scalars(select(Order).order_by(Order.platform_id)))


def test_rows_become_orders_with_local_dates_refunds_and_codes(sessions, shop, tmp_path) -> None:
    path = write(
        tmp_path,
        "1,c1,,2024-03-01,EUR,19.90,,paid,POS,SUMMER;VIP",
        "2,,guest@x.de,2024-03-02T10:15:00+00:00,,10,4.5,,online,",
        "3,c1,,2024-03-03T12:00:00,EUR,7,,refunded,,",
    )
    result = run(sessions, path)
    assert (result.rows, result.stats.inserted, result.rejected) == (3, 3, [])
    o1, o2, o3 = orders(sessions)
    # a bare date is midnight in the shop's zone: 2024-03-01 00:00 Berlin = Feb 29 23:00 UTC
    assert o1.created_at.isoformat() == "2024-02-29T23:00:00+00:00"
    assert o1.channel == "pos" and sorted(d.code for d in o1.discounts) == ["SUMMER", "VIP"]
    assert o2.currency == "EUR" and [r.amount for r in o2.refunds] == [Decimal("4.5")]
    assert o3.status == "refunded" and [r.amount for r in o3.refunds] == [Decimal("7")]
    assert o3.created_at.isoformat() == "2024-03-03T11:00:00+00:00"


def test_reimporting_the_same_file_changes_nothing(sessions, shop, tmp_path) -> None:
    path = write(tmp_path, "1,c1,,2024-03-01,EUR,19.90,,paid,,")
    run(sessions, path)
    again = run(sessions, path)
    assert (again.stats.inserted, again.stats.updated, again.stats.unchanged) == (0, 0, 1)


def test_bad_rows_import_nothing_and_name_each_line(sessions, shop, tmp_path) -> None:
    path = write(
        tmp_path,
        "1,c1,,2024-03-01,EUR,19.90,,paid,,",
        "2,c1,,2024-02-30,EUR,5,,paid,,",
        "3,c1,,2024-03-01,EUR,-5,,paid,,",
        "4,,,2024-03-01,EUR,5,,paid,,",
        "5,c1,,2024-03-01,EUR,5,,shipped,,",
        "6,c1,,2024-03-01,EUR,5,9,paid,,",
        "1,c2,,2024-03-01,EUR,5,,paid,,",
        "7,c1,,2024-03-01,EUR,abc,,paid,,",
        "8,c1,not-mail,2024-03-01,EUR,5,,paid,,",
    )
    with pytest.raises(ImportRejected) as err:
        run(sessions, path)
    assert [(p.line, p.reason) for p in err.value.problems] == [
        (3, "created_at not an ISO 8601 date or datetime: '2024-02-30'"),
        (4, "total is negative: -5"),
        (5, "needs customer_id or email"),
        (6, "status 'shipped' is not one of paid, pending, refunded, cancelled"),
        (7, "refunded 9 is more than total 5"),
        (8, "order_id '1' already on line 2"),
        (9, "total is not a number: 'abc'"),
        (10, "email is not an e-mail address: 'not-mail'"),
    ]
    assert "8 bad row(s), nothing imported: line 3:" in str(err.value)
    assert orders(sessions) == []


def test_skip_invalid_imports_good_rows_and_writes_the_rejected(sessions, shop, tmp_path) -> None:
    path = write(tmp_path, "1,c1,,2024-03-01,EUR,19.90,,paid,,", "2,c1,,yesterday,EUR,5,,,,")
    result = run(sessions, path, skip_invalid=True)
    assert [o.platform_id for o in orders(sessions)] == ["1"]
    assert result.rejected_file == tmp_path / "orders.csv.rejected.csv"
    assert result.rejected_file.read_text(encoding="utf-8").splitlines() == [
        "line,reason,order_id,customer_id,email,created_at,currency,total,refunded,status,"
        "channel,discount_codes",
        "3,created_at not an ISO 8601 date or datetime: 'yesterday',2,c1,,yesterday,EUR,5,,,,",
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (HEADER.encode() + b"\n", "has a header but no rows"),
        (b"order_id,created_at,total,colour\n1,2024-01-01,5,red\n", "unknown column(s) 'colour'"),
        (b"order_id,total,email\n1,5,a@b.de\n", "missing column(s): created_at"),
        (b"order_id,created_at,total\n1,2024-01-01,5\n", "missing column(s): customer_id or email"),
        ("order_id,created_at,total,email\n1,2024-01-01,5,jörg@x.de\n".encode("latin-1"),
         "orders.csv is not UTF-8 (bad byte at line 2)"),
    ],
)
def test_malformed_files_are_one_line_errors(sessions, shop, tmp_path, content, message) -> None:
    path = tmp_path / "orders.csv"
    path.write_bytes(content)
    with pytest.raises(UserError) as err:
        run(sessions, path)
    assert message in str(err.value)
    assert "\n" not in str(err.value)
    assert orders(sessions) == []


def test_utf8_with_bom_and_column_order_do_not_matter(sessions, shop, tmp_path) -> None:
    path = tmp_path / "orders.csv"
    path.write_bytes("\ufefftotal,email,created_at,order_id\n5.00,jörg@x.de,2024-01-01,9\n"
                     .encode())
    assert run(sessions, path).stats.inserted == 1


def test_unknown_format_is_refused(sessions, shop, tmp_path) -> None:
    with pytest.raises(UserError, match="unknown format 'xlsx'"):
        run(sessions, write(tmp_path, "1,c1,,2024-03-01,EUR,1,,,,"), fmt="xlsx")


def test_count_is_exact_after_big_file(sessions, shop, tmp_path) -> None:
    rows = [f"{i},c{i % 97},,2024-01-01T00:00:{i % 60:02d}Z,EUR,{i}.50,,paid,,"
            for i in range(2500)]
    assert run(sessions, write(tmp_path, *rows)).stats.inserted == 2500
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Order)) == 2500
        assert s.scalar(select(func.sum(Order.total))) is not None


def test_a_repeated_order_id_is_refused_across_batches_too(sessions, shop, tmp_path,
                                                         monkeypatch) -> None:
    from stammkunde.plugins.csvfile import adapter

    monkeypatch.setattr(adapter, "BATCH", 2)  # the file streams in batches of two rows
    path = write(tmp_path, "1,c1,,2024-03-01,EUR,1,,,,", "2,c1,,2024-03-01,EUR,2,,,,",
                 "3,c1,,2024-03-01,EUR,3,,,,", "1,c2,,2024-03-02,EUR,4,,,,",
                 "4,c1,,2024-03-01,EUR,5,,,,", "3,c3,,2024-03-03,EUR,6,,,,")
    result = run(sessions, path, skip_invalid=True)
    assert [(r.line, r.reason) for r in result.rejected] == [
        (5, "order_id '1' already on line 2"), (7, "order_id '3' already on line 4")]
    assert [(o.platform_id, o.total) for o in orders(sessions)] == [
        ("1", Decimal("1")), ("2", Decimal("2")), ("3", Decimal("3")), ("4", Decimal("5"))]


def test_seen_ids_find_what_was_added_in_any_run() -> None:
    import numpy as np

    from stammkunde.plugins.csvfile.adapter import SeenIds

    seen = SeenIds()
    for lo in range(0, 1000, 100):  # ten batches: runs merge like a binary counter
        seen.add(np.arange(lo, lo + 100, dtype=np.int64) * 7, np.arange(lo, lo + 100) + 2)
    assert len(seen.runs) < 10
    found = seen.find(np.array([0, 7 * 999, 7 * 500, 3, 7 * 1000], dtype=np.int64))
    assert found.tolist() == [2, 1001, 502, 0, 0]


def test_progress_shows_rows_per_second() -> None:
    from rich.progress import Progress

    from stammkunde.app.cli.base import RateColumn

    prog = Progress()
    task = prog.add_task("x", total=10)
    column = RateColumn()
    assert column.render(prog.tasks[task]).plain == ""
    prog.tasks[task].finished_speed = 25_000.4
    assert column.render(prog.tasks[task]).plain == "25,000 rows/s"
