"""A real browser (Debian's chromium through Playwright) against the app on a local port.

Locally the browser tests are skipped when chromium or Playwright is missing; in CI (``CI`` set)
they must run, so a missing browser fails them instead.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from stammkunde.app.jobs import huey
from stammkunde.app.web import create_app
from stammkunde.core.config import Settings
from stammkunde.core.demo import load_demo
from stammkunde.core.shops import create_shop
from stammkunde.core.store import store_records
from tests.factories import order

CHROMIUM = os.environ.get("STAMMKUNDE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
SECRET = "browser-test-secret"


def _missing() -> str | None:
    if not Path(CHROMIUM).exists() and not shutil.which(CHROMIUM):
        return f"chromium not found at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install playwright)"
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless chromium for the session."""
    reason = _missing()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests must run in CI: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def server(database_url: str, engine: Engine, sessions: Any, tmp_path: Path) -> Iterator[str]:
    """The web app with the demo shop (400 people) and a small other shop, on a free port."""
    load_demo(sessions, "demo", customers=400, seed=7)
    with sessions() as s, s.begin():
        other = create_shop(s, "other", "csv", currency="EUR")
        store_records(s, other, [order("x1", "2024-01-01T00:00:00Z", "10.00", customer="z")])
    from werkzeug.serving import make_server

    settings = Settings(home=tmp_path / "home", database_url=database_url, secret_key=SECRET)
    huey.immediate = True
    app = create_app({"SESSION_COOKIE_SECURE": False}, settings=settings)
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_port}"
    finally:
        srv.shutdown()
        thread.join(5)
        huey.immediate = False


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context (no cookies) with English preferred; console errors collected."""
    context = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 900})
    p = context.new_page()
    p.set_default_timeout(10_000)
    p.console_errors = []
    # Script errors and CSP violations; not the 4xx answers some steps expect.
    p.on("console", lambda msg: msg.type == "error" and not msg.text.startswith(
        "Failed to load resource") and p.console_errors.append(msg.text))
    yield p
    context.close()
