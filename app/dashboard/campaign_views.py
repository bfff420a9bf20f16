"""Campaign pages: list, dry-run plan, push, effect; planning one from the win-back list."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from marshmallow import Schema, ValidationError, fields, validate

from stammkunde.app.dashboard import auth
from stammkunde.app.dashboard.overview import uplift_chart
from stammkunde.app.dashboard.views import _ctx, bp, can_push
from stammkunde.core.errors import UserError


class WinBackCampaignSchema(Schema):
    """The win-back campaign form: how many of the top customers, how much off."""

    limit = fields.Integer(required=True, validate=validate.Range(min=1, max=100_000))
    percent = fields.Decimal(required=True, validate=validate.Range(min=Decimal(1),
                                                                   max=Decimal(90)))


@bp.post("/shops/<name>/win-back/campaign")
@auth.shop_required
def win_back_campaign(name: str) -> Any:
    """Create a draft campaign for the top win-back customers and open its plan."""
    from stammkunde.core.campaigns import CampaignSpec
    from stammkunde.plugins.campaigns import create_shop_campaign

    try:
        form = WinBackCampaignSchema().load({k: request.form.get(k, "").strip()
                                             for k in ("limit", "percent")})
    except ValidationError as exc:
        flash(" ".join(f"{k}: {' '.join(v)}" for k, v in exc.normalized_messages().items()),
              "error")
        return redirect(url_for("dashboard.win_back", name=name))
    try:
        campaign = create_shop_campaign(g.db, _ctx().plugins, g.shop, CampaignSpec(
            name=_("Win-back: top %(n)s", n=form["limit"]), target=f"winback:{form['limit']}",
            percent=form["percent"]))
    except UserError as exc:
        flash(str(exc), "error")
        return redirect(url_for("dashboard.win_back", name=name))
    g.db.commit()
    return redirect(url_for("dashboard.campaign", name=name, cid=campaign.id))


def _campaign(cid: int) -> Any:
    from stammkunde.core.models import Campaign

    campaign = g.db.get(Campaign, cid)
    if campaign is None or campaign.shop_id != g.shop.id:
        abort(404)
    return campaign


@bp.get("/shops/<name>/campaigns")
@auth.shop_required
def campaigns(name: str) -> Any:
    """The shop's campaigns with their status."""
    from stammkunde.core.campaigns import format_target, list_campaigns

    rows = [{"c": c, "target": format_target(c.target)} for c in list_campaigns(g.db, g.shop)]
    return render_template("dashboard/campaigns.html", rows=rows, can_push=can_push(),
                           nav="campaigns")


@bp.get("/shops/<name>/campaigns/<int:cid>")
@auth.shop_required
def campaign(name: str, cid: int) -> Any:
    """One campaign: its dry-run plan before the push, its measured effect after."""
    from stammkunde.core.campaigns import campaign_plan, campaign_report

    c = _campaign(cid)
    plan = campaign_plan(g.db, c, kinds=_ctx().plugins.target_kinds())
    report = chart = None
    if c.pushed_at is not None or c.assigned_at is not None:
        try:
            report = campaign_report(g.db, c)
        except UserError:
            report = None
    if report is not None:
        chart = uplift_chart(report)
    from stammkunde.plugins.campaigns import push_outcome

    # a partial push: how many members got no code, per reason (as the CLI and JSON say)
    push_reasons = push_outcome(g.db, c.id)[1] if c.status == "partial" else []
    return render_template("dashboard/campaign.html", c=c, plan=plan, report=report,
                           chart=chart, can_push=can_push(), nav="campaigns",
                           push_reasons=push_reasons)


@bp.post("/shops/<name>/campaigns/<int:cid>/push")
@auth.shop_required
def push(name: str, cid: int) -> Any:
    """Queue the push of the campaign's codes to the shop."""
    from stammkunde.app.jobs import schedule_push

    c = _campaign(cid)
    if not can_push() or c.schedule or c.status not in ("draft", "pushing"):
        abort(400)
    schedule_push(name, c.id)
    flash(_("Push queued. Progress appears below."), "info")
    return redirect(url_for("dashboard.jobs", name=name))
