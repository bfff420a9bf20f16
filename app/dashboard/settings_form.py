"""The retention settings a merchant edits in the dashboard, validated with marshmallow.

They are stored in ``shop.settings["retention"]`` with the keys and meaning of the
``stammkunde.toml`` retention settings (margin, annual discount rate, frequency cap, loyalty point
weights per activity, tiers by minimum points).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates

ACTIVITIES = ("spend", "account_created", "review", "newsletter", "referral")
DEFAULTS: dict[str, Any] = {
    "margin": 0.30,
    "annual_discount_rate": 0.10,
    "frequency_cap_days": 14,
    "points": {"spend": 1, "account_created": 50, "review": 25, "newsletter": 10, "referral": 100},
    "tiers": {"member": 0, "loyal": 100},
}
_TIER = re.compile(r"^\s*([\w][\w .-]{0,39}?)\s*[:=]\s*(\d{1,9})\s*$", re.UNICODE)


def parse_tiers(text: str) -> dict[str, int]:
    """Parse ``"member: 0, loyal: 100"`` (commas or new lines) into ascending tiers."""
    tiers: dict[str, int] = {}
    for part in re.split(r"[,\n]", text):
        if not part.strip():
            continue
        match = _TIER.match(part)
        if not match:
            raise ValidationError(f"write each tier as name: minimum points, not {part.strip()!r}")
        name, points = match.group(1), int(match.group(2))
        if name in tiers:
            raise ValidationError(f"tier {name!r} appears twice")
        if tiers and points <= max(tiers.values()):
            raise ValidationError(f"tier {name!r} ({points}) must need more points than the "
                                  "tier before it")
        tiers[name] = points
    if not tiers:
        raise ValidationError("give at least one tier")
    return tiers


def format_tiers(tiers: Mapping[str, int]) -> str:
    """Return tiers as the form's text (``member: 0, loyal: 100``)."""
    return ", ".join(f"{name}: {points}" for name, points in tiers.items())


class SettingsSchema(Schema):
    """The settings form: every field required, numbers in range."""

    margin = fields.Decimal(required=True, places=4,
                            validate=validate.Range(min=Decimal("0.01"), max=Decimal(1)))
    annual_discount_rate = fields.Decimal(required=True, places=4,
                                          validate=validate.Range(min=Decimal(0), max=Decimal(1)))
    frequency_cap_days = fields.Integer(required=True, validate=validate.Range(min=0, max=365),
                                        strict=False)
    tiers = fields.String(required=True)
    points_spend = fields.Decimal(required=True, validate=validate.Range(min=Decimal(0),
                                                                         max=Decimal(1000)))
    points_account_created = fields.Integer(required=True, validate=validate.Range(0, 100_000))
    points_review = fields.Integer(required=True, validate=validate.Range(0, 100_000))
    points_newsletter = fields.Integer(required=True, validate=validate.Range(0, 100_000))
    points_referral = fields.Integer(required=True, validate=validate.Range(0, 100_000))

    @validates("tiers")
    def _check_tiers(self, value: str, **_: Any) -> None:
        parse_tiers(value)

    @post_load
    def _to_settings(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        return {
            "margin": float(data["margin"]),
            "annual_discount_rate": float(data["annual_discount_rate"]),
            "frequency_cap_days": data["frequency_cap_days"],
            "points": {"spend": float(data["points_spend"]),
                       **{k: data[f"points_{k}"] for k in ACTIVITIES[1:]}},
            "tiers": parse_tiers(data["tiers"]),
        }


def current(settings: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return the shop's retention settings with defaults filled in."""
    stored = dict((settings or {}).get("retention") or {})
    merged = {**DEFAULTS, **stored}
    merged["points"] = {**DEFAULTS["points"], **(stored.get("points") or {})}
    return merged


def form_values(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Return the form's field values for stored settings."""
    return {
        "margin": settings["margin"],
        "annual_discount_rate": settings["annual_discount_rate"],
        "frequency_cap_days": settings["frequency_cap_days"],
        "tiers": format_tiers(settings["tiers"]),
        **{f"points_{k}": settings["points"].get(k, 0) for k in ACTIVITIES},
    }
