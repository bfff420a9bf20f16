"""``stammkunde dashboard-link``: a signed, single-use way into a shop's dashboard."""

from __future__ import annotations

import click

from stammkunde.app.cli.base import pass_ctx
from stammkunde.app.context import AppContext
from stammkunde.core.errors import UserError
from stammkunde.core.store import get_shop


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
    cli.add_command(dashboard_link)
