"""``stammkunde db`` and ``stammkunde plugins``."""

from __future__ import annotations

import click
from rich.table import Table
from sqlalchemy.exc import OperationalError

from stammkunde.app.cli.base import console, echo_json, pass_ctx
from stammkunde.app.context import AppContext
from stammkunde.core.db import database_problem, is_current, make_engine, upgrade


@click.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
@pass_ctx
def db_upgrade(ctx: AppContext) -> None:
    """Apply the packaged migrations to the configured database."""
    engine = make_engine(ctx.settings.database_url)
    try:
        upgrade(engine)
    except OperationalError as exc:
        raise database_problem(engine, exc) from None
    click.echo(f"database is current: {is_current(engine)}")


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def plugins(ctx: AppContext, as_json: bool) -> None:
    """List plugins: name, version, hooks and platforms."""
    infos = ctx.plugins.infos()
    if as_json:
        echo_json([{"name": i.name, "version": i.version, "hooks": list(i.hooks),
                    "platforms": list(i.platforms)} for i in infos])
        return
    table = Table("plugin", "version", "hooks", "platforms")
    for i in infos:
        table.add_row(i.name, i.version or "", ", ".join(i.hooks), ", ".join(i.platforms))
    console().print(table)


def attach(cli: click.Group) -> None:
    """Add the system commands to the root group."""
    cli.add_command(db)
    cli.add_command(plugins)
