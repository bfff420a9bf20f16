"""Background jobs as the merchant reads them: a one-line message in their language, the time.

Jobs store their outcome as a one-line English message (``stammkunde jobs`` prints it); the
dashboard shows a sentence in the merchant's language instead, never a raw Python exception.
"""

from __future__ import annotations

import re
from typing import Any

from flask_babel import gettext as _
from flask_babel import ngettext

from stammkunde.app.dashboard.i18n import number, when

# Tracker.fail writes "ExceptionClass: text" for unexpected errors, a user error's text otherwise.
_UNEXPECTED = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit|Warning)\b:?")
_PENDING = re.compile(r"^(\d+) codes still pending: push again to resume$")


def message(job: dict[str, Any]) -> tuple[str, str | None]:
    """Return (sentence in the dashboard's language, English detail or None) for a job's outcome."""
    text = (job.get("message") or "").strip()
    if job["state"] == "failed":
        if not text or _UNEXPECTED.match(text):
            return _("Stopped by an unexpected error. The worker's log has the details; "
                     "start the job again to retry."), None
        return _("Stopped: the job could not finish. Reason:"), text
    if not text:
        return "", None
    match = _PENDING.match(text)
    if match:
        n = int(match[1])
        return ngettext("%(count)s code is still pending: push again to resume.",
                        "%(count)s codes are still pending: push again to resume.", n,
                        count=number(n, 0)), None
    return _("Note:"), text


def readable(job: dict[str, Any]) -> dict[str, Any]:
    """Return a job's progress view with the texts the dashboard shows (also for jobs.json)."""
    sentence, detail = message(job)
    return {**job, "message_text": sentence, "message_detail": detail,
            "created_text": when(job["created_at"], "short")}
