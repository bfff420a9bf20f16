"""``stammkunde campaign``: create → plan → push → report from the command line, and mistakes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from stammkunde.app.cli import cli
from stammkunde.core.models import Assignment, Campaign
from tests.campaign_kit import FakePlatform, FakeShopAdapter, add_people, fake_plugins

PEOPLE = [(f"c{i}", f"c{i}@x.de", [("2024-01-10T00:00:00Z", "40")]) for i in range(6)]


@pytest.fixture
def platform() -> FakePlatform:
    return FakePlatform()


@pytest.fixture
def runner(cli_env: Path, sessions, platform):  # type: ignore[no-untyped-def]
    with fake_plugins(FakeShopAdapter(platform)):
        r = CliRunner()
        for name, plat in (("s", "fakeshop"), ("plain", "plainshop"), ("notag", "notagshop")):
            assert invoke(r, "shops", "add", name, "--platform", plat).exit_code == 0
        add_people(sessions, "s", PEOPLE)
        add_people(sessions, "notag", PEOPLE)
        yield r


def invoke(runner: CliRunner, *args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(cli, list(args), catch_exceptions=False)


def as_json(runner: CliRunner, *args: str) -> object:
    result = invoke(runner, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_create_plan_push_report(runner: CliRunner, platform: FakePlatform) -> None:
    created = as_json(runner, "campaign", "create", "s", "--name", "spring", "--target",
                      "lapsed:30", "--percent", "10", "--min-order", "30", "--holdout", "0")
    cid = str(created["id"])
    assert (created["target"], created["offer"]["kind"], created["offer"]["value"],
            created["offer"]["minimum_order"], created["cap_days"]) == (
        "lapsed:30", "percentage", "10", "30.00", 14)
    plan = as_json(runner, "campaign", "plan", cid)
    assert plan["counts"] == {"targeted": 6, "treatment": 6, "holdout": 0, "capped": 0}
    assert plan["expected"]["cost"] == "1.20"  # 6 × 5% × 10% of the AOV 40
    first = as_json(runner, "campaign", "push", cid, "--batch-size", "4", "--limit-calls", "1",
                    "--tag", "spring")
    assert (first["created"], first["pending"], first["stopped"]) == (4, 2, True)
    second = as_json(runner, "campaign", "push", cid, "--batch-size", "4")
    assert (second["created"], second["tagged"], second["status"]) == (2, 6, "pushed")
    assert len(platform.codes) == 6 and all(platform.tags[c] == {"spring"}
                                            for c in platform.tags)
    report = as_json(runner, "campaign", "report", cid, "--window-days", "7")
    assert report["treatment"]["members"] == 6 and report["holdout"]["members"] == 0
    assert "no holdout: the uplift cannot be measured" in report["notes"]
    # the same, for people
    assert "treatment 6, holdout 0" in invoke(runner, "campaign", "plan", cid).output
    assert "conversion rate" in invoke(runner, "campaign", "report", cid).output
    listed = as_json(runner, "campaign", "list", "s")
    assert [(c["id"], c["status"]) for c in listed] == [(int(cid), "pushed")]


def test_templates_and_run_due(runner: CliRunner) -> None:
    names = [t["name"] for t in as_json(runner, "campaign", "template", "list")]
    assert names == ["win-back", "loyal-reward", "second-order"]
    created = as_json(runner, "campaign", "create", "s", "--template", "loyal-reward")
    assert (created["target"], created["schedule"], created["status"]) == (
        "tier:loyal", "weekly", "scheduled")
    runs = as_json(runner, "campaign", "run-due")
    assert [(r["schedule"], r["error"], r["result"]["status"]) for r in runs] == [
        (created["id"], None, "pushed")]
    assert as_json(runner, "campaign", "run-due") == []
    kinds = [k["kind"] for k in as_json(runner, "campaign", "targets")]
    assert {"all", "lapsed", "segment", "lifecycle", "tier", "winback"} <= set(kinds)


@pytest.mark.parametrize(("args", "message"), [
    (["create", "s", "--name", "x", "--target", "vip", "--percent", "5"],
     "error: unknown target kind 'vip' (known: all, customers, lapsed, lifecycle, min-orders, "
     "newly-lapsed, points, second-order, segment, tier, winback)"),
    (["create", "s", "--name", "x", "--target", "segment:whales", "--percent", "5"],
     "error: target segment needs one of"),
    (["create", "s", "--name", "x", "--target", "all", "--percent", "5", "--ends",
      "2020-01-31"], "error: the offer window has already ended (2020-01-31T23:59:59"),
    (["create", "s", "--name", "x", "--target", "all", "--percent", "5", "--holdout", "0.95"],
     "error: --holdout must be between 0 and 0.9, not 0.95"),
    (["create", "s", "--name", "x", "--target", "all", "--percent", "ten"],
     "error: --percent is not a number: 'ten'"),
    (["create", "s", "--name", "x", "--target", "all", "--percent", "5", "--amount", "3"],
     "error: give exactly one offer: --percent or --amount"),
    (["create", "s", "--name", "x", "--target", "all", "--percent", "5", "--starts",
      "2099-01-10", "--ends", "2099-01-05"], "error: --ends must be after --starts"),
    (["create", "s", "--name", "x", "--target", "all", "--percent", "5", "--valid-days", "3",
      "--ends", "2099-01-05"], "error: give --ends or --valid-days, not both"),
    (["create", "plain", "--name", "x", "--target", "all", "--percent", "5"],
     "error: platform 'plainshop' of shop 'plain' cannot create discount codes"),
    (["create", "nope", "--name", "x", "--target", "all", "--percent", "5"],
     "error: unknown shop 'nope'"),
    (["plan", "999"], "error: unknown campaign '999'"),
    (["push", "999"], "error: unknown campaign '999'"),
    (["report", "42x"], "error: unknown campaign '42x'"),
])
def test_mistakes_are_one_line_and_create_nothing(runner: CliRunner, sessions, args,
                                                  message) -> None:
    result = runner.invoke(cli, ["campaign", *args])
    assert result.exit_code == 2
    assert result.output.startswith(message) and result.output.count("\n") == 1
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Campaign)) == 0


def test_push_with_a_tag_on_a_platform_without_tags(runner: CliRunner, sessions) -> None:
    cid = str(as_json(runner, "campaign", "create", "notag", "--name", "x", "--target", "all",
                      "--amount", "5")["id"])
    result = runner.invoke(cli, ["campaign", "push", cid, "--tag", "vip"])
    assert result.output == ("error: platform 'notagshop' cannot tag customers; push without "
                             "--tag\n")
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Assignment)) == 0
