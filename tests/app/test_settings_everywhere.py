"""One shop, settings in every layer, the same figures on every surface.

``stammkunde.toml``: ``margin = 0.5`` and ``points.spend = 2`` at the top, the table
``[shops.till]`` with ``frequency_cap_days = 30`` and ``points.account_created = 100``; saved in
the dashboard: ``margin = 0.4`` and the tiers ``member 0, loyal 100, gold 1000``.

Orders (the dashboard's hand-checked shop, placed relative to today so "now" reports them all):
c1 100.00 and 50.00 − 20.00 refunded (30 days apart), c2 40.00 and 60.00 (92 days apart),
c3 1,234.50. Net revenue 1,464.50 over 5 orders and 3 customers, all in the last 365 days.

- formula CLV = AOV × orders per year × lifetime × margin
  = 292.90 × 5/3 × 1 / (1 − 2/3) × 0.4 = 1,464.50 × 0.4 = **585.80**
  (the file's margin would give 732.25, the defaults 439.35);
- c3's points: 1,234.50 × 2 (file) = 2,469 + 100 for the account (shop table) = **2,569**
  available → tier **gold** (saved tiers);
- c1 is lost (142 days since the last order, own gap 30 days): expected order value 130 / 2 =
  65.00, incentive ⌊0.5 × 65.00 × 0.4⌋ = **13** (the file's margin would give 16);
- a campaign's default frequency cap is the shop table's **30** days.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient

from stammkunde.app.cli import cli
from stammkunde.app.jobs import huey
from stammkunde.app.web import create_app
from stammkunde.core.cache import REPORT, cached
from stammkunde.core.campaigns import CampaignSpec, create_campaign, resolve_target
from stammkunde.core.config import Settings
from stammkunde.core.db import session_factory
from stammkunde.core.models import Shop
from stammkunde.core.store import get_shop
from stammkunde.core.timeutil import now
from tests.app.dashboard.conftest import SECRET, csrf_token, login

TOML = """\
margin = 0.5

[points]
spend = 2

[shops.till]
frequency_cap_days = 30

