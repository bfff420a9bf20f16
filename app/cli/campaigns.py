"""``stammkunde campaign``: create, dry-run, push and measure campaigns; templates; schedules."""

from __future__ import annotations

from contextlib import ExitStack
from decimal import Decimal
from typing import Any

import click
from rich.table import Table

from stammkunde.app.cli.base import console, echo_json, pass_ctx, progress_bar
from stammkunde.app.context import AppContext
from stammkunde.core.campaigns import (
    TEMPLATES,
    CampaignSpec,
    campaign_plan,
    campaign_report,
    format_target,
    get_campaign,
    list_campaigns,
)
from stammkunde.core.campaigns.plan import offer_dict
from stammkunde.core.errors import UserError
from stammkunde.core.money import parse_money
from stammkunde.core.store import get_shop
from stammkunde.core.timeutil import parse_instant
from stammkunde.plugins.campaigns import (
    create_shop_campaign,
    push_campaign,
    run_due_campaigns,
)


@click.group("campaign")
def campaign() -> None:
    """Campaigns that prove their effect: target, offer, holdout, codes, uplift."""


def _money(value: str | None, what: str) -> Decimal | None:
    return None if value is None else parse_money(value, field=what)


def _offer_text(offer: dict[str, Any], currency: str) -> str:
    value = f"{offer['value']} %" if offer["kind"] == "percentage" else \
        f"{offer['value']} {currency}"
    extra = f", minimum order {offer['minimum_order']} {currency}" if offer["minimum_order"] \
        else ""
    code = f", shared code {offer['shared_code']}" if offer["shared_code"] else ", unique codes"
    return f"{value} off{extra}{code}"


@campaign.command("create")
@click.argument("shop")
@click.option("--name", help="What the campaign is called (default: the template's name).")
@click.option("--target", help="Who: KIND[:ARG], e.g. lapsed:90 (see `campaign targets`).")
@click.option("--percent", help="Percentage off, e.g. 10.")
@click.option("--amount", help="Fixed amount off, in the shop's currency.")
@click.option("--min-order", help="Minimum order value for the code to apply.")
@click.option("--starts", help="Offer start (ISO date or datetime, shop time zone; default now).")
@click.option("--ends", help="Offer end (a bare date means the end of that day).")
@click.option("--valid-days", type=int, help="Offer validity in days (instead of --ends).")
@click.option("--shared-code", help="One code for all treatment members instead of one each.")
@click.option("--holdout", type=float, help="Share held out for measurement (0–0.9, default 0.1).")
@click.option("--cap-days", type=int,
              help="Skip people offered anything in the last N days (default 14; 0: no cap).")
@click.option("--code-prefix", help="Prefix of the unique codes (default SK).")
@click.option("--template", help="Start from a template (see `campaign template list`).")
@click.option("--schedule", help="Recurring: daily, weekly or an interval like 7d ('none': once).")
@click.option("--json", "as_json", is_flag=True, help="Print the created campaign as JSON.")
@pass_ctx
def create(ctx: AppContext, shop: str, name: str | None, target: str | None, percent: str | None,
           amount: str | None, min_order: str | None, starts: str | None, ends: str | None,
           valid_days: int | None, shared_code: str | None, holdout: float | None,
           cap_days: int | None, code_prefix: str | None, template: str | None,
           schedule: str | None, as_json: bool) -> None:
    """Create a campaign for SHOP (a draft until pushed)."""
    with ctx.sessions() as session, session.begin():
        s = get_shop(session, shop)
        spec = CampaignSpec(
            name=name, target=target, percent=_money(percent, "--percent"),
            amount=_money(amount, "--amount"), minimum_order=_money(min_order, "--min-order"),
            starts_at=parse_instant(starts, s.timezone) if starts else None,
            ends_at=parse_instant(ends, s.timezone, end_of_day=True) if ends else None,
            valid_days=valid_days, shared_code=shared_code, holdout=holdout, cap_days=cap_days,
            code_prefix=code_prefix, template=template, schedule=schedule,
        )
        c = create_shop_campaign(session, ctx.plugins, s, spec)
        data = _summary(c)
    if as_json:
        echo_json(data)
        return
    when = f", {data['schedule']} from {data['next_run_at']}" if data["schedule"] else ""
    click.echo(f"created campaign {data['id']} ({data['name']}): {data['target']}, "
               f"{_offer_text(data['offer'], data['currency'])}, holdout "
               f"{data['holdout_share']:.0%}{when}")


def _summary(c: Any) -> dict[str, Any]:
    return {
        "id": c.id, "shop": c.shop.name, "name": c.name, "status": c.status,
        "template": c.template, "target": format_target(c.target), "offer": offer_dict(c),
        "currency": c.shop.currency, "holdout_share": c.holdout, "cap_days": c.cap_days,
        "schedule": c.schedule, "valid_days": c.valid_days,
        "next_run_at": c.next_run_at.isoformat().replace("+00:00", "Z") if c.next_run_at
        else None,
        "parent": c.parent_id, "tag": c.tag,
    }


