"""The production server settings and the multi-process metrics directory."""

from __future__ import annotations

from stammkunde.app.server import (
    child_exit,
    gunicorn_options,
    post_worker_init,
    prepare_metrics_dir,
)


def test_gunicorn_options_use_threaded_workers_and_metric_hooks():
    opts = gunicorn_options("127.0.0.1", 8123, 3, timeout=20, threads=8)
    assert (opts["bind"], opts["workers"], opts["threads"], opts["worker_class"],
            opts["timeout"], opts["preload_app"]) == ("127.0.0.1:8123", 3, 8, "gthread", 20,
                                                      False)
    assert opts["child_exit"] is child_exit and opts["post_worker_init"] is post_worker_init
    assert gunicorn_options("0.0.0.0", 80, 1)["worker_class"] == "sync"


def test_metrics_dir_is_created_or_emptied(tmp_path):
    env: dict[str, str] = {}
    made = prepare_metrics_dir(env)
    assert made.is_dir() and env["PROMETHEUS_MULTIPROC_DIR"] == str(made)
    given = tmp_path / "m"
    given.mkdir()
    (given / "counter_1.db").write_bytes(b"stale")
    (given / "keep.txt").write_text("x")
    env = {"PROMETHEUS_MULTIPROC_DIR": str(given)}
    assert prepare_metrics_dir(env) == given
    assert sorted(p.name for p in given.iterdir()) == ["keep.txt"]


def test_waitress_reads_whole_requests_and_accepts_a_body_of_exactly_the_limit():
    from stammkunde.app.server import CONNECTION_LIMIT, waitress_options

    opts = waitress_options(threads=8, timeout=30, max_body_bytes=2 * 1024 * 1024)
    # waitress refuses bodies of max_request_body_size bytes or more
    assert opts["max_request_body_size"] == 2 * 1024 * 1024 + 1
    assert (opts["threads"], opts["channel_timeout"], opts["connection_limit"],
            opts["asyncore_use_poll"]) == (8, 30, CONNECTION_LIMIT, True)
    assert waitress_options(2, 10, 1024)["max_request_body_size"] == 1024 * 1024 + 1