[shops.till.points]
account_created = 100
"""
#: (order id, customer, days ago, total, refunded)
ORDERS = (("o1", "c1", 172, "100.00", ""), ("o2", "c1", 142, "50.00", "20.00"),
          ("o3", "c2", 121, "40.00", ""), ("o4", "c3", 41, "1234.50", ""),
          ("o5", "c2", 29, "60.00", ""))


def invoke(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def home(cli_env: Path, tmp_path: Path) -> Path:
    cli_env.mkdir(parents=True, exist_ok=True)
    (cli_env / "stammkunde.toml").write_text(TOML, encoding="utf-8")
    today = now()
    rows = ["order_id,customer_id,email,created_at,total,refunded"]
    for oid, customer, days, total, refunded in ORDERS:
        created = (today - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%S+00:00")
        rows.append(f"{oid},{customer},{customer}@example.com,{created},{total},{refunded}")
    path = tmp_path / "orders.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    invoke("shops", "add", "till", "--platform", "csv", "--timezone", "UTC")
    invoke("import", "till", str(path))
    return cli_env


@pytest.fixture
def client(home: Path, database_url: str) -> FlaskClient:
    huey.immediate = True
    app = create_app({"TESTING": True}, settings=Settings(home=home, database_url=database_url,
                                                          secret_key=SECRET))
    c = app.test_client()
    login(c, "till")
    yield c  # type: ignore[misc]
    huey.immediate = False


def _form(html: str) -> dict[str, str]:
    return dict(re.findall(r'<input id="f-[a-z_]+" name="([a-z_]+)" type="[a-z]+"[^>]*? '
                           r'value="([^"]*)"', html))


def _sources(html: str) -> dict[str, str]:
    return {name: re.sub(r"\s+", " ", text).strip() for name, text in re.findall(
        r'<small class="source[^"]*" id="source-([a-z_]+)">(.*?)</small>', html, re.S)}


def _saved(engine) -> dict | None:  # type: ignore[no-untyped-def]
    with session_factory(engine)() as s:
        shop = s.query(Shop).filter_by(name="till").one()
        return (shop.settings or {}).get("retention")


def test_the_form_shows_effective_values_and_saving_unchanged_stores_nothing(
        client: FlaskClient, engine) -> None:  # type: ignore[no-untyped-def]
    html = client.get("/shops/till/settings").get_data(as_text=True)
    form = _form(html)
    assert (form["margin"], form["frequency_cap_days"], form["points_spend"],
            form["points_account_created"], form["annual_discount_rate"]) == (
        "0.5", "30", "2", "100", "0.1")
    sources = _sources(html)
    assert sources["margin"] == "From stammkunde.toml"
    assert sources["points_spend"] == "From stammkunde.toml"
    assert sources["frequency_cap_days"] == "From this shop's table in stammkunde.toml"
    assert sources["points_account_created"] == "From this shop's table in stammkunde.toml"
    assert sources["annual_discount_rate"] == "Default"
    token = csrf_token(client, "/shops/till/settings")
    assert client.post("/shops/till/settings",
                       data={**form, "csrf_token": token}).status_code == 302
    assert _saved(engine) is None
    # A change is saved alone; typing the file's value back removes it again.
    client.post("/shops/till/settings", data={**form, "margin": "0.4", "csrf_token": token})
    assert _saved(engine) == {"margin": 0.4}
    html = client.get("/shops/till/settings").get_data(as_text=True)
    assert _form(html)["margin"] == "0.4"
    assert _sources(html)["margin"] == "Saved here; without it: 0.5"
    client.post("/shops/till/settings", data={**form, "margin": "0.5", "csrf_token": token})
    assert _saved(engine) is None


def test_every_surface_shows_the_same_figures(client: FlaskClient, home: Path, engine) -> None:  # type: ignore[no-untyped-def]
    token = csrf_token(client, "/shops/till/settings")
    form = _form(client.get("/shops/till/settings").get_data(as_text=True))
    response = client.post("/shops/till/settings", data={
        **form, "margin": "0.4", "tiers": "member: 0, loyal: 100, gold: 1000",
        "csrf_token": token})
    assert response.status_code == 302
    assert _saved(engine) == {"margin": 0.4, "tiers": {"member": 0, "loyal": 100, "gold": 1000}}

    # The CLI shows the same resolution, with sources.
    shown = {r["key"]: (r["value"], r["source"]) for r in json.loads(
        invoke("settings", "till", "--json"))}
    assert shown["margin"] == (0.4, "saved")
    assert shown["points.spend"] == (2, "file")
    assert shown["points.account_created"] == (100, "shop_file")
    assert shown["frequency_cap_days"] == (30, "shop_file")
    assert shown["tiers"] == ({"member": 0, "loyal": 100, "gold": 1000}, "saved")
    assert shown["horizon_months"] == (12, "default")

    # CLI report, customers and win-back.
    report = json.loads(invoke("report", "till", "--json"))
    assert report["formula_clv"]["value"] == "585.80"
    assert report["formula_clv"]["margin"] == 0.4
    customers = {r["customer_id"]: r for r in json.loads(
        invoke("customers", "till", "--format", "json"))}
    assert (customers["c3"]["tier"], customers["c3"]["points_available"]) == ("gold", 2569)
    (c1,) = json.loads(invoke("winback", "till", "--format", "json"))
    assert (c1["customer_id"], c1["incentive"]) == ("c1", "13.00")

    # Dashboard: the settings post recomputed the cache through the job (huey immediate).
    html = client.get("/shops/till/").get_data(as_text=True)
    assert re.search(r'id="kpi-formula_clv".*?class="tile-value">€585.80<', html, re.S)
    html = client.get("/shops/till/customers").get_data(as_text=True)
    assert re.search(r'<span class="mono">c3</span>.*?gold', html, re.S)
    html = client.get("/shops/till/win-back").get_data(as_text=True)
    assert "€13.00 off" in html

    # refresh --now writes the same numbers into the cache.
    with session_factory(engine)() as s:
        cached(s, get_shop(s, "till"), REPORT).data["formula_clv"]["value"] = "0"
    invoke("refresh", "till", "--now")
    with session_factory(engine, home)() as s:
        shop = get_shop(s, "till")
        assert cached(s, shop, REPORT).data["formula_clv"]["value"] == "585.80"
        # Campaign targets score with the same settings.
        assert [m.customer_platform_id for m in resolve_target(s, shop, "tier:gold", now())] \
            == ["c3"]
        assert [m.customer_platform_id for m in resolve_target(s, shop, "winback", now())] \
            == ["c1"]
    # Campaign targets resolved in a process whose sessions carry no home read STAMMKUNDE_HOME.
    with session_factory(engine)() as s:
        shop = get_shop(s, "till")
        assert [m.customer_platform_id for m in resolve_target(s, shop, "tier:gold", now())] \
            == ["c3"]
        # A campaign's default frequency cap comes from the shop table.
        campaign = create_campaign(s, shop, CampaignSpec(name="gold", target="tier:gold",
                                                         percent=Decimal(10)), now())
        assert campaign.cap_days == 30
