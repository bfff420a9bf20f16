"""From "connect my store" to the dashboard, in a real browser, against the fake WooCommerce.

The fake store serves the REST API; its key-approval step (``/wc-auth/v1/authorize``) is played
by the test as WooCommerce does it: the store POSTs the new keys to the app's callback, then the
browser goes on to the app's return URL with ``success=1&user_id=<nonce>``.
"""

from __future__ import annotations

import json
import urllib.request
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from stammkunde.plugins.manager import plugins_for_test
from tests.fakes.woocommerce import FakeWooCommerce


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("STAMMKUNDE_ALLOW_HTTP_STORES", "1")  # the fake store speaks plain http
    with FakeWooCommerce() as fake, plugins_for_test():
        start = datetime.fromisoformat("2025-03-01T10:00:00+00:00")
        for i, total in enumerate(("40.00", "25.50", "60.00")):
            fake.data.add_order(email="anna@example.org", total=total,
                                created=start + timedelta(days=30 * i))
        fake.data.add_order(email="ben@example.org", total="1234.50", created=start)
        yield fake


def approve(url: str, fake: FakeWooCommerce) -> str:
    """Do what the store's approval does: post keys to the callback; return where it sends
    the browser next."""
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    body = json.dumps(fake.grant(query["user_id"])).encode()
    request = urllib.request.Request(query["callback_url"], data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 200
    return query["return_url"] + "?" + urlencode({"success": "1", "user_id": query["user_id"]})


def test_install_to_dashboard(page: Any, server: str, store: FakeWooCommerce) -> None:
    page.goto(f"{server}/install/woocommerce?{urlencode({'store_url': store.url})}")
    # The browser is at the store's approval page now (the fake serves no page there).
    assert page.url.startswith(f"{store.url}/wc-auth/v1/authorize?")
    page.goto(approve(page.url, store))
    name = "127.0.0.1-" + store.url.rsplit(":", 1)[1]
    assert page.url == f"{server}/shops/{name}/"
    # The historic sync ran as a job (immediate mode in tests) and the overview shows its data.
    assert page.locator("#kpi-customers .tile-value").inner_text() == "2"
    assert page.locator("#kpi-net_revenue .tile-value").inner_text() == "€1,360.00"
    assert page.locator("#kpi-repeat_rate .tile-value").inner_text() == "50.0%"
    page.get_by_role("link", name="Jobs", exact=True).click()
    assert page.locator(".job.done .jobkind").first.inner_text() == "Sync"
    assert page.get_by_role("button", name="Sync now").is_visible()
    # This session belongs to the new shop only.
    assert page.goto(f"{server}/shops/demo/").status == 403
