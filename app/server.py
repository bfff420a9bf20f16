"""Run the web app: waitress worker processes in production, Flask's server for development.

Production (``stammkunde serve``) binds the listening socket once and forks ``--workers``
processes, each building the app after the fork (no engine or connection is shared across
processes) and serving it with waitress: an asynchronous front reads every request completely
(headers and body, up to the body limit) before one of the ``--threads`` worker threads takes it.
A client that sends its request a byte at a time therefore holds only a socket, never a thread,
so slow or stalled clients cannot starve ``/healthz`` or real deliveries (the "slowloris"
attack; gunicorn's threaded workers give each such client a thread). The parent restarts a worker
that dies and stops them all on SIGTERM or Ctrl-C. Metrics run in prometheus_client's
multi-process mode: ``PROMETHEUS_MULTIPROC_DIR`` is set (to a fresh directory, or emptied if the
operator set it) before any metric exists, and a worker's files are marked dead when it exits, so
``/metrics`` on any worker reports the sum of all. Logs are JSON lines on stderr.

Gunicorn is still supported by hand (``gunicorn 'stammkunde.app.web:create_app()'`` with
``-c python:stammkunde.app.server`` for the hooks below and ``PROMETHEUS_MULTIPROC_DIR`` set),
but only behind a proxy that buffers requests (nginx does by default), since its threaded workers
read requests in the worker thread.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import sys
import tempfile
import time
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


log = logging.getLogger("stammkunde.server")

#: Connections one worker process keeps open at once (slow clients included); waitress polls
#: them with ``poll()``, so the 1,024-descriptor limit of ``select()`` does not apply.
CONNECTION_LIMIT = 1000
#: Largest request body of a non-webhook route (the app refuses more with 413).
PAGE_MAX_BYTES = 1024 * 1024


def waitress_options(threads: int, timeout: int, max_body_bytes: int) -> dict[str, Any]:
    """Return the waitress settings of one ``stammkunde serve`` worker process."""
    return {
        "threads": threads,
        # waitress refuses a body of max_request_body_size bytes or more; the app's limit is
        # inclusive, so one byte more lets a body of exactly the limit through.
        "max_request_body_size": max(max_body_bytes, PAGE_MAX_BYTES) + 1,
        "channel_timeout": timeout,
        "connection_limit": CONNECTION_LIMIT,
        "asyncore_use_poll": True,
        "backlog": 2048,
        "ident": "stammkunde",
        "expose_tracebacks": False,
    }


def listen(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """Bind the listening socket the worker processes share."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host, port), family=family, backlog=backlog)
    sock.set_inheritable(True)
    return sock


def _serve_child(factory: Callable[[], Flask], sock: socket.socket,
                 options: dict[str, Any]) -> None:
    """Worker process: build the app and serve it until SIGTERM (finishing running requests)."""
    from waitress.server import create_server

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    configure_json_logging()
    app = factory()
    if isinstance(app, Flask) and "stammkunde" in app.extensions:  # not the benchmark's bare app
        from stammkunde.app.web import start_inbox_sweeper

        start_inbox_sweeper(app)  # leftover deliveries are swept in every worker process
    server = create_server(app, sockets=[sock], **options)
    server.run()


def run_server(factory: Callable[[], Flask], host: str, port: int, workers: int,
               timeout: int = 30, threads: int = 8,
               max_body_bytes: int = PAGE_MAX_BYTES) -> None:
    """Serve the app with ``workers`` waitress processes on one socket until stopped."""
    prepare_metrics_dir()
    configure_json_logging()
    sock = listen(host, port)
    options = waitress_options(threads, timeout, max_body_bytes)
    children: dict[int, float] = {}
    stopping = False

    def spawn() -> None:
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                _serve_child(factory, sock, options)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 0
            except BaseException:
                log.exception("worker crashed")
                code = 1
            finally:
                os._exit(code)
        children[pid] = time.monotonic()

    def stop(*_: Any) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("serving", extra={"host": host, "port": sock.getsockname()[1],
                               "workers": workers, "threads": threads})
    for _ in range(workers):
        spawn()
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        started = children.pop(pid, None)
        mark_worker_dead(pid)
        if stopping or started is None:
            continue
        log.warning("worker exited; starting a new one",
                    extra={"pid": pid, "status": os.waitstatus_to_exitcode(status)})
        if time.monotonic() - started < 1:
            time.sleep(1)  # a worker that dies at once (bad config) must not spin the CPU
        spawn()
    sock.close()
