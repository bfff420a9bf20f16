"""One REST client per shop: the ``woocommerce`` package plus retries, backoff and politeness.

Retries: 429 and 5xx answers and network timeouts are retried with exponential backoff; a
``Retry-After`` header (seconds or an HTTP date) is honoured. Politeness: at most
``requests_per_second`` requests start per second (shop option), since many stores run on small
servers. ``sleep`` and ``clock`` are injectable so tests never wait.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode

import requests
from requests.auth import HTTPBasicAuth
from woocommerce.oauth import OAuth

from stammkunde.core.errors import UserError
from stammkunde.plugins.netguard import guarded_session

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
USER_AGENT = "Stammkunde/0.1 (+https://github.com/stammkunde)"


class WooError(UserError):
    """The store answered with an error we cannot retry away; ``status`` and ``code`` say which."""

    def __init__(self, message: str, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class ClientOptions:
    """Per-shop connection settings (from the shop's ``settings``)."""

    requests_per_second: float | None = 4.0
    timeout: float = 30.0
    max_retries: int = 5
    backoff_base: float = 1.0
    max_backoff: float = 60.0
    max_retry_after: float = 300.0
    verify: bool | str = True
    query_string_auth: bool = False  # keys as query parameters: for hosts that drop Basic auth

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> ClientOptions:
        """Read ``requests_per_second``, ``timeout``, ``max_retries``, ``ca_bundle`` and
        ``query_string_auth``."""
        rps = settings.get("requests_per_second", cls.requests_per_second)
        return cls(
            requests_per_second=float(rps) if rps not in (None, "", 0, "0") else None,
            timeout=float(settings.get("timeout", cls.timeout)),
            max_retries=int(settings.get("max_retries", cls.max_retries)),
            verify=settings.get("ca_bundle") or True,
            query_string_auth=str(settings.get("query_string_auth", "")).lower()
            in ("1", "true", "yes"),
        )


@dataclass(frozen=True)
class Page:
    """One page of a collection: items plus the pagination headers."""

    items: list[dict[str, Any]]
    total: int
    total_pages: int


class WooClient:
    """A REST API v3 client for one store; ``calls`` counts HTTP requests actually sent."""

    def __init__(
        self,
        url: str,
        consumer_key: str,
        consumer_secret: str,
        options: ClientOptions | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.options = options or ClientOptions()
        self.url = url.rstrip("/")
        self._key = consumer_key
        self._secret = consumer_secret
        # Every connection goes to a checked public address (STAMMKUNDE_ALLOW_HOSTS aside).
        self.http = guarded_session()
        self.sleep = sleep
        self.clock = clock
        self.calls = 0
        self.retries = 0
        self._last_start: float | None = None

    def _polite(self) -> None:
        rps = self.options.requests_per_second
        if rps and self._last_start is not None:
            wait = 1.0 / rps - (self.clock() - self._last_start)
            if wait > 0:
                self.sleep(wait)
        self._last_start = self.clock()

    def request(self, method: str, endpoint: str, params: Mapping[str, Any] | None = None,
                data: Any = None) -> requests.Response:
        """Send one request, retrying 429/5xx/timeouts; raise WooError for other failures."""
        attempt = 0
        while True:
            self._polite()
            self.calls += 1
            try:
                resp = self._send(method, endpoint, dict(params or {}), data)
            except (requests.Timeout, requests.ConnectionError) as exc:
                if attempt >= self.options.max_retries:
                    raise WooError(f"the store did not answer {method} {endpoint} after "
                                   f"{attempt + 1} attempts ({type(exc).__name__})") from exc
                self._backoff(attempt, None)
                attempt += 1
                continue
            if resp.status_code in RETRY_STATUSES and attempt < self.options.max_retries:
                self._backoff(attempt, resp.headers.get("Retry-After"))
                attempt += 1
                continue
            if resp.status_code >= 400:
                raise _error(method, endpoint, resp, attempt + 1)
            return resp

    def _send(self, method: str, endpoint: str, params: dict[str, Any],
              data: Any) -> requests.Response:
        """Send one request the way the ``woocommerce`` package signs it (Basic auth or the
        query string over https, OAuth 1.0a over plain http)."""
        url = f"{self.url}/wp-json/wc/v3/{endpoint}"
        auth = None
        headers = {"user-agent": USER_AGENT, "accept": "application/json"}
        if url.startswith("https") and not self.options.query_string_auth:
            auth = HTTPBasicAuth(self._key, self._secret)
        elif url.startswith("https"):
            params = {**params, "consumer_key": self._key, "consumer_secret": self._secret}
        else:
            url = OAuth(url=f"{url}?{urlencode(params)}", consumer_key=self._key,
                        consumer_secret=self._secret, version="wc/v3", method=method,
                        oauth_timestamp=int(time.time())).get_oauth_url()
            params = {}  # now part of the signed URL
        body = None
        if data is not None:
            body = json.dumps(data, ensure_ascii=False).encode("utf-8")
            headers["content-type"] = "application/json;charset=utf-8"
        return self.http.request(method, url, params=params, data=body, auth=auth,
                                 headers=headers, timeout=self.options.timeout,
                                 verify=self.options.verify)

    def _backoff(self, attempt: int, retry_after: str | None) -> None:
        self.retries += 1
        wait = _retry_after_seconds(retry_after)
        if wait is None:
            wait = min(self.options.max_backoff, self.options.backoff_base * 2 ** attempt)
        self.sleep(min(wait, self.options.max_retry_after))

    def json(self, method: str, endpoint: str, params: Mapping[str, Any] | None = None,
             data: Any = None) -> Any:
        """Send a request and return its JSON body (numbers with decimals as Decimal)."""
        return decode(self.request(method, endpoint, params, data))

    def page(self, endpoint: str, params: Mapping[str, Any]) -> Page:
        """GET one page of a collection with its ``X-WP-Total`` / ``X-WP-TotalPages`` headers."""
        resp = self.request("GET", endpoint, params)
        items = decode(resp)
        if not isinstance(items, list):
            raise WooError(f"GET {endpoint} did not return a list")
        total = int(resp.headers.get("X-WP-Total") or len(items))
        pages = int(resp.headers.get("X-WP-TotalPages") or (1 if items else 0))
        return Page(items=items, total=total, total_pages=pages)


def decode(resp: requests.Response) -> Any:
    """Return the JSON body of a response, reading decimals as Decimal (never float)."""
    try:
        return resp.json(parse_float=Decimal)
    except ValueError as exc:
        raise WooError(f"the store answered {resp.status_code} with a body that is not JSON "
                       "(is the URL a WooCommerce store with pretty permalinks?)") from exc


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _error(method: str, endpoint: str, resp: requests.Response, attempts: int) -> WooError:
    code = message = None
    try:
        body = resp.json()
        if isinstance(body, dict):
            code, message = body.get("code"), body.get("message")
    except ValueError:
        pass
    status = resp.status_code
    if status == 401:
        text = ("the store refused the API keys (401); check the consumer key and secret and "
                "that the key has read/write permission")
    elif status in RETRY_STATUSES:
        text = f"the store answered {status} to {method} {endpoint} after {attempts} attempts"
    else:
        text = f"the store answered {status} to {method} {endpoint}"
    if message:
        text += f": {message}"
    return WooError(text, status=status, code=code)
