"""A local HTTP server that answers like a WooCommerce store's REST API v3 (and its failures).

Serves ``/wp-json/wc/v3/`` orders, refunds, customers, coupons, webhooks and the batch endpoints,
with WordPress pagination headers (``X-WP-Total``, ``X-WP-TotalPages``, ``Link``). Auth as
WooCommerce checks it: over plain http only OAuth 1.0a (HMAC-SHA256 signature, as the
``woocommerce`` package sends it), over https HTTP Basic or ``consumer_key``/``consumer_secret``
query parameters. Batch requests above ``batch_limit`` items get 413
``woocommerce_rest_request_entity_too_large`` as in ``WC_REST_Controller::check_batch_limit``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

if TYPE_CHECKING:
    from tests.fakes.woocommerce import FakeWooCommerce

PREFIX = "/wp-json/wc/v3/"


@dataclass
class Rule:
    """An injected failure: answer ``status`` (or drop / stall) on matching requests."""

    kind: str  # "status", "drop" or "stall"
    path: str | None = None
    status: int = 500
    retry_after: str | None = None
    times: int | None = 1  # None: until cleared
    after: int = 0  # let this many matching requests through first
    seconds: float = 0.0

    def matches(self, method: str, route: str) -> bool:
        """Return True when the rule applies to this request."""
        return self.path is None or route == self.path or f"{method} {route}" == self.path


def _error(code: str, message: str, status: int) -> tuple[int, Any]:
    return status, {"code": code, "message": message, "data": {"status": status}}


def oauth_signature(method: str, base_url: str, params: dict[str, str], secret: str) -> str:
    """Compute the OAuth 1.0a HMAC-SHA256 signature WooCommerce expects for a request."""
    def norm(value: str) -> str:
        return quote(unquote(str(value))).replace("%", "%25")

    pairs = sorted((norm(k), norm(v)) for k, v in params.items() if k != "oauth_signature")
    query = "%26".join(f"{k}%3D{v}" for k, v in pairs)
    base = f"{method}&{quote(base_url, '')}&{query}"
    digest = hmac.new(f"{secret}&".encode(), base.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class Handler(BaseHTTPRequestHandler):
    """Routes one request to the fake store."""

    fake: FakeWooCommerce
    server_version = "Apache"

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet."""

    def do_GET(self) -> None:
        """Handle GET."""
        self._handle("GET")

    def do_POST(self) -> None:
        """Handle POST."""
        self._handle("POST")

    def do_PUT(self) -> None:
        """Handle PUT."""
        self._handle("PUT")

    def _handle(self, method: str) -> None:
        fake = self.fake
        parts = urlsplit(self.path)
        params = dict(parse_qsl(parts.query, keep_blank_values=True))  # last value wins, as PHP
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        route = parts.path[len(PREFIX):].strip("/") if parts.path.startswith(PREFIX) else None
        fake.calls.append((method, route or parts.path, params))
        rule = fake.take_rule(method, route or parts.path)
        if rule is not None:
            if rule.kind == "drop":
                self.close_connection = True
                return
            if rule.kind == "stall":
                time.sleep(rule.seconds)
            else:
                status, body = _error("fake_failure", "injected failure", rule.status)
                headers = {"Retry-After": rule.retry_after} if rule.retry_after else {}
                self._send(status, body, headers)
                return
        if route is None:
            self._send(*_error("rest_no_route", "No route was found matching the URL and "
                               "request method.", 404))
            return
        auth = self._authenticate(method, parts.path, params)
        if auth is not None:
            self._send(*auth)
            return
        for key in [k for k in params if k.startswith("oauth_")] + ["consumer_key",
                                                                    "consumer_secret"]:
            params.pop(key, None)
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            self._send(*_error("rest_invalid_json", "Invalid JSON body passed.", 400))
            return
        fake.calls[-1] = (method, route, params)
        result = fake.api.dispatch(method, route, params, data)
        if len(result) == 2:
            status, body = result
            headers: dict[str, str] = {}
        else:
            status, body, headers = result
        fields = params.get("_fields")
        if fields and status < 300:
            keep = set(fields.split(","))
            if isinstance(body, list):
                body = [{k: v for k, v in item.items() if k in keep} for item in body]
            elif isinstance(body, dict):
                body = {k: v for k, v in body.items() if k in keep}
        self._send(status, body, headers)

    def _authenticate(self, method: str, path: str, params: dict[str, str]
                      ) -> tuple[int, Any] | None:
        keys = self.fake.keys
        if self.fake.tls:
            header = self.headers.get("Authorization", "")
            if header.startswith("Basic "):
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
                self.fake.last_auth = "basic"
            else:
                user, password = params.get("consumer_key", ""), params.get("consumer_secret", "")
                self.fake.last_auth = "query"
            if user in keys and hmac.compare_digest(keys[user][0], password):
                return None
            return _error("woocommerce_rest_authentication_error", "Consumer secret is invalid.",
                          401)
        key = params.get("oauth_consumer_key")
        self.fake.last_auth = "oauth1"
        if not key:
            return _error("woocommerce_rest_cannot_view", "Sorry, you cannot list resources.",
                          401)
        if key not in keys:
            return _error("woocommerce_rest_authentication_error", "Consumer key is invalid.", 401)
        host = self.headers.get("Host", "")
        expected = oauth_signature(method, f"http://{host}{path}", params, keys[key][0])
        if not hmac.compare_digest(expected, params.get("oauth_signature", "")):
            return _error("woocommerce_rest_authentication_error", "Invalid signature - provided "
                          "signature does not match.", 401)
        return None

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(payload)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(payload)


def paginate(base_url: str, route: str, params: dict[str, str], ids: list[int],
             load: Callable[[int], dict[str, Any]]) -> tuple[int, Any, dict[str, str]] | tuple:
    """Slice a result list by ``per_page``/``page``/``offset`` and build the WordPress headers."""
    try:
        per_page = int(params.get("per_page", 10))
        page = int(params.get("page", 1))
        offset = int(params["offset"]) if "offset" in params else None
    except ValueError:
        return _error("rest_invalid_param", "Invalid parameter(s): per_page, page, offset", 400)
    if not 1 <= per_page <= 100:
        return _error("rest_invalid_param", "Invalid parameter(s): per_page", 400)
    if page < 1:
        return _error("rest_invalid_param", "Invalid parameter(s): page", 400)
    total = len(ids)
    pages = math.ceil(total / per_page)
    if offset is None and page > max(pages, 1):
        return _error("woocommerce_rest_invalid_page_number", "The page number requested is "
                      "larger than the number of pages available.", 400)
    start = offset if offset is not None else (page - 1) * per_page
    items = [load(i) for i in ids[start:start + per_page]]
    headers = {"X-WP-Total": str(total), "X-WP-TotalPages": str(pages)}
    links = []
    query = {k: v for k, v in params.items() if k != "offset"}
    if offset is None and page > 1:
        links.append(f'<{base_url}{PREFIX}{route}?{urlencode(dict(query, page=page - 1))}>; '
                     'rel="prev"')
    if offset is None and page < pages:
        links.append(f'<{base_url}{PREFIX}{route}?{urlencode(dict(query, page=page + 1))}>; '
                     'rel="next"')
    if links:
        headers["Link"] = ", ".join(links)
    return 200, items, headers
