"""The merchant's dashboard: server-rendered pages for one shop per session.

:func:`init_app` attaches it to the web app: the blueprint, languages (Flask-Babel), CSRF
protection on every form of the dashboard (Flask-WTF) and secure session cookies.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Flask, g, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from stammkunde.app.dashboard import campaign_create as _campaign_create  # noqa: F401 (routes)
from stammkunde.app.dashboard import campaign_views as _campaign_views  # noqa: F401 (routes)
from stammkunde.app.dashboard import i18n
from stammkunde.app.dashboard.auth import login_shop
from stammkunde.app.dashboard.views import bp, csrf
from stammkunde.core.timeutil import now

__all__ = ["bp", "csrf", "init_app", "login_shop"]


def init_app(app: Flask) -> None:
    """Register the dashboard, its languages and CSRF protection on the app."""
    app.config.setdefault("DASHBOARD_CLOCK", time.time)  # tests inject clocks
    app.config.setdefault("DASHBOARD_NOW", now)
    # Other blueprints (webhooks) take signed POSTs from platforms: CSRF is checked only for the
    # dashboard's own forms, in the before_request hook below.
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # valid as long as the session
    csrf.init_app(app)
    i18n.init_app(app)
    app.register_blueprint(bp)

    @app.teardown_request
    def _close_db(_exc: BaseException | None) -> None:
        db = g.pop("db", None)
        if db is not None:
            db.close()

    def _error(exc: HTTPException) -> Any:
        if request.blueprint != "dashboard":
            return exc  # other blueprints (webhooks, install) keep their own error bodies
        status = exc.code or 500
        if status >= 500:
            db = g.get("db")
            if db is not None:
                db.rollback()
        try:
            return render_template("dashboard/error.html", status=status,
                                   message=exc.description), status
        except Exception:  # the page itself failed (e.g. the database is gone): plain text
            if status < 500:
                raise
            return exc

    app.register_error_handler(CSRFError, _error)
    for status in (400, 401, 403, 404, 405, 500):
        app.register_error_handler(status, _error)
