"""The dashboard's pages: overview, customers (with CSV), jobs, settings, login and language."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFProtect
from marshmallow import ValidationError

from stammkunde.app.dashboard import auth, i18n
from stammkunde.app.dashboard.charts import bar_chart
from stammkunde.app.dashboard.i18n import LANGUAGES
from stammkunde.app.dashboard.overview import channel_bars, cohort_rows, tiles
from stammkunde.app.dashboard.scores import FILTERS, group_rows, label, predicted_clv
from stammkunde.app.dashboard.settings_form import SettingsSchema, current, form_values
from stammkunde.core.cache import (
    REPORT,
    REPORT_PREVIOUS,
    ROLLUP,
    SCORES,
    SORTS,
    WINBACK,
    cached,
    customer_page,
    iter_customers,
    report_instant,
)
from stammkunde.core.errors import UserError
from stammkunde.core.job_models import JobState
from stammkunde.core.money import cents

bp = Blueprint("dashboard", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static/dashboard")

csrf = CSRFProtect()
PER_PAGE = 50
WINBACK_PAGE = 50


@bp.before_request
def _protect() -> None:
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        csrf.protect()

@bp.context_processor
def _template_values() -> dict[str, Any]:
    return {**i18n.template_context(), "session_shop": auth.session_shop()}

@bp.after_request
def _headers(response: Any) -> Any:
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'")
    if request.endpoint not in ("dashboard.static",):
        response.headers.setdefault("Cache-Control", "no-store")
    return response



def _ctx() -> Any:
    from stammkunde.app.web import app_context

    return app_context(current_app)


def _reports() -> tuple[dict[str, Any], dict[str, Any] | None, datetime]:
    """Return the cached report, previous-period report and when they were computed."""
    db, shop = g.db, g.shop
    row = cached(db, shop, REPORT)
    if row is None:
        # First visit before any job ran: compute once here; afterwards jobs keep it fresh.
        from stammkunde.app.jobs import refresh_numbers

        refresh_numbers(db, shop, as_of=report_instant(shop, current_app.config["DASHBOARD_NOW"]))
        db.commit()
        row = cached(db, shop, REPORT)
        assert row is not None
    previous = cached(db, shop, REPORT_PREVIOUS)
    return row.data, previous.data if previous else None, row.computed_at


def _jobs_json(shop_id: int) -> dict[str, Any]:
    from stammkunde.app.jobs import job_view, recent_jobs

    jobs = [job_view(j) for j in recent_jobs(g.db, shop_id, limit=10)]
    return {"jobs": jobs, "active": any(j["state"] in JobState.ACTIVE for j in jobs)}


@bp.get("/")
def index() -> Any:
    """Send a signed-in merchant to their shop; explain how to sign in otherwise."""
    shop = auth.session_shop()
    if shop:
        return redirect(url_for("dashboard.overview", name=shop))
    return render_template("dashboard/signin.html"), 401


@bp.get("/login")
def login() -> Any:
    """Redeem a signed login link and open the shop's overview."""
    token = request.args.get("token", "")
    try:
        name = auth.redeem_login_token(current_app.config["SECRET_KEY"], token,
                                       _ctx().sessions, current_app.config["DASHBOARD_CLOCK"])
    except auth.LinkRefused as exc:
        return render_template("dashboard/signin.html", error=str(exc)), 403
    auth.login_shop(name)
    return redirect(url_for("dashboard.overview", name=name))


@bp.post("/logout")
def logout() -> Any:
    """End the session."""
    auth.logout()
    return redirect(url_for("dashboard.index"))


def _safe_next(target: str | None) -> str | None:
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@bp.get("/lang/<code>")
def language(code: str) -> Any:
    """Switch the dashboard's language for this session and go back."""
    if code not in LANGUAGES:
        abort(404)
    session["lang"] = code
    back = _safe_next(request.args.get("next"))
    if back is None and auth.session_shop():
        back = url_for("dashboard.overview", name=auth.session_shop())
    return redirect(back or url_for("dashboard.index"))


@bp.get("/shops/<name>/")
@auth.shop_required
def overview(name: str) -> Any:
    """The shop's overview: KPI tiles, cohorts, CLV by channel, sync status."""
    report, previous, computed_at = _reports()
    months, cohorts = cohort_rows(report)
    chart = bar_chart(channel_bars(report), title=_("Historic CLV by acquisition channel"))
    scores = cached(g.db, g.shop, SCORES)
    kpis = tiles(report, previous, predicted_clv(scores.data if scores else None))
    return render_template(
        "dashboard/overview.html", report=report, tiles=kpis,
        months=months, cohorts=cohorts, channel_chart=chart, computed_at=computed_at,
        jobs=_jobs_json(g.shop.id), can_sync=g.shop.platform != "csv", nav="overview",
    )


