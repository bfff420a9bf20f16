"""End to end on the fake WooCommerce store: sync → campaign → push (crash, resume) → report."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from stammkunde.core.campaigns import CampaignSpec, campaign_report, get_campaign, holdout_draw
from stammkunde.core.errors import UserError
from stammkunde.core.models import Assignment, Customer, Shop
from stammkunde.core.shops import create_shop
from stammkunde.plugins.campaigns import create_shop_campaign, push_campaign
from stammkunde.plugins.ingest import sync_shop
from tests.fakes.woocommerce import FakeWooCommerce
from tests.plugins.woocommerce.conftest import SECRET_KEY, plugins_with


def test_campaign_on_the_fake_store(sessions, fake: FakeWooCommerce, adapter) -> None:
    store = fake.data
    start = store.now()
    accounts = [store.add_customer(f"kunde{i}@example.org", f"K{i}", "Muster",
                                   created=start - timedelta(days=200)) for i in range(8)]
    for i, account in enumerate(accounts):
        store.add_order(customer_id=account["id"], total=f"{30 + i}.00",
                        created=start - timedelta(days=100 + i))
    conn = fake.connection("woo")
    with sessions() as s, s.begin():
        create_shop(s, "woo", "woocommerce", domain=fake.url, secret_key=SECRET_KEY,
                    credentials={k: v.reveal() for k, v in conn.credentials.items()},
                    settings=dict(conn.options))
    plugins = plugins_with(adapter)
    sync_shop(sessions, plugins, "woo", secret_key=SECRET_KEY)
    with sessions() as s, s.begin():
        spec = CampaignSpec(name="Wir vermissen dich", target="lapsed:60", percent=Decimal(10),
                            minimum_order=Decimal(20), holdout=0.3,
                            ends_at=start + timedelta(days=30))
        campaign = create_shop_campaign(s, plugins, s.scalar(select(Shop)), spec, start)
        cid = campaign.id
        # a holdout share between the 3rd and 4th smallest draws: exactly 3 held out
        draws = sorted(holdout_draw(cid, p) for p in s.scalars(select(Customer.person_id)))
        campaign.holdout = (draws[2] + draws[3]) / 2

    # the store fails every coupon batch after the first: the push stops with an error …
    fake.fail(500, times=None, path="POST coupons/batch", after=1)
    with pytest.raises(UserError, match="answered 500 to POST coupons/batch"):
        push_campaign(sessions, plugins, cid, secret_key=SECRET_KEY, tag="winback",
                      batch_size=2, now=start)
    with sessions() as s:
        rows = list(s.scalars(select(Assignment).where(Assignment.campaign_id == cid)))
    treated = {r.customer_platform_id: r for r in rows if r.arm == "treatment"}
    assert (len(rows), len(treated)) == (8, 5)
    assert len(store.coupons) == 2  # the first batch of 2 went through
    # … and the re-run finishes without a second copy of any coupon
    fake.clear_failures()
    result = push_campaign(sessions, plugins, cid, secret_key=SECRET_KEY, batch_size=2,
                           now=start)
    assert result.status == "pushed"
    coupons = list(store.coupons.values())
    assert sorted(c["code"] for c in coupons) == sorted(r.code.lower() for r in treated.values())
    for c in coupons:
        member = next(r for r in treated.values() if r.code.lower() == c["code"])
        customer = store.customers[int(member.customer_platform_id)]
        assert c["email_restrictions"] == [customer["email"]]
        assert (c["discount_type"], c["amount"], c["minimum_amount"]) == ("percent", "10", "20")
    tagged = {str(cid_) for cid_, cust in store.customers.items()
              if any(m["key"] == "stammkunde_segment_winback" and m["value"] == "yes"
                     for m in cust["meta_data"])}
    assert tagged == set(treated)

    # a treatment member redeems (WooCommerce lower-cases the code), a holdout member buys too
    redeemer = sorted(treated)[0]
    holdout = next(r.customer_platform_id for r in rows if r.arm == "holdout")
    store.advance(days=3)
    store.add_order(customer_id=int(redeemer), total="45.00",
                    coupons=[treated[redeemer].code])
    store.add_order(customer_id=int(holdout), total="25.00")
    store.advance(hours=1)  # a sync reads up to the store's present, exclusive
    # the fake store's clock is in 2024: ask for the changes since the push explicitly
    sync_shop(sessions, plugins, "woo", secret_key=SECRET_KEY, since=start)
    with sessions() as s:
        report = campaign_report(s, get_campaign(s, cid), now=start + timedelta(days=40))
    assert report["treatment"]["redemptions"] == 1
    assert report["treatment"]["net_revenue"] == "45.00"
    assert report["holdout"]["net_revenue"] == "25.00"
    assert report["discount_cost"] == "4.50"
