"""A fake WooCommerce store on 127.0.0.1 for tests and benchmarks (no network, no PHP).

>>> with FakeWooCommerce() as store:                       # doctest: +SKIP
...     store.data.add_order(email="a@example.org", total="20.00")
...     adapter.fetch_orders(store.connection("demo"))

It serves the REST API v3 on a random port in a background thread, checks the API keys, pages with
the real headers, fails on demand (:meth:`fail`, :meth:`drop`, :meth:`stall`), enforces the batch
maximum and records every call (:attr:`calls`) and coupon (``data.coupons``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import json
import secrets
import ssl
import tempfile
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from stammkunde.plugins.adapter import Secret, ShopConnection
from stammkunde.plugins.woocommerce.webhooks import sign
from tests.fakes.woocommerce.api import FakeApi
from tests.fakes.woocommerce.server import Handler, Rule
from tests.fakes.woocommerce.store import FakeStore

__all__ = ["FakeStore", "FakeWooCommerce"]


class FakeWooCommerce:
    """A running fake store: ``url``, ``consumer_key``/``consumer_secret``, ``data``, ``calls``."""

    def __init__(self, *, tls: bool = False, batch_limit: int = 100,
                 refunds_endpoint: bool = True, store: FakeStore | None = None) -> None:
        self.tls = tls
        self.data = store or FakeStore()
        self.api = FakeApi(self.data, batch_limit=batch_limit, refunds_endpoint=refunds_endpoint)
        self.consumer_key = "ck_" + secrets.token_hex(20)
        self.consumer_secret = "cs_" + secrets.token_hex(20)
        self.keys: dict[str, tuple[str, str]] = {
            self.consumer_key: (self.consumer_secret, "read_write")}
        self.calls: list[tuple[str, str, dict[str, str]]] = []
        self.last_auth: str | None = None  # "oauth1", "basic" or "query"
        self.rules: list[Rule] = []
        self._rules_lock = threading.Lock()
        self.ca_bundle: str | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> FakeWooCommerce:
        """Start serving on 127.0.0.1 at a free port."""
        handler = type("BoundHandler", (Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        if self.tls:
            self._tmp = tempfile.TemporaryDirectory()
            cert, key = _self_signed(Path(self._tmp.name))
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, key)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
            self.ca_bundle = str(cert)
        self.api.base_url = self.url
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,),
                                        daemon=True, name="fake-woocommerce")
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> FakeWooCommerce:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The store's base URL."""
        assert self._server is not None, "start() the fake first"
        host, port = self._server.server_address[:2]
        return f"{'https' if self.tls else 'http'}://{host}:{port}"

    def connection(self, name: str = "fake", **options: Any) -> ShopConnection:
        """Return a ShopConnection for this store (http allowed, no politeness delay)."""
        settings: dict[str, Any] = {"url": self.url, "allow_http": True,
                                    "requests_per_second": 0}
        if self.ca_bundle:
            settings["ca_bundle"] = self.ca_bundle
        settings.update(options)
        return ShopConnection(
            name=name, platform="woocommerce", domain=self.url, currency="EUR",
            credentials={"consumer_key": Secret(self.consumer_key),
                         "consumer_secret": Secret(self.consumer_secret),
                         "webhook_secret": Secret("whsec-test")},
            options=settings)

    # -- failures -----------------------------------------------------------------------------
    def fail(self, status: int = 500, *, times: int | None = 1, path: str | None = None,
             retry_after: str | None = None, after: int = 0) -> None:
        """Answer ``status`` to the next ``times`` matching requests (None: until cleared)."""
        with self._rules_lock:
            self.rules.append(Rule("status", path, status, retry_after, times, after))

    def drop(self, *, times: int = 1, path: str | None = None) -> None:
        """Close the connection without answering (the client sees a network error)."""
        with self._rules_lock:
            self.rules.append(Rule("drop", path, times=times))

    def stall(self, seconds: float, *, times: int = 1, path: str | None = None) -> None:
        """Wait ``seconds`` before answering (to trigger the client's timeout)."""
        with self._rules_lock:
            self.rules.append(Rule("stall", path, times=times, seconds=seconds))

    def clear_failures(self) -> None:
        """Remove all injected failures."""
        with self._rules_lock:
            self.rules.clear()

    def take_rule(self, method: str, route: str) -> Rule | None:
        """Return the failure to apply to this request, if any (used by the handler)."""
        with self._rules_lock:
            for rule in self.rules:
                if not rule.matches(method, route):
                    continue
                if rule.after > 0:
                    rule.after -= 1
                    return None
                if rule.times is not None:
                    rule.times -= 1
                    if rule.times <= 0:
                        self.rules.remove(rule)
                return rule
        return None

    def count(self, method: str, route: str) -> int:
        """Return how many calls hit ``route`` with ``method``."""
        return sum(1 for m, r, _ in self.calls if m == method and r == route)

    # -- key exchange and webhooks ------------------------------------------------------------
    def grant(self, user_id: str, permissions: str = "read_write") -> dict[str, Any]:
        """Create keys as the merchant's approval does; return the JSON posted to callback_url."""
        key, secret = "ck_" + secrets.token_hex(20), "cs_" + secrets.token_hex(20)
        self.keys[key] = (secret, permissions)
        return {"key_id": len(self.keys), "user_id": user_id, "consumer_key": key,
                "consumer_secret": secret, "key_permissions": permissions}

    def delivery(self, topic: str, payload: dict[str, Any], *, secret: str = "whsec-test",
                 webhook_id: int = 1, delivery_id: str | None = None,
                 ) -> tuple[dict[str, str], bytes]:
        """Build a signed webhook delivery (headers, raw body) as WooCommerce sends it."""
        body = json.dumps(payload).encode()
        resource, _, event = topic.partition(".")
        return {
            "Content-Type": "application/json",
            "X-WC-Webhook-Source": self.url + "/",
            "X-WC-Webhook-Topic": topic,
            "X-WC-Webhook-Resource": resource,
            "X-WC-Webhook-Event": event,
            "X-WC-Webhook-Signature": sign(body, secret),
            "X-WC-Webhook-ID": str(webhook_id),
            "X-WC-Webhook-Delivery-ID": delivery_id or hashlib.md5(body).hexdigest(),
        }, body

    def ping(self, webhook_id: int = 1) -> tuple[dict[str, str], bytes]:
        """Build the unsigned ping WooCommerce posts when a webhook is created."""
        return {"Content-Type": "application/x-www-form-urlencoded",
                "User-Agent": "WooCommerce/9.4.0 Hookshot (WordPress/6.6)"}, \
            f"webhook_id={webhook_id}".encode()


def _self_signed(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path
