"""``stammkunde import`` and ``stammkunde sync``: bring orders in."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from stammkunde.app.cli.base import pass_ctx, progress_bar
from stammkunde.app.context import AppContext
from stammkunde.core.errors import UserError
from stammkunde.core.timeutil import parse_instant
from stammkunde.plugins.ingest import NotSynced, import_file, sync_shop


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
    unattributed = f", {s.unattributed} without a buyer (not counted)" if s.unattributed else ""
    click.echo(f"{result.rows} rows: {s.inserted} new, {s.updated} updated, "
               f"{s.unchanged} unchanged, {len(result.rejected)} rejected{unattributed}")
    if result.rejected_file:
        click.echo(f"rejected rows written to {result.rejected_file}")


@click.command("sync")
@click.argument("shop")
@click.option("--since", default=None, help="Only what changed since this date (ISO 8601).")
@click.option("--background", is_flag=True,
              help="Queue it as a job for `stammkunde worker` (follow with `stammkunde jobs`).")
@pass_ctx
def sync(ctx: AppContext, shop: str, since: str | None, background: bool) -> None:
    """Fetch customers and orders of SHOP from its platform (resumes an interrupted sync)."""
    if background:
        if since:
            raise UserError("--since and --background cannot be combined")
        from stammkunde.app import jobs

        jobs.configure(ctx)
        click.echo(f"queued sync job {jobs.schedule_sync(shop)} for {shop}")
        return
    since_at = parse_instant(since) if since else None
    try:
        with progress_bar("syncing", sys.stderr.isatty()) as update:
            result = sync_shop(ctx.sessions, ctx.plugins, shop, since=since_at,
                               secret_key=ctx.settings.secret_key,
                               progress=lambda res, done, total: update(done, total))
    except NotSynced as exc:
        hint = f" (`stammkunde import {exc.shop} FILE`)" if exc.imported else ""
        raise UserError(f"{exc}{hint}") from None
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
