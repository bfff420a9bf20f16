"""Errors a merchant can act on: the CLI prints them as one line, never a traceback."""

from __future__ import annotations


class UserError(Exception):
    """A mistake in input or configuration, with a message that names the problem."""


class NotFound(UserError):
    """A named thing (shop, campaign, customer) does not exist."""


class InvalidRecord(UserError):
    """A record from an adapter or file breaks the canonical model's rules."""
