"""Public-app install: authorize URL, callback HMAC check, code-for-token exchange.

Shopify's authorization code grant (https://shopify.dev/docs/apps/build/authentication-authorization/access-tokens/authorization-code-grant):
redirect to ``https://{shop}/admin/oauth/authorize?client_id&scope&redirect_uri&state``; the
callback carries ``code, hmac, host, shop, state, timestamp``; ``hmac`` is the hex HMAC-SHA256 of
the other parameters sorted and joined as ``k=v&...``; the code is exchanged by POSTing
``client_id, client_secret, code`` to ``https://{shop}/admin/oauth/access_token``.

ShopifyAPI implements the same HMAC rule in ``shopify.Session.calculate_hmac``, but reads the
secret from class-level state; with many shops and one process we keep it a pure function (the
tests check both agree).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable, Mapping
from urllib.parse import urlencode

import requests

from stammkunde.plugins.adapter import InstallRejected

SHOP_DOMAIN = re.compile(r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$")
DEFAULT_SCOPES = ("read_orders", "read_all_orders", "read_customers", "write_customers",
                  "read_discounts", "write_discounts")
MAX_AGE = 24 * 60 * 60  # a callback older than a day is a replay


def valid_shop_domain(domain: str | None) -> str:
    """Return the normalised ``*.myshopify.com`` domain or raise InstallRejected."""
    value = (domain or "").strip().lower()
    if not SHOP_DOMAIN.match(value):
        raise InstallRejected(f"not a Shopify shop domain (expected name.myshopify.com): "
                              f"{(domain or '')[:100]!r}")
    return value


def authorize_url(shop_domain: str, api_key: str, redirect_uri: str, state: str,
                  scopes: tuple[str, ...] = DEFAULT_SCOPES) -> str:
    """Return the URL that asks the merchant to grant the app the scopes (offline token)."""
    domain = valid_shop_domain(shop_domain)
    query = urlencode({"client_id": api_key, "scope": ",".join(scopes),
                       "redirect_uri": redirect_uri, "state": state})
    return f"https://{domain}/admin/oauth/authorize?{query}"


def query_hmac(params: Mapping[str, str], secret: str) -> str:
    """Return the hex HMAC-SHA256 Shopify computes over a callback's other parameters."""
    message = "&".join(f"{k}={v}" for k, v in sorted(params.items())
                       if k not in ("hmac", "signature"))
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def verify_query(params: Mapping[str, str], secret: str,
                 clock: Callable[[], float] = time.time) -> str:
    """Check a callback's ``hmac`` (constant time) and age; return its verified shop domain."""
    given = str(params.get("hmac") or "")
    if not given or not secret:
        raise InstallRejected("the install callback is not signed")
    if not hmac.compare_digest(query_hmac(params, secret).encode(), given.lower().encode()):
        raise InstallRejected("the install callback's hmac does not match")
    try:
        stamp = int(params.get("timestamp") or 0)
    except ValueError as exc:
        raise InstallRejected("the install callback has a malformed timestamp") from exc
    if stamp and stamp < clock() - MAX_AGE:
        raise InstallRejected("the install callback is more than a day old")
    return valid_shop_domain(params.get("shop"))


def exchange_code(shop_domain: str, code: str, api_key: str, api_secret: str, *,
                  session: requests.Session | None = None, timeout: float = 30.0) -> dict[str, str]:
    """Trade the callback's code for an offline access token; return token and scope."""
    domain = valid_shop_domain(shop_domain)
    http = session or requests.Session()
    resp = http.post(f"https://{domain}/admin/oauth/access_token",
                     json={"client_id": api_key, "client_secret": api_secret, "code": code},
                     timeout=timeout)
    if resp.status_code != 200:
        raise InstallRejected(f"Shopify refused the authorization code (HTTP {resp.status_code})")
    body = resp.json()
    token = body.get("access_token")
    if not token:
        raise InstallRejected("Shopify's token answer has no access_token")
    return {"access_token": token, "scope": str(body.get("scope") or "")}
