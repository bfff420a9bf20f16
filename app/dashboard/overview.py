"""The numbers of the overview page, from the cached reports: KPI tiles, cohorts, channels."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext, ngettext
from markupsafe import Markup

from stammkunde.app.dashboard.charts import Bar, Interval, heat_bucket, interval_chart
from stammkunde.app.dashboard.i18n import money, money_short, number, percent

COHORTS_SHOWN = 13
MONTHS_SHOWN = 12


@dataclass(frozen=True)
class Tile:
    """One KPI tile: label, value, change against the previous period and whether it is good."""

    key: str
    label: str
    value: str
    change: str | None
    trend: str  # "up", "down" or "flat"
    good: bool | None
    hint: str
    note: str = ""  # shown under the label (what kind of number it is)


def _get(report: dict[str, Any], path: str) -> Any:
    value: Any = report
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


# (key, path in the report, label, kind, higher is better, hint)
KPIS: tuple[tuple[str, str, Any, str, bool, Any], ...] = (
    ("customers", "customers", lazy_gettext("Customers"), "count", True,
     lazy_gettext("People with at least one valid order.")),
    ("net_revenue", "net_revenue", lazy_gettext("Net revenue"), "money", True,
     lazy_gettext("Order totals minus refunds, valid orders only.")),
    ("repeat_rate", "repeat_rate", lazy_gettext("Repeat purchase rate"), "share", True,
     lazy_gettext("Customers with two or more orders, of all customers.")),
    ("orders_per_customer", "orders_per_customer", lazy_gettext("Orders per customer"), "number",
     True, lazy_gettext("Valid orders divided by customers.")),
    ("days_between_orders", "days_between_orders.median", lazy_gettext("Days between orders"),
     "days", False, lazy_gettext("Median gap between a customer's consecutive orders.")),
    ("aov", "aov", lazy_gettext("Average order value"), "money", True,
     lazy_gettext("Net revenue divided by valid orders.")),
    ("historic_clv", "historic_clv.mean", lazy_gettext("Historic CLV"), "money", True,
     lazy_gettext("Revenue so far: mean net revenue per customer to date, before costs.")),
    ("returning_revenue_share", "returning_revenue_share",
     lazy_gettext("Revenue from returning customers"), "share", True,
     lazy_gettext("Net revenue of orders after a customer's first, of all net revenue.")),
)


def _fmt(kind: str, value: Any, currency: str) -> str:
    if value is None:
        return "–"
    if kind == "money":
        return money(value, currency)
    if kind == "share":
        return percent(value)
    if kind == "count":
        return number(value, 0)
    if kind == "days":
        return _("%(days)s days", days=number(value, 1))
    return number(value, 2)


def _signed(text: str, positive: bool) -> str:
    return ("+" if positive else "−") + text.lstrip("-−")


def _change(kind: str, now: Any, before: Any) -> tuple[str | None, str]:
    if now is None or before is None:
        return None, "flat"
    now_f, before_f = float(Decimal(str(now))), float(Decimal(str(before)))
    diff = now_f - before_f
    trend = "flat" if abs(diff) < 1e-9 else ("up" if diff > 0 else "down")
    if kind == "share":
        # Rates change in percentage points, not per cent of themselves.
        return _signed(_("%(pp)s pp", pp=number(abs(diff) * 100, 1)), diff >= 0), trend
    if before_f == 0:
        return None, trend
    return _signed(percent(abs(diff / before_f), 1), diff >= 0), trend


def tiles(report: dict[str, Any], previous: dict[str, Any] | None,
          predicted: tuple[Decimal, int] | None = None) -> list[Tile]:
    """Return the KPI tiles, each with its change against the previous-period report."""
    currency = report["currency"]
    out = []
    for key, path, label, kind, higher_better, hint in KPIS:
        value = _get(report, path)
        change, trend = _change(kind, value, _get(previous, path) if previous else None)
        good = None if trend == "flat" or change is None else ((trend == "up") == higher_better)
        note = _("past revenue, before costs") if key == "historic_clv" else ""
        out.append(Tile(key, str(label), _fmt(kind, value, currency), change, trend, good,
                        str(hint), note))
    if predicted is not None:
        value, months = predicted
        out.append(Tile("predicted_clv", _("Predicted CLV (%(months)s months)", months=months),
                        money(value, currency), None, "flat", None,
                        _("Future margin: what a customer is expected to leave as gross margin "
                          "over the next %(months)s months, discounted (BG/NBD and "
                          "Gamma-Gamma models). Not comparable with historic CLV, which is "
                          "past revenue.", months=months),
                        _("future margin, discounted")))
    return out


def heat_top(report: dict[str, Any]) -> float:
    """Return the highest retention share shown in the heatmap (its darkest colour)."""
    cohorts = report.get("cohorts", [])[-COHORTS_SHOWN:]
    return max((r for c in cohorts for r in c["retention"][1:MONTHS_SHOWN + 1]), default=0.0)


def cohort_rows(report: dict[str, Any]) -> tuple[list[int], list[dict[str, Any]]]:
    """Return the months shown and the last cohorts with coloured retention cells (month ≥ 1)."""
    cohorts = report.get("cohorts", [])[-COHORTS_SHOWN:]
    months = list(range(1, MONTHS_SHOWN + 1))
    top = heat_top(report)
    rows = []
    for c in cohorts:
        cells = []
        for k in months:
            share = c["retention"][k] if k < len(c["retention"]) else None
            cells.append({"text": percent(share, 0) if share is not None else "",
                          "heat": heat_bucket(share, top)})
        rows.append({"cohort": c["cohort"], "customers": number(c["customers"], 0),
                     "cells": cells})
    return months, rows


def channel_bars(report: dict[str, Any]) -> list[Bar]:
    """Return one bar per acquisition channel: mean historic CLV, with customers as a note."""
    currency = report["currency"]
    bars = []
    for name, k in sorted(report.get("channels", {}).items(),
                          key=lambda kv: -float(kv[1]["historic_clv"]["mean"] or 0)):
        mean = k["historic_clv"]["mean"]
        bars.append(Bar(name, float(mean or 0), money_short(mean, currency),
                        ngettext("%(count)s customer", "%(count)s customers", k["customers"],
                                 count=number(k["customers"], 0))))
    return bars


def uplift_chart(report: dict[str, Any]) -> Markup:
    """Return the campaign's uplift (treatment − holdout) with its 95 % interval as SVG."""
    up = report["uplift"]
    currency = report["currency"]
    items = []
    conv = up["conversion_rate"]
    if conv["estimate"] is not None:
        items.append(("conversion", Interval(str(_("Conversion rate")), conv["estimate"],
                                             conv["low"] if conv["low"] is not None
                                             else conv["estimate"],
                                             conv["high"] if conv["high"] is not None
                                             else conv["estimate"])))
    charts = []
    if items:
        def points(v: float) -> str:
            return _signed(_("%(pp)s pp", pp=number(abs(v) * 100, 1)), v >= 0)

        charts.append(interval_chart([i for _k, i in items], points,
                                     title=str(_("Uplift in conversion rate"))))
    rpm = up["revenue_per_member"]
    if rpm["estimate"] is not None:
        low = rpm["low"] if rpm["low"] is not None else rpm["estimate"]
        high = rpm["high"] if rpm["high"] is not None else rpm["estimate"]
        charts.append(interval_chart(
            [Interval(str(_("Revenue per member")), rpm["estimate"], low, high)],
            lambda v: _signed(money(Decimal(str(abs(v))), currency), v >= 0),
            title=str(_("Uplift in revenue per member"))))
    return Markup("".join(charts))
