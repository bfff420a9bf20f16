"""``stammkunde import`` and ``stammkunde sync``: bring orders in."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from stammkunde.app.cli.base import pass_ctx, progress_bar
from stammkunde.app.context import AppContext
from stammkunde.core.errors import UserError
from stammkunde.core.timeutil import parse_instant
from stammkunde.plugins.ingest import import_file, sync_shop


@click.command("import")
@click.argument("shop")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--format", "fmt", default=None, help="File format (default: stammkunde-csv).")
@click.option("--skip-invalid", is_flag=True,
              help="Import the good rows; write bad ones to FILE.rejected.csv.")
@pass_ctx
def import_(ctx: AppContext, shop: str, file: Path, fmt: str | None, skip_invalid: bool) -> None:
    """Import orders for SHOP from FILE."""
    if not file.is_file():
        raise UserError(f"no such file: {file}")
    with progress_bar("importing", sys.stderr.isatty()) as update:
        result = import_file(ctx.sessions, ctx.plugins, shop, file, fmt=fmt,
                             skip_invalid=skip_invalid, secret_key=ctx.settings.secret_key,
                             progress=update)
    s = result.stats
    click.echo(f"{result.rows} rows: {s.inserted} new, {s.updated} updated, "
               f"{s.unchanged} unchanged, {len(result.rejected)} rejected")
    if result.rejected_file:
        click.echo(f"rejected rows written to {result.rejected_file}")


@click.command("sync")
@click.argument("shop")
@click.option("--since", default=None, help="Only what changed since this date (ISO 8601).")
@pass_ctx
def sync(ctx: AppContext, shop: str, since: str | None) -> None:
    """Fetch customers and orders of SHOP from its platform (resumes an interrupted sync)."""
    since_at = parse_instant(since) if since else None
    with progress_bar("syncing", sys.stderr.isatty()) as update:
        result = sync_shop(ctx.sessions, ctx.plugins, shop, since=since_at,
                           secret_key=ctx.settings.secret_key,
                           progress=lambda res, done, total: update(done, total))
    for resource, s in result.stats.items():
        resumed = " (resumed)" if result.resumed.get(resource) else ""
        unattributed = f", {s.unattributed} without a buyer (not counted)" if s.unattributed \
            else ""
        click.echo(f"{resource}{resumed}: {s.inserted} new, {s.updated} updated, "
                   f"{s.unchanged} unchanged, {s.stale} stale{unattributed}")


def attach(cli: click.Group) -> None:
    """Add the data commands to the root group."""
    cli.add_command(import_)
    cli.add_command(sync)
