"""The pages with the hand-checked shop: KPI tiles and their changes, cohorts, channels,
customer list (sort, pages, CSV), settings validation, job progress JSON.

Shop "till" as of 2024-06-30 (previous period: as of 2024-04-01, 90 days earlier):

============================  ====================================  ====================
KPI                            now (o1–o5)                           before (o1–o3)
============================  ====================================  ====================
customers                      3                                     2
net revenue                    100 + 30 + 40 + 1234.50 + 60 = 1464.50  170.00
repeat rate                    2/3 = 66.7 %                          1/2 = 50 %
orders per customer            5/3 = 1.67                            3/2 = 1.50
days between (median)          gaps 30 and 92 → 61.0                 30.0
AOV                            1464.50 / 5 = 292.90                  170 / 3 = 56.67
historic CLV (mean)            1464.50 / 3 = 488.17                  85.00
formula CLV (margin 0.30)      292.90 × 5/3 × 3 years × 0.3 = 439.35  56.67 × 1.5 × 2 × 0.3 = 51.00
returning revenue share        (30 + 60) / 1464.50 = 6.1 %           30 / 170 = 17.6 %
============================  ====================================  ====================
"""

from __future__ import annotations

import csv
import io
import re

from flask.testing import FlaskClient

from stammkunde.core.job_models import Job, JobState
from tests.app.dashboard.conftest import csrf_token

WHO = r'<td class="who" translate="no"><span class="mono">([^<]+)</span>'


def _tiles(html: str) -> dict[str, tuple[str, str]]:
    out = {}
    for key, value, change in re.findall(
            r'id="kpi-([a-z_]+)".*?class="tile-value">([^<]*)<.*?class="tile-change ([a-z]+)"',
            html, re.S):
        out[key] = (value, change)
    return out


def _changes(html: str) -> dict[str, str]:
    found = re.findall(r'id="kpi-([a-z_]+)".*?class="arrow"[^>]*>[^<]*</span> ([^<]*?)\s*</div>',
                       html, re.S)
    return dict(found)


def test_overview_tiles_show_values_and_changes(client: FlaskClient) -> None:
    html = client.get("/shops/till/").get_data(as_text=True)
    tiles = _tiles(html)
    assert {k: v for k, (v, _) in tiles.items()} == {
        "customers": "3",
        "net_revenue": "€1,464.50",
        "repeat_rate": "66.7%",
        "orders_per_customer": "1.67",
        "days_between_orders": "61.0 days",
        "aov": "€292.90",
        "historic_clv": "€488.17",
        "formula_clv": "€439.35",
        "returning_revenue_share": "6.1%",
    }
    assert _changes(html) == {
        "customers": "+50.0%",
        "net_revenue": "+761.5%",
        "repeat_rate": "+16.7 pp",
        "orders_per_customer": "+11.1%",
        "days_between_orders": "+103.3%",
        "aov": "+416.9%",
        "historic_clv": "+474.3%",
        "formula_clv": "+761.5%",
        "returning_revenue_share": "−11.5 pp",
    }
    # Longer gaps between orders are bad news; a smaller returning share too.
    assert tiles["days_between_orders"][1] == "bad"
    assert tiles["returning_revenue_share"][1] == "bad"
    assert tiles["aov"][1] == "good"


def test_overview_in_german(client: FlaskClient) -> None:
    client.get("/lang/de")
    html = client.get("/shops/till/").get_data(as_text=True)
    tiles = {k: v for k, (v, _) in _tiles(html).items()}
    assert tiles["net_revenue"] == "1.464,50\xa0€"
    assert tiles["repeat_rate"] == "66,7\xa0%"
    assert tiles["days_between_orders"] == "61,0 Tage"
    assert _changes(html)["repeat_rate"] == "+16,7 Pp."
    assert "Wiederkaufrate" in html and '<html lang="de">' in html


