"""The retention settings a merchant edits in the dashboard, validated with marshmallow.

The form shows the shop's effective settings (:func:`stammkunde.core.settings.resolve_for`) and
where each value comes from. Saving stores only what the merchant changed away from the
*inherited* value (defaults < ``stammkunde.toml`` < its ``[shops.<name>]`` table) in
``shop.settings["retention"]``, with the keys of the file. A field equal to its inherited value
stores nothing and keeps following the file (so saving the form unchanged overrides nothing, and
typing the inherited value back removes a saved one); a field saved earlier and left as shown
stays saved.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates

from stammkunde.core.settings import Resolved, RetentionSettings

ACTIVITIES = ("spend", "account_created", "review", "newsletter", "referral")
#: Form field → the dotted settings key it edits.
FIELD_KEYS: dict[str, str] = {
    "margin": "margin", "annual_discount_rate": "annual_discount_rate",
    "frequency_cap_days": "frequency_cap_days", "tiers": "tiers",
    **{f"points_{k}": f"points.{k}" for k in ACTIVITIES},
}
#: Decimal places the form keeps (margin and rate).
PLACES = 4
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

    # The ranges are those of stammkunde.toml, so a value inherited from the file always passes.
    margin = fields.Decimal(required=True, places=PLACES,
                            validate=validate.Range(min=Decimal(0), max=Decimal(1)))
    annual_discount_rate = fields.Decimal(required=True, places=PLACES,
                                          validate=validate.Range(min=Decimal(0), max=Decimal(10)))
    frequency_cap_days = fields.Integer(required=True, validate=validate.Range(min=0),
                                        strict=False)
    tiers = fields.String(required=True)
    points_spend = fields.Decimal(required=True, validate=validate.Range(min=Decimal(0)))
    points_account_created = fields.Integer(required=True, validate=validate.Range(min=0))
    points_review = fields.Integer(required=True, validate=validate.Range(min=0))
    points_newsletter = fields.Integer(required=True, validate=validate.Range(min=0))
    points_referral = fields.Integer(required=True, validate=validate.Range(min=0))

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


def form_values(settings: RetentionSettings) -> dict[str, Any]:
    """Return the form's field values for effective settings."""
    return {
        "margin": _plain(settings.margin),
        "annual_discount_rate": _plain(settings.annual_discount_rate),
        "frequency_cap_days": settings.frequency_cap_days,
        "tiers": format_tiers(settings.tiers),
        **{f"points_{k}": _plain(settings.points.get(k, 0)) for k in ACTIVITIES},
    }


def _plain(value: Any) -> str:
    """A number as the form shows it: no exponent, no trailing zeros (``0.3``, ``50``)."""
    text = format(Decimal(str(value)).normalize(), "f")
    return text


def provenance(resolved: Resolved) -> dict[str, dict[str, Any]]:
    """Return, per form field, its source and the inherited value shown beside a saved one."""
    inherited = form_values(resolved.inherited)
    return {name: {"source": resolved.sources.get(key, "default"), "inherited": inherited[name]}
            for name, key in FIELD_KEYS.items()}


def _same(new: Any, old: Any) -> bool:
    """Equal at the form's precision (a file's 0.33333 shown and sent back is unchanged)."""
    if isinstance(new, dict) or isinstance(old, dict):
        return dict(new) == dict(old)
    step = Decimal(1).scaleb(-PLACES)
    return Decimal(str(new)).quantize(step) == Decimal(str(old)).quantize(step)


def changed_values(new: Mapping[str, Any], resolved: Resolved) -> dict[str, Any]:
    """Return the saved settings after a form post: only values that differ from the inherited.

    ``new`` is the loaded form (:class:`SettingsSchema`). Saved keys the form does not edit
    are kept.
    """
    inherited = resolved.inherited
    out: dict[str, Any] = {k: v for k, v in resolved.saved.items()
                           if k not in ("margin", "annual_discount_rate", "frequency_cap_days",
                                        "tiers", "points")}
    for key in ("margin", "annual_discount_rate", "frequency_cap_days", "tiers"):
        if not _same(new[key], getattr(inherited, key)):
            out[key] = new[key]
    points = {k: v for k, v in dict(resolved.saved.get("points") or {}).items()
              if k not in ACTIVITIES}
    for kind in ACTIVITIES:
        if not _same(new["points"][kind], inherited.points.get(kind, 0)):
            points[kind] = new["points"][kind]
    if points:
        out["points"] = points
    return out
