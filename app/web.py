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
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from stammkunde.app.context import AppContext
from stammkunde.app.dashboard.auth import parse_lifetime
from stammkunde.app.reconcile import health_metrics, webhook_health
from stammkunde.core.config import Settings
from stammkunde.core.crypto import all_keys
from stammkunde.core.db import is_current, pg_timeouts
from stammkunde.core.errors import UserError
from stammkunde.core.shops import undecryptable_shops
from stammkunde.webhooks.inbox import Processor, ack_engine, backlog, oldest_waiting
from stammkunde.webhooks.metrics import OLDEST, get_metrics
from stammkunde.webhooks.receiver import MAX_BODY_BYTES, Receiver, Unavailable, init_receiver

PROCESSING_MODES = ("worker", "inline")
#: Deliveries still waiting this long (seconds) are swept by every server process.
SWEEP_AGE = 30.0
#: How often (seconds) a server process looks for such leftovers.
SWEEP_INTERVAL = 10.0


#: How long a web request may wait for PostgreSQL before it answers 503 (milliseconds).
WEB_STATEMENT_TIMEOUT_MS = 30_000
WEB_LOCK_TIMEOUT_MS = 3_000
WEB_POOL_TIMEOUT_S = 4


def web_engine_options(database_url: str) -> dict[str, Any]:
    """Return engine options that keep web requests from hanging on a stuck database."""
    if not database_url.startswith("postgresql"):
        return {}
    return {"pool_timeout": WEB_POOL_TIMEOUT_S,
            "connect_args": pg_timeouts(WEB_STATEMENT_TIMEOUT_MS, WEB_LOCK_TIMEOUT_MS)}


def webhook_max_bytes(env: Any = None) -> int:
    """Return the largest webhook body accepted (``STAMMKUNDE_WEBHOOK_MAX_BYTES``, 1 MiB)."""
    text = str((os.environ if env is None else env).get("STAMMKUNDE_WEBHOOK_MAX_BYTES") or "")
    if not text.strip():
        return MAX_BODY_BYTES
    if not text.strip().isdigit() or not 1024 <= int(text) <= 1024 ** 3:
        raise UserError("STAMMKUNDE_WEBHOOK_MAX_BYTES must be a number of bytes between 1024 "
                        f"and 1073741824, not {text!r}")
    return int(text)


def create_app(config: dict[str, Any] | None = None, settings: Settings | None = None) -> Flask:
    """Build the web app; ``config`` overrides Flask settings (tests pass TESTING etc.)."""
    app = Flask("stammkunde", root_path=str(Path(__file__).parent))
    settings = settings or Settings.from_env()
    ctx = AppContext(settings, engine_options=web_engine_options(settings.database_url))
    app.config.update(
        SECRET_KEY=ctx.settings.secret_key or "",
        # Cookies signed with a previous key stay valid during a rotation.
        SECRET_KEY_FALLBACKS=all_keys(ctx.settings.secret_key)[1:],
        # The webhook limit may be raised above the 1 MiB every other route gets.
        MAX_CONTENT_LENGTH=max(1024 * 1024, webhook_max_bytes()),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # Secure unless a local development server explicitly runs on plain http
        # (`stammkunde serve --dev`).
        SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_NAME="stammkunde_session",
        # Flask pre-fills 31 days, so this is set, not defaulted (STAMMKUNDE_SESSION_LIFETIME).
        PERMANENT_SESSION_LIFETIME=parse_lifetime(os.environ.get("STAMMKUNDE_SESSION_LIFETIME")),
        # The cookie is written only when the session changes: a background poll (jobs.json)
        # answered after a sign-in in the same browser must not put the old session back.
        SESSION_REFRESH_EACH_REQUEST=False,
        WEBHOOK_MAX_BYTES=webhook_max_bytes(),
        WEBHOOK_PROCESSING=os.environ.get("STAMMKUNDE_WEBHOOK_PROCESSING") or "worker",
        INBOX_SWEEP_AGE=float(os.environ.get("STAMMKUNDE_INBOX_SWEEP_AGE") or SWEEP_AGE),
        INBOX_SWEEP_INTERVAL=float(os.environ.get("STAMMKUNDE_INBOX_SWEEP_INTERVAL")
                                   or SWEEP_INTERVAL),
        WEBHOOK_ENV=os.environ,
        # The public https base URL for install redirects (else the request's own, which
        # follows the Host header).
        PUBLIC_URL=os.environ.get("STAMMKUNDE_PUBLIC_URL") or None,
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

    def sessions() -> sessionmaker[Session]:
        try:
            return ctx.sessions
        except UserError as exc:  # the first connection failed (unreachable, stuck, refused)
            raise Unavailable("database unavailable") from exc

    @cache
    def acks() -> Engine:
        engine = sessions().kw["bind"]  # the schema is checked (and upgraded) once, there
        if engine.dialect.name != "postgresql":
            return engine
        return ack_engine(settings.database_url, **web_engine_options(settings.database_url))

    init_receiver(app, Receiver(
        sessions=sessions, plugins=lambda: ctx.plugins, processor=processor, ack=acks,
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
        """Report whether the database answers, is migrated and credentials decrypt."""
        try:
            current = is_current(ctx.engine)
        except (DBAPIError, PoolTimeout) as exc:
            return {"status": "unavailable", "database": type(exc).__name__}, 503
        except UserError:  # the engine's first connection failed
            return {"status": "unavailable", "database": "unreachable"}, 503
        if not current:
            return {"status": "unavailable", "database": "ok", "migrations": "behind"}, 503
        try:
            with ctx.sessions() as session:
                broken = undecryptable_shops(session, ctx.settings.secret_key)
                oldest = oldest_waiting(session)
                webhooks = webhook_health(session)  # detail only: not a reason to be unready
        except (DBAPIError, PoolTimeout) as exc:
            return {"status": "unavailable", "database": type(exc).__name__}, 503
        if broken:  # a wrong or missing STAMMKUNDE_SECRET_KEY: webhooks would answer 503
            return {"status": "unavailable", "database": "ok", "migrations": "current",
                    "credentials": f"{len(broken)} shop(s) cannot be decrypted"}, 503
        return {"status": "ok", "database": "ok", "migrations": "current", "credentials": "ok",
                "inbox_oldest_waiting_seconds": None if oldest is None else round(oldest, 1),
                "webhooks": webhooks}, 200

    @app.get("/metrics")
    def metrics_page() -> Response:
        """Expose Prometheus metrics."""
        def waiting() -> dict[str, float]:
            with ctx.sessions() as session:
                return {**backlog(session), OLDEST: oldest_waiting(session) or 0.0}

        text, content_type = metrics.render(waiting)
        try:
            with ctx.sessions() as session:
                text += health_metrics(webhook_health(session)).encode()
        except (DBAPIError, PoolTimeout):
            pass  # stammkunde_database_up already says so
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
