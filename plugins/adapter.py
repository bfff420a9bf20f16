"""The adapter interface: what a platform plugin implements and what the core calls.

An adapter turns one platform's API and webhooks into canonical records
(:mod:`stammkunde.core.records`) and carries offers back to the platform. It knows nothing of
Flask or the database. Methods an adapter does not support raise :class:`Unsupported`; the
``capabilities`` set says up front which ones it has, so the CLI can refuse early.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar

from stammkunde.core.errors import FieldError, UserError
from stammkunde.core.records import Batch, Record


class Capability(StrEnum):
    """What an adapter can do."""

    IMPORT_FILE = "import_file"
    SYNC = "sync"
    WEBHOOKS = "webhooks"
    DISCOUNTS = "discounts"
    TAGS = "tags"
    CUSTOMER_FIELDS = "customer_fields"
    INSTALL = "install"


class Unsupported(UserError):
    """The adapter does not offer this operation (a one-line error for the merchant)."""


class WebhookRejected(Exception):
    """A delivery that must not be stored; ``status`` is the HTTP answer (401, 400, ...)."""

    def __init__(self, reason: str, status: int = 401) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class InstallRejected(Exception):
    """An install (OAuth) callback that must not be trusted: bad signature, shop or state."""


class UnknownOptions(FieldError):
    """``shops add`` got options the platform does not declare."""

    def __init__(self, platform: str, unknown: Sequence[str],
                 declared: Mapping[str, ShopOption]) -> None:
        known = f" (its options: {', '.join(sorted(declared))})" if declared else ""
        super().__init__("platform {platform!r} takes no option(s): {names}{known}",
                         platform=platform, names=", ".join(unknown), known=known)


def declared_options(adapter: PlatformAdapter) -> dict[str, ShopOption]:
    """Return the adapter's shop options by name; a webhook adapter always takes its secret."""
    declared = {o.name: o for o in adapter.shop_options}
    if Capability.WEBHOOKS in adapter.capabilities:
        declared.setdefault(adapter.webhook_secret_key, ShopOption(
            adapter.webhook_secret_key, "the secret that signs the shop's webhooks", secret=True))
    return declared


def check_option_names(adapter: PlatformAdapter, options: Mapping[str, Any]) -> None:
    """Raise UnknownOptions for given options the adapter does not declare (domain/url always
    pass)."""
    declared = declared_options(adapter)
    unknown = sorted(k for k, v in options.items()
                     if v and k not in declared and k not in ("domain", "url"))
    if unknown:
        raise UnknownOptions(adapter.name, unknown, declared)


