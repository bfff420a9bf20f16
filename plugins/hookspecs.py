"""The hooks a Stammkunde plugin can implement (documented for authors in docs/adapters.md).

Every hook is 1:N: each plugin that implements it is called. Hooks receive a ``register``
callback; the core owns the registry, checks what is registered and reports clashes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("stammkunde")
hookimpl = pluggy.HookimplMarker("stammkunde")


@hookspec
def register_platforms(register: Callable[[Any], None]) -> None:
    """Register platform adapters: call ``register(adapter)`` with a PlatformAdapter instance."""


@hookspec
def register_commands(cli: Any) -> None:
    """Add click commands or groups to the ``stammkunde`` command line (``cli.add_command``)."""


@hookspec
def register_target_kinds(register: Callable[..., None]) -> None:
    """Add campaign target kinds: ``register(name, select, description=…, parse_arg=…)``.

    ``select(session, shop, arg, as_of)`` returns the person ids the kind targets; see
    :meth:`stammkunde.core.campaigns.TargetKinds.register` for the keyword arguments.
    """


@hookspec
def register_channels(register: Callable[[Any], None]) -> None:
    """Register offer delivery channels: call ``register(channel)`` with a Channel instance."""
