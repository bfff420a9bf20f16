"""Recurring plays: campaign templates and the schedules that spawn their instances.

A template fills in a campaign's target, offer, validity and schedule; everything can be
overridden on ``campaign create``. A scheduled campaign is never pushed itself: each time it is
due, :func:`stammkunde.plugins.campaigns.run_due_campaigns` creates an instance (a normal
campaign with ``parent_id`` set, valid for ``valid_days`` from the run) and pushes it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from stammkunde.core.errors import UserError

_INTERVAL = re.compile(r"^(\d+)\s*([hdw])$")
_NAMED = {"hourly": timedelta(hours=1), "daily": timedelta(days=1), "weekly": timedelta(weeks=1)}
_UNITS = {"h": "hours", "d": "days", "w": "weeks"}


def parse_schedule(text: str) -> timedelta:
    """Parse a schedule (``daily``, ``weekly``, or an interval like ``3d``, ``2w``, ``12h``)."""
    value = text.strip().lower()
    if value in _NAMED:
        return _NAMED[value]
    match = _INTERVAL.match(value)
    if not match or int(match.group(1)) < 1:
        raise UserError(f"schedule must be daily, weekly or an interval like 7d, 2w, 12h, "
                        f"not {text!r}")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


@dataclass(frozen=True)
class Template:
    """A recurring play with sensible defaults."""

    name: str
    description: str
    target: str
    percent: Decimal | None
    amount: Decimal | None
    schedule: str
    valid_days: int
    holdout: float = 0.1


TEMPLATES: dict[str, Template] = {
    t.name: t for t in (
        Template(
            name="win-back",
            description="15% for customers who lapsed in the last week (no order for 90 days)",
            target="newly-lapsed:90", percent=Decimal(15), amount=None, schedule="weekly",
            valid_days=14,
        ),
        Template(
            name="loyal-reward",
            description=("an exclusive 10% code for customers in the loyal tier "
                         "(default: 100 available points)"),
            target="tier:loyal", percent=Decimal(10), amount=None, schedule="weekly",
            valid_days=30,
        ),
        Template(
            name="second-order",
            description=("10% for one-order customers once their expected repurchase time "
                         "(the shop's median days between orders) has passed"),
            target="second-order", percent=Decimal(10), amount=None, schedule="weekly",
            valid_days=14,
        ),
    )
}


def get_template(name: str) -> Template:
    """Return a template by name or a one-line error listing them."""
    template = TEMPLATES.get(name.strip().lower())
    if template is None:
        raise UserError(f"unknown template {name!r} (known: {', '.join(sorted(TEMPLATES))})")
    return template
