"""The command line as a merchant uses it: shops, import, report, customers, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from stammkunde.app.cli import cli

CSV = """order_id,customer_id,email,created_at,currency,total,refunded,status,channel,discount_codes
1,c1,a@x.de,2024-01-10,EUR,100.00,,paid,online,WELCOME
2,c1,a@x.de,2024-02-09,EUR,50.00,20.00,paid,pos,
3,,b@x.de,2024-03-01,EUR,40.00,,paid,online,
4,,b@x.de,2024-03-05,EUR,60.00,,cancelled,online,
"""


@pytest.fixture
def runner(cli_env: Path) -> CliRunner:
    return CliRunner()


def invoke(runner: CliRunner, *args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def loaded(runner: CliRunner, tmp_path: Path) -> Path:
    path = tmp_path / "orders.csv"
    path.write_text(CSV, encoding="utf-8")
    assert invoke(runner, "shops", "add", "till", "--platform", "csv").exit_code == 0
    result = invoke(runner, "import", "till", str(path))
    assert result.output == "4 rows: 4 new, 0 updated, 0 unchanged, 0 rejected\n"
    return path


def test_report_json_has_the_documented_schema(runner: CliRunner, loaded: Path) -> None:
    result = invoke(runner, "report", "till", "--as-of", "2024-06-30", "--json")
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert list(data)[:14] == [
        "shop", "as_of", "currency", "customers", "orders", "net_revenue", "repeat_rate",
        "orders_per_customer", "days_between_orders", "aov", "historic_clv", "formula_clv",
        "returning_revenue_share", "cohorts"]
    assert "channels" in data
    # a: 100 + 30, b: 40 (the cancelled order does not count)
    assert (data["customers"], data["orders"], data["net_revenue"]) == (2, 3, "170.00")
    assert data["repeat_rate"] == 0.5
    assert data["aov"] == "56.67"
    assert data["days_between_orders"] == {"mean": 30.0, "median": 30.0, "gaps": 1}
    assert data["historic_clv"] == {"mean": "85.00", "median": "85.00"}
    assert data["cohorts"][0] == {"cohort": "2024-01", "customers": 1,
                                  "retention": [1.0, 1.0, 0.0, 0.0, 0.0, 0.0]}


def test_report_for_people_is_a_table(runner: CliRunner, loaded: Path) -> None:
    out = invoke(runner, "report", "till", "--as-of", "2024-06-30").output
    assert "repeat purchase rate" in out and "50.0 %" in out and "170.00 EUR" in out


@pytest.mark.parametrize("fmt", ["table", "json", "csv"])
def test_customers_in_three_formats(runner: CliRunner, loaded: Path, fmt: str) -> None:
    result = invoke(runner, "customers", "till", "--as-of", "2024-06-30", "--format", fmt)
    assert result.exit_code == 0
    if fmt == "json":
        rows = json.loads(result.output)
        assert [(r["customer_id"], r["orders"], r["net_revenue"]) for r in rows] == [
            ("c1", 2, "130.00"), ("guest:b@x.de", 1, "40.00")]
    elif fmt == "csv":
        lines = result.output.splitlines()
        assert lines[0].startswith("customer_id,email,orders,net_revenue")
        assert lines[1].startswith("c1,a@x.de,2,130.00,2024-01-10T00:00:00Z")
    else:
        assert "c1" in result.output


def test_shops_list_json(runner: CliRunner, loaded: Path) -> None:
    data = json.loads(invoke(runner, "shops", "list", "--json").output)
    assert data == [{"name": "till", "platform": "csv", "domain": None, "currency": "EUR",
                     "timezone": "UTC", "installed": True}]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("report", "nope"), "error: unknown shop 'nope' (see `stammkunde shops list`)"),
        (("report", "till", "--as-of", "2024-02-30"),
         "error: --as-of: not an ISO 8601 date or datetime: '2024-02-30'"),
        (("import", "till", "missing.csv"), "error: no such file: missing.csv"),
        (("shops", "add", "x", "--platform", "nope"), "error: unknown platform 'nope'"),
        (("shops", "add", "till", "--platform", "csv"), "error: shop 'till' already exists"),
        (("shops", "add", "y", "--platform", "csv", "--currency", "EURO"),
         "error: currency must be a 3-letter ISO code, not 'EURO'"),
        (("shops", "add", "y", "--platform", "csv", "--timezone", "Mars/Base"),
         "error: unknown time zone 'Mars/Base'"),
        (("shops", "add", "y", "--platform", "csv", "--token", "t"),
         "error: platform 'csv' takes no option(s): token"),
    ],
)
def test_mistakes_are_one_line_with_exit_code_2(runner, loaded, args, message) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(cli, list(args))
    assert result.exit_code == 2
    assert result.output.startswith(message)
    assert result.output.count("\n") == 1
    assert "Traceback" not in result.output


def test_bad_import_exits_2_and_stores_nothing(runner: CliRunner, loaded: Path,
                                               tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(CSV.splitlines()[0] + "\n9,c9,,never,EUR,1,,,,\n", encoding="utf-8")
    result = runner.invoke(cli, ["import", "till", str(bad)])
    assert result.exit_code == 2
    assert result.output == ("error: bad.csv: 1 bad row(s), nothing imported: line 2: created_at "
                             "not an ISO 8601 date or datetime: 'never'; fix them or use "
                             "--skip-invalid\n")
    data = json.loads(invoke(runner, "report", "till", "--json").output)
    assert data["orders"] == 3


def test_plugins_lists_the_csv_adapter(runner: CliRunner) -> None:
    data = json.loads(invoke(runner, "plugins", "--json").output)
    csv = next(p for p in data if "csv" in p["platforms"])
    assert csv["hooks"] == ["register_platforms"] and csv["version"]


def test_console_script_prints_one_line_without_traceback(cli_env: Path) -> None:
    exe = Path(sys.executable).with_name("stammkunde")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "stammkunde.app"]
    result = subprocess.run([*cmd, "report", "ghost"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr == "error: unknown shop 'ghost' (see `stammkunde shops list`)\n"


def test_a_csv_shop_is_imported_not_synced(runner: CliRunner, loaded: Path) -> None:
    result = runner.invoke(cli, ["sync", "till"])
    assert (result.exit_code, result.output) == (
        2, "error: shop 'till' is a csv shop: its orders are imported from files, not synced "
           "(`stammkunde import till FILE`)\n")


def test_a_missing_postgresql_database_says_how_to_create_it(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.services import need_service, pg_available

    need_service(pg_available(), "PostgreSQL")
    name = f"sk_missing_{uuid.uuid4().hex[:8]}"  # never created
    monkeypatch.setenv("STAMMKUNDE_HOME", str(tmp_path))
    monkeypatch.setenv("STAMMKUNDE_DATABASE_URL",
                       f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}")
    expected = (f"error: the PostgreSQL database '{name}' does not exist on 127.0.0.1:5432; "
                f"create it with `createdb -h 127.0.0.1 -p 5432 -U postgres {name}` (the tables "
                "are created on first use)\n")
    for args in (["shops", "list"], ["db", "upgrade"]):
        result = CliRunner().invoke(cli, args)
        assert (result.exit_code, result.output) == (2, expected)


def test_output_into_a_closed_pipe_ends_quietly(cli_env: Path, loaded: Path) -> None:
    read, write = os.pipe()
    os.close(read)  # the reader (`| head`) is gone before anything is written
    try:
        done = subprocess.run(
            [sys.executable, "-m", "stammkunde.app", "customers", "till", "--format", "csv"],
            stdout=write, stderr=subprocess.PIPE, timeout=120, check=False)
    finally:
        os.close(write)
    assert (done.returncode, done.stderr) == (0, b"")


def test_an_import_counts_orders_without_a_buyer(runner: CliRunner, tmp_path: Path) -> None:
    from tests.plugins.test_shopify_export import HEADER, ROWS

    till = ("#1004,,paid,,,,,EUR,5,0,0,5.00,,0,,2024-03-02 08:00:00 +0000,1,Tea,5.00,,T,,,"
            "5004,pos")
    path = tmp_path / "orders_export.csv"
    path.write_text("\n".join([HEADER, ROWS[2], till]) + "\n", encoding="utf-8")
    assert invoke(runner, "shops", "add", "till", "--platform", "csv").exit_code == 0
    assert invoke(runner, "import", "till", str(path), "--format", "shopify-csv").output == (
        "2 rows: 1 new, 0 updated, 0 unchanged, 0 rejected, 1 without a buyer (not counted)\n")
