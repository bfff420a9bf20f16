"""Slow clients ("slowloris") against the receiver: do /healthz and signed deliveries still answer?

Each slow client opens a connection to 127.0.0.1, sends the headers of a webhook POST and then
one body byte every 2 seconds. Meanwhile a probe asks ``/healthz`` and posts a signed delivery
every half second and records how long each answer took. The production server
(``stammkunde.app.server``: waitress processes, as ``stammkunde serve``) is measured against the
gthread gunicorn of earlier releases, started the same way in the same run.

    python benchmarks/slow_clients.py [--clients 20] [--seconds 8]

Everything stays on 127.0.0.1, bounded in connections and time. Prints a table and rewrites the
"Slow clients" section of RESULTS.md.
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import requests

SLOW_HEADERS = (b"POST /webhooks/testshop HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/json\r\nContent-Length: 4096\r\n\r\n")


def slow_clients(port: int, n: int, seconds: float, every: float = 2.0) -> Callable[[], None]:
    """Start ``n`` clients that send headers, then a byte every ``every`` s; return a stopper."""
    stop = threading.Event()
    socks: list[socket.socket] = []

    def run() -> None:
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError:
            return
        socks.append(sock)
        deadline = time.monotonic() + seconds
        try:
            sock.sendall(SLOW_HEADERS)
            while not stop.wait(every) and time.monotonic() < deadline:
                sock.sendall(b"{")
        except OSError:
            pass

    threads = [threading.Thread(target=run, daemon=True) for _ in range(n)]
    for t in threads:
        t.start()

    def stopper() -> None:
        stop.set()
        for t in threads:
            t.join(timeout=5)
        for s in socks:
            s.close()

    return stopper


def probe(base: str, deliver: Callable[[int], requests.Response], seconds: float,
          every: float = 0.5) -> list[tuple[str, float, int]]:
    """Ask /healthz and post a delivery every ``every`` s; return (what, seconds, status)."""
    out: list[tuple[str, float, int]] = []
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        for what in ("healthz", "delivery"):
            started = time.perf_counter()
            try:
                status = (requests.get(base + "/healthz", timeout=10).status_code
                          if what == "healthz" else deliver(n).status_code)
            except requests.RequestException:
                status = 0
            out.append((what, time.perf_counter() - started, status))
        n += 1
        time.sleep(every)
    return out


def attack(port: int, deliver: Callable[[int], requests.Response], clients: int,
           seconds: float) -> list[tuple[str, float, int]]:
    """Run the slow clients and the probe together; return the probe's measurements."""
    stop = slow_clients(port, clients, seconds + 2)
    time.sleep(0.5)  # every slow client has sent its headers
    try:
        return probe(f"http://127.0.0.1:{port}", deliver, seconds)
    finally:
        stop()


def main() -> None:
    """Measure waitress (production) and gunicorn gthread (baseline) under slow clients."""
    sys.path.insert(0, str(Path(__file__).parent))
    from _results import write_section
    from receiver_harness import Server, delivery, free_port, prepare_database

    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    rows = []
    for server_kind in ("gunicorn", "waitress"):
        with tempfile.TemporaryDirectory() as tmp:
            home = Path(tmp)
            db_url = f"sqlite:///{home / 'bench.db'}"
            prepare_database(db_url)
            server = Server(db_url, home, free_port(), workers=2, threads=8, server=server_kind)
            server.start(timeout=120)  # a busy machine imports slowly

            def deliver(i: int, url: str = server.url,
                        prefix: str = f"slow-{server_kind}") -> requests.Response:
                _, body, headers = delivery(i, prefix=prefix)
                return requests.post(url + "/webhooks/testshop", data=body, headers=headers,
                                     timeout=10)

            try:
                for i in range(20):  # warm every worker up (engine, plugins) before measuring
                    deliver(10_000 + i)
                    requests.get(server.url + "/healthz", timeout=10)
                results = attack(server.port, deliver, args.clients, args.seconds)
            finally:
                server.stop()
        for what in ("healthz", "delivery"):
            times = sorted(t for w, t, _ in results if w == what)
            ok = sum(1 for w, _, s in results if w == what and s == 200)
            rows.append((server_kind, what, len(times), ok, times[len(times) // 2], times[-1]))
    base = {(r[1]): r[5] for r in rows if r[0] == "gunicorn"}
    lines = [f"{args.clients} slow clients (headers, then a byte every 2 s) for "
             f"{args.seconds:.0f} s; 2 worker processes × 8 threads; SQLite; 127.0.0.1.", "",
             "| server | request | sent | 200 OK | median s | max s | max vs gunicorn |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for kind, what, sent, ok, median, worst in rows:
        ratio = worst / base[what] if base.get(what) else float("nan")
        lines.append(f"| {kind} | {what} | {sent} | {ok} | {median:.3f} | {worst:.3f} | "
                     f"{ratio:.2f} |")
    table = "\n".join(lines)
    print(table)
    write_section("Slow clients", table)


if __name__ == "__main__":
    main()
