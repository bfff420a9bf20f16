"""Retention scores on the dashboard: segment, stage and tier tables, win-back, predicted CLV."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask_babel import lazy_gettext

from stammkunde.core.segments import SEGMENTS, STAGES

#: Display names of the RFM segments and lifecycle stages (the URL keeps the engine's name).
LABELS: dict[str, Any] = {
    "champions": lazy_gettext("champions"),
    "loyal": lazy_gettext("loyal"),
    "potential loyalists": lazy_gettext("potential loyalists"),
    "new": lazy_gettext("new"),
    "promising": lazy_gettext("promising"),
    "need attention": lazy_gettext("need attention"),
    "about to sleep": lazy_gettext("about to sleep"),
    "at risk": lazy_gettext("at risk"),
    "can't lose": lazy_gettext("can't lose"),
    "hibernating": lazy_gettext("hibernating"),
    "lost": lazy_gettext("lost"),
    "prospect": lazy_gettext("prospect"),
    "repeat": lazy_gettext("repeat"),
    "lapsed": lazy_gettext("lapsed"),
}
#: Display names of the default loyalty tiers; tiers a merchant names keep their names.
TIER_LABELS: dict[str, Any] = {"member": lazy_gettext("member"), "loyal": lazy_gettext("loyal")}
#: Customer-list filters: query parameter → (section of the scores, roll-up column).
FILTERS = {"segment": "segments", "stage": "lifecycle", "tier": "tiers"}


def label(name: str | None) -> str:
    """Return the display name of a segment or stage (tiers keep the merchant's names)."""
    if name is None:
        return "–"
    return str(LABELS.get(name, name))


def tier_label(name: str | None) -> str:
    """Return the display name of a loyalty tier (the default tiers are translated)."""
    if name is None:
        return "–"
    return str(TIER_LABELS.get(name, name))


def group_rows(scores: dict[str, Any], section: str) -> list[dict[str, Any]]:
    """Return name, customers, share of customers and net revenue of each group of a section."""
    counts: dict[str, int] = scores.get(section, {})
    revenue: dict[str, str] = scores.get("revenue", {}).get(section, {})
    order = {"segments": SEGMENTS, "lifecycle": STAGES}.get(section, tuple(counts))
    total = sum(counts.values()) or 1
    name_of = tier_label if section == "tiers" else label
    # Customers with an order per group (the customer list holds those); None before the
    # first refresh that counted them.
    listed: dict[str, int] | None = scores.get("listed", {}).get(section)
    return [{"name": name, "label": name_of(name), "customers": counts.get(name, 0),
             "listed": counts.get(name, 0) if listed is None else listed.get(name, 0),
             "share": counts.get(name, 0) / total,
             "revenue": Decimal(revenue.get(name, "0"))}
            for name in order if name in counts]


def predicted_clv(scores: dict[str, Any] | None) -> tuple[Decimal, int] | None:
    """Return the mean predicted CLV per customer and its horizon (months) when fitted."""
    if not scores or not scores.get("clv_model", {}).get("available"):
        return None
    channels = scores.get("clv_by_channel", {})
    customers = sum(c["customers"] for c in channels.values())
    total = sum(Decimal(c["predicted_clv_total"] or "0") for c in channels.values())
    if not customers:
        return None
    return total / customers, int(scores["clv_model"]["horizon_months"])
