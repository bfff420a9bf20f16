"""Target kinds from the customer scores (:mod:`stammkunde.core.segments`).

- ``segment:NAME`` — an RFM segment (``champions``, ``at-risk``, ``cant-lose`` …; hyphens or
  spaces, apostrophes optional);
- ``lifecycle:STAGE`` — a lifecycle stage (``new``, ``repeat``, ``loyal``, ``at-risk``, ``lapsed``,
  ``lost``, ``prospect``);
- ``tier:NAME`` — a loyalty tier of the shop's settings (default ``member``, ``loyal``);
- ``points:N`` — at least N available loyalty points (the ledger: pending points do not count);
- ``winback[:N]`` — lapsed and lost customers ranked by expected value if won back, the top N.

Scores use the shop's retention settings (``stammkunde.toml`` in ``STAMMKUNDE_HOME``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from stammkunde.core.campaigns.targets import TargetKinds, positive_int
from stammkunde.core.config import Settings
from stammkunde.core.errors import UserError
from stammkunde.core.models import Shop
from stammkunde.core.segments import SEGMENTS, STAGES, Scores, score_customers, win_back_targets
from stammkunde.core.settings import RetentionSettings, shop_settings


def _key(name: str) -> str:
    return name.replace("'", "").replace(" ", "-").lower()


def retention_settings(shop: Shop) -> RetentionSettings:
    """Return the shop's retention settings: the configuration file, the dashboard's edits."""
    return shop_settings(Settings.from_env().home, shop.name,
                         (shop.settings or {}).get("retention"))


def _scores(session: Session, shop: Shop, as_of: datetime) -> Scores:
    return score_customers(session, shop, as_of, retention_settings(shop))


def _choice(kind: str, names: tuple[str, ...]) -> Any:
    keys = {_key(n): n for n in names}

    def parse(arg: str | None) -> str:
        key = _key(arg or "")
        if key not in keys:
            raise UserError(f"target {kind} needs one of {', '.join(sorted(keys))}"
                            + (f", not {arg!r}" if arg else ""))
        return keys[key]

    return parse


def _select_segment(session: Session, shop: Shop, name: str, as_of: datetime) -> Iterable[int]:
    s = _scores(session, shop, as_of)
    return s.people.person_id[s.segment == SEGMENTS.index(name)].tolist()


def _select_lifecycle(session: Session, shop: Shop, stage: str,
                      as_of: datetime) -> Iterable[int]:
    s = _scores(session, shop, as_of)
    return s.people.person_id[s.stage == STAGES.index(stage)].tolist()


def _parse_tier(arg: str | None) -> str:
    if not arg:
        raise UserError("target kind 'tier' needs a tier name, e.g. tier:loyal")
    return arg.strip().lower()


def _check_tier(shop: Shop, tier: str) -> None:
    tiers = retention_settings(shop).tiers
    if tier not in tiers:
        raise UserError(f"shop {shop.name!r} has no loyalty tier {tier!r} "
                        f"(tiers: {', '.join(tiers)})")


def _select_tier(session: Session, shop: Shop, tier: str, as_of: datetime) -> Iterable[int]:
    _check_tier(shop, tier)
    s = _scores(session, shop, as_of)
    return s.people.person_id[s.tier == tier].tolist()


def _select_points(session: Session, shop: Shop, points: int, as_of: datetime) -> Iterable[int]:
    s = _scores(session, shop, as_of)
    return s.people.person_id[s.points.available >= points].tolist()


def _select_winback(session: Session, shop: Shop, limit: int | None,
                    as_of: datetime) -> Iterable[int]:
    s = _scores(session, shop, as_of)
    person_of = dict(zip(s.people.customer_id.tolist(), s.people.person_id.tolist(),
                         strict=True))
    return [person_of[row["customer_id"]] for row in win_back_targets(s, limit)]


def add_score_kinds(kinds: TargetKinds) -> None:
    """Register the kinds that select by score: segment, lifecycle, tier, points, winback."""
    kinds.register(
        "segment", _select_segment, parse_arg=_choice("segment", SEGMENTS), usage="segment:NAME",
        description="an RFM segment (champions, loyal, at-risk, cant-lose, hibernating, …)",
    )
    kinds.register(
        "lifecycle", _select_lifecycle, parse_arg=_choice("lifecycle", STAGES),
        usage="lifecycle:STAGE",
        description="a lifecycle stage (new, repeat, loyal, at-risk, lapsed, lost, prospect)",
    )
    kinds.register(
        "tier", _select_tier, parse_arg=_parse_tier, check=_check_tier, usage="tier:NAME",
        description="a loyalty tier from the shop's settings (default tiers: member, loyal)",
    )
    kinds.register(
        "points", _select_points, parse_arg=positive_int("points", "a number of points"),
        usage="points:N", description="customers with at least N available loyalty points",
    )
    kinds.register(
        "winback", _select_winback, parse_arg=positive_int("winback", "a number", optional=True),
        usage="winback[:N]",
        description="lapsed and lost customers, the N with the highest expected win-back value",
    )
