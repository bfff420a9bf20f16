#!/usr/bin/env python3
"""Regenerate the dashboard screenshots in docs/screenshots/ from the demo shop.

Loads the demo shop into a throw-away home, serves the web app on a free local port, signs in
with a login link and photographs the main pages with Debian's chromium through Playwright:

    python docs/make_screenshots.py [--customers 5000] [--chromium /usr/bin/chromium]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
from pathlib import Path
from urllib.parse import quote

OUT = Path(__file__).resolve().parent / "screenshots"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# (file, path, language, viewport): a laptop's 1366x900 and a phone's 390x844.
LAPTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
PAGES = (
    ("overview", "/shops/demo/", "en", LAPTOP),
    ("overview-de", "/shops/demo/", "de", LAPTOP),
    ("segments", "/shops/demo/segments", "en", LAPTOP),
    ("customers", "/shops/demo/customers", "en", LAPTOP),
    ("customers-de", "/shops/demo/customers?segment=champions", "de", LAPTOP),
    ("win-back", "/shops/demo/win-back", "en", LAPTOP),
    ("win-back-de", "/shops/demo/win-back", "de", LAPTOP),
    ("jobs", "/shops/demo/jobs", "en", LAPTOP),
    ("settings", "/shops/demo/settings", "de", LAPTOP),
    ("phone-overview", "/shops/demo/", "en", PHONE),
    ("phone-customers-de", "/shops/demo/customers", "de", PHONE),
)
#: Long lists are shown as their first screenful.
FIRST_SCREEN = ("customers", "customers-de", "win-back", "win-back-de", "phone-customers-de")


def main() -> int:
    """Load the demo, serve, sign in and take one screenshot per page."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="stammkunde-shots-"))
    os.environ.update(STAMMKUNDE_HOME=str(home), STAMMKUNDE_SECRET_KEY="screenshot-secret")
    os.environ.pop("STAMMKUNDE_DATABASE_URL", None)

    from playwright.sync_api import sync_playwright
    from werkzeug.serving import make_server

    from stammkunde.app.context import AppContext
    from stammkunde.app.dashboard.auth import make_login_token
    from stammkunde.app.jobs import schedule_refresh
    from stammkunde.app.web import create_app
    from stammkunde.core.demo import load_demo

    ctx = AppContext()
    load_demo(ctx.sessions, "demo", customers=args.customers, seed=42)
    app = create_app({"SESSION_COOKIE_SECURE": False}, settings=ctx.settings)
    from stammkunde.app.jobs import huey

    huey.immediate = True  # the refresh runs here, so the jobs page shows a finished job
    schedule_refresh("demo")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    OUT.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport=LAPTOP, device_scale_factor=1, locale="en-GB")
            page.goto(f"{base}/login?token={make_login_token('screenshot-secret', 'demo')}")
            for name, path, lang, viewport in PAGES:
                page.set_viewport_size(viewport)
                page.goto(f"{base}/lang/{lang}?next={quote(path)}")
                page.wait_for_load_state("networkidle")
                page.screenshot(path=str(OUT / f"{name}.png"), full_page=name not in FIRST_SCREEN)
                print(f"wrote {OUT / (name + '.png')}")
            browser.close()
    finally:
        server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
