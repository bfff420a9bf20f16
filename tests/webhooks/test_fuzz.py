"""Fuzz the receiver with generated bodies and headers.

Properties: no 5xx (the only documented one, 503, needs a database outage), no crash, nothing
stored without a valid signature, every validly signed delivery stored once and then processed
or failed. Examples per test: ``STAMMKUNDE_FUZZ_EXAMPLES`` (default 120; the slow/benchmark run
uses 10,000).
"""

from __future__ import annotations

import json
import os
import string

import pytest
from _receiver_helpers import DOMAIN, SHOP_SECRET
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from stammkunde.app.web import app_context
from stammkunde.core.inbox_models import InboxDelivery
from tests import testshop as ts

EXAMPLES = int(os.environ.get("STAMMKUNDE_FUZZ_EXAMPLES", "120"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
HEADER_TEXT = st.text(alphabet=string.printable.replace("\n", "").replace("\r", ""),
                      max_size=80)
HEADER_NAMES = st.sampled_from([ts.SIGNATURE, ts.TOPIC, ts.DOMAIN, ts.DELIVERY, ts.TRIGGERED,
                                "Content-Type", "X-Other"])
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12,
)
ORDERISH = st.fixed_dictionaries({
    "id": st.one_of(st.text(max_size=300), st.integers(), st.none()),
    "created_at": st.one_of(st.just("2024-05-01T10:00:00Z"), st.text(max_size=30), st.none()),
    "updated_at": st.one_of(st.just("2024-05-01T11:00:00+02:00"), st.text(max_size=30)),
    "total": st.one_of(st.just("12.50"), st.text(max_size=10), st.integers(), st.floats()),
    "currency": st.one_of(st.just("EUR"), st.text(max_size=5)),
    "status": st.one_of(st.sampled_from(["paid", "cancelled", "refunded"]), st.text(max_size=8)),
    "customer": st.one_of(st.none(), st.fixed_dictionaries(
        {"id": st.one_of(st.none(), st.text(max_size=10)),
         "email": st.one_of(st.none(), st.emails(), st.text(max_size=10))})),
    "refunds": st.lists(st.fixed_dictionaries({"amount": st.one_of(st.just("1.00"),
                                                                   st.text(max_size=5)),
                                               "created_at": st.text(max_size=25)}),
                        max_size=2),
    "line_items": st.lists(JSON, max_size=2),
})
BODIES = st.one_of(st.binary(max_size=300), ORDERISH.map(lambda d: json.dumps(d).encode()),
                   JSON.map(lambda d: json.dumps(d).encode()))
# app/uninstalled and shop/redact remove the secret and the shop: later deliveries are then
# rightly refused, so they are tested on their own (test_privacy_topics), not fuzzed here.
TOPICS = st.one_of(st.sampled_from(sorted(set(ts.PARSERS) - {"app/uninstalled", "shop/redact"})),
                   st.text(max_size=40))


def stored_count(app) -> int:
    with app_context(app).sessions() as s:
        return s.scalar(select(func.count(InboxDelivery.id)))


@pytest.fixture
def fuzz_app(make_app, sqlite_url):
    return make_app(sqlite_url)


def test_unsigned_or_badly_signed_deliveries_store_nothing(fuzz_app):
    client = fuzz_app.test_client()

    @FUZZ
    @given(platform=st.one_of(st.just("testshop"), st.text(alphabet=string.ascii_letters,
                                                           min_size=1, max_size=12)),
           headers=st.dictionaries(HEADER_NAMES, HEADER_TEXT, max_size=6), body=BODIES)
    def check(platform, headers, body):
        resp = client.post(f"/webhooks/{platform}", data=body, headers=headers, buffered=True)
        assert resp.status_code in (200, 400, 401, 404, 413)
        if resp.status_code == 200:
            assert resp.json == {"status": "ping"}

    check()
    assert stored_count(fuzz_app) == 0


def test_signed_deliveries_are_stored_once_and_processed_or_failed(fuzz_app):
    client = fuzz_app.test_client()
    accepted: set[str] = set()

    @FUZZ
    @given(body=BODIES, topic=TOPICS, delivery=st.text(min_size=1, max_size=40,
                                                       alphabet=string.ascii_letters + "-_:"))
    def check(body, topic, delivery):
        headers = ts.signed_headers(body, SHOP_SECRET, topic=topic, shop_domain=DOMAIN,
                                    delivery_id=delivery)
        # HTTP header values are latin-1 without line breaks: a platform cannot send others
        assume(not any(c in topic for c in "\r\n"))
        try:
            headers = {k: v.encode("latin-1").decode("latin-1") for k, v in headers.items()}
        except UnicodeEncodeError:
            assume(False)
        resp = client.post("/webhooks/testshop", data=body, headers=headers, buffered=True)
        assert resp.status_code in (200, 400), resp.json
        if resp.status_code == 200:
            assert resp.json["status"] == ("duplicate" if delivery in accepted else "stored")
            accepted.add(delivery)

    check()
    with app_context(fuzz_app).sessions() as s:
        rows = s.scalars(select(InboxDelivery)).all()
    assert {r.delivery_id for r in rows} == accepted
    assert len(rows) == len(accepted)
    assert {r.status for r in rows} <= {"processed", "failed"}
    for r in rows:
        assert r.error is None or "@" not in r.error
