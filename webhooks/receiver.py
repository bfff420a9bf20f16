"""``POST /webhooks/<platform>``: verify, store durably, acknowledge, then process.

Order of work per delivery (each step answers on its own and stores nothing when it refuses):

1. size: a body over ``max_body_bytes`` (default 1 MiB) is refused with 413;
2. platform: an unknown platform or one without webhooks is 404;
3. secret: the adapter names the shop in its headers (``shop_domain_from_headers``); the shop is
   looked up by ``Shop.domain`` and its decrypted credentials, with the environment, give the
   secrets to try (``webhook_secrets``);
4. signature: ``verify_webhook`` on the raw body with each secret; none accepts → 401 (or the
   adapter's 4xx), nothing stored; a ping (``is_ping``) → 200, nothing stored;
5. inbox: insert keyed by (platform, shop domain, delivery id), with only the headers worth
   keeping (:func:`stored_headers`: never ``Authorization``, ``Cookie`` or the signature); a
   delivery id, topic or shop domain over 255 characters is 400; a known key → 200 ``duplicate``;
6. commit → 200 ``stored``. In ``worker`` mode (default) nothing more happens here:
   ``stammkunde worker`` works the inbox off in batches; in ``inline`` mode the same web worker
   processes the delivery right after the answer is sent (``call_on_close``). A processing
   failure is recorded on the inbox row and never changes the answer; a delivery whose
   processing was interrupted (crash, database gone) stays ``received`` and is picked up by the
   worker, by the sweeper of every server process once it is 30 s old, or by
   ``stammkunde inbox replay --pending``.

When the database cannot be reached the answer is 503 with ``Retry-After`` so the platform
retries; the receiver recovers by itself when the database is back (PostgreSQL engines ping
pooled connections before use). Those are the only 5xx answers.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Request, Response, current_app, jsonify, request
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from stammkunde.core.errors import UserError
from stammkunde.plugins.adapter import (
    Capability,
    PlatformAdapter,
    ShopConnection,
    Unsupported,
    WebhookEnvelope,
    WebhookRejected,
)
from stammkunde.plugins.ingest import connection_for
from stammkunde.plugins.manager import Plugins
from stammkunde.webhooks.inbox import (
    Processor,
    find_shop,
    normalize_domain,
    record_delivery,
)
from stammkunde.webhooks.metrics import WebhookMetrics

log = logging.getLogger("stammkunde.webhooks")

EXTENSION = "stammkunde.webhooks"
MAX_BODY_BYTES = 1024 * 1024
MAX_KEY = 255
RETRY_AFTER = "5"


def read_body(stream: Any, limit: int) -> bytes:
    """Read up to ``limit`` bytes (a stream may return less per read than asked)."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = stream.read(min(65536, limit - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


#: Headers never kept with a stored delivery, whatever an adapter passes on: credentials and
#: session data of whoever sent the request, and the signature itself.
SENSITIVE_HEADERS = frozenset({
    "authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key",
    "x-auth-token", "x-csrf-token", "x-shopify-hmac-sha256", "x-wc-webhook-signature",
})


