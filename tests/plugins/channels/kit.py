"""A shop on the simulated platform with a pushed campaign, for the channel tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session, sessionmaker

from stammkunde.core.campaigns import CampaignSpec
from stammkunde.core.records import CustomerRecord, OrderRecord
from stammkunde.core.shops import create_shop
from stammkunde.core.store import get_shop, store_records
from stammkunde.plugins.campaigns import create_shop_campaign, push_campaign
from stammkunde.plugins.manager import Plugins

T0 = datetime(2025, 1, 10, tzinfo=UTC)
# (id, e-mail, first name, consent, locale)
PEOPLE = [
    ("c1", "anna@kunde.example", "Anna", True, "de"),
    ("c2", "bob@customer.example", "Bob", True, "en-GB"),
    ("c3", "carla@kunde.example", "Carla", False, "de"),
    ("c4", "dora@kunde.example", None, True, None),
    ("c5", "emil@kunde.example", "Emil", None, "de"),
]
CONSENTING = ["anna@kunde.example", "bob@customer.example", "dora@kunde.example"]


def make_shop(sessions: sessionmaker[Session], name: str = "laden") -> None:
    """Create the shop with PEOPLE and one order each."""
    with sessions() as s, s.begin():
        shop = create_shop(s, name, "simulated", currency="EUR", timezone="Europe/Berlin",
                           locale="de")
        store_records(s, shop, [
            CustomerRecord(platform_id=cid, email=email, first_name=first,
                           accepts_marketing=consent, locale=locale, created_at=T0,
                           updated_at=T0)
            for cid, email, first, consent, locale in PEOPLE])
        store_records(s, shop, [
            OrderRecord(platform_id=f"o-{cid}", created_at=T0, total=Decimal("40"),
                        currency="EUR", customer_id=cid)
            for cid, *_ in PEOPLE])


def pushed_campaign(sessions: sessionmaker[Session], plugins: Plugins, *, now: datetime,
                    shop: str = "laden", name: str = "spring", **kw: object) -> int:
    """Create a campaign for every customer (no holdout, no cap) and push it; return its id."""
    spec = {"name": name, "target": "all", "percent": Decimal(15), "holdout": 0.0,
            "cap_days": 0, "ends_at": now + timedelta(days=14), **kw}
    with sessions() as s, s.begin():
        cid = create_shop_campaign(s, plugins, get_shop(s, shop), CampaignSpec(**spec), now).id
    push_campaign(sessions, plugins, cid, secret_key="test-secret-key", now=now)
    return cid
