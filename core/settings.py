"""Retention settings: margin, points, tiers, thresholds, and where each value comes from.

A shop's settings are resolved in one place, :func:`retention_for`, which every surface calls
(CLI report, customers and win-back, the dashboard's cached numbers, ``refresh``, background jobs,
campaign targets). Four layers, each overriding the one before, key by key:

1. ``default``: the defaults of :class:`RetentionSettings`;
2. ``file``: the top level of ``$STAMMKUNDE_HOME/stammkunde.toml``;
3. ``shop_file``: the file's ``[shops.<name>]`` table;
4. ``saved``: the values a merchant saved in the dashboard (``shop.settings["retention"]``).

Every key is optional; a missing file means the defaults. Tables such as ``points`` are merged key
by key; ``tiers`` is replaced as a whole. Mistakes (unknown keys, wrong types, negative weights,
thresholds out of order, tiers not ascending) raise one-line :class:`UserError` naming the key.
README "Configuration file" documents every key.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stammkunde.core.errors import UserError

if TYPE_CHECKING:
    from stammkunde.core.models import Shop

FILE_NAME = "stammkunde.toml"


def _default_points() -> dict[str, Decimal]:
    return {"spend": Decimal(1), "account_created": Decimal(50), "review": Decimal(25),
            "newsletter": Decimal(10), "referral": Decimal(100)}


def _default_tiers() -> dict[str, int]:
    return {"member": 0, "loyal": 100}


@dataclass(frozen=True)
class LifecycleSettings:
    """Thresholds of the lifecycle stages (README "Lifecycle stages")."""

    loyal_orders: int = 4
    at_risk_ratio: float = 1.5
    lapsed_ratio: float = 2.5
    lost_ratio: float = 4.0
    at_risk_p_alive: float = 0.5
    lapsed_p_alive: float = 0.25
    lost_p_alive: float = 0.1
    min_expected_gap_days: float = 7.0
    default_gap_days: float = 90.0


@dataclass(frozen=True)
class LoyaltyTypeSettings:
    """Proxies of the loyalty types (README "Loyalty types")."""

    repeat_orders: int = 2
    engagement_events: int = 1
    full_price_share: float = 0.8


@dataclass(frozen=True)
class WinbackSettings:
    """Win-back targeting: incentive budget and the heuristic used without the model."""

    incentive_share: float = 0.5
    base_rate: float = 0.2


@dataclass(frozen=True)
class RetentionSettings:
    """Every retention setting, with the documented defaults."""

    margin: float = 0.30
    annual_discount_rate: float = 0.10
    horizon_months: int = 12
    return_window_days: int = 30
    frequency_cap_days: int = 14
    points: dict[str, Decimal] = field(default_factory=_default_points)
    tiers: dict[str, int] = field(default_factory=_default_tiers)
    lifecycle: LifecycleSettings = field(default_factory=LifecycleSettings)
    loyalty_types: LoyaltyTypeSettings = field(default_factory=LoyaltyTypeSettings)
    winback: WinbackSettings = field(default_factory=WinbackSettings)

    @property
    def margin_decimal(self) -> Decimal:
        """The margin as a Decimal, for money arithmetic."""
        return Decimal(str(self.margin))


_SECTIONS = {"lifecycle": LifecycleSettings, "loyalty_types": LoyaltyTypeSettings,
             "winback": WinbackSettings}
_SCALARS = {f.name for f in fields(RetentionSettings)} - set(_SECTIONS) - {"points", "tiers"}


def _number(key: str, value: Any, kind: type) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UserError(f"{FILE_NAME}: {key} must be a number, not {value!r}")
    if kind is int:
        if not isinstance(value, int):
            raise UserError(f"{FILE_NAME}: {key} must be a whole number, not {value!r}")
        return value
    return float(value)


def _check_range(key: str, value: float, low: float, high: float | None = None) -> None:
    if value < low or (high is not None and value > high):
        bounds = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
        raise UserError(f"{FILE_NAME}: {key} must be {bounds}, not {value:g}")


def _section(name: str, cls: type, data: Any, base: Any) -> Any:
    if not isinstance(data, dict):
        raise UserError(f"{FILE_NAME}: [{name}] must be a table")
    known = {f.name: f for f in fields(cls)}
    values = {}
    for key, value in data.items():
        if key not in known:
            raise UserError(f"{FILE_NAME}: unknown key {name}.{key}")
        kind = int if known[key].type in (int, "int") else float
        values[key] = _number(f"{name}.{key}", value, kind)
    return replace(base, **values)


def _points(data: Any, base: dict[str, Decimal]) -> dict[str, Decimal]:
    if not isinstance(data, dict):
        raise UserError(f"{FILE_NAME}: [points] must be a table of activity = points")
    out = dict(base)
    for kind, value in data.items():
        number = _number(f"points.{kind}", value, float)
        if number < 0:
            raise UserError(f"{FILE_NAME}: points.{kind} must not be negative ({value})")
        if kind != "spend" and number != int(number):
            raise UserError(f"{FILE_NAME}: points.{kind} must be a whole number of points "
                            f"(only points.spend, per currency unit, may be a fraction)")
        out[kind.strip().lower()] = Decimal(str(value))
    return out


def _tiers(data: Any) -> dict[str, int]:
    if not isinstance(data, dict) or not data:
        raise UserError(f"{FILE_NAME}: [tiers] must be a table of tier name = minimum points")
    out: dict[str, int] = {}
    previous: tuple[str, int] | None = None
    for name, value in data.items():
        points = _number(f"tiers.{name}", value, int)
        if points < 0:
            raise UserError(f"{FILE_NAME}: tiers.{name} must not be negative ({points})")
        if previous is not None and points <= previous[1]:
            raise UserError(f"{FILE_NAME}: tiers.{name} ({points}) must be above "
                            f"tiers.{previous[0]} ({previous[1]}): list tiers in ascending order")
        out[name] = points
        previous = (name, points)
    return out


def _ascending(section: str, obj: Any, keys: tuple[str, ...]) -> None:
    """Refuse thresholds out of order, naming the first key that breaks it."""
    for low, high in pairwise(keys):
        if not getattr(obj, low) < getattr(obj, high):
            raise UserError(f"{FILE_NAME}: {section}.{high} ({getattr(obj, high):g}) must be "
                            f"above {section}.{low} ({getattr(obj, low):g}): thresholds out "
                            "of order")


def _validate(s: RetentionSettings, p: str = "") -> None:
    _check_range(p + "margin", s.margin, 0.0, 1.0)
    _check_range(p + "annual_discount_rate", s.annual_discount_rate, 0.0, 10.0)
    _check_range(p + "horizon_months", s.horizon_months, 1)
    _check_range(p + "return_window_days", s.return_window_days, 0)
    _check_range(p + "frequency_cap_days", s.frequency_cap_days, 0)
    lc = s.lifecycle
    _check_range(p + "lifecycle.loyal_orders", lc.loyal_orders, 2)
    _check_range(p + "lifecycle.at_risk_ratio", lc.at_risk_ratio, 1.0)
    _ascending(p + "lifecycle", lc, ("at_risk_ratio", "lapsed_ratio", "lost_ratio"))
    for key in ("at_risk_p_alive", "lapsed_p_alive", "lost_p_alive"):
        _check_range(p + f"lifecycle.{key}", getattr(lc, key), 0.0, 1.0)
    _ascending(p + "lifecycle", lc, ("lost_p_alive", "lapsed_p_alive", "at_risk_p_alive"))
    _check_range(p + "lifecycle.min_expected_gap_days", lc.min_expected_gap_days, 0.0)
    if lc.default_gap_days <= 0:
        raise UserError(f"{FILE_NAME}: {p}lifecycle.default_gap_days must be positive")
    lt = s.loyalty_types
    _check_range(p + "loyalty_types.repeat_orders", lt.repeat_orders, 1)
    _check_range(p + "loyalty_types.engagement_events", lt.engagement_events, 1)
    _check_range(p + "loyalty_types.full_price_share", lt.full_price_share, 0.0, 1.0)
    _check_range(p + "winback.incentive_share", s.winback.incentive_share, 0.0, 1.0)
    _check_range(p + "winback.base_rate", s.winback.base_rate, 0.0, 1.0)


def _apply(base: RetentionSettings, data: dict[str, Any], prefix: str = "") -> RetentionSettings:
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key in _SECTIONS:
            values[key] = _section(prefix + key, _SECTIONS[key], value, getattr(base, key))
        elif key == "points":
            values[key] = _points(value, base.points)
        elif key == "tiers":
            values[key] = _tiers(value)
        elif key in _SCALARS:
            kind = int if key in ("horizon_months", "return_window_days",
                                  "frequency_cap_days") else float
            values[key] = _number(prefix + key, value, kind)
        else:
            raise UserError(f"{FILE_NAME}: unknown key {prefix}{key}")
    return replace(base, **values)


def parse_settings(data: dict[str, Any], shop: str | None = None) -> RetentionSettings:
    """Build validated settings from parsed TOML, with ``[shops.<shop>]`` overrides applied."""
    data = dict(data)
    data.pop("email", None)  # the e-mail channel's table, read by stammkunde.plugins.email
    shops = data.pop("shops", {})
    if not isinstance(shops, dict):
        raise UserError(f"{FILE_NAME}: [shops] must hold one table per shop")
    settings = _apply(RetentionSettings(), data)
    _validate(settings)
    chosen = settings
    for name, table in shops.items():
        if not isinstance(table, dict):
            raise UserError(f"{FILE_NAME}: [shops.{name}] must be a table")
        if "shops" in table:
            raise UserError(f"{FILE_NAME}: unknown key shops.{name}.shops")
        prefix = f"shops.{name}."
        shop_settings = _apply(settings, table, prefix)
        _validate(shop_settings, prefix)
        if name == shop:
            chosen = shop_settings
    return chosen


def read_file(home: Path) -> dict[str, Any]:
    """Return the parsed ``home/stammkunde.toml`` (empty when there is none)."""
    path = home / FILE_NAME
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{FILE_NAME} is not valid TOML: {exc}") from exc


def load_settings(home: Path, shop: str | None = None) -> RetentionSettings:
    """Read ``home/stammkunde.toml`` (defaults when absent) for a shop, without saved values."""
    return parse_settings(read_file(home), shop)


#: Where a setting's value comes from, weakest first.
SOURCES = ("default", "file", "shop_file", "saved")


def _set_keys(data: Mapping[str, Any]) -> set[str]:
    """Return the dotted keys a settings table sets (``margin``, ``points.review``, ``tiers``)."""
    keys = set()
    for key, value in data.items():
        if (key in _SECTIONS or key == "points") and isinstance(value, Mapping):
            keys.update(f"{key}.{sub.strip().lower() if key == 'points' else sub}"
                        for sub in value)
        elif key != "shops":
            keys.add(key)
    return keys


def setting_keys(settings: RetentionSettings) -> list[str]:
    """Return every dotted key of a settings object, in the README's order."""
    keys = []
    for f in fields(RetentionSettings):
        if f.name in _SECTIONS:
            keys.extend(f"{f.name}.{sub.name}" for sub in fields(_SECTIONS[f.name]))
        elif f.name == "points":
            keys.extend(f"points.{kind}" for kind in settings.points)
        else:
            keys.append(f.name)
    return keys


