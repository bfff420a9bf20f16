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

OUT = Path(__file__).resolve().parent / "screenshots"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PAGES = (
    ("overview", "/shops/demo/", "en"),
    ("overview-de", "/shops/demo/", "de"),
    ("segments", "/shops/demo/segments", "en"),
    ("customers", "/shops/demo/customers", "en"),
    ("win-back", "/shops/demo/win-back", "en"),
    ("jobs", "/shops/demo/jobs", "en"),
    ("settings", "/shops/demo/settings", "de"),
)


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
            page = browser.new_page(viewport={"width": 1360, "height": 900},
                                    device_scale_factor=1, locale="en-GB")
            page.goto(f"{base}/login?token={make_login_token('screenshot-secret', 'demo')}")
            for name, path, lang in PAGES:
                page.goto(f"{base}/lang/{lang}?next={path}")
                page.wait_for_load_state("networkidle")
                # Long lists are shown as the first screenful.
                page.screenshot(path=str(OUT / f"{name}.png"),
                                full_page=name not in ("customers", "win-back"))
                print(f"wrote {OUT / (name + '.png')}")
            browser.close()
    finally:
        server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
