"""``stammkunde shops``: add and list shops."""

from __future__ import annotations

import click
from rich.table import Table

from stammkunde.app.cli.base import console, echo_json, pass_ctx
from stammkunde.app.context import AppContext
from stammkunde.core.errors import UserError
from stammkunde.core.shops import create_shop, list_shops
from stammkunde.plugins.adapter import check_option_names, declared_options


@click.group()
def shops() -> None:
    """Add and list shops."""


@shops.command("add")
@click.argument("name")
@click.option("--platform", required=True, help="Platform name (see `stammkunde plugins`).")
@click.option("--domain", help="Shop domain, e.g. example.myshopify.com.")
@click.option("--url", help="Store URL (WooCommerce).")
@click.option("--token", help="Admin API access token (Shopify custom app).")
@click.option("--consumer-key", help="REST API consumer key (WooCommerce).")
@click.option("--consumer-secret", help="REST API consumer secret (WooCommerce).")
@click.option("--webhook-secret", help="Secret that signs webhooks.")
@click.option("--currency", default="EUR", show_default=True)
@click.option("--timezone", "tz", default="UTC", show_default=True, help="IANA time zone.")
@click.option("--locale", default=None, help="Shop locale, e.g. de or en.")
@click.option("--option", "pairs", multiple=True, metavar="KEY=VALUE",
              help="A per-shop option of the platform (repeatable; `stammkunde shops options "
                   "PLATFORM` lists them). Secret ones are stored encrypted.")
@pass_ctx
def add(ctx: AppContext, name: str, platform: str, currency: str, tz: str, locale: str | None,
        pairs: tuple[str, ...], **options: str | None) -> None:
    """Add a shop NAME on a platform."""
    adapter = ctx.plugins.platform(platform)
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise UserError(f"--option takes KEY=VALUE with KEY a name, not {key!r}")
        if options.get(key):
            raise UserError(f"option {key!r} is given twice")
        options[key] = value
    check_option_names(adapter, options)
    setup = adapter.configure_shop(options)
    with ctx.sessions() as session, session.begin():
        create_shop(session, name, platform, domain=setup.domain, currency=currency,
                    timezone=tz, locale=locale, credentials=setup.credentials,
                    secret_key=ctx.settings.secret_key, settings=setup.settings)
    click.echo(f"added shop {name} ({platform})")


@shops.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def list_(ctx: AppContext, as_json: bool) -> None:
    """List shops."""
    with ctx.sessions() as session:
        rows = [
            {"name": s.name, "platform": s.platform, "domain": s.domain, "currency": s.currency,
             "timezone": s.timezone, "installed": s.uninstalled_at is None}
            for s in list_shops(session)
        ]
    if as_json:
        echo_json(rows)
        return
    table = Table("name", "platform", "domain", "currency", "timezone", "installed")
    for r in rows:
        table.add_row(*(str(r[k] if r[k] is not None else "") for k in r))
    console().print(table)


@shops.command("options")
@click.argument("platform")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def options_(ctx: AppContext, platform: str, as_json: bool) -> None:
    """List the per-shop options a PLATFORM takes (`shops add … --option KEY=VALUE`)."""
    adapter = ctx.plugins.platform(platform)
    rows = [{"option": o.name, "secret": o.secret, "required": o.required, "help": o.help}
            for o in declared_options(adapter).values()]
    if as_json:
        echo_json(rows)
        return
    table = Table("option", "secret", "required", "what")
    for r in rows:
        table.add_row(r["option"], "yes" if r["secret"] else "", "yes" if r["required"] else "",
                      r["help"])
    console().print(table)


def attach(cli: click.Group) -> None:
    """Add the shops commands to the root group."""
    cli.add_command(shops)
