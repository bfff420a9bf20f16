"""Structured JSON logs: one object per line, with delivery ids, topics and outcomes only.

Only whitelisted fields are written, so a stray ``extra`` can never put an e-mail or a name into
the log; messages themselves are fixed strings chosen by the code, never payload text.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

FIELDS = ("platform", "topic", "delivery_id", "inbox_id", "outcome", "status", "shop_id",
          "duration_ms", "error", "action", "subject_hash", "reference", "reason", "pid",
          "bytes", "count")


class JsonFormatter(logging.Formatter):
    """Format records as JSON objects with time, level, logger, message and known fields."""

    def format(self, record: logging.LogRecord) -> str:
        """Return one JSON line for the record."""
        data: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name in FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                data[name] = value
        if record.exc_info and record.exc_info[0] is not None:
            data["exc_type"] = record.exc_info[0].__name__
        return json.dumps(data, ensure_ascii=False, default=str)


def configure_json_logging(level: int | str = logging.INFO) -> None:
    """Send the ``stammkunde`` loggers to stderr as JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("stammkunde")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
