"""Retention commands as a merchant uses them: events import, scored customers, win-back,
the report's score section, configuration errors and the model back-test.

Shop "till" (UTC), as of 2024-06-30T00:00Z:
- c1 (a@x.de): Jan 10 100.00 (WELCOME), Feb 9 50.00 − 20.00 refund -> 2 orders, 130.00, own gap 30
  days, 142 days since -> ratio 4.73 -> lost; points 130 + 50 account + 25 review = 205 (loyal)
- b@x.de (guest): Mar 1 40.00 (Mar 5 cancelled) -> shop gap 30, 121 days -> ratio 4.03 -> lost;
  points 40 + 10 newsletter = 50 (member)
- new@x.de: only a referral event with its own 7 points -> prospect, member
Win-back (no model: heuristic, margin 0.3):
  c1: P = 0.2 × 2.5 / (142/30) = 0.105634, value = P × 65 × 0.3 = 2.06, incentive ⌊9.75⌋ = 9
  b:  P = 0.2 × 2.5 / (121/30) = 0.123967, value = P × 40 × 0.3 = 1.49, incentive ⌊6⌋ = 6
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from stammkunde.app.cli import cli
from stammkunde.core.shops import create_shop
from stammkunde.core.store import store_records
from tests.simulated import simulated_orders

ORDERS = """order_id,customer_id,email,created_at,currency,total,refunded,status,channel,\
discount_codes
1,c1,a@x.de,2024-01-10,EUR,100.00,,paid,online,WELCOME
2,c1,a@x.de,2024-02-09,EUR,50.00,20.00,paid,pos,
3,,b@x.de,2024-03-01,EUR,40.00,,paid,online,
4,,b@x.de,2024-03-05,EUR,60.00,,cancelled,online,
"""
EVENTS = """event_id,customer_id,email,kind,occurred_at,points
e1,c1,,review,2024-06-01,
e2,,b@x.de,Newsletter,2024-06-02,
e3,,new@x.de,referral,2024-06-03,7
"""
AS_OF = "2024-06-30T00:00:00Z"


@pytest.fixture
def runner(cli_env: Path) -> CliRunner:
    return CliRunner()


def invoke(runner: CliRunner, *args: str):  # type: ignore[no-untyped-def]
    result = runner.invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def till(runner: CliRunner, tmp_path: Path) -> Path:
    orders = tmp_path / "orders.csv"
    orders.write_text(ORDERS, encoding="utf-8")
    events = tmp_path / "events.csv"
    events.write_text(EVENTS, encoding="utf-8")
    invoke(runner, "shops", "add", "till", "--platform", "csv")
    invoke(runner, "import", "till", str(orders))
    assert invoke(runner, "events", "import", "till", str(events)).output == (
        "3 events: 3 new, 0 already stored\n")
    return events


def test_events_import_is_idempotent(runner: CliRunner, till: Path) -> None:
    assert invoke(runner, "events", "import", "till", str(till)).output == (
        "3 events: 0 new, 3 already stored\n")


def test_bad_events_file_imports_nothing(runner: CliRunner, till: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("event_id,email,kind,occurred_at\nx1,z@x.de,review,soon\nx2,z@x.de,,"
                   "2024-06-01\nx3,z@x.de,review,2024-06-01\n", encoding="utf-8")
    result = runner.invoke(cli, ["events", "import", "till", str(bad)])
    assert result.exit_code == 2
    assert result.output == ("error: bad.csv: 2 bad row(s), nothing imported: line 2: "
                             "occurred_at not an ISO 8601 date or datetime: 'soon'; "
                             "line 3: kind is empty\n")
    rows = json.loads(invoke(runner, "customers", "till", "--as-of", AS_OF, "--format",
                             "json").output)
    assert "guest:z@x.de" not in [r["customer_id"] for r in rows]


def test_customers_have_every_score_column(runner: CliRunner, till: Path) -> None:
    rows = json.loads(invoke(runner, "customers", "till", "--as-of", AS_OF, "--format",
                             "json").output)
    assert [r["customer_id"] for r in rows] == ["c1", "guest:b@x.de", "guest:new@x.de"]
    c1 = rows[0]
    assert list(c1) == [
        "customer_id", "email", "orders", "net_revenue", "first_order", "last_order",
        "days_since_last_order", "first_channel", "first_code", "r", "f", "m", "segment",
        "lifecycle", "points_pending", "points_available", "points_reversed", "tier",
        "loyalty_type", "p_alive", "expected_purchases", "expected_purchases_low",
        "expected_purchases_high", "predicted_clv", "predicted_clv_low", "predicted_clv_high"]
    assert (c1["orders"], c1["net_revenue"], c1["days_since_last_order"]) == (2, "130.00", 142.0)
    assert (c1["first_code"], c1["lifecycle"], c1["points_available"], c1["points_reversed"],
            c1["tier"]) == ("welcome", "lost", 205, 20, "loyal")
    assert (c1["p_alive"], c1["predicted_clv"]) == (None, None)
    prospect = rows[2]
    assert (prospect["orders"], prospect["lifecycle"], prospect["points_available"],
            prospect["first_order"], prospect["segment"]) == (0, "prospect", 7, None, None)


def test_customers_filters(runner: CliRunner, till: Path) -> None:
    def ids(*args: str) -> list[str]:
        out = invoke(runner, "customers", "till", "--as-of", AS_OF, "--format", "csv", *args)
        return [r["customer_id"] for r in csv.DictReader(io.StringIO(out.output))]

    assert ids("--tier", "loyal") == ["c1"]
    assert ids("--tier", "member") == ["guest:b@x.de", "guest:new@x.de"]
    assert ids("--lifecycle", "prospect") == ["guest:new@x.de"]
    assert ids("--lifecycle", "lost", "--tier", "member") == ["guest:b@x.de"]
    assert ids("--lifecycle", "at-risk") == ids("--lifecycle", "at risk") == []
    assert ids("--segment", "cant-lose") == []
    assert ids("--segment", "champions") == []
    result = runner.invoke(cli, ["customers", "till", "--tier", "gold"])
    assert (result.exit_code, result.output) == (
        2, "error: unknown tier 'gold' (configured: member, loyal)\n")
    result = runner.invoke(cli, ["customers", "till", "--lifecycle", "sleeping"])
    assert (result.exit_code, result.output) == (
        2, "error: unknown lifecycle stage 'sleeping' (one of: prospect, new, repeat, loyal, "
           "at risk, lapsed, lost)\n")


def test_winback_in_three_formats(runner: CliRunner, till: Path) -> None:
    rows = json.loads(invoke(runner, "winback", "till", "--as-of", AS_OF, "--format",
                             "json").output)
    assert [(r["rank"], r["customer_id"], r["lifecycle"], r["p_win_back"], r["expected_value"],
             r["incentive"]) for r in rows] == [
        (1, "c1", "lost", 0.105634, "2.06", "9.00"),
        (2, "guest:b@x.de", "lost", 0.123967, "1.49", "6.00")]
    out = invoke(runner, "winback", "till", "--as-of", AS_OF, "--format", "csv", "--limit",
                 "1").output.splitlines()
    assert out[0] == ("rank,customer_id,email,lifecycle,orders,net_revenue,days_since_last_order,"
                      "p_win_back,expected_order_value,expected_value,incentive,predicted_clv,"
                      "predicted_clv_low,predicted_clv_high")
    # CSV keeps every digit: P(win back) = 0.2 × 2.5 / (142 / 30) = 15/142.
    assert out[1] == f"1,c1,a@x.de,lost,2,130.00,142.0,{15 / 142!r},65.00,2.06,9.00,,,"
    assert len(out) == 2
    table = invoke(runner, "winback", "till", "--as-of", AS_OF).output
    assert "Win-back targets (EUR)" in table and "heuristic" in table


def test_report_json_and_terminal_show_the_scores(runner: CliRunner, till: Path) -> None:
    data = json.loads(invoke(runner, "report", "till", "--as-of", AS_OF, "--json").output)
    assert data["clv_model"] == {"available": False, "code": "too_few_customers",
                                 "reason": "2 customers; the predictive model needs at least 30."}
    assert data["lifecycle"] == {"prospect": 1, "new": 0, "repeat": 0, "loyal": 0, "at risk": 0,
                                 "lapsed": 0, "lost": 2}
    assert data["tiers"] == {"member": 2, "loyal": 1}
    assert data["loyalty_types"] == {"true": 0, "latent": 2, "spurious": 1, "none": 0}
    assert sum(data["segments"].values()) == 2
    assert data["clv_by_first_code"]["welcome"] == {
        "customers": 1, "historic_clv": "130.00", "predicted_clv": None,
        "predicted_clv_total": None}
    assert data["clv_by_channel"]["online"]["customers"] == 2
    assert data["formula_clv"]["margin"] == 0.3
    out = invoke(runner, "report", "till", "--as-of", AS_OF).output
    assert "Predictive CLV model: not shown (2 customers" in out
    assert "lifecycle stage" in out and "loyalty type" in out
    assert "note: With 2 customers" in out


def test_configuration_file_is_used_and_its_mistakes_are_one_line(
        runner: CliRunner, till: Path, cli_env: Path) -> None:
    cli_env.mkdir(parents=True, exist_ok=True)
    (cli_env / "stammkunde.toml").write_text("[tiers]\nbronze = 0\ngold = 50\n", encoding="utf-8")
    data = json.loads(invoke(runner, "report", "till", "--as-of", AS_OF, "--json").output)
    assert data["tiers"] == {"bronze": 1, "gold": 2}
    (cli_env / "stammkunde.toml").write_text("[tiers]\nloyal = 100\nmember = 0\n",
                                             encoding="utf-8")
    result = runner.invoke(cli, ["report", "till"])
    assert result.exit_code == 2
    assert result.output == ("error: stammkunde.toml: tiers.member (0) must be above tiers.loyal "
                             "(100): list tiers in ascending order\n")


def test_clv_backtest(runner: CliRunner, cli_env: Path, sessions) -> None:  # type: ignore[no-untyped-def]
    with sessions.begin() as s:
        store_records(s, create_shop(s, "sim", "csv"), simulated_orders())
    data = json.loads(invoke(runner, "clv", "backtest", "sim", "--calibration-end",
                             "2024-01-01", "--holdout-end", "2024-06-30", "--json").output)
    assert data["calibration_end"] == "2024-01-01T23:59:59.999999Z"
    assert data["model"]["available"] is True
    assert set(data) >= {"customers", "actual_total", "predicted_total", "error_percent", "mae",
                         "calibration_table"}
    assert sum(r["customers"] for r in data["calibration_table"]) == data["customers"]
    out = invoke(runner, "clv", "backtest", "sim", "--calibration-end", "2024-01-01").output
    assert "Holdout purchases by calibration frequency" in out and "7+" in out
    result = runner.invoke(cli, ["clv", "backtest", "sim", "--calibration-end", "2024-06-30",
                                 "--holdout-end", "2024-01-01"])
    assert (result.exit_code, result.output) == (
        2, "error: --holdout-end must be after --calibration-end\n")
