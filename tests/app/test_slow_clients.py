"""``stammkunde serve`` under 20 slow clients (issue 14, item 5): /healthz and a signed delivery
still answer within a second.

The server is started exactly as the README documents it (one worker process with two request
threads, so that even a handful of clients holding threads would starve it); every connection
stays on 127.0.0.1 and the attack lasts about six seconds.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from stammkunde.core.db import make_engine, session_factory, upgrade
from stammkunde.core.shops import create_shop
from stammkunde.plugins.woocommerce.webhooks import sign

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from slow_clients import attack

STORE = "https://shop.example"
SECRET = "whsec-slow"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[int]:
    """`stammkunde serve` on a free 127.0.0.1 port with one WooCommerce shop; yield the port."""
    import socket

    url = f"sqlite:///{tmp_path / 'serve.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with session_factory(engine)() as s, s.begin():
        create_shop(s, "woo", "woocommerce", domain=STORE, secret_key="serve-key",
                    settings={"url": STORE},
                    credentials={"consumer_key": "ck_x", "consumer_secret": "cs_x",
                                 "webhook_secret": SECRET})
    engine.dispose()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "STAMMKUNDE_DATABASE_URL": url, "STAMMKUNDE_HOME": str(tmp_path),
           "STAMMKUNDE_SECRET_KEY": "serve-key", "STAMMKUNDE_WEBHOOK_PROCESSING": "worker",
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")}
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, "-m", "stammkunde.app", "serve", "--port", str(port),
                             "--workers", "1", "--threads", "2"], env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def delivery(port: int, n: int) -> requests.Response:
    """Post one signed WooCommerce delivery, as the store sends it."""
    body = json.dumps({"id": 1000 + n, "status": "processing", "total": "10.00"}).encode()
    headers = {"Content-Type": "application/json", "X-WC-Webhook-Source": STORE + "/",
               "X-WC-Webhook-Topic": "order.updated", "X-WC-Webhook-Resource": "order",
               "X-WC-Webhook-Event": "updated", "X-WC-Webhook-ID": "1",
               "X-WC-Webhook-Delivery-ID": hashlib.md5(str(n).encode()).hexdigest()[:8],
               "X-WC-Webhook-Signature": sign(body, SECRET)}
    return requests.post(f"http://127.0.0.1:{port}/webhooks/woocommerce", data=body,
                         headers=headers, timeout=10)


def test_twenty_slow_clients_delay_neither_healthz_nor_a_delivery(served: int) -> None:
    results = attack(served, lambda n: delivery(served, n), clients=20, seconds=5)
    assert {w for w, _, _ in results} == {"healthz", "delivery"}
    assert [(w, s) for w, _, s in results if s != 200] == []
    worst = max(t for _, t, _ in results)
    assert worst < 1.0, results