def test_cohort_heatmap_and_channel_chart(client: FlaskClient) -> None:
    html = client.get("/shops/till/").get_data(as_text=True)
    # January cohort (c1): ordered again in month 1 (February) only: 100 % in M1.
    row = re.search(r"<th>2024-01</th>(.*?)</tr>", html, re.S).group(1)  # type: ignore[union-attr]
    cells = re.findall(r"<td class=\"num([^\"]*)\">([^<]*)</td>", row)
    assert cells[0] == ("", "1")
    assert cells[1] == (" h10", "100%")
    assert cells[2] == (" h0", "0%")
    # March cohort (c2) ordered again in June: month 3.
    row = re.search(r"<th>2024-03</th>(.*?)</tr>", html, re.S).group(1)  # type: ignore[union-attr]
    assert [t for _, t in re.findall(r"<td class=\"num([^\"]*)\">([^<]*)</td>", row)][1:5] == [
        "0%", "0%", "100%", ""]
    # Channel of the first order, highest mean CLV first: app (c3) 1,234.50; online (c1 130 and
    # c2 100) 115; c1's second order came through the till but c1 counts for online.
    svg = html.split('<svg class="chart"', 1)[1].split("</svg>", 1)[0]
    labels = re.findall(r'class="chart-label"[^>]*>([^<]+)<', svg)
    assert labels == ["app", "online"]
    assert re.findall(r'class="chart-value"[^>]*>([^<]+)<', svg) == ["€1,235 ", "€115 "]
    notes = re.findall(r'class="chart-note">([^<]+)<', svg)
    assert notes == ["1 customer", "2 customers"]  # singular and plural
    # The chart is named with every bar's value for screen readers.
    assert ('aria-label="Historic CLV by acquisition channel: app: €1,235 (1 customer); '
            'online: €115 (2 customers)"') in svg


def test_customer_list_sorts_and_pages(client: FlaskClient) -> None:
    html = client.get("/shops/till/customers").get_data(as_text=True)
    assert re.findall(WHO, html) == ["c3", "c1", "c2"]
    assert "€1,234.50" in html
    html = client.get("/shops/till/customers?sort=last_order&dir=asc").get_data(as_text=True)
    assert re.findall(WHO, html) == ["c1", "c3", "c2"]
    client.get("/lang/de")
    html = client.get("/shops/till/customers").get_data(as_text=True)
    assert "1.234,50\xa0€" in html
    assert "Seite 1 von 1" in html
    assert client.get("/shops/till/customers?page=9").headers["Location"].endswith("page=1")


