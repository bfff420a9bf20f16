"""Read loyalty events from CSV: ``event_id,customer_id,email,kind,occurred_at[,points]``.

UTF-8 with a header row. Required: ``event_id``, ``kind``, ``occurred_at`` (ISO 8601 date or
datetime; without an offset in the shop's time zone) and ``customer_id`` or ``email``. ``points``
(optional, a whole number ≥ 0) overrides the configured weight of the kind for that event.
A file with bad rows is refused as a whole, naming each bad line (the first 20).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from stammkunde.core.errors import UserError
from stammkunde.core.identity import normalize_email
from stammkunde.core.records import EventRecord
from stammkunde.core.timeutil import parse_instant

COLUMNS = ("event_id", "customer_id", "email", "kind", "occurred_at", "points")
REQUIRED = ("event_id", "kind", "occurred_at")
MAX_SHOWN = 20


def parse_event_row(row: dict[str, str], timezone: str) -> EventRecord:
    """Turn one CSV row into an EventRecord or raise ValueError naming the problem."""
    get = {k: (v or "").strip() for k, v in row.items()}
    for column in REQUIRED:
        if not get.get(column):
            raise ValueError(f"{column} is empty")
    email = get.get("email") or None
    if email and normalize_email(email) is None:
        raise ValueError(f"email is not an e-mail address: {email!r}")
    if not get.get("customer_id") and not email:
        raise ValueError("needs customer_id or email")
    try:
        occurred = parse_instant(get["occurred_at"], timezone)
    except UserError as exc:
        raise ValueError(f"occurred_at {exc}") from exc
    points = None
    if get.get("points"):
        if not get["points"].isdigit():
            raise ValueError(f"points must be a whole number ≥ 0, not {get['points']!r}")
        points = int(get["points"])
    return EventRecord(platform_id=get["event_id"], kind=get["kind"].lower(),
                       occurred_at=occurred, customer_id=get.get("customer_id") or None,
                       email=email, points=points)


def read_events(path: Path, timezone: str) -> list[EventRecord]:
    """Read every event of the file, or raise UserError naming the bad lines."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise UserError(f"{path.name} is not UTF-8") from exc
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in reader.fieldnames or []]
    if not header:
        raise UserError(f"{path.name} is empty (expected a header row)")
    unknown = [h for h in header if h not in COLUMNS]
    if unknown:
        raise UserError(f"{path.name}: unknown column(s) {', '.join(map(repr, unknown))}; "
                        f"expected {','.join(COLUMNS)}")
    missing = [c for c in REQUIRED if c not in header]
    if "customer_id" not in header and "email" not in header:
        missing.append("customer_id or email")
    if missing:
        raise UserError(f"{path.name}: missing column(s): {', '.join(missing)}")
    reader.fieldnames = header
    events: list[EventRecord] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        if None in row:
            problems.append(f"line {line}: more fields than header columns")
            continue
        if not any((v or "").strip() for v in row.values()):
            continue
        try:
            event = parse_event_row(row, timezone)
            if event.platform_id in seen:
                raise ValueError(f"event_id {event.platform_id!r} already on line "
                                 f"{seen[event.platform_id]}")
            seen[event.platform_id] = line
            events.append(event)
        except ValueError as exc:
            problems.append(f"line {line}: {exc}")
    if problems:
        more = f" (and {len(problems) - MAX_SHOWN} more)" if len(problems) > MAX_SHOWN else ""
        raise UserError(f"{path.name}: {len(problems)} bad row(s), nothing imported: "
                        f"{'; '.join(problems[:MAX_SHOWN])}{more}")
    if not events:
        raise UserError(f"{path.name} has a header but no rows")
    return events
