"""Privacy requests leave nothing behind (issue 14, item 6), on SQLite and PostgreSQL.

A customer's e-mail, name, phone and address are planted everywhere the app keeps data: the
customer rows, processed and failed webhook deliveries (one of an unknown shop, one with JSON
escapes such as ``\\u00eb``), the roll-up, the cached report with its win-back list, the dashboard
and its CSV, and a data-request export. After ``customers/redact`` every text column of every
table and every file under ``STAMMKUNDE_HOME`` is searched for the markers.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from _receiver_helpers import DOMAIN, SECRET_KEY, SHOP_SECRET, post
from flask import Flask
from sqlalchemy import JSON, LargeBinary, String, Text, func, select

from stammkunde.app.dashboard.auth import make_login_token
from stammkunde.app.jobs import refresh_numbers
from stammkunde.app.web import app_context
from stammkunde.core.access import DashboardSession
from stammkunde.core.inbox_models import AuditLog, InboxDelivery
from stammkunde.core.models import Assignment, Base, Campaign, ContactLog, Customer, Shop
from stammkunde.core.shops import create_shop
from stammkunde.core.store import get_shop
from stammkunde.core.timeutil import now
from tests.testshop import order_body

EMAIL = "zoe.markerfrau@example.org"
FIRST, LAST = "Zoë", "Markerfrau"
PHONE = "+49 30 9182736"
STREET = "Markerweg 17"
MARKERS = [EMAIL, "zoë", "markerfrau", "9182736", "markerweg"]
OTHER = "keep.me@example.org"


@pytest.fixture(autouse=True)
def _collect_old_apps() -> None:
    """Finalise the previous test's engines now, not in the middle of building the next app
    (CPython 3.11 raises "AST constructor recursion depth mismatch" when a pool finaliser runs
    during werkzeug's route compilation)."""
    gc.collect()


def planted(text: str) -> list[str]:
    """Return the markers found in a text (case-insensitive, JSON escapes decoded)."""
    low = text.lower()
    with contextlib.suppress(ValueError):
        low += "\n" + json.dumps(json.loads(text), ensure_ascii=False).lower()
    return [m for m in MARKERS if m.lower() in low or
            json.dumps(m.lower())[1:-1] in low]


def everything_stored(app: Flask) -> dict[str, list[str]]:
    """Markers in every text, JSON and binary column of every table."""
    found: dict[str, list[str]] = {}
    with app_context(app).sessions() as db:
        for table in Base.metadata.sorted_tables:
            cols = [c for c in table.columns
                    if isinstance(c.type, (String, Text, JSON, LargeBinary))]
            if not cols:
                continue
            for row in db.execute(select(*cols)):
                for col, value in zip(cols, row, strict=True):
                    if value is None:
                        continue
                    text = (value.decode("utf-8", "replace") if isinstance(value, bytes)
                            else value if isinstance(value, str)
                            else json.dumps(value, ensure_ascii=False))
                    hits = planted(text)
                    if hits:
                        found[f"{table.name}.{col.name}"] = hits
    return found


def files_with_markers(home: Path) -> dict[str, list[str]]:
    """Markers in every file under STAMMKUNDE_HOME."""
    found = {}
    for path in home.rglob("*"):
        if path.is_file():
            hits = planted(path.read_bytes().decode("utf-8", "replace"))
            if hits:
                found[str(path.relative_to(home))] = hits
    return found


def plant(app: Flask, client: Any, *, unknown_shop: bool = True) -> None:
    """The customer shops, a few deliveries fail or wait, the merchant looks at the numbers."""
    customer = {"id": "c1", "email": EMAIL, "first_name": FIRST, "last_name": LAST,
                "phone": PHONE, "updated_at": "2023-01-05T10:00:00Z"}
    assert post(client, json.dumps(customer).encode(), topic="customers/create",
                delivery_id="k1").status_code == 200
    for n, when in (("1", "2023-01-05T10:00:00Z"), ("2", "2023-03-05T10:00:00Z")):
        body = json.loads(order_body(n, updated_at=when, total="80.00", customer_id="c1",
                                     email=EMAIL))
        body["shipping_address"] = {"name": f"{FIRST} {LAST}", "address1": STREET,
                                    "phone": PHONE}
        assert post(client, json.dumps(body).encode(), delivery_id=f"o{n}").status_code == 200
    post(client, order_body("9", updated_at="2023-06-01T10:00:00Z", customer_id="k",
                            email=OTHER), delivery_id="o9")
    # a delivery that fails to process keeps its body for a replay (JSON escapes: \u00eb)
    broken = {"id": "3", "total": "not money", "customer": {"id": "c1", "email": EMAIL},
              "billing": {"first_name": FIRST, "last_name": LAST, "address1": STREET}}
    assert b"\\u00eb" in json.dumps(broken).encode()
    post(client, json.dumps(broken).encode(), delivery_id="o3")
    # a delivery for a shop that is not (yet) known is stored under the app-wide secret
    app.extensions["stammkunde.webhooks"].env = {"STAMMKUNDE_TESTSHOP_SECRET": "app"}
    if unknown_shop:
        post(client, json.dumps(broken).encode(), delivery_id="u1", domain="unknown.example",
             secret="app")
    # the merchant asks for the customer's data, and looks at the dashboard
    assert post(client, json.dumps({"customer": {"id": "c1", "email": EMAIL},
                                    "data_request": {"id": 5}}).encode(),
                topic="customers/data_request", delivery_id="p1").status_code == 200
    with app_context(app).sessions() as db, db.begin():
        refresh_numbers(db, get_shop(db, "one"))
    token = make_login_token(app.config["SECRET_KEY"], "one")
    assert client.get(f"/login?token={token}").status_code == 302


def dashboard_text(client: Any) -> str:
    pages = ["/shops/one/customers", "/shops/one/customers.csv", "/shops/one/win-back",
             "/shops/one/"]
    out = []
    for page in pages:
        resp = client.get(page)
        assert resp.status_code == 200, page
        out.append(resp.get_data(as_text=True))
    return "\n".join(out)


def test_customer_redact_leaves_no_trace(make_app: Callable[..., Flask], db_url: str,
                                         tmp_path: Path) -> None:
    app = make_app(db_url)
    home = tmp_path / "home"
    client = app.test_client()
    plant(app, client)
    before = everything_stored(app)
    # the markers really are everywhere the issue names
    assert {"customers.email", "customers.first_name", "customer_rollup.email",
            "report_cache.data", "webhook_inbox.body"} <= set(before), before
    assert list(files_with_markers(home)) and EMAIL in dashboard_text(client)

    request = {"customer": {"id": "c1", "email": EMAIL}, "orders_to_redact": ["1", "2"]}
    assert post(client, json.dumps(request).encode(), topic="customers/redact",
                delivery_id="p2").status_code == 200

    assert everything_stored(app) == {}
    assert files_with_markers(home) == {}
    assert planted(dashboard_text(client)) == []
    with app_context(app).sessions() as db:
        # the other customer and the anonymous orders are still there
        assert db.scalar(select(func.count()).select_from(Customer)
                         .where(Customer.email == OTHER)) == 1
        assert db.scalar(select(AuditLog.outcome).where(AuditLog.action == "customer_redact")) \
            .startswith("redacted 1 customer(s); 2 queued payload(s) and 1 export(s) dropped")


def test_shop_redact_with_campaigns_removes_everything(make_app: Callable[..., Flask],
                                                      db_url: str, tmp_path: Path) -> None:
    app = make_app(db_url, shop=False)
    app.extensions["stammkunde.webhooks"].shop_cache_seconds = 0  # the shop appears mid-test
    client = app.test_client()
    # a delivery that arrived before the shop was added: stored without a shop
    app.extensions["stammkunde.webhooks"].env = {"STAMMKUNDE_TESTSHOP_SECRET": "app"}
    early = order_body("0", updated_at="2022-12-01T10:00:00Z", customer_id="c1", email=EMAIL)
    assert post(client, early, delivery_id="e0", secret="app").status_code == 200
    with app_context(app).sessions() as db, db.begin():
        create_shop(db, "one", "testshop", domain=DOMAIN,
                    credentials={"webhook_secret": SHOP_SECRET}, secret_key=SECRET_KEY)
    plant(app, client, unknown_shop=False)
    with app_context(app).sessions() as db, db.begin():
        assert db.scalar(select(InboxDelivery.shop_id).where(InboxDelivery.delivery_id == "e0")) \
            is None
        shop = get_shop(db, "one")
        people = db.execute(select(Customer.id, Customer.person_id, Customer.platform_id)
                            .where(Customer.shop_id == shop.id)).all()
        parent = Campaign(shop_id=shop.id, name="win back", target={"segment": "lapsed"},
                          offer_kind="percentage", offer_value=10, starts_at=now(),
                          code_secret="s", schedule="monthly")
        db.add(parent)
        db.flush()
        child = Campaign(shop_id=shop.id, name="win back #1", target={"segment": "lapsed"},
                         offer_kind="percentage", offer_value=10, starts_at=now(),
                         code_secret="s", parent_id=parent.id)
        db.add(child)
        db.flush()
        for cid, person, platform_id in people:
            db.add(Assignment(campaign_id=child.id, person_id=person, customer_id=cid,
                              customer_platform_id=platform_id, arm="treatment", code="SK-1"))
            db.add(ContactLog(person_id=person, campaign_id=child.id, shop_id=shop.id,
                              contacted_at=now()))
    assert post(client, b"{}", topic="app/uninstalled", delivery_id="p3").status_code == 200
    assert client.get("/shops/one/").status_code == 401  # the uninstall ended the session
    assert post(client, b"{}", topic="shop/redact", delivery_id="p4",
                secret="app").status_code == 200
    with app_context(app).sessions() as db:
        assert db.scalars(select(Shop)).all() == []
        for model in (Campaign, Assignment, ContactLog, Customer, DashboardSession):
            assert db.scalar(select(func.count()).select_from(model)) == 0, model
        assert [r.delivery_id for r in db.scalars(select(InboxDelivery))] == ["p4"]
        assert [a.action for a in db.scalars(select(AuditLog).order_by(AuditLog.id))][-1] == \
            "shop_redact"
    assert everything_stored(app) == {}
    assert files_with_markers(tmp_path / "home") == {}


def test_database_and_queue_files_are_private(make_app: Callable[..., Flask],
                                              sqlite_url: str, tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        make_app(sqlite_url)
    finally:
        os.umask(old)
    for path in (tmp_path / "stammkunde.db", tmp_path / "home" / "jobs.db"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
