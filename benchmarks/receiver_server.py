"""Serve the receiver (or a bare "return 200" endpoint) under gunicorn for fault tests and
benchmarks: the production server code (``stammkunde.app.server``) with the signed ``testshop``
platform registered.

    python benchmarks/receiver_server.py --db URL --home DIR --port N [--workers 2]
        [--mode receiver|bare|inbox-worker] [--processing worker|inline]

``inbox-worker`` runs what ``stammkunde worker`` runs for the inbox (a batched drain).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from flask import Flask


def bare_app() -> Flask:
    """A Flask app whose webhook endpoint only answers 200 (the baseline)."""
    app = Flask("bare", root_path=str(Path(__file__).parent))

    @app.post("/webhooks/<platform>")
    def receive(platform: str) -> tuple[str, int]:
        return '{"status": "ok"}', 200

    @app.get("/healthz")
    def healthz() -> tuple[str, int]:
        return '{"status": "ok"}', 200

    return app


def main() -> None:
    """Parse arguments and run gunicorn until killed."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--home", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--mode", choices=["receiver", "bare", "inbox-worker"],
                        default="receiver")
    parser.add_argument("--processing", choices=["inline", "worker"], default="worker")
    args = parser.parse_args()
    os.environ["STAMMKUNDE_WEBHOOK_PROCESSING"] = args.processing

    from stammkunde.app.server import run_gunicorn
    from stammkunde.app.web import create_app
    from stammkunde.core.config import Settings
    from stammkunde.plugins.manager import get_plugins
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests tree
    from tests.testshop import TestshopPlugin

    get_plugins().register(TestshopPlugin())
    settings = Settings(home=Path(args.home), database_url=args.db,
                        secret_key=os.environ.get("STAMMKUNDE_SECRET_KEY", "bench-key"))
    if args.mode == "inbox-worker":  # what `stammkunde inbox work` runs, until killed
        import threading

        from stammkunde.core.db import make_engine, session_factory
        from stammkunde.webhooks.inbox import Processor

        processor = Processor(session_factory(make_engine(args.db)), get_plugins(),
                              Path(args.home) / "exports")
        processor.drain(threading.Event(), interval=0.2)  # as `stammkunde worker` does
    factory = bare_app if args.mode == "bare" else (lambda: create_app(settings=settings))
    run_gunicorn(factory, "127.0.0.1", args.port, args.workers, threads=args.threads)


if __name__ == "__main__":
    main()
