"""``stammkunde worker``, ``stammkunde jobs`` and ``stammkunde refresh``: background work."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import click
from rich.console import Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table

from stammkunde.app.cli.base import console, echo_json, pass_ctx, require_secret_key
from stammkunde.app.cli.inbox import lower_priority, nice_option
from stammkunde.app.context import AppContext
from stammkunde.core.job_models import JobState
from stammkunde.core.store import get_shop

STATE_STYLE = {JobState.QUEUED: "yellow", JobState.RUNNING: "cyan", JobState.DONE: "green",
               JobState.FAILED: "red"}


@click.command("worker")
@click.option("--workers", type=click.IntRange(min=1, max=64), default=2, show_default=True,
              help="Worker threads in this process.")
@click.option("--no-periodic", is_flag=True, help="Do not run the schedule here: the nightly "
              "refresh and the refresh of stale shops (when several worker processes share one "
              "queue, let one of them run it).")
@click.option("--no-inbox", is_flag=True, help="Do not process stored webhook deliveries here.")
@nice_option
@pass_ctx
def worker(ctx: AppContext, workers: int, no_periodic: bool, no_inbox: bool, nice: int) -> None:
    """Run background jobs (sync, refresh) and process webhook deliveries until stopped."""
    from stammkunde.app import jobs

    require_secret_key(ctx.settings)
    lower_priority(nice)
    ctx.engine  # noqa: B018 - upgrade the schema before the first job
    huey = jobs.configure(ctx)
    where = (ctx.settings.redis_url and "Redis") or str(ctx.settings.home / "jobs.db")
    click.echo(f"worker: {workers} thread(s), queue in {where}", err=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    consumer = huey.create_consumer(workers=workers, worker_type="thread",
                                    periodic=not no_periodic)
    if not no_inbox:  # the inbox is drained continuously, in batches, beside the jobs
        import threading

        from stammkunde.app.cli.inbox import processor

        stop = threading.Event()
        threading.Thread(target=processor(ctx).drain, args=(stop,),
                         kwargs={"interval": 0.2}, name="stammkunde-inbox", daemon=True).start()
        click.echo("worker: processing webhook deliveries as they arrive", err=True)
    watcher = None
    if not no_periodic:  # live numbers: refresh shops with new data after the debounce time
        watcher = jobs.StaleWatcher()
        watcher.start()
    try:
        consumer.run()
    finally:
        if watcher is not None:
            watcher.stop()


def _rows(ctx: AppContext, shop: str | None, limit: int) -> list[dict[str, Any]]:
    from stammkunde.app.jobs import job_view, recent_jobs
    from stammkunde.core.models import Shop

    with ctx.sessions() as session:
        shop_id = get_shop(session, shop).id if shop else None
        names = dict(session.query(Shop.id, Shop.name).all())
        out = []
        for job in recent_jobs(session, shop_id, limit):
            view = job_view(job)
            view["shop"] = names.get(job.shop_id, "")
            out.append(view)
    return out


def jobs_table(rows: list[dict[str, Any]]) -> Table:
    """Return the jobs as a rich table with a progress bar per job."""
    table = Table("job", "shop", "kind", "state", "progress", "done", "rate/s", "errors",
                  "message", title="Background jobs")
    for r in rows:
        if r["total"]:
            bar = ProgressBar(total=float(r["total"]), completed=float(r["done"]), width=24)
        else:  # unknown size: pulse while running, full when done, empty otherwise
            bar = ProgressBar(total=1.0, completed=1.0 if r["state"] == JobState.DONE else 0.0,
                              width=24, pulse=r["state"] == JobState.RUNNING)
        done = f"{r['done']:,}" + (f" / {r['total']:,}" if r["total"] else "")
        table.add_row(r["id"][:8], r["shop"], r["kind"] + (f" ({r['step']})" if r["step"] else ""),
                      f"[{STATE_STYLE.get(r['state'], '')}]{r['state']}[/]", bar, done,
                      f"{r['rate']:.1f}" if r["rate"] else "", str(r["errors"] or ""),
                      r["message"] or "")
    return table


def follow(fetch: Callable[[], list[dict[str, Any]]], interval: float = 1.0,
           sleep: Callable[[float], None] = time.sleep, max_rounds: int | None = None) -> None:
    """Redraw the jobs table until no job is queued or running (or ``max_rounds``)."""
    rows = fetch()
    with Live(Group(jobs_table(rows)), console=console(), refresh_per_second=4) as live:
        rounds = 0
        while any(r["state"] in JobState.ACTIVE for r in rows):
            if max_rounds is not None and rounds >= max_rounds:
                break
            sleep(interval)
            rows = fetch()
            live.update(Group(jobs_table(rows)))
            rounds += 1


@click.command("jobs")
@click.option("--shop", default=None, help="Only this shop's jobs.")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--follow", "follow_", is_flag=True,
              help="Keep redrawing until every job is done or failed.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def jobs_command(ctx: AppContext, shop: str | None, limit: int, follow_: bool,
                 as_json: bool) -> None:
    """Show background jobs and their progress."""
    if as_json:
        echo_json(_rows(ctx, shop, limit))
    elif follow_:
        follow(lambda: _rows(ctx, shop, limit))
    else:
        console().print(jobs_table(_rows(ctx, shop, limit)))


@click.command("refresh")
@click.argument("shop")
@click.option("--now", "inline", is_flag=True, help="Compute here instead of queueing a job.")
@pass_ctx
def refresh_command(ctx: AppContext, shop: str, inline: bool) -> None:
    """Recompute SHOP's dashboard numbers (queued for the worker, or here with --now)."""
    from stammkunde.app import jobs

    jobs.configure(ctx)
    if inline:
        done = jobs.recompute(ctx.sessions, shop)
        click.echo(f"refreshed {shop}: {done.customers:,} customers in {done.seconds:.1f} s")
        return
    click.echo(f"queued refresh job {jobs.schedule_refresh(shop)} for {shop}")


def attach(cli: click.Group) -> None:
    """Add the background-job commands to the root group."""
    cli.add_command(worker)
    cli.add_command(jobs_command)
    cli.add_command(refresh_command)
