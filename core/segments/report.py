"""The report's retention-score section: model, segment/stage/tier/type counts, CLV by group.

Keys (README "report --json schema"): ``clv_model``, ``segments``, ``lifecycle``, ``tiers``,
``loyalty_types``, ``clv_by_channel``, ``clv_by_first_code`` and ``notes`` (sentences for small
shops saying which numbers are reliable at their size and why the model is or is not shown).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy.orm import Session

from stammkunde.core.clv import MIN_CUSTOMERS, BGNBDFit, FittedModel
from stammkunde.core.clv.predict import INTERVAL_LEVEL
from stammkunde.core.metrics import build_report, order_history
from stammkunde.core.models import Shop
from stammkunde.core.money import SCALE
from stammkunde.core.segments.data import load_person_arrays, tune_for_aggregates
from stammkunde.core.segments.lifecycle import STAGES
from stammkunde.core.segments.loyalty import LOYALTY_TYPES
from stammkunde.core.segments.rfm import SEGMENTS
from stammkunde.core.segments.scores import Scores, compute_scores
from stammkunde.core.settings import RetentionSettings
from stammkunde.core.timeutil import now

NO_CODE = "(none)"
#: Below this many customers the report says how wide the margin of error of the rates is.
SMALL_SHOP = 1000


def _counts(index: NDArray[np.int64], names: tuple[str, ...]) -> dict[str, int]:
    valid = index[index >= 0]
    counts = np.bincount(valid, minlength=len(names))
    return {name: int(c) for name, c in zip(names, counts, strict=True)}


def model_section(scores: Scores) -> dict[str, Any]:
    """The fitted parameters (with standard errors) or why there is no model.

    ``family`` is ``"bgnbd"`` or ``"nbd"`` (BG/NBD's no-drop-out limit, chosen when the data do
    not identify drop-out) and ``reason`` says why; ``bgnbd`` holds the purchase-frequency
    model's parameters (``a`` and ``b`` null for the NBD). ``p_alive_weight`` is how far
    P(alive) is trusted by the lifecycle stages and win-back chances (0 … 1). ``gamma_gamma``
    has null parameters and a ``note`` when the spend model fell back to average order values.
    """
    model = scores.model
    if not isinstance(model, FittedModel):
        return {"available": False, "code": model.code, "reason": model.reason}
    tx, sp = model.transactions, model.spend
    s = scores.settings
    is_bg = isinstance(tx, BGNBDFit)
    ses = _finite_map(tx.standard_errors)
    if not is_bg:
        ses = {**ses, "a": None, "b": None}
    if sp is not None:
        spend = {"p": sp.p, "q": sp.q, "gamma": sp.gamma, "log_likelihood": sp.log_likelihood,
                 "standard_errors": _finite_map(sp.standard_errors),
                 "frequency_value_correlation": _finite(sp.frequency_value_correlation),
                 "note": None}
    else:
        spend = {"p": None, "q": None, "gamma": None, "log_likelihood": None,
                 "standard_errors": {"p": None, "q": None, "gamma": None},
                 "frequency_value_correlation": None, "note": model.spend_note}
    return {
        "available": True,
        "family": model.family,
        "reason": model.reason,
        "p_alive_weight": model.dropout_weight,
        "customers": tx.n_customers,
        "repeat_customers": sp.n_customers if sp is not None else int(
            (scores.people.order_days > 1).sum()),
        "horizon_months": s.horizon_months,
        "margin": s.margin,
        "annual_discount_rate": s.annual_discount_rate,
        "interval_level": INTERVAL_LEVEL,
        "bgnbd": {"r": tx.r, "alpha": tx.alpha, "a": tx.a if is_bg else None,
                  "b": tx.b if is_bg else None,
                  "log_likelihood": tx.log_likelihood, "time_unit": tx.time_unit,
                  "standard_errors": ses},
        "gamma_gamma": spend,
    }


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _finite_map(values: dict[str, float]) -> dict[str, float | None]:
    """Standard errors for JSON: null where the information matrix gave none."""
    return {k: _finite(v) for k, v in values.items()}


def _money(value: float) -> Decimal:
    return Decimal(f"{value:.4f}")


def clv_by_group(scores: Scores, keys: NDArray[np.object_]) -> dict[str, Any]:
    """Customers, mean historic CLV and mean/total predicted CLV per group key."""
    buyers = scores.customers
    if not buyers.any():
        return {}
    names, inverse = np.unique(keys[buyers].astype(str), return_inverse=True)
    count = np.bincount(inverse, minlength=names.size)
    net = np.bincount(inverse, weights=scores.people.net[buyers] / SCALE, minlength=names.size)
    fitted = scores.model_available
    clv = np.bincount(inverse, weights=np.nan_to_num(scores.clv[buyers]), minlength=names.size)
    out = {}
    for k, name in enumerate(names):
        out[str(name)] = {
            "customers": int(count[k]),
            "historic_clv": _money(net[k] / count[k]),
            "predicted_clv": _money(clv[k] / count[k]) if fitted else None,
            "predicted_clv_total": _money(clv[k]) if fitted else None,
        }
    return out


def _notes(scores: Scores, repeat_rate: float | None) -> list[str]:
    n = int(scores.customers.sum())
    notes = []
    if isinstance(scores.model, FittedModel):
        model = scores.model
        spend = "Gamma-Gamma" if model.spend is not None else "average order values"
        if model.family == "bgnbd":
            notes.append(
                f"Predictive CLV and P(alive) come from BG/NBD + {spend} fitted on {n:,} "
                "customers; they are estimates, with the parameters' standard errors in "
                "clv_model and a 90 % interval per customer.")
        else:
            notes.append(
                f"Predictive CLV comes from the NBD model (no drop-out) + {spend} fitted on "
                f"{n:,} customers, with a 90 % interval per customer. {model.reason}")
        if model.spend_note:
            notes.append(model.spend_note)
    else:
        notes.append(
            f"No predictive CLV: {scores.model.reason} Lifecycle stages use each customer's "
            "own rhythm of ordering instead; the model switches on by itself once there are "
            f"at least {MIN_CUSTOMERS} customers with enough repeat buyers.")
    if 0 < n < SMALL_SHOP:
        spread = ""
        if repeat_rate is not None:
            half = 1.96 * math.sqrt(repeat_rate * (1 - repeat_rate) / n) * 100
            spread = f" (the repeat rate is known to about ±{half:.0f} percentage points)"
        notes.append(
            f"With {n:,} customers, rates and averages move a lot with each order{spread}; "
            "RFM segments, lifecycle stages, points, tiers and loyalty types describe exactly "
            "what happened and are reliable from the first order.")
    return notes


def score_report(scores: Scores, repeat_rate: float | None = None) -> dict[str, Any]:
    """The retention-score keys of the report (money as Decimal, like the rest of it)."""
    people = scores.people
    codes = np.where(people.first_code == None, NO_CODE, people.first_code)  # noqa: E711
    tier_names = list(scores.settings.tiers)
    edges = np.array([scores.settings.tiers[t] for t in tier_names], dtype=np.int64)
    tier_index = np.searchsorted(edges, scores.points.available, side="right") - 1
    return {
        "clv_model": model_section(scores),
        "segments": _counts(scores.segment, SEGMENTS),
        "lifecycle": _counts(scores.stage, STAGES),
        "tiers": _counts(tier_index, tuple(tier_names)),
        "loyalty_types": _counts(scores.loyalty_type, LOYALTY_TYPES),
        "clv_by_channel": clv_by_group(scores, people.channel),
        "clv_by_first_code": clv_by_group(scores, codes),
        "notes": _notes(scores, repeat_rate),
    }



def retention_report(session: Session, shop: Shop, as_of: datetime | None,
                     settings: RetentionSettings) -> dict[str, Any]:
    """The full report: the metrics of :func:`build_report` followed by the score section."""
    when = (as_of or now()).astimezone(UTC)
    tune_for_aggregates(session)
    history = order_history(session.connection(), shop, when, detail=True)
    data = build_report(session, shop, when, margin=settings.margin_decimal, history=history)
    people = load_person_arrays(session, shop, when, settings, history=history)
    section = score_report(compute_scores(people, settings), data["repeat_rate"])
    data["notes"] = [*data.get("notes", []), *section.pop("notes")]
    data.update(section)
    return data