@campaign.command("list")
@click.argument("shop", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def list_(ctx: AppContext, shop: str | None, as_json: bool) -> None:
    """List campaigns (of SHOP, or of all shops), newest first."""
    with ctx.sessions() as session:
        s = get_shop(session, shop) if shop else None
        rows = [_summary(c) for c in list_campaigns(session, s)]
    if as_json:
        echo_json(rows)
        return
    table = Table("id", "shop", "name", "status", "target", "offer", "schedule")
    for r in rows:
        table.add_row(str(r["id"]), r["shop"], r["name"], r["status"], r["target"],
                      _offer_text(r["offer"], r["currency"]), r["schedule"] or "")
    console().print(table)


@campaign.command("targets")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def targets(ctx: AppContext, as_json: bool) -> None:
    """List the target kinds a campaign can use."""
    rows = [{"kind": k.name, "usage": k.usage, "description": k.description}
            for k in ctx.plugins.target_kinds().all()]
    if as_json:
        echo_json(rows)
        return
    table = Table("target", "who")
    for r in rows:
        table.add_row(r["usage"], r["description"])
    console().print(table)


@campaign.command("plan")
@click.argument("campaign_id")
@click.option("--show", type=click.IntRange(min=0), default=20, show_default=True,
              help="How many members to list in the table.")
@click.option("--json", "as_json", is_flag=True, help="Print the full plan as JSON.")
@pass_ctx
def plan(ctx: AppContext, campaign_id: str, show: int, as_json: bool) -> None:
    """Dry run: who gets which code, who is held out or capped, and the expected cost."""
    with ctx.sessions() as session:
        data = campaign_plan(session, get_campaign(session, campaign_id),
                             kinds=ctx.plugins.target_kinds())
    if as_json:
        echo_json(data)
        return
    out = console()
    cur = data["currency"]
    n = data["counts"]
    exp = data["expected"]
    out.print(f"[bold]campaign {data['campaign']}[/bold] {data['name']} ({data['shop']}, "
              f"{data['status']}): {data['target']}, {_offer_text(data['offer'], cur)}")
    out.print(f"targeted {n['targeted']}: treatment {n['treatment']}, holdout {n['holdout']} "
              f"(share {data['holdout_share']:.0%}), capped {n['capped']} "
              f"(offered something in the last {data['cap_days']} days)")
    cost = f"{exp['cost']} {cur}" if exp["cost"] is not None else "unknown"
    out.print(f"expected: {exp['redemptions']} redemptions at "
              f"{exp['redemption_rate']:.1%} ({exp['redemption_rate_source']}), "
              f"discount per redemption {exp['discount_per_redemption'] or '–'} {cur} "
              f"(AOV {exp['average_order_value'] or '–'}), cost {cost}")
    if show and data["members"]:
        table = Table("person", "customer", "email", "arm", "code", "capped by")
        for m in data["members"][:show]:
            table.add_row(str(m["person_id"]), m["customer_id"], m["email"] or "", m["arm"],
                          m["code"] or "", str(m["capped_by"] or ""))
        out.print(table)
        if len(data["members"]) > show:
            out.print(f"… and {len(data['members']) - show} more (--show N or --json)")
    for note in data["notes"]:
        out.print(f"note: {note}")


@campaign.command("push")
@click.argument("campaign_id")
@click.option("--tag", help="Also tag the treatment customers in the shop with TAG.")
@click.option("--batch-size", type=click.IntRange(min=1), default=100, show_default=True,
              help="Codes per adapter call.")
@click.option("--limit-calls", type=click.IntRange(min=0),
              help="Stop after N adapter calls (run again to continue).")
@click.option("--retry-failed", is_flag=True, help="Send codes that failed before once more.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_ctx
def push(ctx: AppContext, campaign_id: str, tag: str | None, batch_size: int,
         limit_calls: int | None, retry_failed: bool, as_json: bool) -> None:
    """Assign arms and create the codes in the shop; safe to re-run after a crash."""
    with ExitStack() as stack:
        bars: dict[bool, Any] = {}

        def update(done: int, total: int | None = None) -> None:
            # the bar opens with the first progress report, so a refused push prints one line
            if not bars:
                bars[True] = stack.enter_context(progress_bar("pushing", enabled=not as_json))
            bars[True](done, total)

        result = push_campaign(ctx.sessions, ctx.plugins, campaign_id,
                               secret_key=ctx.settings.secret_key, tag=tag,
                               batch_size=batch_size, limit_calls=limit_calls,
                               retry_failed=retry_failed, progress=update)
    if as_json:
        echo_json(result.as_dict())
        return
    if result.assigned:
        a = result.assigned
        click.echo(f"assigned: {a.get('treatment', 0)} treatment, {a.get('holdout', 0)} "
                   f"holdout, {a.get('capped', 0)} capped")
    skipped = f", {result.skipped} skipped" if result.skipped else ""
    click.echo(f"codes: {result.created} created, {result.exists} already existed, "
               f"{result.failed} failed{skipped}; {result.calls} adapter call(s)")
    if result.tagged or result.tag_failed:
        click.echo(f"tags: {result.tagged} tagged, {result.tag_failed} failed")
    if result.stopped:
        click.echo(f"stopped after {result.calls} call(s) (--limit-calls); {result.pending} "
                   f"code(s) pending: run `stammkunde campaign push {result.campaign}` again")
    else:
        click.echo(f"campaign {result.campaign} is {result.status}")
    if result.status == "partial":
        for r in result.reasons:
            click.echo(f"  {r['count']} {r['status'].replace('_', ' ')}: {r['reason']}")
        if any(r["status"] == "failed" for r in result.reasons):
            click.echo(f"send the failed codes again: stammkunde campaign push {result.campaign} "
                       "--retry-failed")


def _ci(iv: dict[str, Any], fmt: str) -> str:
    if iv["estimate"] is None:
        return "–"
    return f"{fmt.format(iv['estimate'])} [{fmt.format(iv['low'])}, {fmt.format(iv['high'])}]"


@campaign.command("report")
@click.argument("campaign_id")
@click.option("--window-days", type=int, default=30, show_default=True,
              help="Days after the push in which orders count.")
@click.option("--json", "as_json", is_flag=True, help="Print the documented JSON.")
@pass_ctx
def report(ctx: AppContext, campaign_id: str, window_days: int, as_json: bool) -> None:
    """Redemptions, conversion and revenue per member: treatment vs holdout, with 95% CIs."""
    with ctx.sessions() as session:
        data = campaign_report(session, get_campaign(session, campaign_id),
                               window_days=window_days)
    if as_json:
        echo_json(data)
        return
    out = console()
    cur = data["currency"]
    w = data["window"]
    out.print(f"[bold]campaign {data['campaign']}[/bold] {data['name']} ({data['shop']}): "
              f"{data['target']}; window {w['start']} – {w['end']} ({w['days']} days"
              f"{'' if w['complete'] else ', still open'})")
    t, h, u = data["treatment"], data["holdout"], data["uplift"]
    table = Table("", "treatment", "holdout", "uplift [95% CI]")
    table.add_row("members", str(t["members"]), str(h["members"]), "")
    table.add_row("redemptions (orders with the code)", str(t["redemptions"]), "–", "")
    table.add_row("conversion rate", _pct(t["conversion_rate"]), _pct(h["conversion_rate"]),
                  _ci({k: (v * 100 if isinstance(v, float) else v)
                       for k, v in u["conversion_rate"].items()}, "{:+.2f} pp"))
    table.add_row(f"revenue per member ({cur})", t["revenue_per_member"] or "–",
                  h["revenue_per_member"] or "–", _ci(u["revenue_per_member"], "{:+.2f}"))
    out.print(table)
    inc, net = data["incremental_revenue"], data["net_incremental_revenue"]
    if inc["estimate"] is not None:
        out.print(f"incremental revenue {inc['estimate']} {cur} [{inc['low']}, {inc['high']}], "
                  f"discount cost {data['discount_cost']} {cur}, net {net['estimate']} {cur} "
                  f"[{net['low']}, {net['high']}]")
    out.print(f"capped (not measured): {data['capped']}")
    for note in data["notes"]:
        out.print(f"note: {note}")


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.2f} %"


@campaign.group("template")
def template() -> None:
    """Templates for recurring plays."""


@template.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def template_list(as_json: bool) -> None:
    """List the campaign templates."""
    rows = [{"name": t.name, "description": t.description, "target": t.target,
             "percent": None if t.percent is None else str(t.percent),
             "amount": None if t.amount is None else str(t.amount),
             "schedule": t.schedule, "valid_days": t.valid_days, "holdout": t.holdout}
            for t in TEMPLATES.values()]
    if as_json:
        echo_json(rows)
        return
    table = Table("template", "target", "offer", "schedule", "what")
    for r in rows:
        offer = f"{r['percent']} %" if r["percent"] else f"{r['amount']}"
        table.add_row(r["name"], r["target"], offer, r["schedule"], r["description"])
    console().print(table)


@campaign.command("run-due")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def run_due(ctx: AppContext, as_json: bool) -> None:
    """Create and push the instances of scheduled campaigns that are due now."""
    runs = run_due_campaigns(sessions=ctx.sessions, plugins=ctx.plugins,
                             secret_key=ctx.settings.secret_key)
    if as_json:
        echo_json([r.as_dict() for r in runs])
        return
    if not runs:
        click.echo("no scheduled campaign is due")
    for r in runs:
        if r.error:
            click.echo(f"schedule {r.schedule}: error: {r.error}")
        elif r.result is not None:
            click.echo(f"schedule {r.schedule}: campaign {r.instance} {r.result.status}, "
                       f"{r.result.created} code(s) created, {r.result.failed} failed")
    if any(r.error for r in runs):
        raise UserError(f"{sum(1 for r in runs if r.error)} scheduled campaign(s) failed")


def attach(cli: click.Group) -> None:
    """Add the campaign commands to the root group."""
    cli.add_command(campaign)
