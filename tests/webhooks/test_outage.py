"""Database down during deliveries: 503 (the platform retries), then recovery by itself.

The outage is a separate PostgreSQL database that stops accepting connections and loses the ones
it has (``ALLOW_CONNECTIONS false`` + ``pg_terminate_backend``); the shared server keeps running.
"""

from __future__ import annotations

import pytest
from _receiver_helpers import PG_ADMIN, post
from sqlalchemy import create_engine, select, text

from stammkunde.app.web import app_context
from stammkunde.core.inbox_models import InboxDelivery
from stammkunde.core.models import Order
from tests.testshop import order_body

pytestmark = pytest.mark.postgres


def set_down(url: str, down: bool) -> None:
    """Take the test database away (or give it back) without touching the server."""
    name = url.rsplit("/", 1)[1]
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(not down).lower()}'))
        if down:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": name})
    admin.dispose()


def test_database_down_answers_503_and_recovers(make_app, pg_url):
    app = make_app(pg_url)
    client = app.test_client()
    first = order_body("1", updated_at="2024-05-01T10:00:00Z")
    second = order_body("2", updated_at="2024-05-01T11:00:00Z")
    assert post(client, first, delivery_id="a").status_code == 200

    set_down(pg_url, True)
    down = post(client, second, delivery_id="b")
    assert down.status_code == 503
    assert down.headers["Retry-After"] == "5"
    assert down.json == {"status": "unavailable", "reason": "database unavailable"}
    assert client.get("/readyz").status_code == 503
    assert "stammkunde_database_up 0.0" in client.get("/metrics").get_data(as_text=True)

    set_down(pg_url, False)
    assert client.get("/readyz").status_code == 200
    retried = post(client, second, delivery_id="b")  # the platform's retry
    assert retried.status_code == 200 and retried.json == {"status": "stored"}
    assert post(client, first, delivery_id="a").json == {"status": "duplicate"}
    with app_context(app).sessions() as s:
        assert sorted(o.platform_id for o in s.scalars(select(Order))) == ["1", "2"]
        assert [r.status for r in s.scalars(select(InboxDelivery))] == ["processed"] * 2
