"""Store URLs and the key-exchange URL of WooCommerce's application authentication endpoint.

WooCommerce generates REST API keys for an app through ``/wc-auth/v1/authorize`` with
``app_name``, ``scope``, ``user_id``, ``return_url`` and ``callback_url``; after the merchant
approves, the store POSTs ``key_id``, ``user_id``, ``consumer_key``, ``consumer_secret`` and
``key_permissions`` as JSON to the callback URL (which must be https) and redirects the browser to
``return_url?success=1&user_id=…``.
https://developer.woocommerce.com/docs/apis/rest-api/authentication/
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from stammkunde.core.errors import UserError

ALLOW_HTTP_ENV = "STAMMKUNDE_ALLOW_HTTP_STORES"
AUTHORIZE_PATH = "/wc-auth/v1/authorize"
APP_NAME = "Stammkunde"
SCOPE = "read_write"


def http_allowed(options: Mapping[str, Any] | None = None,
                 env: Mapping[str, str] | None = None) -> bool:
    """Return True when plain-http stores are allowed (local testing only)."""
    env = os.environ if env is None else env
    if str(env.get(ALLOW_HTTP_ENV, "")).strip().lower() in ("1", "true", "yes"):
        return True
    return bool((options or {}).get("allow_http"))


def normalize_store_url(url: str | None, *, allow_http: bool = False) -> str:
    """Return the store's base URL as ``https://host[:port][/path]``, or a one-line error.

    Credentials travel to this URL, so plain http is refused unless ``allow_http`` is set
    (``STAMMKUNDE_ALLOW_HTTP_STORES=1`` for a store on the local machine).
    """
    text = (url or "").strip()
    if not text:
        raise UserError("the store URL is missing (e.g. https://shop.example.com)")
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UserError(f"store URL {url!r} must start with https://")
    if scheme == "http" and not allow_http:
        raise UserError(
            f"store URL {url!r} uses plain http, which would send the API keys unencrypted; "
            f"use https (or set {ALLOW_HTTP_ENV}=1 for a local test store)"
        )
    if not parts.hostname or parts.username or parts.password:
        raise UserError(f"store URL {url!r} has no valid host name")
    if parts.query or parts.fragment:
        raise UserError(f"store URL {url!r} must not contain a query or fragment")
    host = parts.hostname.lower()
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError as exc:
        raise UserError(f"store URL {url!r} has an invalid port") from exc
    netloc = host if port is None or (scheme, port) in (("https", 443), ("http", 80)) \
        else f"{host}:{port}"
    path = parts.path.rstrip("/")
    return urlunsplit((scheme, netloc, path, "", ""))


def authorize_url(store_url: str, *, nonce: str, return_url: str, callback_url: str,
                  app_name: str = APP_NAME) -> str:
    """Build the URL that asks the merchant to grant read/write REST API keys to the app."""
    query = urlencode({
        "app_name": app_name,
        "scope": SCOPE,
        "user_id": nonce,
        "return_url": return_url,
        "callback_url": callback_url,
    })
    return f"{store_url.rstrip('/')}{AUTHORIZE_PATH}?{query}"


def shop_name_for(store_url: str) -> str:
    """Derive a shop name from the store URL (host plus path, e.g. ``shop.example.com``)."""
    parts = urlsplit(store_url)
    name = (parts.hostname or "") + parts.path.replace("/", "-")
    if parts.port:
        name += f"-{parts.port}"
    return name[:100]
