"""The shop channel: offers as Shopify metafields (+ tag), WooCommerce meta, simulated fields."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import pytest
from graphql import build_schema, parse, validate
from sqlalchemy import select

from stammkunde.core.errors import UserError
from stammkunde.core.offer_models import SimulatedCustomerField, SimulatedCustomerTag
from stammkunde.plugins.channels import OfferMessage, SendJob
from stammkunde.plugins.delivery import send_campaign
from stammkunde.plugins.manager import plugins_for_test
from stammkunde.plugins.shopchannel import ShopChannel
from stammkunde.plugins.shopify import ShopifyAdapter
from stammkunde.plugins.shopify.metafields import METAFIELDS_SET
from stammkunde.plugins.woocommerce import WooCommerceAdapter
from tests.fakes.shopify import FakeClock, FakeShopify
from tests.fakes.woocommerce import FakeWooCommerce
from tests.plugins.channels.kit import make_shop, pushed_campaign

SDL = Path("/work/shared/reference/shopify/admin_schema_2025-09-17_unstable.graphql.gz")
EXPIRES = datetime(2025, 3, 15, 23, 0, tzinfo=UTC)
NOW = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def message(key: int, customer: str) -> OfferMessage:
    return OfferMessage(key=key, campaign_id=7, person_id=key, customer_id=customer,
                        email=None, first_name=None, locale="de", code=f"SK-CODE{key}",
                        offer_text="15 % Rabatt", expires_at=EXPIRES)


def job(adapter, conn, tag=None) -> SendJob:  # type: ignore[no-untyped-def]
    return SendJob(campaign_id=7, campaign_name="spring", shop=conn, shop_id=1, shop_locale="de",
                   adapter=adapter, home=Path("."), secret_key=None, tag=tag)


@cache
def shopify_schema():  # type: ignore[no-untyped-def]
    if not SDL.exists():
        pytest.skip("Shopify's published Admin schema is not on this machine")
    with gzip.open(SDL, "rt") as fh:
        return build_schema(fh.read(), assume_valid=True)


def test_the_metafields_mutation_is_valid_against_shopifys_schema() -> None:
    assert validate(shopify_schema(), parse(METAFIELDS_SET)) == []


def test_shopify_metafields_at_most_25_per_call_and_the_tag() -> None:
    clock = FakeClock()
    with FakeShopify(clock=clock) as fake:
        fake.data.generate(orders=0, customers=10)
        adapter = ShopifyAdapter(sleep=clock.sleep, clock=clock, wall_clock=lambda: 0.0)
        customers = [str(1001 + i) for i in range(10)]
        batch = [message(i + 1, c) for i, c in enumerate(customers)]
        results = list(ShopChannel().send(job(adapter, fake.connection()), iter([batch])))
        assert [(r.key, r.status) for r in results] == [(i + 1, "sent") for i in range(10)]
        # 10 customers x 3 fields = 30 metafields: 8 customers (24) in one call, 2 in the next
        assert fake.stats["op_MetafieldsSet"] == 2
        gid = "gid://shopify/Customer/1001"
        assert fake.data.metafields[(gid, "stammkunde", "offer_code")] == {
            "value": "SK-CODE1", "type": "single_line_text_field"}
        assert fake.data.metafields[(gid, "stammkunde", "offer_text")] == {
            "value": "15 % Rabatt", "type": "single_line_text_field"}
        assert fake.data.metafields[(gid, "stammkunde", "offer_expires_at")] == {
            "value": "2025-03-15T23:00:00Z", "type": "date_time"}
        assert len(fake.data.metafields) == 30
        assert all("stammkunde-7" in fake.data.customers.nodes[c]["tags"] for c in customers)


def test_shopify_an_unknown_customer_fails_its_call_atomically() -> None:
    clock = FakeClock()
    with FakeShopify(clock=clock) as fake:
        fake.data.generate(orders=0, customers=10)
        adapter = ShopifyAdapter(sleep=clock.sleep, clock=clock, wall_clock=lambda: 0.0)
        customers = ["1001", "999999", "1003"] + [str(1004 + i) for i in range(7)]
        batch = [message(i + 1, c) for i, c in enumerate(customers)]
        results = {r.key: r for r in ShopChannel().send(job(adapter, fake.connection()),
                                                        iter([batch]))}
        assert results[2].reason == "Owner does not exist.; Owner does not exist.; " \
                                    "Owner does not exist."
        assert results[1].status == results[3].status == "failed"
        assert results[1].reason.startswith("not written: another customer's field")
        # the second call (customers 9 and 10) is not affected
        assert [results[k].status for k in (9, 10)] == ["sent", "sent"]
        assert {k[0] for k in fake.data.metafields} == {"gid://shopify/Customer/1009",
                                                        "gid://shopify/Customer/1010"}


def test_woocommerce_customer_meta_in_one_batch_call() -> None:
    with FakeWooCommerce() as fake:
        ids = [str(fake.data.add_customer(f"k{i}@kunde.example")["id"]) for i in range(3)]
        adapter = WooCommerceAdapter(sleep=lambda s: None, now=fake.data.now)
        batch = [message(i + 1, c) for i, c in enumerate(ids)]
        results = list(ShopChannel().send(job(adapter, fake.connection(), tag="spring"),
                                          iter([batch])))
        assert [r.status for r in results] == ["sent"] * 3
        meta = {m["key"]: m["value"] for m in fake.data.customers[int(ids[0])]["meta_data"]}
        assert meta == {"stammkunde_offer_code": "SK-CODE1",
                        "stammkunde_offer_text": "15 % Rabatt",
                        "stammkunde_offer_expires_at": "2025-03-15T23:00:00Z",
                        "stammkunde_segment_spring": "yes"}


def test_simulated_platform_end_to_end_and_resumable(sessions) -> None:
    make_shop(sessions)
    with plugins_for_test() as plugins:
        cid = pushed_campaign(sessions, plugins, now=NOW)
        first = send_campaign(sessions, plugins, cid, "shop", now=NOW, env={}, limit=2)
        assert (first.sent, first.stopped) == (2, True)
        rest = send_campaign(sessions, plugins, cid, "shop", now=NOW, env={})
        # no consent needed to write onto the customer record; Carla declined: not targeted
        assert (rest.sent, rest.skipped) == (2, 0)
        assert rest.totals == {"sent": 4}
    with sessions() as s:
        fields = {(f.customer_platform_id, f.key): f.value
                  for f in s.scalars(select(SimulatedCustomerField))}
        tags = sorted(t.customer_platform_id for t in s.scalars(select(SimulatedCustomerTag)))
    assert tags == ["c1", "c2", "c4", "c5"]
    assert fields[("c2", "offer_text")] == "15% off"  # Bob reads English
    assert fields[("c1", "offer_text")] == "15 % Rabatt"
    assert fields[("c1", "offer_expires_at")] == (NOW + timedelta(days=14)).isoformat() \
        .replace("+00:00", "Z")


def test_a_platform_without_customer_fields_is_refused(sessions) -> None:
    from stammkunde.core.shops import create_shop

    with sessions() as s, s.begin():
        create_shop(s, "till", "csv")
    with plugins_for_test() as plugins, pytest.raises(UserError, match="cannot take customer "
                                                      "fields"):
        from stammkunde.plugins.channels import Channel

        channel: Channel = plugins.channel("shop")
        conn = plugins.platform("csv")
        channel.check(job(conn, type("C", (), {"platform": "csv", "name": "till"})()))
