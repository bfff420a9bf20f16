"""Time helpers: everything stored and compared is timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from stammkunde.core.errors import UserError


def zone(name: str | None) -> ZoneInfo:
    """Return the ZoneInfo for an IANA name (UTC when empty), or a one-line error."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UserError(f"unknown time zone {name!r}") from exc


def parse_instant(text: str, tz: str | None = None, *, end_of_day: bool = False) -> datetime:
    """Parse an ISO 8601 date or datetime into aware UTC; a bare date is midnight in ``tz``.

    With ``end_of_day`` a bare date means the last instant of that day, which is what a merchant
    means by ``--as-of 2024-06-30``.
    """
    value = text.strip()
    if not value:
        raise UserError("empty date")
    if value[-1:] == "Z" and len(value) > 10:  # the common case: an instant in UTC
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass  # the general path below names the problem
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            local = datetime.combine(day, time.max if end_of_day else time.min, zone(tz))
            return local.astimezone(UTC)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise UserError(f"not an ISO 8601 date or datetime: {text!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone(tz))
    return parsed.astimezone(UTC)


def to_utc(value: datetime) -> datetime:
    """Return an aware datetime converted to UTC; refuse naive ones."""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValueError(f"naive datetime {value!r}: times must be timezone-aware")
    return value.astimezone(UTC)


def now() -> datetime:
    """Return the current instant in UTC."""
    return datetime.now(UTC)


def epoch_seconds(value: datetime) -> int:
    """Return whole seconds since 1970-01-01 UTC for an aware datetime."""
    return int(to_utc(value).timestamp())


def month_index(value: datetime, tz: str | None = None) -> int:
    """Return year*12 + month-1 of the instant in the shop's time zone (cohort bucket)."""
    local = to_utc(value).astimezone(zone(tz))
    return local.year * 12 + local.month - 1


def month_label(index: int) -> str:
    """Return "YYYY-MM" for a month index from :func:`month_index`."""
    return f"{index // 12:04d}-{index % 12 + 1:02d}"
