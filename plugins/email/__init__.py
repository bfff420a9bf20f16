"""Built-in ``email`` channel: offer e-mails over SMTP with signed unsubscribe links."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stammkunde.plugins.email.channel import EmailChannel
from stammkunde.plugins.hookspecs import hookimpl

__all__ = ["EmailChannel"]


@hookimpl
def register_channels(register: Callable[[Any], None]) -> None:
    """Register the e-mail channel."""
    register(EmailChannel())
