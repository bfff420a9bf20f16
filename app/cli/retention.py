"""``stammkunde winback``, ``stammkunde events import`` and ``stammkunde clv backtest``."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from stammkunde.app.cli.base import console, echo_json, parse_as_of, pass_ctx
from stammkunde.app.cli.report import print_rows
from stammkunde.app.context import AppContext
from stammkunde.core.backtest import backtest_report, last_order_time, run_backtest
from stammkunde.core.errors import UserError
from stammkunde.core.metrics import to_json
from stammkunde.core.segments import WINBACK_FIELDS, score_customers, win_back_targets
from stammkunde.core.settings import load_settings
from stammkunde.core.store import get_shop, store_records
from stammkunde.core.timeutil import parse_instant, zone
from stammkunde.plugins.csvfile.events import read_events


@click.command("winback")
@click.argument("shop")
@click.option("--as-of", default=None, help="As of this date/instant (ISO 8601).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Show at most N rows.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table",
              show_default=True)
@pass_ctx
def winback(ctx: AppContext, shop: str, as_of: str | None, limit: int | None, fmt: str) -> None:
    """Rank lapsed and lost customers of SHOP by expected value if won back, with an incentive."""
    settings = load_settings(ctx.settings.home, shop)
    with ctx.sessions() as session:
        s = get_shop(session, shop)
        scores = score_customers(session, s, parse_as_of(as_of, s.timezone), settings)
    rows = win_back_targets(scores, limit)
    if fmt == "table" and not scores.model_available:
        click.echo(f"note: no predictive model ({scores.model.reason}); P(win back) is the "
                   "documented heuristic and the value counts the won-back order only.", err=True)
    elif fmt == "table" and scores.p_alive_weight < 1:
        click.echo(f"note: P(alive) is trusted only with weight {scores.p_alive_weight:.2f} in "
                   f"P(win back): {scores.model.reason}", err=True)  # type: ignore[union-attr]
    print_rows(rows, WINBACK_FIELDS, fmt, title=f"Win-back targets ({s.currency})")


@click.group("events")
def events() -> None:
    """Loyalty events (reviews, newsletter sign-ups, referrals …)."""


@events.command("import")
@click.argument("shop")
@click.argument("file", type=click.Path(path_type=Path))
@pass_ctx
def events_import(ctx: AppContext, shop: str, file: Path) -> None:
    """Import loyalty events for SHOP from a CSV FILE (see README, "Loyalty events")."""
    if not file.is_file():
        raise UserError(f"no such file: {file}")
    with ctx.sessions() as session, session.begin():
        s = get_shop(session, shop)
        records = read_events(file, s.timezone)
        stats = store_records(session, s, records)
    click.echo(f"{len(records)} events: {stats.inserted} new, {stats.unchanged} already stored")


@click.group("clv")
def clv() -> None:
    """Predictive customer lifetime value."""


@clv.command("backtest")
@click.argument("shop")
@click.option("--calibration-end", required=True, help="Fit on orders up to this date.")
@click.option("--holdout-end", default=None,
              help="Compare up to this date (default: the day of the shop's last order).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def backtest(ctx: AppContext, shop: str, calibration_end: str, holdout_end: str | None,
             as_json: bool) -> None:
    """Fit the model on a calibration period of SHOP and check it against the holdout period."""
    with ctx.sessions() as session:
        s = get_shop(session, shop)
        cal = parse_instant(calibration_end, s.timezone, end_of_day=True)
        if holdout_end is not None:
            hold = parse_instant(holdout_end, s.timezone, end_of_day=True)
        else:
            last = last_order_time(session, s)
            if last is None:
                raise UserError(f"shop {shop!r} has no orders")
            day = last.astimezone(zone(s.timezone)).date().isoformat()
            hold = parse_instant(day, s.timezone, end_of_day=True)
        data = backtest_report(run_backtest(session, s, cal, hold))
    if as_json:
        echo_json(to_json(data))
        return
    out = console()
    out.print(f"[bold]{shop}[/bold]: calibration to {data['calibration_end']}, holdout to "
              f"{data['holdout_end']}, {data['customers']:,} customers")
    naive = data["naive"]
    if data["model"]["available"]:
        family = "BG/NBD" if data["model"]["family"] == "bgnbd" else "NBD"
        out.print(f"model: {data['model']['reason']}")
        out.print(f"holdout repeat purchases: actual {data['actual_total']:,.0f}, {family} "
                  f"{data['predicted_total']:,.1f} ({_signed(data['error_percent'])}), MAE per "
                  f"customer {data['mae']:.3f}")
    else:
        out.print(f"no model: {data['model']['reason']}")
        out.print(f"holdout repeat purchases: actual {data['actual_total']:,.0f}")
    out.print(f"naive extrapolation (x / T × holdout): {naive['predicted_total']:,.1f} "
              f"({_signed(naive['error_percent'])}), MAE per customer {naive['mae']:.3f}")
    table = Table("calibration repeat purchases", "customers", "actual (mean)",
                  "predicted (mean)", "naive (mean)",
                  title="Holdout purchases by calibration frequency")

    def cell(value: float | None) -> str:
        return "–" if value is None else f"{value:.3f}"

    for row in data["calibration_table"]:
        table.add_row(row["repeat_purchases"], f"{row['customers']:,}", cell(row["actual"]),
                      cell(row["predicted"]), cell(row["naive"]))
    out.print(table)


def _signed(value: float | None) -> str:
    return "–" if value is None else f"{value:+.1f} %"


def attach(cli: click.Group) -> None:
    """Add the retention commands to the root group."""
    cli.add_command(winback)
    cli.add_command(events)
    cli.add_command(clv)
