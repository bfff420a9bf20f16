"""Shared by the fault tests and ``receiver_load.py``: start/kill a gunicorn receiver, send
signed deliveries from a threaded client on loopback, and count what was acknowledged, stored,
lost and doubled."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import requests
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.testshop (test double)

from stammkunde.core.db import make_engine, session_factory, upgrade
from stammkunde.core.inbox_models import InboxDelivery
from stammkunde.core.models import Order
from stammkunde.core.shops import create_shop
from tests.testshop import order_body, signed_headers

HERE = Path(__file__).resolve().parent
SECRET_KEY = "bench-key"
SHOP_SECRET = "bench-shop-secret"
DOMAIN = "load.example"


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare_database(url: str) -> None:
    """Migrate the database and add the testshop shop the deliveries come from."""
    engine = make_engine(url)
    upgrade(engine)
    with session_factory(engine)() as s, s.begin():
        create_shop(s, "load", "testshop", domain=DOMAIN,
                    credentials={"webhook_secret": SHOP_SECRET}, secret_key=SECRET_KEY)
    engine.dispose()


def children(pid: int) -> list[int]:
    """Return the ids of a process's direct children (from /proc)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields_after = stat.rsplit(")", 1)[1].split()
        if int(fields_after[1]) == pid:
            out.append(int(entry.name))
    return out


@dataclass
class Server:
    """A gunicorn receiver subprocess on 127.0.0.1."""

    db_url: str
    home: Path
    port: int
    workers: int = 2
    threads: int = 8
    mode: str = "receiver"
    processing: str = "inline"
    server: str = "waitress"  # as `stammkunde serve`; "gunicorn" for the earlier baseline
    proc: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)  # e.g. STAMMKUNDE_INBOX_SWEEP_AGE

    @property
    def url(self) -> str:
        """Return the base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120.0) -> None:  # a busy machine imports slowly
        """Start gunicorn and wait until every worker answers /healthz."""
        env = {**os.environ, "STAMMKUNDE_SECRET_KEY": SECRET_KEY,
               "PROMETHEUS_MULTIPROC_DIR": str(self.home / "metrics"), **self.env}
        log = open(self.home / f"server-{self.port}.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "receiver_server.py"), "--db", self.db_url,
             "--home", str(self.home), "--port", str(self.port), "--workers", str(self.workers),
             "--threads", str(self.threads),
             "--mode", self.mode, "--processing", self.processing, "--server", self.server],
            env=env, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}")
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200 and len(
                        children(self.proc.pid)) >= self.workers:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()  # leave no server behind
        raise RuntimeError("server did not start")

    def start_inbox_worker(self) -> subprocess.Popen[bytes]:
        """Start a separate inbox worker process: `stammkunde inbox work` (with testshop)."""
        env = {**os.environ, "STAMMKUNDE_SECRET_KEY": SECRET_KEY, **self.env}
        log = open(self.home / "inbox-worker.log", "ab")  # noqa: SIM115
        return subprocess.Popen(
            [sys.executable, str(HERE / "receiver_server.py"), "--db", self.db_url,
             "--home", str(self.home), "--port", "0", "--mode", "inbox-worker"],
            env=env, stdout=log, stderr=log)

    def worker_pids(self) -> list[int]:
        """Return the gunicorn worker pids."""
        assert self.proc is not None
        return children(self.proc.pid)

    def kill_worker(self) -> int:
        """SIGKILL one worker (gunicorn starts a replacement); return its pid."""
        pid = self.worker_pids()[0]
        os.kill(pid, signal.SIGKILL)
        return pid

    def kill_all(self) -> None:
        """SIGKILL the master and every worker, as a crashed machine would."""
        assert self.proc is not None
        pids = self.worker_pids()
        os.kill(self.proc.pid, signal.SIGKILL)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        """Stop gunicorn gracefully (SIGTERM), or kill it after 10 s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        pids = self.worker_pids()
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.kill_all()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def delivery(n: int, *, prefix: str = "d") -> tuple[str, bytes, dict[str, str]]:
    """Return (delivery id, body, headers) of the n-th order delivery."""
    did = f"{prefix}{n}"
    body = order_body(f"{prefix}{n}", updated_at="2024-06-01T10:00:00Z",
                      total=f"{n % 97 + 1}.00", customer_id=f"c{n % 50}")
    return did, body, signed_headers(body, SHOP_SECRET, topic="orders/create",
                                     shop_domain=DOMAIN, delivery_id=did)


