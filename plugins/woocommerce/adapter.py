"""The WooCommerce adapter (platform ``woocommerce``): REST API v3 sync, webhooks, coupons.

Shop settings (``shops.settings``): ``url`` (the store), ``requests_per_second`` (politeness,
default 4; 0 = unlimited), ``timeout`` (seconds, default 30), ``max_retries`` (default 5),
``batch_size`` (default 100, the documented batch maximum), ``ca_bundle`` (a CA file for stores
with a private certificate), ``query_string_auth`` (send the keys as query parameters, for hosts
whose web server drops the Authorization header), ``status_map`` (extra status → canonical
status), ``overlap_minutes`` (re-read window of incremental syncs, default 10) and
``allow_http`` (local test stores only).
Credentials: ``consumer_key``, ``consumer_secret``, ``webhook_secret``.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar

from stammkunde.core.errors import FieldError, UserError
from stammkunde.core.records import Batch, Record
from stammkunde.core.timeutil import now
from stammkunde.plugins.adapter import (
    Capability,
    DiscountOffer,
    DiscountResult,
    DiscountTarget,
    PlatformAdapter,
    ShopConnection,
    ShopSetup,
    WebhookEnvelope,
)
from stammkunde.plugins.woocommerce import coupons, sync, webhooks
from stammkunde.plugins.woocommerce.client import ClientOptions, WooClient
from stammkunde.plugins.woocommerce.store_url import http_allowed, normalize_store_url

WEBHOOK_TOPICS = ("order.created", "order.updated", "order.deleted", "order.restored",
                  "customer.created", "customer.updated", "customer.deleted")
WEBHOOK_PATH = "/webhooks/woocommerce"


def new_webhook_secret() -> str:
    """Return a fresh random secret for signing webhooks."""
    return secrets.token_urlsafe(32)


class WooCommerceAdapter(PlatformAdapter):
    """WooCommerce stores through the REST API v3 (``woocommerce`` package) and webhooks."""

    name: ClassVar[str] = "woocommerce"
    display_name: ClassVar[str] = "WooCommerce"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({
        Capability.SYNC, Capability.WEBHOOKS, Capability.DISCOUNTS, Capability.TAGS,
    })
    # The key exchange is not OAuth (no code, no signed query), so Capability.INSTALL, which
    # promises install_url / verify_install_query / exchange_install_code, is not declared;
    # the web app's ``install_woocommerce`` blueprint runs it with the ``store_url`` helpers.

    def __init__(self, *, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic,
                 now: Callable[[], datetime] = now) -> None:
        self.sleep = sleep
        self.clock = clock
        self.now = now
        self.last_client: WooClient | None = None

    def client(self, shop: ShopConnection) -> WooClient:
        """Open a REST client for one shop (an explicit client per shop, no global state)."""
        url = shop.options.get("url") or shop.domain
        url = normalize_store_url(url, allow_http=http_allowed(shop.options))
        key = shop.credentials.get("consumer_key")
        secret = shop.credentials.get("consumer_secret")
        if not key or not secret:
            raise UserError(f"shop {shop.name!r} has no WooCommerce consumer key/secret "
                            "(reconnect it or add it with its consumer key and secret)")
        reveal = getattr(key, "reveal", lambda: str(key))
        reveal_secret = getattr(secret, "reveal", lambda: str(secret))
        client = WooClient(url, reveal(), reveal_secret(),
                           ClientOptions.from_settings(shop.options),
                           sleep=self.sleep, clock=self.clock)
        self.last_client = client
        return client

    def configure_shop(self, options: Mapping[str, str | None]) -> ShopSetup:
        """Check ``--url``, ``--consumer-key``, ``--consumer-secret`` (``--webhook-secret``)."""
        if options.get("token"):
            raise FieldError("{token} is for Shopify; WooCommerce uses {consumer_key} and "
                             "{consumer_secret}")
        allow = http_allowed()
        url = normalize_store_url(options.get("url") or options.get("domain"), allow_http=allow)
        key = (options.get("consumer_key") or "").strip()
        secret = (options.get("consumer_secret") or "").strip()
        if not key or not secret:
            raise FieldError("WooCommerce needs {consumer_key} and {consumer_secret} "
                            "(WooCommerce > Settings > Advanced > REST API, Read/Write)")
        if not key.startswith("ck_"):
            raise FieldError("{consumer_key} must start with ck_ (is it the secret?)")
        if not secret.startswith("cs_"):
            raise FieldError("{consumer_secret} must start with cs_ (is it the key?)")
        settings: dict[str, Any] = {"url": url}
        if url.startswith("http://"):
            settings["allow_http"] = True
        return ShopSetup(domain=url, settings=settings, credentials={
            "consumer_key": key, "consumer_secret": secret,
            "webhook_secret": (options.get("webhook_secret") or "").strip()
            or new_webhook_secret(),
        })

    def shop_domain_from_headers(self, headers: Mapping[str, str]) -> str | None:
        """Return the store URL a delivery names in ``X-WC-Webhook-Source`` (unverified)."""
        return webhooks.source_of(headers)

    def verify_webhook(self, headers: Mapping[str, str], raw_body: bytes,
                       secret: str) -> WebhookEnvelope:
        """Check ``X-WC-Webhook-Signature``; the unsigned creation ping gets ``is_ping``."""
        return webhooks.verify(headers, raw_body, secret)

    def parse_webhook(self, envelope: WebhookEnvelope) -> list[Record]:
        """Turn order.* and customer.* deliveries into records; other topics give []."""
        return webhooks.parse(envelope)

    def fetch_orders(self, shop: ShopConnection, since: datetime | None = None,
                     cursor: str | None = None) -> Iterator[Batch]:
        """Yield orders modified since ``since`` (all when None), one batch per page."""
        return sync.fetch_orders(
            self.client(shop), since=since, cursor=cursor, now=self.now(),
            currency=shop.currency, status_map=shop.options.get("status_map"),
            overlap=_overlap(shop))

    def fetch_customers(self, shop: ShopConnection, since: datetime | None = None,
                        cursor: str | None = None) -> Iterator[Batch]:
        """Yield customer accounts modified since ``since`` (all when None)."""
        return sync.fetch_customers(self.client(shop), since=since, cursor=cursor,
                                    now=self.now(), overlap=_overlap(shop))

    def push_discounts(self, shop: ShopConnection, offer: DiscountOffer,
                       targets: Sequence[DiscountTarget]) -> Iterator[DiscountResult]:
        """Create the codes (batched, idempotent by code); one result per target."""
        return coupons.push(self.client(shop), offer, targets,
                            batch_size=int(shop.options.get("batch_size", coupons.BATCH_MAX)))

    def tag_customers(self, shop: ShopConnection, tag: str, customer_ids: Iterable[str], *,
                      remove: bool = False) -> dict[str, str]:
        """Record segment membership as customer meta data (WooCommerce has no tags)."""
        return coupons.tag(self.client(shop), tag, customer_ids, remove=remove,
                           batch_size=int(shop.options.get("batch_size", coupons.BATCH_MAX)))

    def subscribe_webhooks(self, shop: ShopConnection, base_url: str) -> list[str]:
        """Create the order and customer webhooks, signed with the shop's webhook secret."""
        secret = shop.credentials.get("webhook_secret")
        if not secret:
            raise UserError(f"shop {shop.name!r} has no webhook secret")
        reveal = getattr(secret, "reveal", lambda: str(secret))
        client = self.client(shop)
        delivery_url = base_url.rstrip("/") + WEBHOOK_PATH
        existing = client.json("GET", "webhooks", {"per_page": 100}) or []
        have = {(w.get("topic"), w.get("delivery_url")) for w in existing
                if w.get("status") == "active"}
        create = [{"name": f"Stammkunde {topic}", "topic": topic, "delivery_url": delivery_url,
                   "secret": reveal(), "status": "active"}
                  for topic in WEBHOOK_TOPICS if (topic, delivery_url) not in have]
        if create:
            answer = client.json("POST", "webhooks/batch", data={"create": create})
            errors = [i["error"].get("message") for i in (answer or {}).get("create", [])
                      if isinstance(i, dict) and i.get("error")]
            if errors:
                raise UserError(f"the store refused webhooks: {'; '.join(map(str, errors))}")
        return list(WEBHOOK_TOPICS)


def _overlap(shop: ShopConnection) -> timedelta:
    return timedelta(minutes=float(shop.options.get("overlap_minutes", 10)))
