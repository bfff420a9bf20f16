"""``stammkunde serve``: the web app (webhook receiver, health, metrics) under gunicorn."""

from __future__ import annotations

import os

import click
from sqlalchemy.exc import DBAPIError

from stammkunde.app.cli.base import pass_ctx
from stammkunde.app.context import AppContext
from stammkunde.core.db import ensure_schema, make_engine


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64),
              help="Gunicorn worker processes (about 2 per core).")
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 64),
              help="Threads per worker (gthread); 1 means sync workers.")
@click.option("--timeout", default=30, show_default=True, type=int,
              help="Seconds before gunicorn restarts a stuck worker.")
@click.option("--processing", type=click.Choice(["worker", "inline"]), default=None,
              help="Only acknowledge and leave processing to `stammkunde worker` (worker, "
                   "default), or also process in the web worker after the answer (inline). "
                   "Either way leftovers older than 30 s are swept here.")
@click.option("--dev", is_flag=True, help="Flask's development server (one process, plain "
                                          "http: session cookies without Secure; not for "
                                          "production).")
@pass_ctx
def serve(ctx: AppContext, host: str, port: int, workers: int, threads: int, timeout: int,
          processing: str | None, dev: bool) -> None:
    """Serve the dashboard, installs, webhooks, /healthz, /readyz and /metrics (gunicorn)."""
    from stammkunde.app.server import run_gunicorn
    from stammkunde.app.web import create_app

    if processing:
        os.environ["STAMMKUNDE_WEBHOOK_PROCESSING"] = processing
    engine = make_engine(ctx.settings.database_url)
    try:
        ensure_schema(engine)  # once, before workers start: they must not race to migrate
    except DBAPIError as exc:
        click.echo(f"warning: database unavailable ({type(exc).__name__}); serving 503 until "
                   "it is back", err=True)
    finally:
        engine.dispose()
    settings = ctx.settings
    if dev:
        # Local development over plain http: the browser would drop a Secure session cookie.
        from stammkunde.app.web import start_inbox_sweeper

        app = create_app({"SESSION_COOKIE_SECURE": False}, settings=settings)
        start_inbox_sweeper(app)
        app.run(host=host, port=port, threaded=True, use_reloader=False)
        return
    run_gunicorn(lambda: create_app(settings=settings), host, port, workers, timeout, threads)


def attach(cli: click.Group) -> None:
    """Add the serve command to the root group."""
    cli.add_command(serve)
