"""``stammkunde inbox list/replay/work`` on a SQLite database in tmp_path."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import select

import stammkunde.app.cli  # noqa: F401  (attaches the commands)
from stammkunde.app.cli.base import cli
from stammkunde.app.context import AppContext
from stammkunde.core.config import Settings
from stammkunde.core.inbox_models import InboxDelivery
from stammkunde.core.models import Order
from stammkunde.core.shops import create_shop
from stammkunde.plugins.manager import plugins_for_test
from tests.testshop import TestshopPlugin, order_body


@pytest.fixture
def ctx(tmp_path):
    with plugins_for_test(TestshopPlugin()):
        settings = Settings(home=tmp_path, database_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
                            secret_key="k")
        ctx = AppContext(settings)
        with ctx.sessions() as s, s.begin():
            s.add_all([
                InboxDelivery(platform="testshop", shop_domain="one.example", delivery_id="a",
                              topic="orders/create", status="failed", attempts=1,
                              error="ProcessingError: no testshop shop with domain "
                                    "'one.example'",
                              body=order_body("1", updated_at="2024-01-01T00:00:00Z"),
                              headers={}),
                InboxDelivery(platform="testshop", shop_domain="one.example", delivery_id="b",
                              topic="orders/create", status="received",
                              body=order_body("2", updated_at="2024-01-01T00:00:00Z"),
                              headers={}),
            ])
        yield ctx


def run(ctx, *args):
    return CliRunner().invoke(cli, list(args), obj=ctx, catch_exceptions=False)


def test_list_failed_as_json(ctx):
    out = run(ctx, "inbox", "list", "--status", "failed", "--json")
    assert out.exit_code == 0
    rows = json.loads(out.stdout)
    assert [(r["id"], r["delivery_id"], r["status"], r["attempts"]) for r in rows] == [
        (1, "a", "failed", 1)]
    assert rows[0]["error"].startswith("ProcessingError: no testshop shop")


def test_replay_after_adding_the_shop_and_work_off_pending(ctx):
    out = run(ctx, "inbox", "replay", "--all-failed")
    assert out.stdout == "0 processed, 1 failed, 0 skipped\nstill failing: 1\n"
    with ctx.sessions() as s, s.begin():
        create_shop(s, "one", "testshop", domain="one.example")
    assert run(ctx, "inbox", "replay", "1").stdout == "1 processed, 0 failed, 0 skipped\n"
    assert run(ctx, "inbox", "work", "--once").stdout == "1 processed, 0 failed, 0 skipped\n"
    with ctx.sessions() as s:
        assert sorted(o.platform_id for o in s.scalars(select(Order))) == ["1", "2"]
        assert [r.status for r in s.scalars(select(InboxDelivery))] == ["processed"] * 2
    assert run(ctx, "inbox", "replay", "1").stdout == "0 processed, 0 failed, 1 skipped\n"


def test_replay_needs_exactly_one_selection(ctx):
    result = CliRunner().invoke(cli, ["inbox", "replay"], obj=ctx)
    assert result.exit_code != 0
    result = CliRunner().invoke(cli, ["inbox", "replay", "99"], obj=ctx)
    assert result.exit_code == 2
    assert "no inbox deliveries with id(s) 99" in result.output


def test_work_runs_at_a_lower_cpu_priority_unless_told_not_to(ctx, monkeypatch):
    calls: list[int] = []
    monkeypatch.setattr("os.nice", lambda n: calls.append(n) or n)
    with ctx.sessions() as s, s.begin():
        create_shop(s, "one", "testshop", domain="one.example")
    assert run(ctx, "inbox", "work", "--once").stdout == "1 processed, 0 failed, 0 skipped\n"
    assert calls == [10]
    assert run(ctx, "inbox", "work", "--once", "--nice", "0").stdout == (
        "0 processed, 0 failed, 0 skipped\n")
    assert calls == [10]
