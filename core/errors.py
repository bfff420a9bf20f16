"""Errors a merchant can act on: the CLI prints them as one line, never a traceback."""

from __future__ import annotations

import string
from collections.abc import Mapping


class UserError(Exception):
    """A mistake in input or configuration, with a message that names the problem."""


class NotFound(UserError):
    """A named thing (shop, campaign, customer) does not exist."""


class InvalidRecord(UserError):
    """A record from an adapter or file breaks the canonical model's rules."""


class FieldError(UserError):
    """Input that breaks a rule; the message names the fields by name, the shell by its words.

    The template refers to fields as ``{field}`` and to other values by keyword:
    ``FieldError("{percent} must be above 0, not {value}", value=5)`` reads "percent must be
    above 0, not 5" (the dashboard shows this); the command line renders the same error with its
    flags (``--percent must be above 0, not 5``) through :meth:`render`.
    """

    def __init__(self, template: str, **values: object) -> None:
        self.template = template
        self.values = values
        self.fields = tuple(dict.fromkeys(
            name for _, name, _, _ in string.Formatter().parse(template)
            if name and name not in values))
        super().__init__(self.render({}))

    def render(self, labels: Mapping[str, str]) -> str:
        """Return the message with each field named by ``labels`` (default: its own words)."""
        names = {f: labels.get(f, f.replace("_", " ")) for f in self.fields}
        return self.template.format(**names, **self.values)
