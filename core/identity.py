"""Who is who: the normalised e-mail that merges one person across shops and sources."""

from __future__ import annotations

import unicodedata
from functools import lru_cache


@lru_cache(maxsize=1 << 16)  # a file or a sync repeats each customer's e-mail
def normalize_email(email: str | None) -> str | None:
    """Return the e-mail in its merge form (NFKC, trimmed, lower-case), or None if empty."""
    if email is None:
        return None
    value = unicodedata.normalize("NFKC", email).strip().lower()
    if not value or "@" not in value:
        return None
    return value