@dataclass(frozen=True)
class Resolved:
    """A shop's effective settings, what it would be without saved values, and each key's source.

    ``inherited`` is defaults < file < ``[shops.<name>]``: what a setting returns to when the
    merchant's saved value is removed. ``sources`` maps every dotted key to one of
    :data:`SOURCES`.
    """

    settings: RetentionSettings
    inherited: RetentionSettings
    sources: dict[str, str]
    saved: dict[str, Any]


def resolve_settings(home: Path, shop_name: str,
                     saved: Mapping[str, Any] | None = None) -> Resolved:
    """Resolve a shop's settings: defaults < file < the file's ``[shops.<name>]`` < saved."""
    data = read_file(home)
    inherited = parse_settings(data, shop_name)
    settings = inherited
    saved = dict(saved or {})
    if saved:
        try:
            settings = _apply(inherited, saved)
            _validate(settings)
        except UserError as exc:
            text = str(exc).removeprefix(f"{FILE_NAME}: ")
            raise UserError(f"settings saved for shop {shop_name!r}: {text}") from None
    layers = {"file": data, "shop_file": {}, "saved": saved}
    shops = data.get("shops")
    if isinstance(shops, Mapping) and isinstance(shops.get(shop_name), Mapping):
        layers["shop_file"] = shops[shop_name]
    sources = dict.fromkeys(setting_keys(settings), "default")
    for source, table in layers.items():
        for key in _set_keys(table) & sources.keys():
            sources[key] = source
    return Resolved(settings, inherited, sources, saved)


def _home_of(shop: Shop) -> Path:
    from sqlalchemy.orm import object_session

    from stammkunde.core.config import Settings

    session = object_session(shop)
    home = session.info.get("home") if session is not None else None
    return Path(home) if home is not None else Settings.from_env().home


def resolve_for(shop: Shop, home: Path | None = None) -> Resolved:
    """Resolve a stored shop's settings with their sources (see :func:`resolve_settings`).

    ``home`` defaults to the folder the shop's session was opened for (``session.info["home"]``,
    set by the application's session factory), else ``STAMMKUNDE_HOME``.
    """
    saved = (shop.settings or {}).get("retention") if isinstance(shop.settings, dict) else None
    return resolve_settings(home or _home_of(shop), shop.name, saved)


def retention_for(shop: Shop, home: Path | None = None) -> RetentionSettings:
    """Return a shop's effective retention settings: the one resolution every surface uses."""
    return resolve_for(shop, home).settings
