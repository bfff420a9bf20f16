"""Run the web app: gunicorn in production, Flask's own server only for development.

Production (``stammkunde serve``) is gunicorn, each worker building the app after the fork (no
engine or connection is shared across processes). Workers are threaded (``gthread``, 8 threads by
default): acknowledging a delivery mostly waits for the database's commit, and threads let a
worker overlap those waits. Metrics run in prometheus_client's
multi-process mode: ``PROMETHEUS_MULTIPROC_DIR`` is set (to a fresh directory, or emptied if the
operator set it) before any metric exists, and a worker's files are marked dead when it exits,
so ``/metrics`` on any worker reports the sum of all. Logs are JSON lines on stderr.

A gunicorn command line works too (``gunicorn 'stammkunde.app.web:create_app()'``) when
``PROMETHEUS_MULTIPROC_DIR`` is set and ``-c python:stammkunde.app.server`` supplies the hooks.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from stammkunde.webhooks.logs import configure_json_logging
from stammkunde.webhooks.metrics import mark_worker_dead

# gunicorn's own messages (worker boots, timeouts, kills) as JSON lines too; no access log.
LOGCONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "stammkunde.webhooks.logs.JsonFormatter"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json",
                            "stream": "ext://sys.stderr"}},
    "root": {"level": "WARNING", "handlers": ["stderr"]},
    "loggers": {"gunicorn.error": {"handlers": ["stderr"], "level": "INFO",
                                   "propagate": False}},
}


def prepare_metrics_dir(env: dict[str, str] | os._Environ[str] = os.environ) -> Path:
    """Point PROMETHEUS_MULTIPROC_DIR at an empty directory (created if unset) and return it."""
    current = env.get("PROMETHEUS_MULTIPROC_DIR")
    path = Path(current) if current else Path(tempfile.mkdtemp(prefix="stammkunde-metrics-"))
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()
    env["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    return path


def child_exit(server: Any, worker: Any) -> None:
    """Gunicorn hook: a dead worker's live gauges stop counting."""
    mark_worker_dead(worker.pid)


def post_worker_init(worker: Any) -> None:
    """Gunicorn hook: JSON logs and an inbox sweeper in every worker."""
    configure_json_logging()
    if isinstance(worker.wsgi, Flask) and "stammkunde" in worker.wsgi.extensions:
        from stammkunde.app.web import start_inbox_sweeper

        start_inbox_sweeper(worker.wsgi)


class GunicornServer(BaseApplication):  # type: ignore[misc]
    """Gunicorn running an app factory with options given in code."""

    def __init__(self, factory: Callable[[], Flask], options: dict[str, Any]) -> None:
        self.factory = factory
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        """Apply the options to gunicorn's config."""
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        """Build the app (in each worker, after the fork)."""
        return self.factory()


def gunicorn_options(host: str, port: int, workers: int, timeout: int = 30,
                     threads: int = 1) -> dict[str, Any]:
    """Return the gunicorn settings ``stammkunde serve`` uses (threads > 1: gthread workers)."""
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread" if threads > 1 else "sync",
        "timeout": timeout,
        "graceful_timeout": 10,
        "preload_app": False,
        "child_exit": child_exit,
        "post_worker_init": post_worker_init,
        "loglevel": "info",
        "logconfig_dict": LOGCONFIG,
    }


def run_gunicorn(factory: Callable[[], Flask], host: str, port: int, workers: int,
                 timeout: int = 30, threads: int = 1) -> None:
    """Serve the app with gunicorn until it is stopped."""
    prepare_metrics_dir()
    configure_json_logging()
    GunicornServer(factory, gunicorn_options(host, port, workers, timeout, threads)).run()
