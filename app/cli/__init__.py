"""The ``stammkunde`` command line: one-line errors, exit code 2 for user mistakes."""

from __future__ import annotations

import os
import sys

import click
from stammkunde.app.cli import data, inbox, serve, shops, system
from stammkunde.app.cli.base import cli
from stammkunde.core.errors import UserError

for module in (shops, data, system, inbox, serve):
    module.attach(cli)


def main() -> None:
    """Run the command line, printing one line instead of a traceback on errors."""
    from stammkunde.plugins.manager import get_plugins

    try:
        get_plugins().hook().register_commands(cli=cli)
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except UserError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:
        if os.environ.get("STAMMKUNDE_DEBUG"):
            raise
        click.echo(f"internal error: {type(exc).__name__}: {exc} (STAMMKUNDE_DEBUG=1 shows "
                   "the traceback)", err=True)
        sys.exit(1)
