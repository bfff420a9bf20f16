"""The customer list as a CSV file: cells safe for spreadsheets, dates in the shop's time zone."""

from __future__ import annotations

import re
from datetime import datetime, tzinfo
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from stammkunde.core.money import cents

#: A text cell starting with one of these is read as a formula by spreadsheet programs
#: (OWASP "CSV injection"); such cells get a leading apostrophe, which shows as plain text.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(text: str) -> str:
    """Return a text cell that a spreadsheet shows as text, never runs as a formula."""
    return "'" + text if text.startswith(FORMULA_START) else text


def shop_zone(name: str | None) -> tzinfo:
    """Return the shop's time zone (UTC when unknown)."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def cell(value: Any, zone: tzinfo) -> str:
    """Format one value of a customer row for CSV (numbers exact, text neutralised)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(zone).isoformat()
    if isinstance(value, Decimal):
        return str(cents(value))
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return repr(value)  # numbers keep full precision and may be negative
    return neutralise(str(value))


def search_rows(rows: list[dict[str, Any]], search: str) -> list[dict[str, Any]]:
    """Keep rows whose e-mail contains the search text or whose customer id is it."""
    text = search.strip()
    if not text:
        return rows
    low = text.lower()
    return [r for r in rows if low in (r.get("email") or "").lower()
            or r.get("customer_id") == text]


_SORT_KEYS = {"net_revenue": "net_revenue", "orders": "orders", "first_order": "first_order",
              "last_order": "last_order"}


def sort_rows(rows: list[dict[str, Any]], sort: str, descending: bool) -> list[dict[str, Any]]:
    """Sort rows like the page (rows come most valuable first; ties keep that order)."""
    key = _SORT_KEYS.get(sort, "net_revenue")
    if key == "net_revenue" and descending:
        return rows
    present = [r for r in rows if r[key] is not None]
    missing = [r for r in rows if r[key] is None]
    return sorted(present, key=lambda r: r[key], reverse=descending) + missing


def file_name(shop: str, where: dict[str, str], search: str) -> str:
    """Return the download's file name, naming its filter: ``demo-customers-segment-lost.csv``."""
    parts = [shop, "customers"]
    for key, value in where.items():
        parts += [key, value]
    if search.strip():
        parts += ["search", search.strip()]
    name = "-".join(re.sub(r"[^A-Za-z0-9._]+", "_", p).strip("_") or "_" for p in parts)
    return name[:150] + ".csv"
