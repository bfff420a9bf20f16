"""The configuration file: defaults, overrides per shop, and one-line errors naming the key."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from stammkunde.core.errors import UserError
from stammkunde.core.settings import RetentionSettings, load_settings


def write(home: Path, text: str) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    (home / "stammkunde.toml").write_text(text, encoding="utf-8")
    return home


def test_no_file_means_the_documented_defaults(tmp_path: Path) -> None:
    s = load_settings(tmp_path)
    assert s == RetentionSettings()
    assert (s.margin, s.annual_discount_rate, s.horizon_months) == (0.30, 0.10, 12)
    assert (s.return_window_days, s.frequency_cap_days) == (30, 14)
    assert s.points == {"spend": 1, "account_created": 50, "review": 25, "newsletter": 10,
                        "referral": 100}
    assert s.tiers == {"member": 0, "loyal": 100}
    assert (s.lifecycle.at_risk_ratio, s.lifecycle.lapsed_ratio, s.lifecycle.lost_ratio) == (
        1.5, 2.5, 4.0)
    assert s.winback.incentive_share == 0.5


def test_file_values_and_shop_overrides(tmp_path: Path) -> None:
    home = write(tmp_path, """
margin = 0.4
return_window_days = 14
[points]
spend = 0.5
birthday = 5
[tiers]
bronze = 0
silver = 200
gold = 1000
[lifecycle]
lost_ratio = 5
[shops.till]
margin = 0.25
[shops.till.points]
review = 40
""")
    s = load_settings(home)
    assert s.margin == 0.4 and s.margin_decimal == Decimal("0.4")
    assert s.return_window_days == 14
    assert s.points["spend"] == Decimal("0.5") and s.points["birthday"] == 5
    assert s.points["review"] == 25  # untouched defaults stay
    assert list(s.tiers.items()) == [("bronze", 0), ("silver", 200), ("gold", 1000)]
    assert s.lifecycle.lost_ratio == 5.0 and s.lifecycle.lapsed_ratio == 2.5
    till = load_settings(home, "till")
    assert till.margin == 0.25 and till.points["review"] == 40 and till.points["birthday"] == 5
    assert till.return_window_days == 14
    assert load_settings(home, "other").margin == 0.4


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("margins = 0.3", "stammkunde.toml: unknown key margins"),
        ("[lifecycle]\nlost_days = 3", "stammkunde.toml: unknown key lifecycle.lost_days"),
        ("[points]\nreview = -5",
         "stammkunde.toml: points.review must not be negative (-5)"),
        ("[points]\nreview = 2.5",
         "stammkunde.toml: points.review must be a whole number of points (only points.spend, "
         "per currency unit, may be a fraction)"),
        ("[lifecycle]\nlapsed_ratio = 5",
         "stammkunde.toml: lifecycle.lost_ratio (4) must be above lifecycle.lapsed_ratio (5): "
         "thresholds out of order"),
        ("[lifecycle]\nlapsed_p_alive = 0.6",
         "stammkunde.toml: lifecycle.at_risk_p_alive (0.5) must be above "
         "lifecycle.lapsed_p_alive (0.6): thresholds out of order"),
        ("[tiers]\nloyal = 100\nmember = 0",
         "stammkunde.toml: tiers.member (0) must be above tiers.loyal (100): list tiers in "
         "ascending order"),
        ("margin = 1.5", "stammkunde.toml: margin must be between 0 and 1, not 1.5"),
        ("horizon_months = 'a year'",
         "stammkunde.toml: horizon_months must be a number, not 'a year'"),
        ("return_window_days = 7.5",
         "stammkunde.toml: return_window_days must be a whole number, not 7.5"),
        ("[shops.till]\nmargin = -1", "stammkunde.toml: shops.till.margin must be between 0 "
         "and 1, not -1"),
        ("[shops.till.winback]\nshare = 1",
         "stammkunde.toml: unknown key shops.till.winback.share"),
        ("margin = ", "stammkunde.toml is not valid TOML"),
    ],
)
def test_bad_configuration_is_one_line_naming_the_key(tmp_path: Path, text: str,
                                                      message: str) -> None:
    with pytest.raises(UserError) as err:
        load_settings(write(tmp_path, text), "till")
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_resolution_layers_and_sources(tmp_path: Path) -> None:
    from stammkunde.core.settings import resolve_settings

    home = write(tmp_path, """
margin = 0.5
[points]
spend = 2
[shops.till]
frequency_cap_days = 30
[shops.till.points]
review = 40
[shops.till.lifecycle]
lost_ratio = 6
""")
    saved = {"margin": 0.4, "points": {"newsletter": 15}, "tiers": {"member": 0, "gold": 900}}
    r = resolve_settings(home, "till", saved)
    s = r.settings
    assert (s.margin, s.frequency_cap_days, s.annual_discount_rate) == (0.4, 30, 0.10)
    assert {k: int(v) for k, v in s.points.items()} == {
        "spend": 2, "account_created": 50, "review": 40, "newsletter": 15, "referral": 100}
    assert s.tiers == {"member": 0, "gold": 900} and s.lifecycle.lost_ratio == 6.0
    assert (r.inherited.margin, r.inherited.points["newsletter"], r.inherited.tiers) == (
        0.5, 10, {"member": 0, "loyal": 100})
    assert {k: v for k, v in r.sources.items() if v != "default"} == {
        "margin": "saved", "points.spend": "file", "frequency_cap_days": "shop_file",
        "points.review": "shop_file", "lifecycle.lost_ratio": "shop_file",
        "points.newsletter": "saved", "tiers": "saved"}
    # Another shop sees the file's top level only.
    other = resolve_settings(home, "other")
    assert (other.settings.margin, other.sources["frequency_cap_days"]) == (0.5, "default")


def test_bad_saved_settings_name_the_shop(tmp_path: Path) -> None:
    from stammkunde.core.settings import resolve_settings

    with pytest.raises(UserError) as err:
        resolve_settings(tmp_path, "till", {"margin": 2})
    assert str(err.value) == "settings saved for shop 'till': margin must be between 0 and 1, not 2"