def stored_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Return the headers worth keeping with a delivery (no credentials, bounded in size)."""
    kept: dict[str, str] = {}
    for name, value in headers.items():
        low = name.lower()
        if low in SENSITIVE_HEADERS or low.startswith("x-forwarded-") or "token" in low:
            continue
        kept[name[:100]] = str(value)[:1000]
        if len(kept) >= 50:
            break
    return kept


class Unavailable(Exception):
    """The database (or the credentials key) is not usable right now: answer 503."""


@dataclass
class Receiver:
    """Everything the webhook endpoint needs, resolved lazily so a down database is a 503."""

    sessions: Callable[[], sessionmaker[Session]]
    plugins: Callable[[], Plugins]
    processor: Callable[[], Processor]
    env: Mapping[str, str]
    secret_key: str | None
    max_body_bytes: int = MAX_BODY_BYTES
    processing: str = "worker"
    metrics: WebhookMetrics | None = None
    clock: Callable[[], float] = time.perf_counter
    shop_cache_seconds: float = 10.0
    #: The engine acknowledgements are inserted with (see :func:`ack_engine`); None: the
    #: sessions' own engine.
    ack: Callable[[], Engine] | None = None
    _shops: dict[tuple[str, str], tuple[float, int | None, ShopConnection | None]] = field(
        default_factory=dict, repr=False)

    def answer(self, platform: str, topic: str, outcome: str, status: int, started: float,
               **fields: Any) -> Response:
        """Count, log and build the JSON answer for a delivery."""
        if self.metrics is not None:
            self.metrics.delivery(platform, topic, outcome, self.clock() - started)
        level = logging.INFO if status < 400 else logging.WARNING
        log.log(level, "webhook delivery", extra={
            "platform": platform, "topic": topic, "outcome": outcome, "status": status,
            "duration_ms": round((self.clock() - started) * 1000, 2), **fields})
        response = jsonify({"status": outcome, **{k: v for k, v in fields.items()
                                                  if k in ("reason",)}})
        response.status_code = status
        if status == 503:
            response.headers["Retry-After"] = RETRY_AFTER
        return response

    def handle(self, platform: str, req: Request) -> Response:
        """Answer one delivery (see the module docstring for the order of work)."""
        started = self.clock()
        label = platform if platform.isidentifier() and len(platform) <= 40 else "-"
        length = req.content_length
        if length is not None and length > self.max_body_bytes:
            return self.answer(label, "-", "too_large", 413, started, bytes=length)
        body = read_body(req.stream, self.max_body_bytes + 1)
        if len(body) > self.max_body_bytes:
            return self.answer(label, "-", "too_large", 413, started, bytes=len(body))
        try:
            adapter = self.plugins().platform(platform)
        except UserError:
            return self.answer("-", "-", "unknown_platform", 404, started)
        if Capability.WEBHOOKS not in adapter.capabilities:
            return self.answer(label, "-", "unknown_platform", 404, started)
        try:
            return self._verified(adapter, platform, req.headers, body, started)
        except Unavailable as exc:
            return self.answer(platform, "-", "unavailable", 503, started, reason=str(exc))
        except (DBAPIError, PoolTimeout) as exc:
            return self.answer(platform, "-", "unavailable", 503, started,
                               reason="database unavailable", error=type(exc).__name__)

    def _shop(self, platform: str, domain: str | None) -> tuple[int | None, ShopConnection | None]:
        """Return the shop id and connection for a claimed domain, cached for a few seconds.

        The cache spares each delivery a query and a decryption; a changed secret, a new or an
        uninstalled shop is seen within ``shop_cache_seconds`` (meanwhile a delivery may be
        refused with 401, which the platform retries).
        """
        key = (platform, normalize_domain(domain))
        if not key[1]:
            return None, None
        hit = self._shops.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1], hit[2]
        found = self._lookup(platform, domain)
        if self.shop_cache_seconds > 0:
            if len(self._shops) > 10_000:
                self._shops.clear()
            self._shops[key] = (time.monotonic() + self.shop_cache_seconds, *found)
        return found

    def _lookup(self, platform: str, domain: str | None) -> tuple[int | None,
                                                                   ShopConnection | None]:
        with self.sessions()() as session:
            shop = find_shop(session, platform, domain)
            if shop is None:
                return None, None
            try:
                return shop.id, connection_for(shop, self.secret_key)
            except UserError as exc:  # stored credentials cannot be decrypted: misconfiguration
                raise Unavailable("shop credentials cannot be decrypted") from exc

    @staticmethod
    def _is_ping(adapter: PlatformAdapter, headers: Mapping[str, str], body: bytes) -> bool:
        try:
            return adapter.verify_webhook(headers, body, "").is_ping
        except Exception:
            return False

    def _verified(self, adapter: PlatformAdapter, platform: str, headers: Mapping[str, str],
                  body: bytes, started: float) -> Response:
        try:
            claimed = adapter.shop_domain_from_headers(headers)
        except Exception:
            return self.answer(platform, "-", "rejected", 400, started, reason="bad headers")
        shop_id, conn = self._shop(platform, claimed)
        secrets = adapter.webhook_secrets(conn, self.env)
        if not secrets:
            # Only an unsigned ping (which stores nothing) can pass without a secret.
            if self._is_ping(adapter, headers, body):
                return self.answer(platform, "ping", "ping", 200, started)
            return self.answer(platform, "-", "rejected", 401, started,
                               reason="no webhook secret for this shop")
        envelope: WebhookEnvelope | None = None
        rejection: WebhookRejected | None = None
        for secret in secrets:
            try:
                envelope = adapter.verify_webhook(headers, body, secret)
                break
            except WebhookRejected as exc:
                if rejection is None or rejection.status == 401:
                    rejection = exc
            except Unsupported:
                return self.answer(platform, "-", "unknown_platform", 404, started)
            except Exception as exc:  # an adapter tripping over garbage is the sender's fault
                rejection = WebhookRejected(f"malformed delivery ({type(exc).__name__})", 400)
                break
        if envelope is None:
            assert rejection is not None
            status = rejection.status if 400 <= rejection.status < 500 else 401
            return self.answer(platform, "-", "rejected", status, started,
                               reason=rejection.reason)
        topic = envelope.topic[:MAX_KEY]
        if envelope.is_ping:
            return self.answer(platform, topic, "ping", 200, started)
        if not envelope.delivery_id or len(envelope.delivery_id) > MAX_KEY or not topic or (
                len(envelope.topic) > MAX_KEY
                or len(normalize_domain(envelope.shop_domain)) > MAX_KEY):
            return self.answer(platform, topic, "rejected", 400, started,
                               reason="delivery id, topic or shop domain missing or too long")
        if normalize_domain(envelope.shop_domain) != normalize_domain(claimed):
            shop_id, _ = self._shop(platform, envelope.shop_domain)
        envelope = dataclasses.replace(envelope, headers=stored_headers(envelope.headers))
        engine = self.ack() if self.ack is not None else self.sessions().kw["bind"]
        stored = record_delivery(engine, envelope, shop_id)
        if stored.duplicate:
            return self.answer(platform, topic, "duplicate", 200, started,
                               delivery_id=envelope.delivery_id)
        response = self.answer(platform, topic, "stored", 200, started,
                               delivery_id=envelope.delivery_id, inbox_id=stored.id,
                               shop_id=shop_id)
        if self.processing == "inline" and stored.id is not None:
            inbox_id = stored.id
            response.call_on_close(lambda: self.process_after_ack(inbox_id, platform, topic))
        return response

    def process_after_ack(self, inbox_id: int, platform: str, topic: str) -> None:
        """Process a stored delivery once its acknowledgement is sent (inline mode)."""
        try:
            self.processor().process(inbox_id)
        except (DBAPIError, PoolTimeout) as exc:  # stays "received" for the next sweep
            log.warning("webhook processing deferred", extra={
                "inbox_id": inbox_id, "platform": platform, "topic": topic,
                "outcome": "deferred", "error": type(exc).__name__})


bp = Blueprint("webhooks", __name__)


@bp.post("/webhooks/<platform>")
def receive(platform: str) -> Response:
    """Receive one webhook delivery from a platform."""
    receiver: Receiver = current_app.extensions[EXTENSION]
    return receiver.handle(platform, request)


def init_receiver(app: Any, receiver: Receiver) -> None:
    """Attach a receiver to a Flask app and register the webhook blueprint."""
    app.extensions[EXTENSION] = receiver
    app.register_blueprint(bp)
