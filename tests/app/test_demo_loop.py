"""The whole loop of the README on a fresh home: demo → create → plan → push → codes → send →
respond → report, on the built-in simulated platform, e-mails to a real local SMTP server."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import func, select

from stammkunde.app.cli import cli
from stammkunde.core.models import Assignment, Customer
from stammkunde.core.offer_models import SimulatedDiscount
from stammkunde.plugins.manager import plugins_for_test
from tests.plugins.channels.test_email import Inbox, smtp, write_config  # noqa: F401


def run(runner: CliRunner, *args: str) -> str:
    result = runner.invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_the_readme_loop_end_to_end(cli_env: Path, sessions, smtp: tuple[Inbox, int]) -> None:  # noqa: F811
    inbox, port = smtp
    runner = CliRunner()
    with plugins_for_test():
        run(runner, "demo", "--customers", "400", "--json")
        created = json.loads(run(runner, "campaign", "create", "demo", "--name", "spring",
                                 "--target", "lapsed:90", "--percent", "15", "--json"))
        cid = str(created["id"])
        plan = json.loads(run(runner, "campaign", "plan", cid, "--json"))
        run(runner, "campaign", "push", cid)
        with sessions() as s:
            treated = s.scalar(select(func.count()).where(
                Assignment.campaign_id == int(cid), Assignment.arm == "treatment"))
            consenting = sorted(s.scalars(
                select(Customer.email).join(Assignment, Assignment.customer_id == Customer.id)
                .where(Assignment.campaign_id == int(cid), Assignment.arm == "treatment",
                       Customer.accepts_marketing.is_(True))))
            codes_in_shop = s.scalar(select(func.count()).select_from(SimulatedDiscount))
        assert treated == plan["counts"]["treatment"] == codes_in_shop > 0

        rows = list(csv.DictReader(io.StringIO(run(runner, "campaign", "codes", cid,
                                                   "--format", "csv"))))
        assert list(rows[0]) == ["email", "first_name", "locale", "code", "offer", "expires_at"]
        assert sorted(r["email"] for r in rows) == consenting
        assert {r["offer"] for r in rows} <= {"15 % Rabatt", "15% off"}

        write_config(cli_env, port)
        sent = json.loads(run(runner, "campaign", "send", cid, "--channel", "email", "--json"))
        assert sent["sent"] == len(consenting) == len(inbox.messages)
        assert sorted(inbox.to()) == consenting
        by_email = {r["email"]: r["code"] for r in rows}
        for m in inbox.messages:
            to = m["To"].addresses[0].addr_spec
            assert by_email[to] in m.get_body(("plain",)).get_content()

        truth = json.loads(run(runner, "demo", "respond", cid, "--json"))
        report = json.loads(run(runner, "campaign", "report", cid, "--json"))
    assert report["window"]["complete"] is True
    assert report["window"]["end"] == truth["window"]["end"]
    assert report["treatment"]["redemptions"] == truth["redemptions"] > 0
    conversion = report["uplift"]["conversion_rate"]
    assert truth["true_conversion_uplift"] == 0.05
    assert conversion["low"] <= truth["true_conversion_uplift"] <= conversion["high"]
    revenue = report["uplift"]["revenue_per_member"]
    true_revenue = float(Decimal(truth["true_revenue_uplift_per_member"]))
    assert revenue["low"] <= true_revenue <= revenue["high"]
    assert not any("still open" in note for note in report["notes"])
