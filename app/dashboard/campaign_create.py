"""Campaigns made in the dashboard: the create form with its live target count, the push
confirmation, retrying failed codes and sending offers through a channel."""

from __future__ import annotations

import os
from decimal import Decimal
from typing import Any

from flask import abort, flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from stammkunde.app.dashboard import auth
from stammkunde.app.dashboard.campaign_views import _campaign
from stammkunde.app.dashboard.views import _ctx, bp, can_push
from stammkunde.core.errors import UserError

FIELDS = ("name", "target_kind", "target_arg", "offer_kind", "value", "min_order", "starts",
          "ends", "holdout", "code_type", "shared_code")


class CampaignSchema(Schema):
    """The create form: who, what offer, when, how much holdout, which kind of code."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=200),
                         error_messages={"required": _l("Give the campaign a name.")})
    target_kind = fields.String(required=True)
    target_arg = fields.String(load_default="")
    offer_kind = fields.String(required=True,
                               validate=validate.OneOf(("percentage", "fixed_amount")))
    value = fields.Decimal(required=True, places=2,
                           validate=validate.Range(min=Decimal("0.01"), max=Decimal(100_000)),
                           error_messages={"invalid": _l("Enter a number, e.g. 15.")})
    min_order = fields.Decimal(load_default=None, allow_none=True, places=2,
                               validate=validate.Range(min=Decimal(0)),
                               error_messages={"invalid": _l("Enter an amount, e.g. 30.")})
    starts = fields.Date(load_default=None, allow_none=True,
                         error_messages={"invalid": _l("Enter a date.")})
    ends = fields.Date(load_default=None, allow_none=True,
                       error_messages={"invalid": _l("Enter a date.")})
    holdout = fields.Integer(load_default=10, validate=validate.Range(min=0, max=90),
                             error_messages={"invalid": _l("Enter a whole number of percent.")})
    code_type = fields.String(load_default="unique", validate=validate.OneOf(("unique",
                                                                              "shared")))
    shared_code = fields.String(load_default="")

    @validates_schema
    def _rules(self, data: dict[str, Any], **_kw: Any) -> None:
        errors: dict[str, list[str]] = {}
        if data.get("offer_kind") == "percentage" and data.get("value", 0) > 100:
            errors["value"] = [_("A percentage is at most 100.")]
        if data.get("code_type") == "shared" and not data.get("shared_code"):
            errors["shared_code"] = [_("Enter the code all members share.")]
        if data.get("starts") and data.get("ends") and data["ends"] < data["starts"]:
            errors["ends"] = [_("The offer cannot end before it starts.")]
        if errors:
            raise ValidationError(errors)


def _blank_to_none(form: dict[str, str]) -> dict[str, Any]:
    optional = ("min_order", "starts", "ends")
    return {k: (None if k in optional and not v else v) for k, v in form.items()}


def _target(kind: str, arg: str) -> str:
    return f"{kind}:{arg}" if arg else kind


def _kinds() -> list[Any]:
    return _ctx().plugins.target_kinds().all()


@bp.route("/shops/<name>/campaigns/new", methods=["GET", "POST"])
@auth.shop_required
def campaign_new(name: str) -> Any:
    """The create form; a valid form makes a draft campaign and opens its plan."""
    from stammkunde.core.campaigns import CampaignSpec
    from stammkunde.core.timeutil import parse_instant
    from stammkunde.plugins.campaigns import create_shop_campaign

    if not can_push():
        abort(400)
    values = {k: "" for k in FIELDS}
    values.update(target_kind="lapsed", target_arg="90", offer_kind="percentage", value="10",
                  holdout="10", code_type="unique")
    errors: dict[str, list[str]] = {}
    problem = None
    if request.method == "POST":
        values = {k: request.form.get(k, "").strip() for k in FIELDS}
        try:
            form = CampaignSchema().load(_blank_to_none(values))
        except ValidationError as exc:
            errors = {k: v if isinstance(v, list) else [str(v)]
                      for k, v in exc.normalized_messages().items()}
        else:
            tz = g.shop.timezone
            spec = CampaignSpec(
                name=form["name"], target=_target(form["target_kind"], form["target_arg"]),
                percent=form["value"] if form["offer_kind"] == "percentage" else None,
                amount=form["value"] if form["offer_kind"] == "fixed_amount" else None,
                minimum_order=form["min_order"] or None,
                starts_at=parse_instant(form["starts"].isoformat(), tz) if form["starts"]
                else None,
                ends_at=parse_instant(form["ends"].isoformat(), tz, end_of_day=True)
                if form["ends"] else None,
                holdout=form["holdout"] / 100,
                shared_code=form["shared_code"] if form["code_type"] == "shared" else None)
            try:
                campaign = create_shop_campaign(g.db, _ctx().plugins, g.shop, spec)
            except UserError as exc:
                problem = str(exc)
                g.db.rollback()
            else:
                g.db.commit()
                flash(_("Campaign created. Check the plan, then push the codes."), "info")
                return redirect(url_for("dashboard.campaign", name=name, cid=campaign.id))
    status = 400 if errors or problem else 200
    return render_template("dashboard/campaign_new.html", values=values, errors=errors,
                           problem=problem, kinds=_kinds(), nav="campaigns"), status


@bp.get("/shops/<name>/campaigns/target-count")
@auth.shop_required
def campaign_target_count(name: str) -> Any:
    """How many customers a target selects right now (the create form's live count)."""
    from stammkunde.core.campaigns import resolve_target
    from stammkunde.core.timeutil import now

    kind = request.args.get("kind", "").strip()
    arg = request.args.get("arg", "").strip()
    try:
        members = resolve_target(g.db, g.shop, _target(kind, arg), now(),
                                 _ctx().plugins.target_kinds())
    except UserError as exc:
        return jsonify({"count": None, "error": str(exc)}), 200
    return jsonify({"count": len(members), "error": None})


@bp.get("/shops/<name>/campaigns/<int:cid>/push")
@auth.shop_required
def push_confirm(name: str, cid: int) -> Any:
    """Ask before codes go to the shop: what will be created for whom."""
    from stammkunde.core.campaigns import campaign_plan

    c = _campaign(cid)
    if not can_push() or c.schedule or c.status not in ("draft", "pushing"):
        abort(400)
    return render_template("dashboard/campaign_push.html", c=c,
                           plan=campaign_plan(g.db, c, kinds=_ctx().plugins.target_kinds()),
                           nav="campaigns")


@bp.post("/shops/<name>/campaigns/<int:cid>/retry")
@auth.shop_required
def push_retry(name: str, cid: int) -> Any:
    """Queue another attempt at the codes that failed."""
    from stammkunde.app.jobs import schedule_push

    c = _campaign(cid)
    if not can_push() or c.schedule or c.assigned_at is None:
        abort(400)
    schedule_push(name, c.id, retry_failed=True)
    flash(_("Retry of the failed codes queued. Progress appears below."), "info")
    return redirect(url_for("dashboard.jobs", name=name))


@bp.post("/shops/<name>/campaigns/<int:cid>/send")
@auth.shop_required
def send(name: str, cid: int) -> Any:
    """Queue the delivery of the offers through the chosen channel (checked first)."""
    from stammkunde.app.jobs import schedule_send
    from stammkunde.core.timeutil import now
    from stammkunde.plugins.delivery import check_sendable, pending_push

    c = _campaign(cid)
    channel = request.form.get("channel", "")
    plugins = _ctx().plugins
    if channel not in plugins.channels():
        abort(400)
    try:
        check_sendable(c, now())
        if pending_push(g.db, c.id):
            raise UserError(_("Push all codes before sending the offers."))
        preflight(c, channel)
    except UserError as exc:
        flash(str(exc), "error")
        return redirect(url_for("dashboard.campaign", name=name, cid=cid) + "#send")
    schedule_send(name, c.id, channel, retry_failed=request.form.get("retry") == "1")
    flash(_("Sending queued. Progress appears below."), "info")
    return redirect(url_for("dashboard.jobs", name=name))


def preflight(c: Any, channel_name: str) -> None:
    """Run the channel's own check (configuration, platform support) before queueing."""
    from stammkunde.plugins.channels import SendJob
    from stammkunde.plugins.ingest import connection_for

    ctx = _ctx()
    channel = ctx.plugins.channel(channel_name)
    job = SendJob(campaign_id=c.id, campaign_name=c.name,
                  shop=connection_for(g.shop, ctx.settings.secret_key), shop_id=g.shop.id,
                  shop_locale=g.shop.locale or "en",
                  adapter=ctx.plugins.platform(g.shop.platform), home=ctx.settings.home,
                  secret_key=ctx.settings.secret_key, tag=c.tag, env=dict(os.environ))
    channel.check(job)