def test_customer_list_pages_through_many(client: FlaskClient, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from stammkunde.app.dashboard import views

    monkeypatch.setattr(views, "PER_PAGE", 2)
    first = client.get("/shops/till/customers?sort=orders&dir=desc").get_data(as_text=True)
    second = client.get("/shops/till/customers?sort=orders&dir=desc&page=2").get_data(as_text=True)
    # orders: c1 2, c2 2, c3 1; ties by person, newest person first.
    assert re.findall(WHO, first) == ["c2", "c1"]
    assert re.findall(WHO, second) == ["c3"]
    assert 'rel="next"' in first and 'rel="prev"' in second


def test_customer_csv_download(client: FlaskClient) -> None:
    from stammkunde.core.segments import CUSTOMER_FIELDS

    response = client.get("/shops/till/customers.csv")
    assert response.mimetype == "text/csv"
    assert 'filename="till-customers.csv"' in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == list(CUSTOMER_FIELDS)
    assert [[*r[:6], r[7]] for r in rows] == [
        ["customer_id", "email", "orders", "net_revenue", "first_order", "last_order",
         "first_channel"],
        ["c3", "c@example.com", "1", "1234.50", "2024-05-20T10:00:00+00:00",
         "2024-05-20T10:00:00+00:00", "app"],
        ["c1", "a@example.com", "2", "130.00", "2024-01-10T10:00:00+00:00",
         "2024-02-09T10:00:00+00:00", "online"],
        ["c2", "b@example.com", "2", "100.00", "2024-03-01T10:00:00+00:00",
         "2024-06-01T10:00:00+00:00", "online"],
    ]
    # three customers: too few for the predictive model, so its columns are empty
    model = [rows[0].index(k) for k in (
        "expected_purchases", "expected_purchases_low", "expected_purchases_high",
        "predicted_clv", "predicted_clv_low", "predicted_clv_high")]
    assert {tuple(r[i] for i in model) for r in rows[1:]} == {("",) * 6}
    # c3 and c2 ordered within the last 45 days; c1 last ordered in February.
    column = rows[0].index("lifecycle")
    stages = {r[0]: r[column] for r in rows[1:]}
    assert set(stages.values()) <= {"new", "repeat", "loyal", "at risk", "lapsed", "lost"}
    assert stages["c3"] == "new"
    response = client.get("/shops/till/customers.csv?stage=new")
    assert 'filename="till-customers-stage-new.csv"' in response.headers["Content-Disposition"]
    assert [r[0] for r in csv.reader(io.StringIO(response.get_data(as_text=True)))][1:] == [
        k for k, v in stages.items() if v == "new"]


def _settings_form(**changes: str) -> dict[str, str]:
    form = {"margin": "0.4", "annual_discount_rate": "0.08", "frequency_cap_days": "21",
            "tiers": "member: 0, loyal: 100, gold: 500", "points_spend": "0.5",
            "points_account_created": "50", "points_review": "25", "points_newsletter": "10",
            "points_referral": "100"}
    return {**form, **changes}


def test_settings_are_validated_and_stored(client: FlaskClient, sessions) -> None:  # type: ignore[no-untyped-def]
    from stammkunde.core.models import Shop

    token = csrf_token(client, "/shops/till/settings")
    bad = client.post("/shops/till/settings", data={**_settings_form(
        margin="1.5", tiers="gold: 500, member: 0"), "csrf_token": token})
    assert bad.status_code == 400
    text = bad.get_data(as_text=True)
    assert '<div class="error" id="f-margin-error">Must be between 0 and 1.</div>' in text
    assert ('aria-describedby="f-margin-help source-margin f-margin-error" aria-invalid="true"'
            in text)
    assert ("The tier “member” (0) must need more points than the tier before it." in text)
    with sessions() as s:
        assert "retention" not in (s.query(Shop).filter_by(name="till").one().settings or {})
    ok = client.post("/shops/till/settings", data={**_settings_form(), "csrf_token": token})
    assert ok.status_code == 302
    with sessions() as s:
        stored = s.query(Shop).filter_by(name="till").one().settings["retention"]
    # Only what differs from the inherited values (here the defaults) is stored.
    assert stored == {
        "margin": 0.4, "annual_discount_rate": 0.08, "frequency_cap_days": 21,
        "points": {"spend": 0.5}, "tiers": {"member": 0, "loyal": 100, "gold": 500},
    }
    page = client.get("/shops/till/settings").get_data(as_text=True)
    assert 'value="member: 0, loyal: 100, gold: 500"' in page


def test_refresh_button_runs_a_job_with_progress(client: FlaskClient, sessions) -> None:  # type: ignore[no-untyped-def]
    token = csrf_token(client, "/shops/till/jobs")
    assert client.post("/shops/till/refresh", data={"csrf_token": token}).status_code == 302
    data = client.get("/shops/till/jobs.json").get_json()
    assert data["active"] is False
    (job,) = data["jobs"]
    assert (job["kind"], job["state"], job["done"], job["total"], job["fraction"]) == (
        "refresh", "done", 4, 4, 1.0)
    assert job["message"] is None and job["elapsed"] >= 0
    with sessions() as s:
        assert s.get(Job, job["id"]).state == JobState.DONE


def test_a_csv_shop_has_no_sync_button(client: FlaskClient) -> None:
    html = client.get("/shops/till/jobs").get_data(as_text=True)
    assert "Sync now" not in html and "Recompute numbers" in html
    token = csrf_token(client, "/shops/till/jobs")
    assert client.post("/shops/till/sync", data={"csrf_token": token}).status_code == 400


def test_sync_button_queues_a_sync_for_an_api_shop(app, sessions) -> None:  # type: ignore[no-untyped-def]
    from stammkunde.core.shops import create_shop
    from stammkunde.plugins.manager import plugins_for_test
    from tests.app.dashboard.conftest import login
    from tests.app.test_jobs import FakePlugin

    with plugins_for_test(FakePlugin()):
        with sessions() as s, s.begin():
            create_shop(s, "fake", "fakeplat")
        c = app.test_client()
        login(c, "fake")
        assert "Sync now" in c.get("/shops/fake/jobs").get_data(as_text=True)
        token = csrf_token(c, "/shops/fake/jobs")
        assert c.post("/shops/fake/sync", data={"csrf_token": token}).status_code == 302
        (job,) = c.get("/shops/fake/jobs.json").get_json()["jobs"]
    assert (job["kind"], job["state"], job["done"], job["total"]) == ("sync", "done", 5, 5)