@bp.get("/shops/<name>/customers")
@auth.shop_required
def customers(name: str) -> Any:
    """The customer list: sortable, paginated, from the roll-up of the last refresh."""
    _reports()
    sort = request.args.get("sort", "net_revenue")
    if sort not in SORTS:
        sort = "net_revenue"
    descending = request.args.get("dir", "desc") != "asc"
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    where = {k: request.args[k] for k in FILTERS if request.args.get(k)}
    total, rows = customer_page(g.db, g.shop, sort=sort, descending=descending,
                                offset=(page - 1) * PER_PAGE, limit=PER_PAGE, where=where)
    pages = max((total + PER_PAGE - 1) // PER_PAGE, 1)
    if page > pages:
        return redirect(url_for("dashboard.customers", name=name, sort=sort,
                                dir="desc" if descending else "asc", page=pages, **where))
    roll = cached(g.db, g.shop, ROLLUP)
    return render_template("dashboard/customers.html", rows=rows, total=total, page=page,
                           pages=pages, sort=sort, descending=descending, nav="customers",
                           where=where, label=label,
                           as_of=roll.data.get("as_of") if roll else None)


CSV_FIELDS = ("customer_id", "email", "orders", "net_revenue", "first_order", "last_order",
              "first_channel", "segment", "lifecycle", "tier", "expected_purchases",
              "expected_purchases_low", "expected_purchases_high", "predicted_clv",
              "predicted_clv_low", "predicted_clv_high")


@bp.get("/shops/<name>/customers.csv")
@auth.shop_required
def customers_csv(name: str) -> Response:
    """Download the customer list (with its filter) as CSV, scores included."""
    _reports()
    sort = request.args.get("sort", "net_revenue")
    sort = sort if sort in SORTS else "net_revenue"
    descending = request.args.get("dir", "desc") != "asc"
    where = {k: request.args[k] for k in FILTERS if request.args.get(k)}
    db, shop = g.db, g.shop

    def cell(value: Any) -> str:
        if isinstance(value, datetime):
            return value.isoformat().replace("+00:00", "Z")
        if hasattr(value, "quantize"):
            return str(cents(value))
        if isinstance(value, float):
            return repr(value)
        return "" if value is None else str(value)

    def generate() -> Iterator[str]:
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(CSV_FIELDS)
        rows = iter_customers(db, shop, sort=sort, descending=descending, where=where)
        for i, row in enumerate(rows):
            writer.writerow([cell(row[k]) for k in CSV_FIELDS])
            if i % 500 == 499:
                yield buf.getvalue()
                buf.seek(0)
                buf.truncate()
        yield buf.getvalue()

    return Response(stream_with_context(generate()), mimetype="text/csv",
                    headers={"Content-Disposition":
                             f'attachment; filename="{shop.name}-customers.csv"'})


@bp.get("/shops/<name>/segments")
@auth.shop_required
def segments(name: str) -> Any:
    """RFM segments, lifecycle stages and loyalty tiers: customers and revenue, each clickable."""
    _reports()
    row = cached(g.db, g.shop, SCORES)
    data = row.data if row else {}
    sections = [(key, title, group_rows(data, section)) for key, section, title in (
        ("segment", "segments", _("RFM segments")),
        ("stage", "lifecycle", _("Lifecycle stages")),
        ("tier", "tiers", _("Loyalty tiers")))]
    return render_template("dashboard/segments.html", sections=sections,
                           model=data.get("clv_model", {}), nav="segments")


@bp.get("/shops/<name>/win-back")
@auth.shop_required
def win_back(name: str) -> Any:
    """Lapsed and lost customers ranked by what winning them back is worth, with an incentive."""
    _reports()
    row = cached(g.db, g.shop, WINBACK)
    targets = row.data["targets"] if row else []
    return render_template("dashboard/winback.html", targets=targets[:WINBACK_PAGE],
                           total=len(targets), label=label, nav="winback", can_push=can_push())


def can_push() -> bool:
    """Return whether the shop's platform can create discount codes (campaigns can run)."""
    from stammkunde.plugins.adapter import Capability

    try:
        adapter = _ctx().plugins.platform(g.shop.platform)
    except UserError:
        return False
    return Capability.DISCOUNTS in adapter.capabilities


@bp.get("/shops/<name>/jobs")
@auth.shop_required
def jobs(name: str) -> Any:
    """Background jobs of the shop with their progress."""
    return render_template("dashboard/jobs.html", jobs=_jobs_json(g.shop.id),
                           can_sync=g.shop.platform != "csv", nav="jobs")


@bp.get("/shops/<name>/jobs.json")
@auth.shop_required
def jobs_json(name: str) -> Any:
    """Progress of the shop's recent jobs, polled by the pages every two seconds."""
    return jsonify(_jobs_json(g.shop.id))


@bp.post("/shops/<name>/sync")
@auth.shop_required
def sync(name: str) -> Any:
    """Queue a sync of the shop through its platform."""
    from stammkunde.app.jobs import schedule_sync

    if g.shop.platform == "csv":
        abort(400)
    schedule_sync(name)
    flash(_("Sync queued. Progress appears below."), "info")
    return redirect(url_for("dashboard.jobs", name=name))


@bp.post("/shops/<name>/refresh")
@auth.shop_required
def refresh(name: str) -> Any:
    """Queue a recomputation of the shop's numbers."""
    from stammkunde.app.jobs import schedule_refresh

    schedule_refresh(name)
    flash(_("Refresh queued. The numbers update when it is done."), "info")
    return redirect(url_for("dashboard.jobs", name=name))


@bp.route("/shops/<name>/settings", methods=["GET", "POST"])
@auth.shop_required
def settings(name: str) -> Any:
    """Edit the shop's retention settings (validated; stored in the shop's settings)."""
    stored = current(g.shop.settings)
    errors: dict[str, list[str]] = {}
    values = form_values(stored)
    if request.method == "POST":
        values = {k: request.form.get(k, "").strip() for k in values}
        try:
            new = SettingsSchema().load(values)
        except ValidationError as exc:
            errors = {k: v if isinstance(v, list) else [str(v)]
                      for k, v in exc.normalized_messages().items()}
        else:
            g.shop.settings = {**(g.shop.settings or {}), "retention": new}
            g.db.commit()
            from stammkunde.app.jobs import schedule_refresh

            schedule_refresh(name)
            flash(_("Settings saved. The numbers are being recomputed."), "info")
            return redirect(url_for("dashboard.settings", name=name))
    status = 400 if errors else 200
    return render_template("dashboard/settings.html", values=values, errors=errors,
                           nav="settings"), status
