"""The customer list as a working tool and the safety of its exports: search, the CSV with every
column of ``stammkunde customers --format csv`` (formula-safe, shop time zone, filter in the
name), absurd page numbers, the win-back list paged through every target, localized numbers and
translated errors, sign-in texts."""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from stammkunde.app.dashboard.auth import make_login_token
from stammkunde.app.dashboard.export import cell, file_name, neutralise
from stammkunde.app.dashboard.forms import parse_number
from tests.app.dashboard.conftest import SECRET, csrf_token, login
from tests.factories import order

WHO = r'<td class="who" translate="no"><span class="mono">([^<]+)</span>'


def test_search_by_email_or_id(client: FlaskClient) -> None:
    html = client.get("/shops/till/customers?q=B@EXAMPLE").get_data(as_text=True)
    assert re.findall(WHO, html) == ["c2"]
    assert '<h2 id="list-title">Customers · matching “B@EXAMPLE”</h2>' in html
    assert "1 customer ·" in html  # singular
    assert re.findall(WHO, client.get("/shops/till/customers?q=c3").get_data(as_text=True)) == [
        "c3"]
    html = client.get("/shops/till/customers?q=%25").get_data(as_text=True)  # "%" is literal
    assert re.findall(WHO, html) == []
    assert "No customer matches “%”." in html


def test_card_title_names_the_filter(client: FlaskClient) -> None:
    html = client.get("/shops/till/customers?stage=new").get_data(as_text=True)
    assert '<h2 id="list-title">Customers · Stage: new</h2>' in html
    assert '<h2 id="list-title">All customers</h2>' in client.get(
        "/shops/till/customers").get_data(as_text=True)


@pytest.mark.parametrize("page", ["100000000000000000000", "10^20", "-5", "1e9", "9999999"])
def test_absurd_page_numbers_answer_the_last_page(client: FlaskClient, page: str) -> None:
    for path in ("customers", "win-back"):
        response = client.get(f"/shops/till/{path}?page={page}")
        assert response.status_code in (200, 302), (path, page)
        if response.status_code == 302:
            assert response.headers["Location"].endswith("page=1")


def test_csv_carries_every_column_of_the_cli(client: FlaskClient, app: Flask) -> None:
    from stammkunde.app.cli import cli

    ours = list(csv.reader(io.StringIO(
        client.get("/shops/till/customers.csv").get_data(as_text=True))))
    result = CliRunner().invoke(cli, ["customers", "till", "--as-of", "2024-06-30T23:59:59Z",
                                      "--format", "csv"], obj=app.extensions["stammkunde"])
    assert result.exit_code == 0, result.output
    theirs = list(csv.reader(io.StringIO(result.output)))
    assert ours[0] == theirs[0] and len(ours[0]) >= 22
    dates = {ours[0].index("first_order"), ours[0].index("last_order")}
    floats = {i for i, k in enumerate(ours[0])
              if k in ("days_since_last_order", "p_alive") or k.startswith("expected_purchases")}
    for mine, cli_row in zip(ours[1:], theirs[1:], strict=True):
        for i, (a, b) in enumerate(zip(mine, cli_row, strict=True)):
            if i in dates:
                assert a.replace("+00:00", "Z") == b
            elif i in floats and a:
                assert float(a) == pytest.approx(float(b), rel=1e-3, abs=1e-3)
            else:
                assert a == b, ours[0][i]


def test_csv_neutralises_formulas_and_uses_the_shop_time_zone(app: Flask, sessions) -> None:  # type: ignore[no-untyped-def]
    from stammkunde.core.shops import create_shop
    from stammkunde.core.store import store_records

    with sessions() as s, s.begin():
        shop = create_shop(s, "berlin", "csv", currency="EUR", timezone="Europe/Berlin")
        store_records(s, shop, [
            order("b1", "2024-01-10T23:30:00Z", "20.00", customer="=HYPERLINK(\"http://x\")",
                  email="@evil@example.com"),
            order("b2", "2024-06-10T22:30:00Z", "10.00", customer="+1", email="-x@example.com"),
        ])
    c = app.test_client()
    login(c, "berlin")
    text = c.get("/shops/berlin/customers.csv").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(text)))
    by_id = {r[0]: r for r in rows[1:]}
    assert set(by_id) == {"'=HYPERLINK(\"http://x\")", "'+1"}
    assert by_id["'+1"][1] == "'-x@example.com"
    assert by_id["'=HYPERLINK(\"http://x\")"][1] == "'@evil@example.com"
    # 23:30 UTC on 10 January is 00:30 on the 11th in Berlin (winter, +01:00); summer is +02:00.
    assert by_id["'=HYPERLINK(\"http://x\")"][4] == "2024-01-11T00:30:00+01:00"
    assert by_id["'+1"][4] == "2024-06-11T00:30:00+02:00"
    assert not any(v.startswith(("=", "+", "-", "@", "\t", "\r")) for r in rows for v in r)


