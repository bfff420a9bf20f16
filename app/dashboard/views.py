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
from flask_babel import lazy_gettext
from flask_wtf.csrf import CSRFProtect
from marshmallow import ValidationError

from stammkunde.app.dashboard import auth, export, forms, i18n, jobtext
from stammkunde.app.dashboard.charts import bar_chart
from stammkunde.app.dashboard.i18n import LANGUAGES
from stammkunde.app.dashboard.overview import channel_bars, cohort_rows, heat_top, tiles
from stammkunde.app.dashboard.scores import (
    FILTERS,
    group_rows,
    label,
    predicted_clv,
    tier_label,
)
from stammkunde.app.dashboard.settings_form import (
    SettingsSchema,
    changed_values,
    form_values,
    provenance,
)
from stammkunde.core.cache import (
    REPORT,
    REPORT_PREVIOUS,
    ROLLUP,
    SCORES,
    SORTS,
    cached,
    customer_page,
    report_instant,
    win_back_page,
)
from stammkunde.core.errors import UserError
from stammkunde.core.freshness import freshness
from stammkunde.core.job_models import JobState
from stammkunde.core.segments import CUSTOMER_FIELDS, customer_rows, score_customers
from stammkunde.core.settings import resolve_for, resolve_settings, retention_for

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
    values = {**i18n.template_context(), "session_shop": auth.session_shop(),
              "tier_label": tier_label}
    if getattr(g, "shop", None) is not None and getattr(g, "db", None) is not None:
        values["freshness"] = freshness(g.db, g.shop.id)
    return values


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

    jobs = [jobtext.readable(job_view(j)) for j in recent_jobs(g.db, shop_id, limit=10)]
    return {"jobs": jobs, "active": any(j["state"] in JobState.ACTIVE for j in jobs)}


def _signin_page(error: str | None = None) -> str:
    """Render the sign-in page with the real lifetimes of login links and sessions."""
    from datetime import timedelta

    from flask_babel import format_timedelta

    session_life = current_app.config["PERMANENT_SESSION_LIFETIME"]
    if not isinstance(session_life, timedelta):
        session_life = timedelta(seconds=int(session_life))
    return render_template("dashboard/signin.html", error=error,
                           link_lifetime=format_timedelta(auth.DEFAULT_TTL, threshold=2),
                           max_lifetime=format_timedelta(auth.MAX_TTL, threshold=2),
                           session_lifetime=format_timedelta(session_life, threshold=2))


@bp.get("/")
def index() -> Any:
    """Send a signed-in merchant to their shop; explain how to sign in otherwise."""
    shop = auth.session_shop()
    if shop:
        return redirect(url_for("dashboard.overview", name=shop))
    return _signin_page(), 401


def _token_shop(token: str) -> str | None:
    """Return the shop a correctly signed login token names (whether or not it is still valid)."""
    from itsdangerous import BadSignature, URLSafeTimedSerializer

    try:
        data = URLSafeTimedSerializer(current_app.config["SECRET_KEY"],
                                      salt=auth.LOGIN_SALT).loads(token)
    except (BadSignature, TypeError, ValueError):
        return None
    return data.get("shop") if isinstance(data, dict) else None


LINK_ERRORS = {
    "this login link is not valid": lazy_gettext("This login link is not valid."),
    "this login link has expired: ask for a new one":
        lazy_gettext("This login link has expired: ask for a new one."),
    "this login link was already used: ask for a new one":
        lazy_gettext("This login link was already used: ask for a new one."),
}


@bp.get("/login")
def login() -> Any:
    """Redeem a signed login link and open the shop's overview."""
    token = request.args.get("token", "")
    try:
        name = auth.redeem_login_token(current_app.config["SECRET_KEY"], token,
                                       _ctx().sessions, current_app.config["DASHBOARD_CLOCK"])
    except auth.LinkRefused as exc:
        signed_in = auth.session_shop()
        if signed_in and _token_shop(token) == signed_in:
            # The merchant opened the link again (a bookmark, a second tab): they are in already.
            flash(_("You are already signed in to %(shop)s. Login links work once; this one "
                    "has been used or has expired, and you do not need it any more.",
                    shop=signed_in), "info")
            return redirect(url_for("dashboard.overview", name=signed_in))
        message = LINK_ERRORS.get(str(exc))
        return _signin_page(str(message) if message else str(exc)), 403
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
        months=months, cohorts=cohorts, heat_top=heat_top(report), channel_chart=chart,
        computed_at=computed_at,
        jobs=_jobs_json(g.shop.id), can_sync=g.shop.platform != "csv", nav="overview",
    )


#: Pages beyond this are answered with the last page (an offset this large is never real).
MAX_PAGE = 10**6


def page_number() -> int:
    """Return the ``page`` query parameter as a page number from 1 (absurd values → a bound)."""
    raw = request.args.get("page", "1").strip()
    if not raw.isdigit() or len(raw) > 7:
        return MAX_PAGE if raw.isdigit() else 1
    return min(max(int(raw), 1), MAX_PAGE)


