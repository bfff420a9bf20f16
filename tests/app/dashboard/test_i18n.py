"""German and English: choosing the language, Babel formats, the shipped catalog."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient

from stammkunde.app.dashboard.i18n import money, money_short, number, percent, pick_language
from tests.app.dashboard.conftest import login

CATALOG = Path(__file__).resolve().parents[3] / "app" / "translations" / "de" / "LC_MESSAGES"


@pytest.mark.parametrize(("locale", "expected"), [("de", "1.234,50\xa0€"), ("en", "€1,234.50")])
def test_money_per_locale(locale: str, expected: str) -> None:
    assert money(Decimal("1234.5"), "EUR", locale) == expected


def test_money_rounds_half_up_and_knows_other_currencies() -> None:
    assert money(Decimal("0.125"), "EUR", "en") == "€0.13"
    assert money("1234567.891", "USD", "de") == "1.234.567,89\xa0$"
    assert money(Decimal("-12.5"), "CHF", "en") == "-CHF12.50"
    assert money(None, "EUR", "de") == "–"
    assert money_short(Decimal("1234.5"), "EUR", "de") == "1.235\xa0€"
    assert money_short(Decimal("1234.5"), "EUR", "en") == "€1,235"


def test_numbers_and_percentages_per_locale() -> None:
    assert number(1234.567, 1, "de") == "1.234,6"
    assert number(1234.567, 1, "en") == "1,234.6"
    assert number(3, 0, "de") == "3"
    assert percent(0.2345, 1, "de") == "23,4\xa0%"
    assert percent(0.2345, 1, "en") == "23.4%"
    assert percent(None) == "–"


@pytest.mark.parametrize(("choice", "shop", "accept", "expected"), [
    ("de", "en_US", [("en", 1.0)], "de"),  # the merchant's switch wins
    (None, "de_DE", [("en", 1.0)], "de"),  # then the shop's locale
    (None, "de-AT", [], "de"),
    (None, "fr_FR", [("fr", 1.0), ("de", 0.8), ("en", 0.5)], "de"),  # then the browser's
    (None, None, [("en-GB", 1.0)], "en"),
    (None, None, [("fr", 1.0)], "en"),  # default
    ("xx", None, [("de", 1.0)], "de"),
])
def test_pick_language(choice: str | None, shop: str | None,
                       accept: list[tuple[str, float]], expected: str) -> None:
    assert pick_language(choice, shop, accept) == expected


def test_shop_locale_then_switch(app: Flask) -> None:
    c = app.test_client()
    login(c, "other")  # shop "other" has locale de_DE
    assert "Übersicht" in c.get("/shops/other/").get_data(as_text=True)
    c.get("/lang/en")
    html = c.get("/shops/other/").get_data(as_text=True)
    assert "Overview" in html and "Übersicht" not in html
    assert "€10.00" in c.get("/shops/other/customers").get_data(as_text=True)


def test_browser_language_when_the_shop_has_none(client: FlaskClient) -> None:
    html = client.get("/shops/till/", headers={"Accept-Language": "de-DE,de;q=0.9"}).get_data(
        as_text=True)
    assert "Wiederkaufrate" in html


def test_dates_in_the_shops_time_zone(client: FlaskClient) -> None:
    client.get("/lang/de")
    html = client.get("/shops/till/customers").get_data(as_text=True)
    assert "20.05.2024" in html  # o4, 10:00 UTC


def _plain(value: str | tuple[str, ...] | list[str]) -> str | tuple[str, ...]:
    return value if isinstance(value, str) else tuple(value)  # plural forms


def test_compiled_catalog_matches_the_po_file() -> None:
    with (CATALOG / "messages.po").open("rb") as f:
        po = {_plain(m.id): _plain(m.string) for m in read_po(f) if m.id}
    with (CATALOG / "messages.mo").open("rb") as f:
        mo = {_plain(m.id): _plain(m.string) for m in read_mo(f) if m.id}
    assert po == mo, "run: pybabel compile -d app/translations -D messages"
    assert all(v if isinstance(v, str) else all(v) for v in po.values()), [
        k for k, v in po.items() if not (v if isinstance(v, str) else all(v))]


def test_every_message_in_the_code_is_translated() -> None:
    from babel.messages.extract import extract_from_dir

    root = Path(__file__).resolve().parents[3] / "app"
    method_map = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
    found = {msg[2] if isinstance(msg[2], str) else msg[2][0]
             for msg in extract_from_dir(str(root), method_map,
                                         keywords={"_": None, "gettext": None,
                                                   "lazy_gettext": None, "ngettext": (1, 2)})}
    with (CATALOG / "messages.po").open("rb") as f:
        translated = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(f)
                      if m.id and m.string and (isinstance(m.string, str) or all(m.string))}
    assert sorted(found - translated) == []

