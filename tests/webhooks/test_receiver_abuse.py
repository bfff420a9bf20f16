"""Receiver abuse (issue 14, item 5): limits, topic length, absurd amounts, stored headers,
cross-shop Shopify bodies and an unreachable database, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from _receiver_helpers import post
from flask import Flask
from sqlalchemy import func, select

from stammkunde.app.web import app_context
from stammkunde.core.inbox_models import InboxDelivery
from stammkunde.core.shops import create_shop
from stammkunde.plugins.shopify.webhooks import sign as shopify_sign
from tests.testshop import order_body

MiB = 1024 * 1024


def rows(app: Flask) -> list[InboxDelivery]:
    with app_context(app).sessions() as db:
        return list(db.scalars(select(InboxDelivery).order_by(InboxDelivery.id)))


def body_of(size: int) -> bytes:
    """A valid order delivery of exactly ``size`` bytes (padded in a line title)."""
    base = json.loads(order_body("big", updated_at="2024-05-01T10:00:00Z"))
    base["line_items"] = [{"quantity": 1, "price": "10.00", "title": ""}]
    empty = len(json.dumps(base).encode())
    base["line_items"][0]["title"] = "x" * (size - empty)
    raw = json.dumps(base).encode()
    assert len(raw) == size
    return raw


def test_a_body_of_exactly_the_limit_is_accepted(make_app: Callable[..., Flask],
                                                 db_url: str) -> None:
    app = make_app(db_url)
    client = app.test_client()
    assert post(client, body_of(MiB), delivery_id="exact").status_code == 200
    resp = post(client, body_of(MiB + 1), delivery_id="over")
    assert resp.status_code == 413
    assert [r.delivery_id for r in rows(app)] == ["exact"]


def test_the_limit_can_be_raised(make_app: Callable[..., Flask], sqlite_url: str,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STAMMKUNDE_WEBHOOK_MAX_BYTES", str(2 * MiB))
    app = make_app(sqlite_url)
    client = app.test_client()
    assert post(client, body_of(3 * MiB // 2), delivery_id="big").status_code == 200
    assert post(client, body_of(2 * MiB + 1), delivery_id="bigger").status_code == 413
    assert [r.delivery_id for r in rows(app)] == ["big"]


def test_a_topic_over_255_characters_is_400_and_not_stored(make_app: Callable[..., Flask],
                                                           db_url: str) -> None:
    app = make_app(db_url)
    resp = post(app.test_client(), order_body("1", updated_at="2024-05-01T10:00:00Z"),
                topic="orders/" + "x" * 249)
    assert resp.status_code == 400  # not 503: the platform must not retry it forever
    assert rows(app) == []


def test_an_absurd_amount_fails_fast_and_is_kept_for_replay(make_app: Callable[..., Flask],
                                                            db_url: str) -> None:
    app = make_app(db_url)
    started = time.perf_counter()
    resp = post(app.test_client(), order_body("1", updated_at="2024-05-01T10:00:00Z",
                                              total="1e999000"), delivery_id="huge")
    assert resp.status_code == 200
    assert time.perf_counter() - started < 5  # the unguarded rounding ran for minutes
    (row,) = rows(app)
    assert row.status == "failed" and row.body is not None


def test_credentials_in_request_headers_are_not_stored(make_app: Callable[..., Flask],
                                                       db_url: str) -> None:
    app = make_app(db_url)
    post(app.test_client(), order_body("1", updated_at="2024-05-01T10:00:00Z"),
         headers={"Authorization": "Bearer secret-token", "Cookie": "session=abc",
                  "X-Forwarded-For": "10.0.0.1"})
    (row,) = rows(app)
    names = {k.lower() for k in row.headers}
    assert not names & {"authorization", "cookie", "x-forwarded-for", "x-testshop-hmac"}
    assert "secret-token" not in json.dumps(row.headers)


def test_a_shopify_body_naming_another_shop_is_refused(make_app: Callable[..., Flask],
                                                      db_url: str) -> None:
    app = make_app(db_url, WEBHOOK_ENV={"STAMMKUNDE_SHOPIFY_API_SECRET": "app-secret"})
    with app_context(app).sessions() as db, db.begin():
        create_shop(db, "mine", "shopify", domain="mine.myshopify.com")
        create_shop(db, "victim", "shopify", domain="victim.myshopify.com")
    body = json.dumps({"shop_id": 1, "shop_domain": "victim.myshopify.com"}).encode()
    headers = {"X-Shopify-Hmac-Sha256": shopify_sign(body, "app-secret"),
               "X-Shopify-Topic": "shop/redact", "X-Shopify-Shop-Domain": "mine.myshopify.com",
               "X-Shopify-Event-Id": "e1", "Content-Type": "application/json"}
    resp = app.test_client().post("/webhooks/shopify", data=body, headers=headers)
    assert resp.status_code == 400
    assert rows(app) == []
    with app_context(app).sessions() as db:
        from stammkunde.core.models import Shop
        assert db.scalar(select(func.count()).select_from(Shop)) == 3  # "one" too


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A port that accepts TCP connections and never says a word (a stuck database)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def test_a_black_holed_database_answers_503_within_5_seconds(
        make_app: Callable[..., Flask], black_hole: int) -> None:
    url = f"postgresql+psycopg://postgres@127.0.0.1:{black_hole}/stammkunde"
    app = make_app(url, shop=False)
    client = app.test_client()
    for path in ("/readyz", None):
        started = time.perf_counter()
        resp = (client.get(path) if path else
                post(client, order_body("1", updated_at="2024-05-01T10:00:00Z")))
        assert resp.status_code == 503
        assert time.perf_counter() - started < 5


@pytest.mark.postgres
def test_a_locked_inbox_answers_503_within_5_seconds(make_app: Callable[..., Flask],
                                                     pg_url: str) -> None:
    app = make_app(pg_url)
    engine = app_context(app).engine
    with engine.connect() as locker:
        from sqlalchemy import text
        locker.execute(text("LOCK TABLE webhook_inbox IN ACCESS EXCLUSIVE MODE"))
        started = time.perf_counter()
        resp = post(app.test_client(), order_body("1", updated_at="2024-05-01T10:00:00Z"))
        assert resp.status_code == 503
        assert time.perf_counter() - started < 5
        locker.rollback()
    assert rows(app) == []