def _list_args() -> tuple[str, bool, dict[str, str], str]:
    """Return sort key, descending, score filters and search text of the customer list."""
    sort = request.args.get("sort", "net_revenue")
    if sort not in SORTS:
        sort = "net_revenue"
    descending = request.args.get("dir", "desc") != "asc"
    where = {k: request.args[k][:100] for k in FILTERS if request.args.get(k)}
    search = request.args.get("q", "").strip()[:320]
    return sort, descending, where, search


@bp.get("/shops/<name>/customers")
@auth.shop_required
def customers(name: str) -> Any:
    """The customer list: sortable, paginated, searchable, from the roll-up of the last refresh."""
    _reports()
    sort, descending, where, search = _list_args()
    page = page_number()
    extra = {**where, **({"q": search} if search else {})}
    total, rows = customer_page(g.db, g.shop, sort=sort, descending=descending,
                                offset=(page - 1) * PER_PAGE, limit=PER_PAGE, where=where,
                                search=search)
    pages = max((total + PER_PAGE - 1) // PER_PAGE, 1)
    if page > pages:
        return redirect(url_for("dashboard.customers", name=name, sort=sort,
                                dir="desc" if descending else "asc", page=pages, **extra))
    roll = cached(g.db, g.shop, ROLLUP)
    return render_template("dashboard/customers.html", rows=rows, total=total, page=page,
                           pages=pages, sort=sort, descending=descending, nav="customers",
                           where=where, search=search, extra=extra, label=label,
                           as_of=roll.data.get("as_of") if roll else None)


@bp.get("/shops/<name>/customers.csv")
@auth.shop_required
def customers_csv(name: str) -> Response:
    """Download the customer list (with its filter and search) as CSV, every column of
    ``stammkunde customers --format csv``, dates in the shop's time zone."""

    _reports()
    sort, descending, where, search = _list_args()
    db, shop = g.db, g.shop
    roll = cached(db, shop, ROLLUP)
    as_of = (datetime.fromisoformat(roll.data["as_of"].replace("Z", "+00:00")) if roll
             else report_instant(shop, current_app.config["DASHBOARD_NOW"]))
    scores = score_customers(db, shop, as_of, retention_for(shop))
    rows = customer_rows(scores, segment=where.get("segment"), lifecycle=where.get("stage"),
                         tier=where.get("tier"))
    rows = export.search_rows(rows, search)
    rows = export.sort_rows(rows, sort, descending)
    zone = export.shop_zone(shop.timezone)

    def generate() -> Iterator[str]:
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(CUSTOMER_FIELDS)
        for i, row in enumerate(rows):
            writer.writerow([export.cell(row[k], zone) for k in CUSTOMER_FIELDS])
            if i % 500 == 499:
                yield buf.getvalue()
                buf.seek(0)
                buf.truncate()
        yield buf.getvalue()

    filename = export.file_name(shop.name, where, search)
    return Response(stream_with_context(generate()), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


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
    return render_win_back(name)


def render_win_back(name: str, form_values: dict[str, str] | None = None,
                    form_errors: dict[str, list[str]] | None = None) -> Any:
    """Render a page of the win-back list (with the campaign form's input and errors)."""
    _reports()
    page = page_number()
    total, targets = win_back_page(g.db, g.shop, (page - 1) * WINBACK_PAGE, WINBACK_PAGE)
    pages = max((total + WINBACK_PAGE - 1) // WINBACK_PAGE, 1)
    if page > pages:
        return redirect(url_for("dashboard.win_back", name=name, page=pages))
    return render_template("dashboard/winback.html", targets=targets, total=total, page=page,
                           pages=pages, first=(page - 1) * WINBACK_PAGE + 1, label=label,
                           nav="winback", can_push=can_push(), form_values=form_values,
                           form_errors=form_errors or {}), 400 if form_errors else 200


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
    """Edit the shop's retention settings: effective values, their sources, saved changes only."""
    home = current_app.extensions["stammkunde"].settings.home
    resolved = resolve_for(g.shop, home)
    errors: dict[str, list[str]] = {}
    values = form_values(resolved.settings)
    numbers = [k for k in values if k != "tiers"]
    values = {k: forms.show_number(v) if k in numbers else v for k, v in values.items()}
    if request.method == "POST":
        values = {k: request.form.get(k, "").strip() for k in values}
        try:
            new = SettingsSchema().load(forms.canonical_numbers(values, numbers))
            changed = changed_values(new, resolved)
            resolve_settings(home, g.shop.name, changed)  # the file's rules, on the result
        except ValidationError as exc:
            errors = forms.field_errors(exc.normalized_messages())
        except UserError as exc:
            errors = {"_form": [str(exc)]}
        else:
            shop_settings = {k: v for k, v in (g.shop.settings or {}).items() if k != "retention"}
            if changed:
                shop_settings["retention"] = changed
            g.shop.settings = shop_settings
            g.db.commit()
            from stammkunde.app.jobs import schedule_refresh

            schedule_refresh(name)
            flash(_("Settings saved. The numbers are being recomputed."), "info")
            return redirect(url_for("dashboard.settings", name=name))
    status = 400 if errors else 200
    return render_template("dashboard/settings.html", values=values, errors=errors,
                           sources=provenance(resolved), nav="settings"), status
