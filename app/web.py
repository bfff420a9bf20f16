"""The Flask application factory: one app for webhooks, the install flow and the dashboard.

Routes of its own: ``/healthz`` (the process is up), ``/readyz`` (the database answers and its
schema is at the newest migration; 503 otherwise) and ``/metrics`` (Prometheus text, all gunicorn
workers aggregated in multi-process mode). The webhook receiver is the ``webhooks`` blueprint
(``POST /webhooks/<platform>``, see :mod:`stammkunde.webhooks.receiver`).

Configuration (``config`` keys, or the environment): ``WEBHOOK_MAX_BYTES``
(``STAMMKUNDE_WEBHOOK_MAX_BYTES``, default 1 MiB), ``WEBHOOK_PROCESSING``
(``STAMMKUNDE_WEBHOOK_PROCESSING``: ``worker``, the default: acknowledge only, ``stammkunde
worker`` processes; or ``inline``: also process right after answering), ``WEBHOOK_ENV`` (where
app-wide webhook secrets are read, default ``os.environ``), ``INBOX_SWEEP_AGE`` /
``INBOX_SWEEP_INTERVAL`` (``STAMMKUNDE_INBOX_SWEEP_AGE``, default 30 s, and
``STAMMKUNDE_INBOX_SWEEP_INTERVAL``, default 10 s: see :func:`start_inbox_sweeper`).
"""

from __future__ import annotations

import os
import threading
from functools import cache
from pathlib import Path
from typing import Any

from flask import Flask, Response
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from stammkunde.app.context import AppContext
from stammkunde.core.config import Settings
from stammkunde.core.db import is_current
from stammkunde.core.errors import UserError
from stammkunde.webhooks.inbox import Processor, backlog, oldest_waiting
from stammkunde.webhooks.metrics import OLDEST, get_metrics
from stammkunde.webhooks.receiver import MAX_BODY_BYTES, Receiver, init_receiver

PROCESSING_MODES = ("worker", "inline")
#: Deliveries still waiting this long (seconds) are swept by every server process.
SWEEP_AGE = 30.0
#: How often (seconds) a server process looks for such leftovers.
SWEEP_INTERVAL = 10.0


def create_app(config: dict[str, Any] | None = None, settings: Settings | None = None) -> Flask:
    """Build the web app; ``config`` overrides Flask settings (tests pass TESTING etc.)."""
    app = Flask("stammkunde", root_path=str(Path(__file__).parent))
    ctx = AppContext(settings or Settings.from_env())
    app.config.update(
        SECRET_KEY=ctx.settings.secret_key or "",
        MAX_CONTENT_LENGTH=1024 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # Secure unless a local development server explicitly runs on plain http
        # (`stammkunde serve --dev`).
        SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_NAME="stammkunde_session",
        WEBHOOK_MAX_BYTES=int(os.environ.get("STAMMKUNDE_WEBHOOK_MAX_BYTES") or MAX_BODY_BYTES),
        WEBHOOK_PROCESSING=os.environ.get("STAMMKUNDE_WEBHOOK_PROCESSING") or "worker",
        INBOX_SWEEP_AGE=float(os.environ.get("STAMMKUNDE_INBOX_SWEEP_AGE") or SWEEP_AGE),
        INBOX_SWEEP_INTERVAL=float(os.environ.get("STAMMKUNDE_INBOX_SWEEP_INTERVAL")
                                   or SWEEP_INTERVAL),
        WEBHOOK_ENV=os.environ,
    )
    app.config.update(config or {})
    app.extensions["stammkunde"] = ctx
    if app.config["WEBHOOK_PROCESSING"] not in PROCESSING_MODES:
        raise UserError(f"webhook processing must be one of {', '.join(PROCESSING_MODES)}, "
                        f"not {app.config['WEBHOOK_PROCESSING']!r}")
    metrics = get_metrics()

    @cache
    def processor() -> Processor:
        return Processor(ctx.sessions, ctx.plugins, ctx.settings.home / "exports",
                         observe=metrics.processing)

    init_receiver(app, Receiver(
        sessions=lambda: ctx.sessions, plugins=lambda: ctx.plugins, processor=processor,
        env=app.config["WEBHOOK_ENV"], secret_key=ctx.settings.secret_key,
        max_body_bytes=app.config["WEBHOOK_MAX_BYTES"],
        processing=app.config["WEBHOOK_PROCESSING"], metrics=metrics,
    ))

    from stammkunde.app import dashboard, jobs
    from stammkunde.app.install_shopify import bp as install_shopify
    from stammkunde.app.install_woocommerce import bp as install_woocommerce

    jobs.configure(ctx)
    dashboard.init_app(app)
    app.register_blueprint(install_shopify)
    app.register_blueprint(install_woocommerce)
    from stammkunde.app.unsubscribe import bp as unsubscribe

    app.register_blueprint(unsubscribe)

    @app.get("/healthz")
    def healthz() -> tuple[dict[str, str], int]:
        """Report that the process is up."""
        return {"status": "ok"}, 200

    @app.get("/readyz")
    def readyz() -> tuple[dict[str, Any], int]:
        """Report whether the database answers and its migrations are current."""
        try:
            current = is_current(ctx.engine)
        except (DBAPIError, PoolTimeout) as exc:
            return {"status": "unavailable", "database": type(exc).__name__}, 503
        if not current:
            return {"status": "unavailable", "database": "ok", "migrations": "behind"}, 503
        with ctx.sessions() as session:
            oldest = oldest_waiting(session)
        return {"status": "ok", "database": "ok", "migrations": "current",
                "inbox_oldest_waiting_seconds": None if oldest is None else round(oldest, 1)}, 200

    @app.get("/metrics")
    def metrics_page() -> Response:
        """Expose Prometheus metrics."""
        def waiting() -> dict[str, float]:
            with ctx.sessions() as session:
                return {**backlog(session), OLDEST: oldest_waiting(session) or 0.0}

        text, content_type = metrics.render(waiting)
        return Response(text, content_type=content_type)

    return app


def start_inbox_sweeper(app: Flask) -> threading.Event:
    """Start a thread that processes deliveries left waiting (crash, no worker); return its stop.

    Every ``INBOX_SWEEP_INTERVAL`` seconds it processes, in batches, what has waited at least
    ``INBOX_SWEEP_AGE`` seconds: in the default deployment ``stammkunde worker`` has long taken
    everything younger, so the sweep only finds what a crash or a missing worker left behind.
    ``stammkunde serve`` starts one per server process.
    """
    from stammkunde.webhooks.receiver import EXTENSION

    stop = threading.Event()
    processor = app.extensions[EXTENSION].processor
    thread = threading.Thread(
        target=lambda: processor().drain(stop, min_age=app.config["INBOX_SWEEP_AGE"],
                                         interval=app.config["INBOX_SWEEP_INTERVAL"]),
        name="stammkunde-inbox-sweeper", daemon=True)
    thread.start()
    return stop


def app_context(app: Flask) -> AppContext:
    """Return the Stammkunde context (database, plugins, settings) of a Flask app."""
    return app.extensions["stammkunde"]
