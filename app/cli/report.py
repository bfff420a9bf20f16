"""``stammkunde report`` and ``stammkunde customers``: the numbers, for people and for machines."""

from __future__ import annotations

import csv
import sys
from datetime import datetime
from decimal import Decimal
from typing import Any

import click
from rich.table import Table

from stammkunde.app.cli.base import console, echo_json, parse_as_of, pass_ctx
from stammkunde.app.context import AppContext
from stammkunde.core.customers import list_customers
from stammkunde.core.metrics import build_report, to_json
from stammkunde.core.money import cents
from stammkunde.core.store import get_shop


def _money(value: Decimal | None, currency: str) -> str:
    return "–" if value is None else f"{cents(value):,} {currency}"


def _num(value: float | None, fmt: str = "{:.2f}") -> str:
    return "–" if value is None else fmt.format(value)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f} %"


def kpi_rows(k: dict[str, Any], currency: str) -> list[tuple[str, str]]:
    """Return (label, formatted value) pairs of a KPI block."""
    gaps = k["days_between_orders"]
    clv = k["historic_clv"]
    return [
        ("customers", f"{k['customers']:,}"),
        ("valid orders", f"{k['orders']:,}"),
        ("net revenue", _money(k["net_revenue"], currency)),
        ("repeat purchase rate", _pct(k["repeat_rate"])),
        ("orders per customer", _num(k["orders_per_customer"])),
        ("days between orders (mean / median)",
         f"{_num(gaps['mean'], '{:.1f}')} / {_num(gaps['median'], '{:.1f}')}"),
        ("average order value", _money(k["aov"], currency)),
        ("historic CLV (mean / median)",
         f"{_money(clv['mean'], currency)} / {_money(clv['median'], currency)}"),
        ("formula CLV", _money(k["formula_clv"]["value"], currency)),
        ("revenue from returning customers", _pct(k["returning_revenue_share"])),
    ]


def render_report(report: dict[str, Any]) -> None:
    """Print a report as readable tables on the terminal."""
    out = console()
    cur = report["currency"]
    out.print(f"[bold]{report['shop']}[/bold] as of {report['as_of']} ({cur})")
    table = Table("metric", "value", show_header=False)
    for label, value in kpi_rows(report, cur):
        table.add_row(label, value)
    out.print(table)
    if report["channels"]:
        ch = Table("first-order channel", "customers", "orders", "net revenue", "repeat rate",
                   "AOV", "historic CLV", title="By acquisition channel")
        for name, k in report["channels"].items():
            ch.add_row(name, f"{k['customers']:,}", f"{k['orders']:,}",
                       _money(k["net_revenue"], cur), _pct(k["repeat_rate"]),
                       _money(k["aov"], cur), _money(k["historic_clv"]["mean"], cur))
        out.print(ch)
    if report["cohorts"]:
        width = min(max(len(c["retention"]) for c in report["cohorts"]), 13)
        co = Table("cohort", "customers", *(f"M{k}" for k in range(width)),
                   title="Cohort retention (share with an order in month k)")
        for c in report["cohorts"][-24:]:
            cells = [f"{r * 100:.0f}" for r in c["retention"][:width]]
            co.add_row(c["cohort"], f"{c['customers']:,}", *cells, *[""] * (width - len(cells)))
        out.print(co)
    for extra in report.get("notes", []):
        out.print(f"note: {extra}")


@click.command("report")
@click.argument("shop")
@click.option("--as-of", default=None, help="Report as of this date/instant (ISO 8601).")
@click.option("--json", "as_json", is_flag=True, help="Print the documented JSON schema.")
@pass_ctx
def report(ctx: AppContext, shop: str, as_of: str | None, as_json: bool) -> None:
    """Print the retention report of SHOP."""
    with ctx.sessions() as session:
        s = get_shop(session, shop)
        data = build_report(session, s, parse_as_of(as_of, s.timezone))
    if as_json:
        echo_json(to_json(data))
    else:
        render_report(data)


FIELDS = ("customer_id", "email", "orders", "net_revenue", "first_order", "last_order",
          "days_since_last_order", "first_channel")


def _cell(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(cents(value))
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, float):
        return f"{value:.1f}"
    return "" if value is None else str(value)


@click.command("customers")
@click.argument("shop")
@click.option("--as-of", default=None, help="As of this date/instant (ISO 8601).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table",
              show_default=True)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Show at most N rows.")
@pass_ctx
def customers(ctx: AppContext, shop: str, as_of: str | None, fmt: str, limit: int | None) -> None:
    """List the customers of SHOP, most valuable first."""
    with ctx.sessions() as session:
        s = get_shop(session, shop)
        rows = list_customers(session, s, parse_as_of(as_of, s.timezone))[:limit]
    if fmt == "json":
        echo_json([{k: to_json({"v": r[k]})["v"] if not isinstance(r[k], datetime)
                    else _cell(r[k]) for k in FIELDS} for r in rows])
    elif fmt == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(FIELDS)
        for r in rows:
            writer.writerow([_cell(r[k]) for k in FIELDS])
    else:
        table = Table(*FIELDS)
        for r in rows:
            table.add_row(*(_cell(r[k]) for k in FIELDS))
        console().print(table)


def attach(cli: click.Group) -> None:
    """Add the report commands to the root group."""
    cli.add_command(report)
    cli.add_command(customers)
