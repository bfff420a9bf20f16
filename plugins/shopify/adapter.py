"""The Shopify adapter: GraphQL Admin API sync, webhooks, discount codes, tags and install."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar

import requests

from stammkunde.core.errors import FieldError, UserError
from stammkunde.core.records import Batch, Record
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
from stammkunde.plugins.shopify import discounts, oauth, sync, webhooks
from stammkunde.plugins.shopify import queries as q
from stammkunde.plugins.shopify.client import DEFAULT_API_VERSION, GraphQLClient, ShopifyError

WEBHOOK_TOPICS = ("ORDERS_CREATE", "ORDERS_UPDATED", "ORDERS_PAID", "ORDERS_CANCELLED",
                  "REFUNDS_CREATE", "CUSTOMERS_CREATE", "CUSTOMERS_UPDATE", "APP_UNINSTALLED")
DEFAULTS: dict[str, Any] = {"page_size": None, "customer_page_size": None,
                            "bulk_threshold": 10_000, "bulk_batch": 2000, "poll_interval": 2.0,
                            "discount_group_size": discounts.DEFAULT_GROUP,
                            "per_customer": False}


def api_version(options: Mapping[str, Any]) -> str:
    """The pinned version, or a newer one a shop setting asks for.

    Versions older than the pin are ignored: shops set up before the pin moved stored the version
    of their day (2025-07), which Shopify no longer serves and which lacks calls we send.
    """
    wanted = str(options.get("api_version") or "")
    return wanted if wanted > DEFAULT_API_VERSION and wanted != "unstable" else \
        DEFAULT_API_VERSION


def _int_or_none(value: Any) -> int | None:
    return None if value in (None, "", "auto") else int(value)


class ShopifyAdapter(PlatformAdapter):
    """Shopify through the GraphQL Admin API, one client (session, rate bucket) per shop.

    Shop settings (``ShopConnection.options``): ``api_version`` (only a version newer than the
    pinned ``DEFAULT_API_VERSION`` is used);
    ``page_size`` and ``customer_page_size`` (default: pages sized to half the shop's cost
    bucket); ``bulk_threshold`` (a full sync of at least this many records runs as a bulk export;
    ``null``: never); ``bulk_batch`` (records per batch from a bulk file); ``poll_interval``
    (seconds); ``discount_group_size``; ``per_customer`` (one discount per customer);
    ``base_url`` (tests and the fake shop).
    Credentials: ``access_token``.
    """

    name: ClassVar[str] = "shopify"
    display_name: ClassVar[str] = "Shopify"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({
        Capability.SYNC, Capability.WEBHOOKS, Capability.DISCOUNTS, Capability.TAGS,
        Capability.INSTALL})
    #: A public app signs every shop's webhooks with its client secret; a custom app's shop has
    #: its own (stored as the ``webhook_secret`` credential by ``shops add --webhook-secret``).
    webhook_secret_env: ClassVar[str | None] = "STAMMKUNDE_SHOPIFY_API_SECRET"

    def __init__(self, *, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time,
                 http: Callable[[], requests.Session] = requests.Session) -> None:
        self.sleep, self.clock, self.wall_clock, self.http = sleep, clock, wall_clock, http
        self._clients: dict[tuple[str, ...], GraphQLClient] = {}
        self._lock = threading.Lock()

    # --- configuration ---------------------------------------------------------------------

    def configure_shop(self, options: Mapping[str, str | None]) -> ShopSetup:
        """Set up a custom app's shop: ``--domain name.myshopify.com --token shpat_...``."""
        extra = sorted(k for k in ("url", "consumer_key", "consumer_secret") if options.get(k))
        if extra:
            raise UserError(f"platform 'shopify' takes no option(s): {', '.join(extra)}")
        if not options.get("domain"):
            raise FieldError("shopify needs {domain} (name.myshopify.com)")
        if not options.get("token"):
            raise FieldError("shopify needs {token} (the custom app's Admin API access token)")
        try:
            domain = oauth.valid_shop_domain(options["domain"])
        except Exception as exc:
            raise UserError(str(exc)) from exc
        creds = {"access_token": str(options["token"]).strip()}
        if options.get("webhook_secret"):
            creds["webhook_secret"] = str(options["webhook_secret"]).strip()
        return ShopSetup(domain=domain, credentials=creds, settings={})

    def option(self, shop: ShopConnection, key: str) -> Any:
        """Return a shop setting or its default."""
        return shop.options.get(key, DEFAULTS.get(key))

    def client(self, shop: ShopConnection) -> GraphQLClient:
        """Return this shop's client (created once; it remembers the shop's rate bucket)."""
        token = shop.credentials.get("access_token")
        if not token or not shop.domain:
            raise UserError(f"shop {shop.name!r} has no Shopify domain or access token; "
                            "install the app or add the shop with its access token")
        secret = token.reveal() if hasattr(token, "reveal") else str(token)
        key = (shop.name, shop.domain, str(shop.options.get("base_url") or ""),
               hashlib.sha256(secret.encode()).hexdigest())
        with self._lock:
            if key not in self._clients:
                self._clients[key] = GraphQLClient(
                    shop.domain, secret, api_version=api_version(shop.options),
                    base_url=shop.options.get("base_url"), session=self.http(),
                    sleep=self.sleep, clock=self.clock)
            return self._clients[key]

    # --- sync ------------------------------------------------------------------------------

    def _fetch(self, shop: ShopConnection, resource: str, since: datetime | None,
               cursor: str | None) -> Iterator[Batch]:
        size_key = "page_size" if resource == "orders" else "customer_page_size"
        threshold = self.option(shop, "bulk_threshold")
        return sync.fetch(self.client(shop), resource, since, cursor,
                          page_size=_int_or_none(self.option(shop, size_key)),
                          bulk_threshold=None if threshold is None else int(threshold),
                          poll_interval=float(self.option(shop, "poll_interval")),
                          bulk_batch=int(self.option(shop, "bulk_batch")))

    def fetch_orders(self, shop: ShopConnection, since: datetime | None = None,
                     cursor: str | None = None) -> Iterator[Batch]:
        """Yield orders updated since ``since`` (all when None), resuming after ``cursor``."""
        return self._fetch(shop, "orders", since, cursor)

    def fetch_customers(self, shop: ShopConnection, since: datetime | None = None,
                        cursor: str | None = None) -> Iterator[Batch]:
        """Yield customers updated since ``since`` (all when None), resuming after ``cursor``."""
        return self._fetch(shop, "customers", since, cursor)

    # --- webhooks --------------------------------------------------------------------------

    def shop_domain_from_headers(self, headers: Mapping[str, str]) -> str | None:
        """Return ``X-Shopify-Shop-Domain`` (unverified), so a custom app's secret is found."""
        return webhooks.shop_domain(headers)

    def verify_webhook(self, headers: Mapping[str, str], raw_body: bytes,
                       secret: str) -> WebhookEnvelope:
        """Check ``X-Shopify-Hmac-Sha256`` over the raw body; return the envelope."""
        return webhooks.verify(headers, raw_body, secret)

    def parse_webhook(self, envelope: WebhookEnvelope) -> list[Record]:
        """Map a verified delivery to canonical records ([] for topics not used)."""
        return webhooks.parse(envelope)

    def subscribe_webhooks(self, shop: ShopConnection, base_url: str) -> list[str]:
        """Subscribe the shop's webhooks to ``<base_url>/webhooks/shopify``; return topics.

        The privacy topics (customers/data_request, customers/redact, shop/redact) cannot be
        subscribed through the API: they are set in the app's configuration (docs/adapters.md).
        """
        client = self.client(shop)
        callback = base_url.rstrip("/") + "/webhooks/shopify"
        done = []
        for topic in WEBHOOK_TOPICS:
            data = client.execute(q.WEBHOOK_CREATE, {
                "topic": topic, "sub": {"uri": callback, "format": "JSON"}},
                operation="WebhookCreate", expected_cost=10)
            errors = data["webhookSubscriptionCreate"].get("userErrors") or []
            if errors and not all("already been taken" in e["message"] for e in errors):
                raise ShopifyError(f"cannot subscribe {topic}: "
                                   + "; ".join(e["message"] for e in errors))
            done.append(topic.lower().replace("_", "/", 1))
        return done

    # --- discounts and tags ----------------------------------------------------------------

    def push_discounts(self, shop: ShopConnection, offer: DiscountOffer,
                       targets: Sequence[DiscountTarget]) -> Iterator[DiscountResult]:
        """Create codes only the targets can use, once each; one result per target."""
        return discounts.push(self.client(shop), offer, targets,
                              group_size=int(self.option(shop, "discount_group_size")),
                              per_customer=bool(self.option(shop, "per_customer")),
                              poll_interval=float(self.option(shop, "poll_interval")))

    def tag_customers(self, shop: ShopConnection, tag: str, customer_ids: Iterable[str], *,
                      remove: bool = False) -> dict[str, str]:
        """Add (or remove) a tag with tagsAdd/tagsRemove; customer id -> "ok" or a reason."""
        return discounts.tag(self.client(shop), tag, customer_ids, remove)

    # --- install ---------------------------------------------------------------------------

    def install_url(self, shop_domain: str, redirect_uri: str, state: str, api_key: str) -> str:
        """Return the OAuth authorize URL for a ``*.myshopify.com`` shop."""
        scopes = os.environ.get("STAMMKUNDE_SHOPIFY_SCOPES")
        chosen = tuple(s.strip() for s in scopes.split(",") if s.strip()) if scopes else None
        return oauth.authorize_url(shop_domain, api_key, redirect_uri, state,
                                   chosen or oauth.DEFAULT_SCOPES)

    def verify_install_query(self, query: Mapping[str, str], api_secret: str) -> str:
        """Check the callback's hmac and age; return the shop domain it vouches for."""
        return oauth.verify_query(query, api_secret, clock=self.wall_clock)

    def exchange_install_code(self, shop_domain: str, code: str, api_key: str,
                              api_secret: str) -> ShopSetup:
        """Trade the code for an offline token; the shop's setup stores it (encrypted)."""
        token = oauth.exchange_code(shop_domain, code, api_key, api_secret, session=self.http())
        return ShopSetup(domain=oauth.valid_shop_domain(shop_domain),
                         credentials={"access_token": token["access_token"]},
                         settings={"scope": token["scope"]})