def test_cells_and_file_names() -> None:
    from zoneinfo import ZoneInfo

    assert neutralise("=1+2") == "'=1+2" and neutralise("\tx") == "'\tx"
    assert neutralise("a=b") == "a=b"
    utc = ZoneInfo("UTC")
    assert cell(Decimal("-12.5"), utc) == "-12.50"  # numbers stay numbers
    assert cell(-3, utc) == "-3" and cell(0.999918, utc) == "0.999918"
    assert file_name("demo", {"segment": "can't lose"}, "") == (
        "demo-customers-segment-can_t_lose.csv")
    assert file_name("demo", {}, "a@b.de") == "demo-customers-search-a_b.de.csv"


def test_win_back_pages_through_every_target(app: Flask, sessions, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from stammkunde.app.dashboard import views
    from stammkunde.core import cache
    from stammkunde.core.shops import create_shop
    from stammkunde.core.store import store_records

    monkeypatch.setattr(cache, "WINBACK_CHUNK", 4)  # 11 targets in three stored chunks
    monkeypatch.setattr(views, "WINBACK_PAGE", 3)
    with sessions() as s, s.begin():
        shop = create_shop(s, "lapsed", "csv", currency="EUR", timezone="UTC")
        store_records(s, shop, [order(f"l{i}{j}", f"2023-0{j + 1}-0{i % 9 + 1}T00:00:00Z",
                                      f"{10 + i}.00", customer=f"k{i:02d}")
                                for i in range(11) for j in range(2)])
    c = app.test_client()
    login(c, "lapsed")
    seen = []
    for page in (1, 2, 3, 4):
        html = c.get(f"/shops/lapsed/win-back?page={page}").get_data(as_text=True)
        seen += re.findall(WHO, html)
        first, last = 3 * page - 2, min(3 * page, 11)
        assert f"11 customers qualify; this page shows numbers {first} to {last}." in html
    assert sorted(seen) == [f"k{i:02d}" for i in range(11)]
    last = c.get("/shops/lapsed/win-back?page=4").get_data(as_text=True)
    ranks = [int(r) for r in re.findall(r'<td class="num">(\d+)</td>\s*<td class="who"', last)]
    assert ranks == [10, 11]


@pytest.mark.parametrize(("text", "locale", "expected"), [
    ("0,5", "de", Decimal("0.5")), ("0.5", "de", Decimal("0.5")), ("1.000", "de", Decimal(1000)),
    ("0.5", "en", Decimal("0.5")), ("1,000", "en", Decimal(1000)), ("abc", "de", None),
    ("", "en", None),
])
def test_numbers_in_the_locales_way(text: str, locale: str, expected: Decimal | None) -> None:
    assert parse_number(text, locale) == expected


def test_german_settings_take_a_decimal_comma_and_explain_in_german(client: FlaskClient,
                                                                    sessions) -> None:  # type: ignore[no-untyped-def]
    from stammkunde.core.models import Shop

    client.get("/lang/de")
    page = client.get("/shops/till/settings").get_data(as_text=True)
    assert 'id="f-margin" name="margin" type="text" inputmode="decimal" value="0,3"' in page
    token = csrf_token(client, "/shops/till/settings")
    form = {"margin": "0,45", "annual_discount_rate": "0,1", "frequency_cap_days": "14",
            "tiers": "member: 0, loyal: 100", "points_spend": "0,5",
            "points_account_created": "50", "points_review": "25", "points_newsletter": "10",
            "points_referral": "100", "csrf_token": token}
    bad = client.post("/shops/till/settings", data={**form, "margin": "1,5",
                                                     "points_review": "x", "tiers": "gold"})
    text = bad.get_data(as_text=True)
    assert "Muss zwischen 0 und 1 liegen." in text
    assert "Bitte eine ganze Zahl eingeben." in text
    assert "Schreiben Sie jede Stufe als Name: Mindestpunkte, nicht „gold“." in text
    assert client.post("/shops/till/settings", data=form).status_code == 302
    with sessions() as s:
        stored = s.query(Shop).filter_by(name="till").one().settings["retention"]
    assert (stored["margin"], stored["points"]["spend"]) == (0.45, 0.5)


def test_sign_in_page_shows_the_real_lifetimes(app: Flask) -> None:
    from datetime import timedelta

    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(hours=8)
    html = app.test_client().get("/").get_data(as_text=True)
    assert "valid for 15 minutes (up to 7 days when made with --ttl)" in html
    assert "the session lasts 8 hours" in html
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(hours=2)
    c = app.test_client()
    c.get("/lang/de")
    html = c.get("/").get_data(as_text=True)
    assert "gilt 15 Minuten" in html and "dauert die Sitzung 2 Stunden" in html


def test_reusing_a_link_while_signed_in_explains(app: Flask) -> None:
    c = app.test_client()
    token = make_login_token(SECRET, "till")
    assert c.get(f"/login?token={token}").status_code == 302
    again = c.get(f"/login?token={token}")
    assert again.status_code == 302 and again.headers["Location"] == "/shops/till/"
    assert "You are already signed in to till." in c.get("/shops/till/").get_data(as_text=True)
    # Another shop's used link still refuses, in the merchant's language.
    other = make_login_token(SECRET, "other")
    fresh = app.test_client()
    fresh.get(f"/login?token={other}")
    stranger = app.test_client()
    stranger.get("/lang/de")
    refused = stranger.get(f"/login?token={other}")
    assert refused.status_code == 403
    assert "Dieser Anmeldelink wurde bereits benutzt" in refused.get_data(as_text=True)
