"""Helpers shared by the webhook tests: constants and a signed-delivery poster."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from tests.testshop import signed_headers

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
SECRET_KEY = "test-secret-key"
SHOP_SECRET = "shop-secret"
DOMAIN = "one.example"



def post(client: FlaskClient, body: bytes, *, topic: str = "orders/create",
         delivery_id: str = "d1", domain: str = DOMAIN, secret: str = SHOP_SECRET,
         headers: dict[str, str] | None = None, platform: str = "testshop") -> Any:
    """Post a signed testshop delivery; processing after the ack runs before this returns."""
    sent = signed_headers(body, secret, topic=topic, shop_domain=domain, delivery_id=delivery_id)
    sent.update(headers or {})
    return client.post(f"/webhooks/{platform}", data=body, headers=sent, buffered=True)