class Secret(str):
    """A credential string that never shows itself in repr, logs or tracebacks."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Secret('***')"

    def reveal(self) -> str:
        """Return the plain value (only where it is sent to the platform)."""
        return str.__str__(self)


@dataclass(frozen=True)
class ShopConnection:
    """Everything an adapter needs to talk to one shop: an explicit client per shop, no globals."""

    name: str
    platform: str
    domain: str | None = None
    currency: str = "EUR"
    timezone: str = "UTC"
    credentials: Mapping[str, Secret] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    #: The Stammkunde database (an SQLAlchemy engine), for a platform whose state lives in it
    #: (the built-in ``simulated`` platform of the demo); adapters that call a platform ignore it.
    database: Any = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class WebhookEnvelope:
    """A delivery whose signature checked out: who sent what, and the untouched body.

    ``delivery_id`` must stay the same across redeliveries of one event (the receiver stores a
    delivery once per platform, shop domain and delivery id). ``shop_domain`` is what
    ``Shop.domain`` holds for the sending shop. ``is_ping`` marks a delivery that only tests the
    endpoint (WooCommerce's creation ping): it is answered 200 and nothing is stored. ``headers``
    are the ones ``parse_webhook`` needs later; they are stored with the body.
    """

    platform: str
    topic: str
    shop_domain: str | None
    delivery_id: str
    raw_body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    triggered_at: datetime | None = None
    is_ping: bool = False


@dataclass(frozen=True)
class DiscountOffer:
    """What to give: a percentage or fixed amount, with its conditions and validity window."""

    title: str
    kind: str  # "percentage" or "fixed_amount"
    value: Decimal
    starts_at: datetime
    ends_at: datetime | None = None
    minimum_order: Decimal | None = None
    code_prefix: str = "SK"
    shared_code: str | None = None  # one code for all targeted customers instead of one each
    usage_limit_per_customer: int = 1


@dataclass(frozen=True)
class DiscountTarget:
    """One customer an offer goes to; the caller picks ``code`` so re-runs are idempotent."""

    customer_id: str
    email: str | None
    code: str


@dataclass(frozen=True)
class DiscountResult:
    """The outcome for one target: created, already existed, or failed with a reason."""

    customer_id: str
    code: str
    status: str  # "created", "exists", "failed"
    reason: str | None = None
    platform_id: str | None = None


@dataclass(frozen=True)
class ShopOption:
    """A per-shop option an adapter declares (``stammkunde shops add … --option NAME=VALUE``).

    A ``secret`` option (an API key, a webhook secret) is stored encrypted with the shop's
    credentials and reaches the adapter as a :class:`Secret` in ``ShopConnection.credentials``;
    it is never printed. Any other option is stored with the shop's settings and reaches the
    adapter in ``ShopConnection.options``.
    """

    name: str
    help: str
    secret: bool = False
    required: bool = False


@dataclass(frozen=True)
class WebhookRepair:
    """What a webhook health check found and fixed for one shop.

    ``expected`` topics should deliver to us; ``reenabled`` were switched off on the platform
    (WooCommerce: ``disabled`` after failed deliveries, or ``paused``) and are active again;
    ``recreated`` were missing and are subscribed again.
    """

    expected: tuple[str, ...] = ()
    reenabled: tuple[str, ...] = ()
    recreated: tuple[str, ...] = ()

    @property
    def repaired(self) -> int:
        """How many subscriptions were switched on again or recreated."""
        return len(self.reenabled) + len(self.recreated)


@dataclass(frozen=True)
class ShopSetup:
    """What ``stammkunde shops add`` stores for a shop: domain, credentials, settings."""

    domain: str | None = None
    credentials: Mapping[str, str] = field(default_factory=dict)
    settings: Mapping[str, Any] = field(default_factory=dict)


class PlatformAdapter:
    """Base class of platform adapters; override what the platform supports.

    Contract (checked by :mod:`stammkunde.plugins.testing`):
    - ``verify_webhook`` checks the signature over the *raw* body in constant time before parsing
      and raises :class:`WebhookRejected` for anything unsigned or wrongly signed;
    - ``parse_webhook`` and the fetch methods return canonical records only;
    - ``fetch_*`` yield :class:`Batch` objects whose ``cursor`` resumes right after the batch;
      calling again with that cursor never repeats or skips a record;
    - ``push_discounts`` is idempotent by code: a target whose code already exists is reported
      ``exists`` and not created again.
    """

    name: ClassVar[str] = ""
    display_name: ClassVar[str] = ""
    capabilities: ClassVar[frozenset[Capability]] = frozenset()
    file_formats: ClassVar[tuple[str, ...]] = ()
    #: Environment variable holding an app-wide webhook secret (e.g. a Shopify public app's
    #: ``STAMMKUNDE_SHOPIFY_API_SECRET``); ``None`` when every shop has its own secret.
    webhook_secret_env: ClassVar[str | None] = None
    #: Key in a shop's stored credentials that holds its own webhook secret.
    webhook_secret_key: ClassVar[str] = "webhook_secret"
    #: The per-shop options ``shops add`` accepts besides ``domain``/``url`` (see ShopOption).
    shop_options: ClassVar[tuple[ShopOption, ...]] = ()

    def configure_shop(self, options: Mapping[str, str | None]) -> ShopSetup:
        """Check the options given to ``shops add`` and return the shop's setup.

        ``options`` holds ``domain``/``url`` and the ``--option NAME=VALUE`` pairs. The default
        checks them against :attr:`shop_options`: an undeclared or missing required option is a
        ``FieldError`` naming it; secret options become encrypted credentials, the others
        settings. Override to check values further (raise ``FieldError`` naming the option).
        """
        given = {k: v for k, v in options.items() if v}
        check_option_names(self, given)
        declared = declared_options(self)
        for option in declared.values():
            if option.required and not given.get(option.name):
                raise FieldError("platform {platform!r} needs {" + option.name + "} ({help})",
                                 platform=self.name, help=option.help)
        credentials = {k: str(v).strip() for k, v in given.items()
                       if k in declared and declared[k].secret}
        settings = {k: str(v).strip() for k, v in given.items()
                    if k in declared and not declared[k].secret}
        return ShopSetup(domain=given.get("domain") or given.get("url"), credentials=credentials,
                         settings=settings)

    def import_file(self, path: Path, fmt: str | None, shop: ShopConnection) -> Iterator[Batch]:
        """Read an export file into batches of canonical records."""
        raise Unsupported(f"{self.name} cannot import files")

    # Webhooks: how the receiver (``POST /webhooks/<platform>``) uses an adapter, in order:
    #  1. ``shop_domain_from_headers(headers)``: the shop the delivery claims to come from
    #     (unverified); the receiver looks the shop up by it (``Shop.domain``) for its secret;
    #  2. ``webhook_secrets(shop, env)``: the secrets to try, in order (rotation: old and new);
    #  3. ``verify_webhook(headers, raw_body, secret)`` with each until one accepts: the envelope;
    #  4. the delivery is stored and acknowledged; later ``parse_webhook(envelope, shop)`` gives
    #     records.
    # ``headers`` is case-insensitive (``headers.get("x-shopify-topic")`` works).

    def shop_domain_from_headers(self, headers: Mapping[str, str]) -> str | None:
        """Return the shop domain a delivery names in its headers (unverified), or None.

        Adapters whose signature can only be checked with the shop's own secret must override
        this (WooCommerce: ``X-WC-Webhook-Source``), so the receiver can find the shop before
        verifying. The value must match ``Shop.domain`` up to case, scheme and trailing slash.
        The default None means: no per-shop lookup before verification.
        """
        return None

    def webhook_secrets(self, shop: ShopConnection | None, env: Mapping[str, str]) -> list[str]:
        """Return the secrets a delivery may be signed with, in the order to try them.

        ``shop`` is the shop found by :meth:`shop_domain_from_headers` (None if unknown), with
        decrypted credentials. The default offers the shop's ``webhook_secret`` credential, then
        the app-wide secret from the environment variable named by ``webhook_secret_env``.
        Override to add e.g. a previous secret during rotation. An empty list rejects the
        delivery (401).
        """
        secrets: list[str] = []
        if shop is not None:
            value = shop.credentials.get(self.webhook_secret_key)
            if value:
                secrets.append(value.reveal() if isinstance(value, Secret) else str(value))
        if self.webhook_secret_env:
            value = env.get(self.webhook_secret_env)
            if value and value not in secrets:
                secrets.append(value)
        return secrets

    def verify_webhook(
        self, headers: Mapping[str, str], raw_body: bytes, secret: str
    ) -> WebhookEnvelope:
        """Check a delivery's signature and return its envelope, or raise WebhookRejected.

        The check runs on the raw body in constant time (``hmac.compare_digest``) before anything
        is parsed. A ping that the platform sends unsigned may be returned with ``is_ping=True``.
        """
        raise Unsupported(f"{self.name} has no webhooks")

    def repair_webhooks(self, shop: ShopConnection, base_url: str) -> WebhookRepair:
        """Check the shop's subscriptions to ``base_url``; switch on or recreate what is off.

        Optional (called hourly by the webhook health job for adapters that implement it).
        """
        raise Unsupported(f"{self.name} cannot check its webhooks")

    def parse_webhook(self, envelope: WebhookEnvelope, shop: ShopConnection) -> list[Record]:
        """Turn a verified delivery into canonical records (empty for topics it ignores).

        ``shop`` is the connection of the shop the delivery belongs to: its currency, timezone
        and options (a status map, say) apply exactly as in a sync, so the same order gives the
        same record either way. Its credentials may be empty: called after the delivery is
        stored, possibly much later (replay), it must not call the platform. A payload it cannot
        read raises an exception whose message names no person (no e-mail, name or address):
        the message is stored with the failed delivery.
        """
        raise Unsupported(f"{self.name} has no webhooks")

    def fetch_orders(
        self, shop: ShopConnection, since: datetime | None = None, cursor: str | None = None
    ) -> Iterator[Batch]:
        """Yield orders updated since ``since`` (all when None), resuming after ``cursor``."""
        raise Unsupported(f"{self.name} cannot sync orders")

    def fetch_customers(
        self, shop: ShopConnection, since: datetime | None = None, cursor: str | None = None
    ) -> Iterator[Batch]:
        """Yield customers updated since ``since`` (all when None), resuming after ``cursor``."""
        raise Unsupported(f"{self.name} cannot sync customers")

    def push_discounts(
        self, shop: ShopConnection, offer: DiscountOffer, targets: Sequence[DiscountTarget]
    ) -> Iterator[DiscountResult]:
        """Create the offer's codes in the shop; one result per target."""
        raise Unsupported(f"{self.name} cannot create discounts")

    def tag_customers(
        self, shop: ShopConnection, tag: str, customer_ids: Iterable[str], *, remove: bool = False
    ) -> dict[str, str]:
        """Add (or remove) a tag on customers; returns customer id -> "ok" or a failure reason."""
        raise Unsupported(f"{self.name} cannot tag customers")

    def set_customer_fields(
        self, shop: ShopConnection, namespace: str, values: Mapping[str, Mapping[str, str]]
    ) -> dict[str, str]:
        """Write custom fields onto customers (Shopify metafields, WooCommerce customer meta).

        ``values`` maps a customer id to ``{key: text}`` within ``namespace``; writing the same
        values again changes nothing. Returns customer id -> "ok" or a failure reason, one entry
        per customer. The adapter batches the calls within the platform's limits.
        """
        raise Unsupported(f"{self.name} cannot write customer fields")

    def subscribe_webhooks(self, shop: ShopConnection, base_url: str) -> list[str]:
        """Create the platform's webhook subscriptions pointing at ``base_url``; return topics."""
        raise Unsupported(f"{self.name} has no webhooks")

    def install_url(self, shop_domain: str, redirect_uri: str, state: str, api_key: str) -> str:
        """Return the URL that asks the merchant to grant the app access (OAuth authorize).

        Raises :class:`InstallRejected` for a shop domain the platform does not serve.
        """
        raise Unsupported(f"{self.name} has no install flow")

    def verify_install_query(self, query: Mapping[str, str], api_secret: str) -> str:
        """Check the signature of an install callback's query; return the verified shop domain.

        Raises :class:`InstallRejected` when the signature or the shop domain is bad.
        """
        raise Unsupported(f"{self.name} has no install flow")

    def exchange_install_code(
        self, shop_domain: str, code: str, api_key: str, api_secret: str
    ) -> ShopSetup:
        """Trade the callback's authorization code for credentials; return the shop's setup."""
        raise Unsupported(f"{self.name} has no install flow")