@dataclass
class Sent:
    """What the client saw: attempts, acknowledgements and latencies."""

    attempts: int = 0
    acked: set[str] = field(default_factory=set)
    statuses: Counter[int] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def send_all(
    base_url: str, items: Sequence[tuple[str, bytes, dict[str, str]]], *, threads: int = 8,
    rate: float | None = None, sent: Sent | None = None,
    on_progress: Callable[[int], None] | None = None, timeout: float = 10.0,
) -> Sent:
    """Post deliveries from ``threads`` sessions; with ``rate``, at that many per second."""
    sent = sent or Sent()
    index = iter(range(len(items)))
    index_lock = threading.Lock()
    start = time.perf_counter()
    done = [0]

    def run() -> None:
        session = requests.Session()
        while True:
            with index_lock:
                i = next(index, None)
            if i is None:
                return
            if rate:
                wait = start + i / rate - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
            did, body, headers = items[i]
            t0 = time.perf_counter()
            try:
                resp = session.post(f"{base_url}/webhooks/testshop", data=body, headers=headers,
                                    timeout=timeout)
                status = resp.status_code
            except requests.RequestException:
                status = 0
                session = requests.Session()
            elapsed = time.perf_counter() - t0
            with sent.lock:
                sent.attempts += 1
                sent.statuses[status] += 1
                if 200 <= status < 300:
                    sent.acked.add(did)
                    sent.latencies.append(elapsed)
                done[0] += 1
                count = done[0]
            if on_progress:
                on_progress(count)

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    return sent


@dataclass(frozen=True)
class Tally:
    """Delivered, acknowledged, stored, lost and doubled, counted from the database."""

    delivered: int
    attempts: int
    acknowledged: int
    stored: int
    processed_orders: int
    lost: int
    doubled: int


def tally(db_url: str, expected: Sequence[str], sent: Sent) -> Tally:
    """Count what the database holds against what the client saw acknowledged."""
    engine = make_engine(db_url)
    with session_factory(engine)() as s:
        rows = Counter(s.scalars(select(InboxDelivery.delivery_id)))
        orders = Counter(s.scalars(select(Order.platform_id)))
        s.scalar(select(func.count(InboxDelivery.id)))
    engine.dispose()
    lost = sum(1 for did in sent.acked if rows[did] == 0)
    doubled = sum(1 for c in rows.values() if c > 1) + sum(1 for c in orders.values() if c > 1)
    return Tally(delivered=len(expected), attempts=sent.attempts, acknowledged=len(sent.acked),
                 stored=sum(1 for did in expected if rows[did] == 1),
                 processed_orders=sum(1 for did in expected if orders[did] == 1),
                 lost=lost, doubled=doubled)


def percentile(values: Sequence[float], q: float) -> float:
    """Return the q-quantile (0..1) of values by nearest rank."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))
    return ordered[k]


def waiting(db_url: str) -> int:
    """Return how many deliveries are not processed yet."""
    engine = make_engine(db_url)
    with engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(InboxDelivery).where(
            InboxDelivery.status == "received")).scalar_one()
    engine.dispose()
    return count


def kill_run(db_url: str, home: Path, n: int, *, threads: int = 8,
             sweep: Callable[[], None] | None = None, settle: float = 0.0,
             env: dict[str, str] | None = None) -> tuple[Tally, dict[str, int]]:
    """Send n deliveries; SIGKILL a worker at 1/3 and the whole server at 2/3; restart; resend
    what was not acknowledged (as the platform retries); then let the restarted server run for up
    to ``settle`` seconds until nothing waits (its own sweeper at work) and/or ``sweep``; count.
    """
    home.mkdir(parents=True, exist_ok=True)
    server = Server(db_url, home, free_port(), env=dict(env or {}))
    server.start()
    items = [delivery(i) for i in range(n)]
    events: dict[str, int] = {}
    kill_lock = threading.Lock()

    def chaos(count: int) -> None:
        with kill_lock:
            if count >= n // 3 and "worker_killed_at" not in events:
                events["worker_killed_at"] = count
                server.kill_worker()
            elif count >= 2 * n // 3 and "server_killed_at" not in events:
                events["server_killed_at"] = count
                server.kill_all()
                server.start()

    try:
        sent = send_all(server.url, items, threads=threads, on_progress=chaos)
        for _ in range(5):  # the platform retries what was not acknowledged
            missing = [it for it in items if it[0] not in sent.acked]
            if not missing:
                break
            send_all(server.url, missing, threads=threads, sent=sent)
        events["retried_rounds"] = _ + 1
        metrics = requests.get(server.url + "/metrics", timeout=5).text
        events["metrics_stored_lines"] = sum(
            1 for line in metrics.splitlines()
            if line.startswith("stammkunde_webhook_deliveries_total{") and "stored" in line)
        started = time.monotonic()
        while settle and waiting(db_url) and time.monotonic() - started < settle:
            time.sleep(0.2)  # normal operation: the server's sweeper picks up the leftovers
        events["settled_ms"] = round((time.monotonic() - started) * 1000)
    finally:
        server.stop()
    if sweep is not None:
        sweep()
    return tally(db_url, [it[0] for it in items], sent), events


PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def create_pg_database(prefix: str = "bench_sk_webhooks") -> str:
    """Create a fresh PostgreSQL database on the local server; return its URL."""
    import secrets

    from sqlalchemy import create_engine, text

    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def set_pg_down(url: str, down: bool) -> None:
    """Refuse new connections to the database and end its sessions (or allow them again)."""
    from sqlalchemy import create_engine, text

    name = url.rsplit("/", 1)[1]
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(not down).lower()}'))
        if down:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": name})
    admin.dispose()


def drop_pg_database(url: str) -> None:
    """Drop a database made by :func:`create_pg_database`."""
    from sqlalchemy import create_engine, text

    name = url.rsplit("/", 1)[1]
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
