"""The ``stammkunde`` command line: one-line errors, exit code 2 for user mistakes."""

from __future__ import annotations

from stammkunde.app.cli import (
    campaigns,
    data,
    demo,
    inbox,
    jobs,
    report,
    retention,
    serve,
    shops,
    system,
    web,
)
from stammkunde.app.cli.base import cli

for module in (shops, data, report, retention, demo, system, campaigns, inbox, serve, jobs, web):
    module.attach(cli)

_plugin_commands_added = False


def add_plugin_commands() -> None:
    """Let plugins add their commands (``register_commands``), once per process."""
    global _plugin_commands_added
    if not _plugin_commands_added:
        from stammkunde.plugins.manager import get_plugins

        _plugin_commands_added = True
        get_plugins().hook().register_commands(cli=cli)


def main() -> None:
    """Run the ``stammkunde`` command line."""
    import sys

    import click

    from stammkunde.core.errors import UserError

    try:
        add_plugin_commands()
    except UserError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    try:
        cli(prog_name="stammkunde")
    except BrokenPipeError:  # the reader of a pipe left during --help or --version
        from stammkunde.app.cli.base import quiet_broken_pipe

        sys.exit(quiet_broken_pipe())


__all__ = ["add_plugin_commands", "cli", "main"]
