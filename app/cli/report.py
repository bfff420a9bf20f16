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
from stammkunde.core.errors import UserError
from stammkunde.core.metrics import to_json
from stammkunde.core.money import cents
from stammkunde.core.segments import (
    CUSTOMER_FIELDS,
    SEGMENTS,
    STAGES,
    customer_rows,
    retention_report,
    score_customers,
)
from stammkunde.core.settings import load_settings
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
    render_scores(report)
    for extra in report.get("notes", []):
        out.print(f"note: {extra}")


def _count_table(title: str, counts: dict[str, int]) -> Table:
    total = sum(counts.values())
    table = Table(title, "customers", "share", title=None)
    for name, n in counts.items():
        table.add_row(name, f"{n:,}", _pct(n / total if total else None))
    return table


def render_scores(report: dict[str, Any]) -> None:
    """Print the model, segment/stage/tier/type counts and CLV by group."""
    if "clv_model" not in report:
        return
    out = console()
    cur = report["currency"]
    model = report["clv_model"]
    if model["available"]:
        tx, sp = model["bgnbd"], model["gamma_gamma"]
        se_tx, se_sp = tx["standard_errors"], sp["standard_errors"]
        family = "BG/NBD" if model["family"] == "bgnbd" else "NBD"
        table = Table("parameter", "estimate", "std. error",
                      title=f"Predictive CLV model: {family} ({model['customers']:,} customers, "
                            f"{model['horizon_months']} months, margin {model['margin']:.0%})")
        for name in ("r", "alpha", "a", "b"):
            if tx[name] is not None:
                table.add_row(f"{family} {name}", f"{tx[name]:.4g}",
                              _num(se_tx[name], "{:.2g}"))
        for name in ("p", "q", "gamma"):
            if sp[name] is not None:
                table.add_row(f"Gamma-Gamma {name}", f"{sp[name]:.4g}",
                              _num(se_sp[name], "{:.2g}"))
        out.print(table)
        out.print(model["reason"])
        if sp["note"]:
            out.print(sp["note"])
    else:
        out.print(f"Predictive CLV model: not shown ({model['reason']})")
    grid = Table.grid(padding=(0, 2))
    grid.add_row(_count_table("RFM segment", report["segments"]),
                 _count_table("lifecycle stage", report["lifecycle"]))
    grid.add_row(_count_table("tier", report["tiers"]),
                 _count_table("loyalty type", report["loyalty_types"]))
    out.print(grid)
    for key, label in (("clv_by_channel", "first-order channel"),
                       ("clv_by_first_code", "first discount code")):
        if not report[key]:
            continue
        table = Table(label, "customers", "historic CLV", "predicted CLV", "predicted total",
                      title=f"CLV by {label}")
        for name, g in report[key].items():
            table.add_row(name, f"{g['customers']:,}", _money(g["historic_clv"], cur),
                          _money(g["predicted_clv"], cur),
                          _money(g["predicted_clv_total"], cur))
        out.print(table)


def full_report(ctx: AppContext, shop: str, as_of: str | None) -> dict[str, Any]:
    """The retention metrics plus the score section, with the shop's configured settings."""
    settings = load_settings(ctx.settings.home, shop)
    with ctx.sessions() as session:
        s = get_shop(session, shop)
        return retention_report(session, s, parse_as_of(as_of, s.timezone), settings)


@click.command("report")
@click.argument("shop")
@click.option("--as-of", default=None, help="Report as of this date/instant (ISO 8601).")
@click.option("--json", "as_json", is_flag=True, help="Print the documented JSON schema.")
@pass_ctx
def report(ctx: AppContext, shop: str, as_of: str | None, as_json: bool) -> None:
    """Print the retention report of SHOP."""
    data = full_report(ctx, shop, as_of)
    if as_json:
        echo_json(to_json(data))
    else:
        render_report(data)


# The terminal table shows the scores; JSON and CSV carry every column (CUSTOMER_FIELDS).
TABLE_FIELDS = ("customer_id", "orders", "net_revenue", "days_since_last_order", "r", "f", "m",
                "segment", "lifecycle", "points_available", "points_pending", "tier",
                "loyalty_type", "p_alive", "predicted_clv")


def _cell(value: Any, *, full: bool = False) -> str:
    """A table cell; ``full`` keeps every digit of a float (CSV), the table rounds."""
    if isinstance(value, Decimal):
        return str(cents(value))
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, float):
        if full:
            return repr(value)
        return f"{value:.1f}" if abs(value) >= 10 else f"{value:.3f}"
    return "" if value is None else str(value)


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return _cell(value)
    return to_json({"v": value})["v"]


def print_rows(rows: list[dict[str, Any]], fields: tuple[str, ...], fmt: str,
               title: str | None = None) -> None:
    """Print rows as a table, JSON (an array of objects) or CSV with the given columns."""
    if fmt == "json":
        echo_json([{k: _json_value(r[k]) for k in fields} for r in rows])
    elif fmt == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(fields)
        for r in rows:
            writer.writerow([_cell(r[k], full=True) for k in fields])
    else:
        table = Table(*fields, title=title)
        for r in rows:
            table.add_row(*(_cell(r[k]) for k in fields))
        console().print(table)


def _key(name: str) -> str:
    return name.lower().replace("'", "").replace("-", " ").replace("_", " ").strip()


def _named(value: str | None, names: tuple[str, ...], what: str) -> str | None:
    """Match a name typed with hyphens or underscores (``at-risk``, ``cant-lose``)."""
    if value is None:
        return None
    for name in names:
        if _key(name) == _key(value):
            return name
    raise UserError(f"unknown {what} {value!r} (one of: {', '.join(names)})")


@click.command("customers")
@click.argument("shop")
@click.option("--as-of", default=None, help="As of this date/instant (ISO 8601).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table",
              show_default=True)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Show at most N rows.")
@click.option("--segment", callback=lambda c, p, v: _named(v, SEGMENTS, "segment"), default=None,
              help="Only this RFM segment (e.g. champions, at-risk, cant-lose).")
@click.option("--lifecycle", callback=lambda c, p, v: _named(v, STAGES, "lifecycle stage"),
              default=None, help="Only this lifecycle stage (e.g. new, at-risk, lapsed).")
@click.option("--tier", default=None, help="Only this loyalty tier.")
@pass_ctx
def customers(ctx: AppContext, shop: str, as_of: str | None, fmt: str, limit: int | None,
              segment: str | None, lifecycle: str | None, tier: str | None) -> None:
    """List the customers of SHOP with their scores, most valuable first."""
    settings = load_settings(ctx.settings.home, shop)
    if tier is not None and tier not in settings.tiers:
        raise UserError(f"unknown tier {tier!r} (configured: {', '.join(settings.tiers)})")
    with ctx.sessions() as session:
        s = get_shop(session, shop)
        scores = score_customers(session, s, parse_as_of(as_of, s.timezone), settings)
    rows = customer_rows(scores, segment=segment, lifecycle=lifecycle, tier=tier)[:limit]
    if fmt == "table" and not scores.model_available:
        click.echo(f"note: p_alive, expected_purchases and predicted_clv are empty: "
                   f"{scores.model.reason}", err=True)  # type: ignore[union-attr]
    elif fmt == "table" and scores.p_alive_weight == 0:
        click.echo(f"note: p_alive is empty: {scores.model.reason}",  # type: ignore[union-attr]
                   err=True)
    print_rows(rows, TABLE_FIELDS if fmt == "table" else CUSTOMER_FIELDS, fmt)


def attach(cli: click.Group) -> None:
    """Add the report commands to the root group."""
    cli.add_command(report)
    cli.add_command(customers)
