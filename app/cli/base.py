"""The root command group and helpers shared by the command modules."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from stammkunde.app.context import AppContext
from stammkunde.core.errors import FieldError, UserError
from stammkunde.core.timeutil import parse_instant

pass_ctx = click.make_pass_decorator(AppContext, ensure=True)

#: The command line's words for the fields core and plugins name in their errors (FieldError).
#: A field missing here is a platform's own shop option: shown as ``--option NAME=…``.
FLAGS = {
    "amount": "--amount", "batch_size": "--batch-size", "calibration_end": "--calibration-end",
    "cap_days": "--cap-days", "consumer_key": "--consumer-key",
    "consumer_secret": "--consumer-secret", "domain": "--domain", "ends_at": "--ends",
    "holdout": "--holdout", "holdout_end": "--holdout-end", "limit": "--limit",
    "limit_calls": "--limit-calls",
    "minimum_order": "--min-order", "name": "--name", "percent": "--percent",
    "shared_code": "--shared-code", "skip_invalid": "--skip-invalid", "starts_at": "--starts",
    "tag": "--tag", "target": "--target", "token": "--token", "url": "--url",
    "valid_days": "--valid-days", "webhook_secret": "--webhook-secret",
    "window_days": "--window-days",
}


def quiet_broken_pipe() -> int:
    """Point stdout at /dev/null after the reader went away (so the exit flush is quiet); 0."""
    import sys

    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is no real file (a test runner): nothing to flush
        pass
    finally:
        os.close(devnull)
    return 0


def user_message(exc: UserError) -> str:
    """Return an error's one line as the command line says it (fields named by their flags)."""
    if isinstance(exc, FieldError):
        text = exc.render({f: FLAGS.get(f, f"--option {f}=…") for f in exc.fields})
    else:
        text = str(exc)
    return text.replace("\n", " ")


class OneLineError(click.ClickException):
    """A user-facing error printed as one line ("error: ...")."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code

    def show(self, file: Any = None) -> None:
        """Print the one line on stderr."""
        click.echo(f"error: {self.message}", err=True)


class StammkundeGroup(click.Group):
    """The root group: turns UserError (and crashes) into one line instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the subcommand, translating errors for the terminal."""
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except BrokenPipeError:  # `stammkunde … | head` closed the pipe: that is not an error
            raise click.exceptions.Exit(quiet_broken_pipe()) from None
        except UserError as exc:
            raise OneLineError(user_message(exc)) from None
        except KeyboardInterrupt:
            raise click.Abort() from None
        except Exception as exc:
            if os.environ.get("STAMMKUNDE_DEBUG"):
                raise
            raise OneLineError(
                f"internal error: {type(exc).__name__}: {exc} "
                "(STAMMKUNDE_DEBUG=1 shows the traceback)", exit_code=1
            ) from None


def require_secret_key(settings: Any) -> None:
    """Refuse to start a server or worker without STAMMKUNDE_SECRET_KEY (one line, exit 2)."""
    if not settings.secret_key:
        raise OneLineError("STAMMKUNDE_SECRET_KEY is not set: it encrypts shop credentials and "
                           "signs sessions (e.g. export STAMMKUNDE_SECRET_KEY=$(python3 -c "
                           "'import secrets; print(secrets.token_urlsafe(32))'))")


@click.group(cls=StammkundeGroup)
@click.version_option(package_name="stammkunde")
def cli() -> None:
    """Stammkunde: retention numbers and measured campaigns from a shop's own orders."""


def console() -> Console:
    """Return a console for tables on stdout."""
    import sys

    return Console(highlight=False, width=None if sys.stdout.isatty() else 140)


def echo_json(data: Any) -> None:
    """Print data as stable, indented JSON."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False))


def parse_as_of(value: str | None, tz: str) -> datetime | None:
    """Parse ``--as-of``: a bare date means the end of that day in the shop's time zone."""
    if value is None:
        return None
    try:
        return parse_instant(value, tz, end_of_day=True)
    except UserError as exc:
        raise UserError(f"--as-of: {exc}") from exc


class RateColumn(ProgressColumn):
    """Rows per second, averaged over rich's speed window."""

    def render(self, task: Task) -> Text:
        """Return the task's speed as "12,345 rows/s" (blank until known)."""
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.0f} rows/s", style="progress.data.speed")


@contextmanager
def progress_bar(label: str, enabled: bool = True) -> Iterator[Any]:
    """Yield a callback(done, total) that draws a progress bar on stderr."""
    if not enabled:
        yield lambda done, total=None: None
        return
    prog = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), RateColumn(),
                    TimeRemainingColumn(), console=Console(stderr=True), transient=True)
    task = prog.add_task(label, total=None)
    with prog:
        def update(done: int, total: int | None = None) -> None:
            prog.update(task, completed=done, total=total)

        yield update
