"""``stammkunde demo``: load a synthetic shop and show what the report looks like."""

from __future__ import annotations

import sys

import click

from stammkunde.app.cli.base import echo_json, pass_ctx, progress_bar
from stammkunde.app.cli.report import render_report
from stammkunde.app.context import AppContext
from stammkunde.core.demo import DEMO_AS_OF, load_demo
from stammkunde.core.metrics import to_json
from stammkunde.core.segments import retention_report
from stammkunde.core.settings import retention_for
from stammkunde.core.store import get_shop

SHOP = "demo"


@click.command("demo")
@click.option("--customers", type=click.IntRange(min=1, max=200_000), default=5000,
              show_default=True, help="How many people buy in the demo shop.")
@click.option("--seed", type=int, default=42, show_default=True,
              help="Random seed: the same seed gives the same shop.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_ctx
def demo(ctx: AppContext, customers: int, seed: int, as_json: bool) -> None:
    """Load the synthetic shop "demo" (replacing an earlier one) and print its report."""
    with progress_bar("loading demo", sys.stderr.isatty()) as update:
        loaded = load_demo(ctx.sessions, SHOP, customers=customers, seed=seed, progress=update)
    click.echo(f"loaded shop {SHOP} (seed {seed}): {loaded.customers:,} accounts, "
               f"{loaded.orders:,} orders, {loaded.events:,} events; report as of the end of "
               "the demo window", err=as_json)
    with ctx.sessions() as session:
        shop = get_shop(session, SHOP)
        report = retention_report(session, shop, DEMO_AS_OF, retention_for(shop))
    if as_json:
        echo_json(to_json(report))
    else:
        render_report(report)


def attach(cli: click.Group) -> None:
    """Add the demo command to the root group."""
    cli.add_command(demo)
