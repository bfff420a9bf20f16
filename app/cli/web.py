"""``stammkunde serve`` and ``stammkunde dashboard-link``: the web app for merchants."""

from __future__ import annotations

import click

from stammkunde.app.cli.base import pass_ctx
from stammkunde.app.context import AppContext
from stammkunde.core.errors import UserError
from stammkunde.core.store import get_shop


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--http", "plain_http", is_flag=True,
              help="Local development over plain http: session cookies without the Secure flag.")
@pass_ctx
def serve(ctx: AppContext, host: str, port: int, plain_http: bool) -> None:
    """Run the web app (dashboard, install flow, webhooks) with Flask's development server.

    In production run it with gunicorn instead: ``gunicorn 'stammkunde.app.web:create_app()'``.
    """
    from stammkunde.app.web import create_app

    if not ctx.settings.secret_key:
        raise UserError("set STAMMKUNDE_SECRET_KEY: it signs sessions and login links")
    ctx.engine  # noqa: B018 - upgrade the schema before serving
    app = create_app({"SESSION_COOKIE_SECURE": not plain_http}, settings=ctx.settings)
    app.run(host=host, port=port, debug=False, use_reloader=False)


@click.command("dashboard-link")
@click.argument("shop")
@click.option("--base-url", default="http://127.0.0.1:8000", show_default=True,
              help="Where the web app is reachable.")
@click.option("--ttl", default="15m", show_default=True,
              help="How long the link stays valid (e.g. 15m, 2h, 1d).")
@pass_ctx
def dashboard_link(ctx: AppContext, shop: str, base_url: str, ttl: str) -> None:
    """Print a signed, single-use login link to SHOP's dashboard."""
    from urllib.parse import urlencode

    from stammkunde.app.dashboard.auth import make_login_token, parse_ttl

    lifetime = parse_ttl(ttl)
    if not ctx.settings.secret_key:
        raise UserError("set STAMMKUNDE_SECRET_KEY: it signs the login link")
    with ctx.sessions() as session:
        get_shop(session, shop)
    token = make_login_token(ctx.settings.secret_key, shop, lifetime)
    click.echo(f"{base_url.rstrip('/')}/login?{urlencode({'token': token})}")


def attach(cli: click.Group) -> None:
    """Add the web commands to the root group."""
    cli.add_command(serve)
    cli.add_command(dashboard_link)
