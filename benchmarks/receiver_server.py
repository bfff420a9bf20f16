"""Serve the receiver (or a bare "return 200" endpoint) for fault tests and benchmarks: the
production server code (``stammkunde.app.server``: waitress processes, as ``stammkunde serve``)
with the signed ``testshop`` platform registered; ``--server gunicorn`` runs the gthread
gunicorn of earlier releases as a baseline; ``--mode inbox-worker`` runs the
``stammkunde inbox work`` command itself (its own code, in this process, with the testshop
platform registered).

    python benchmarks/receiver_server.py --db URL --home DIR --port N [--workers 2]
        [--mode receiver|bare|inbox-worker] [--processing worker|inline]
        [--server waitress|gunicorn]

``inbox-worker`` runs ``stammkunde inbox work --interval 0.2`` (batched, 4 threads by default).
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
    parser.add_argument("--server", choices=["waitress", "gunicorn"], default="waitress")
    args = parser.parse_args()
    os.environ["STAMMKUNDE_WEBHOOK_PROCESSING"] = args.processing

    from stammkunde.app.server import run_gunicorn, run_server
    from stammkunde.app.web import create_app
    from stammkunde.core.config import Settings
    from stammkunde.plugins.manager import get_plugins
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests tree
    from tests.testshop import TestshopPlugin

    get_plugins().register(TestshopPlugin())
    settings = Settings(home=Path(args.home), database_url=args.db,
                        secret_key=os.environ.get("STAMMKUNDE_SECRET_KEY", "bench-key"))
    if args.mode == "inbox-worker":  # the real `stammkunde inbox work`, until stopped
        from stammkunde.app.cli import main as stammkunde

        os.environ.update(STAMMKUNDE_DATABASE_URL=args.db, STAMMKUNDE_HOME=args.home,
                          STAMMKUNDE_SECRET_KEY=settings.secret_key or "")
        sys.argv = ["stammkunde", "inbox", "work", "--interval", "0.2"]
        stammkunde()  # the command line itself; only the testshop platform is added above
        return
    factory = bare_app if args.mode == "bare" else (lambda: create_app(settings=settings))
    if args.server == "gunicorn":
        run_gunicorn(factory, "127.0.0.1", args.port, args.workers, threads=args.threads)
    else:
        run_server(factory, "127.0.0.1", args.port, args.workers, threads=args.threads)


if __name__ == "__main__":
    main()
