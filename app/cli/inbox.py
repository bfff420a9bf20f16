"""``stammkunde inbox``: list, replay and work off stored webhook deliveries."""

from __future__ import annotations

import os
import signal
import threading
from datetime import timedelta
from types import FrameType

import click
from rich.table import Table
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from stammkunde.app.cli.base import console, echo_json, pass_ctx
from stammkunde.app.context import AppContext
from stammkunde.core.errors import UserError
from stammkunde.core.inbox_models import InboxStatus
from stammkunde.webhooks.inbox import Processor, ReplayResult, list_deliveries

#: Deliveries one round of `inbox work` takes at most (in batches) before it looks again.
ROUND = 2000
#: Default niceness of the processes that work the inbox off (and run jobs): on a shared machine
#: the web server's acknowledgements get the CPU first.
NICE = 10


def lower_priority(increment: int) -> None:
    """Lower this process's CPU priority by ``increment`` (0: unchanged)."""
    if increment > 0:
        os.nice(increment)


nice_option = click.option(
    "--nice", default=NICE, show_default=True, type=click.IntRange(0, 19),
    help="Run at this lower CPU priority (os.nice), so `stammkunde serve` on the same machine "
         "acknowledges webhooks first; 0 keeps the normal priority.")


def processor(ctx: AppContext) -> Processor:
    """Return the processor the commands share."""
    return Processor(ctx.sessions, ctx.plugins, ctx.settings.home / "exports")


@click.group()
def inbox() -> None:
    """Stored webhook deliveries: list, replay, work off."""


@inbox.command("list")
@click.option("--status", type=click.Choice(list(InboxStatus.ALL)), default=None)
@click.option("--limit", default=50, show_default=True, type=int)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def list_(ctx: AppContext, status: str | None, limit: int, as_json: bool) -> None:
    """List deliveries, newest first (errors name no person)."""
    with ctx.sessions() as session:
        rows = [{"id": r.id, "platform": r.platform, "shop_domain": r.shop_domain,
                 "delivery_id": r.delivery_id, "topic": r.topic, "status": r.status,
                 "attempts": r.attempts, "received_at": r.received_at.isoformat(),
                 "error": r.error}
                for r in list_deliveries(session, status=status, limit=limit)]
    if as_json:
        echo_json(rows)
        return
    table = Table("id", "platform", "shop", "delivery", "topic", "status", "tries", "received",
                  "error")
    for r in rows:
        table.add_row(str(r["id"]), r["platform"], r["shop_domain"], r["delivery_id"],
                      r["topic"], r["status"], str(r["attempts"]), r["received_at"][:19],
                      r["error"] or "")
    console().print(table)


def _report(result: ReplayResult) -> None:
    click.echo(f"{len(result.processed)} processed, {len(result.failed)} failed, "
               f"{len(result.skipped)} skipped")
    if result.failed:
        click.echo("still failing: " + ", ".join(map(str, result.failed)))


@inbox.command("replay")
@click.argument("ids", nargs=-1, type=int)
@click.option("--all-failed", is_flag=True, help="Replay every failed delivery.")
@click.option("--pending", is_flag=True,
              help="Process deliveries still waiting (e.g. left by a crash).")
@pass_ctx
def replay(ctx: AppContext, ids: tuple[int, ...], all_failed: bool, pending: bool) -> None:
    """Process failed deliveries again: by ID, or --all-failed, or --pending."""
    if sum((bool(ids), all_failed, pending)) != 1:
        raise UserError("give delivery ids, or --all-failed, or --pending (one of them)")
    proc = processor(ctx)
    if pending:
        _report(proc.process_pending())
    else:
        _report(proc.replay(ids, all_failed=all_failed))


@inbox.command("work")
@click.option("--interval", default=1.0, show_default=True, type=float,
              help="Seconds to wait once nothing is waiting (what arrives meanwhile is then "
                   "taken in one batch).")
@click.option("--min-age", default=0.0, show_default=True, type=float,
              help="Only take deliveries at least this many seconds old (use e.g. 30 next to "
                   "inline processing, to pick up only what a crash left).")
@click.option("--concurrency", default=2, show_default=True, type=click.IntRange(1, 32),
              help="Threads taking batches from the inbox (PostgreSQL: side by side).")
@click.option("--once", is_flag=True, help="Work off what waits (until nothing does), then stop.")
@nice_option
@pass_ctx
def work(ctx: AppContext, interval: float, min_age: float, concurrency: int,
         once: bool, nice: int) -> None:
    """Process received deliveries until stopped (the worker for --processing worker)."""
    lower_priority(nice)
    proc = processor(ctx)
    stopping = threading.Event()
    total = ReplayResult()
    lock = threading.Lock()
    problems: list[BaseException] = []

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    def loop(part: int) -> None:
        while not stopping.is_set():
            try:
                result = proc.process_pending(older_than=timedelta(seconds=min_age),
                                              limit=ROUND)
            except (DBAPIError, PoolTimeout) as exc:  # database away: wait for it
                click.echo(f"database unavailable ({type(exc).__name__}); retrying", err=True)
                if once:
                    problems.append(exc)
                    return
                stopping.wait(interval)
                continue
            with lock:
                total.processed += result.processed
                total.failed += result.failed
                total.skipped += result.skipped
            taken = len(result.processed) + len(result.failed) + len(result.skipped)
            if once and not taken:
                return
            if not once and taken < ROUND:  # worked off: what arrives meanwhile, in one batch
                stopping.wait(interval)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop)
    threads = [threading.Thread(target=loop, args=(k,), daemon=True) for k in range(concurrency)]
    for t in threads:
        t.start()
    try:
        for t in threads:
            while t.is_alive():
                t.join(0.5)
    except KeyboardInterrupt:
        stopping.set()
        for t in threads:
            t.join()
    if problems:
        raise UserError("database unavailable")
    _report(total)


def attach(cli: click.Group) -> None:
    """Add the inbox commands to the root group."""
    cli.add_command(inbox)
