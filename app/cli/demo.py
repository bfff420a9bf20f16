"""``stammkunde demo``: load a synthetic shop and show what the report looks like."""

from __future__ import annotations

import sys

import click

from stammkunde.app.cli.base import echo_json, pass_ctx, progress_bar
from stammkunde.app.cli.report import render_report
from stammkunde.app.context import AppContext
from stammkunde.core.campaigns import get_campaign
from stammkunde.core.campaigns.report import DEFAULT_WINDOW_DAYS
from stammkunde.core.demo import DEMO_AS_OF, PLATFORM, load_demo
from stammkunde.core.demo_respond import respond
from stammkunde.core.errors import UserError
from stammkunde.core.metrics import to_json
from stammkunde.core.segments import retention_report
from stammkunde.core.settings import retention_for
from stammkunde.core.store import get_shop
from stammkunde.plugins.ingest import connection_for

SHOP = "demo"


@click.group("demo", invoke_without_command=True)
@click.option("--customers", type=click.IntRange(min=1, max=200_000), default=5000,
              show_default=True, help="How many people buy in the demo shop.")
@click.option("--seed", type=int, default=42, show_default=True,
              help="Random seed: the same seed gives the same shop.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def demo(click_ctx: click.Context, customers: int, seed: int, as_json: bool) -> None:
    """Load the synthetic shop "demo" (replacing an earlier one) and print its report.

    The demo shop runs on the built-in simulated platform (no network), so campaigns can be
    created, pushed, sent and measured: see `stammkunde demo respond`.
    """
    if click_ctx.invoked_subcommand is not None:
        return
    ctx = click_ctx.ensure_object(AppContext)
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


@demo.command("respond")
@click.argument("campaign_id")
@click.option("--window-days", type=click.IntRange(min=1), default=DEFAULT_WINDOW_DAYS,
              show_default=True, help="Days of the window to simulate (as `campaign report`).")
@click.option("--seed", type=int, default=42, show_default=True,
              help="Random seed of the simulated answers.")
@click.option("--json", "as_json", is_flag=True, help="Print the truth and counts as JSON.")
@pass_ctx
def respond_cmd(ctx: AppContext, campaign_id: str, window_days: int, seed: int,
                as_json: bool) -> None:
    """Simulate the demo customers' orders over a campaign's window, with a known true effect.

    The campaign is moved back in time so that its window ends now (it is complete); its members
    buy, the treatment a known share more often, and most treatment buyers use their code.
    """
    with ctx.sessions() as session:
        campaign = get_campaign(session, campaign_id)
        if campaign.shop.platform != PLATFORM:
            raise UserError(f"campaign {campaign.id} belongs to shop {campaign.shop.name!r} on "
                            f"platform {campaign.shop.platform!r}; `demo respond` only simulates "
                            f"orders in a shop on the {PLATFORM!r} platform (`stammkunde demo`)")
        adapter = ctx.plugins.platform(PLATFORM)
        conn = connection_for(campaign.shop, ctx.settings.secret_key)
    result = respond(ctx.sessions, campaign_id, window_days=window_days, seed=seed)
    codes = result.pop("redeemed_codes")
    count_uses = getattr(adapter, "count_uses", None)
    if count_uses is not None:  # the simulated shop counts its codes' uses, as a real one does
        ctx.plugins.call(ctx.plugins.plugin_of(PLATFORM), "count_uses", count_uses, conn, codes)
    if as_json:
        echo_json(result)
        return
    w = result["window"]
    click.echo(f"campaign {result['campaign']}: window {w['start']} – {w['end']} "
               f"(moved back {result['moved_back_days']:g} days, now complete)")
    click.echo(f"simulated {result['orders']} orders: {result['treatment_orders']} treatment, "
               f"{result['holdout_orders']} holdout; {result['redemptions']} codes redeemed")
    click.echo(f"true effect: conversion +{result['true_conversion_uplift']:.2%} points, revenue "
               f"{result['true_revenue_uplift_per_member']} per member "
               f"({result['true_incremental_revenue']} incremental); compare "
               f"`stammkunde campaign report {result['campaign']}`")
