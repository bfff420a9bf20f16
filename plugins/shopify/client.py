"""A GraphQL Admin API client for one shop: cost-aware pacing, retries, no global state.

Shopify limits GraphQL calls by *calculated query cost* in a leaky bucket per app and shop
(https://shopify.dev/docs/apps/build/apis/graphql-admin/rate-limits): every response carries
``extensions.cost`` with ``requestedQueryCost``, ``actualQueryCost`` and ``throttleStatus``
(``maximumAvailable``, ``currentlyAvailable``, ``restoreRate``). A query runs only when the bucket
holds its *requested* cost, so the client remembers the last status and, before each query,
sleeps just long enough for the bucket to refill to the cost it expects to request. A ``THROTTLED``
error, an HTTP 429 or a 5xx is retried after ``Retry-After`` or an exponential backoff.

The ShopifyAPI package is not used here: its ``ShopifyResource`` keeps the active session in
class-level state, which is wrong for a server that talks to many shops at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

from stammkunde.core.errors import UserError

#: The one pinned Admin API version. Shopify serves a stable version for about twelve months and
#: then answers with the oldest supported one ("falls forward"); 2026-10 is served until at least
#: October 2027 (https://shopify.dev/changelog/release-notes/2026-10). The fake Shopify's schema
#: overlay (tests/fakes/shopify/overlay.py) lists every change up to it; a test holds them equal.
DEFAULT_API_VERSION = "2026-10"
USER_AGENT = "stammkunde (+https://github.com/stammkunde)"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class ShopifyError(UserError):
    """The Shopify API answered with an error that retrying does not fix."""


class QueryTooCostly(ShopifyError):
    """A single query asks for more points than the bucket holds (MAX_COST_EXCEEDED)."""


@dataclass
class ThrottleState:
    """The last bucket status Shopify reported, and when we read it (client clock)."""

    maximum: float = 1000.0
    available: float = 1000.0
    restore_rate: float = 50.0
    at: float | None = None

    def available_at(self, now: float) -> float:
        """Return the points the bucket holds at ``now``, assuming it refilled since."""
        if self.at is None:
            return self.maximum
        return min(self.maximum, self.available + self.restore_rate * max(0.0, now - self.at))

    def wait_for(self, cost: float, now: float) -> float:
        """Return the seconds to wait until the bucket holds ``cost`` points."""
        need = min(cost, self.maximum) - self.available_at(now)
        return max(0.0, need / self.restore_rate) if self.restore_rate > 0 else 0.0


@dataclass
class CallStats:
    """What a client did: calls, points spent, waits and retries (the benchmark reads these)."""

    calls: int = 0
    cost: float = 0.0
    throttled: int = 0
    http_429: int = 0
    http_5xx: int = 0
    slept: float = 0.0
    by_operation: dict[str, int] = field(default_factory=dict)


class GraphQLClient:
    """Talks to ``https://<domain>/admin/api/<version>/graphql.json`` with one shop's token."""

    def __init__(
        self,
        domain: str,
        token: str,
        *,
        api_version: str = DEFAULT_API_VERSION,
        base_url: str | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        max_retries: int = 6,
        backoff: float = 1.0,
        timeout: float = 60.0,
    ) -> None:
        root = (base_url or f"https://{domain}").rstrip("/")
        self.url = f"{root}/admin/api/{api_version}/graphql.json"
        self.session = session or requests.Session()
        self.session.headers.update({"X-Shopify-Access-Token": token,
                                     "Content-Type": "application/json",
                                     "User-Agent": USER_AGENT})
        self.sleep, self.clock = sleep, clock
        self.max_retries, self.backoff, self.timeout = max_retries, backoff, timeout
        self.throttle = ThrottleState()
        self.stats = CallStats()
        self._requested: dict[str, float] = {}
        self.last_requested: float | None = None  # requestedQueryCost of the last answer

    def _pause(self, seconds: float) -> None:
        if seconds > 0:
            self.stats.slept += seconds
            self.sleep(seconds)

    def execute(
        self, query: str, variables: Mapping[str, Any] | None = None, *,
        operation: str = "query", expected_cost: float | None = None,
    ) -> dict[str, Any]:
        """Run a query or mutation and return its ``data``; waits for the bucket first."""
        # what Shopify asked for this operation last time beats the caller's estimate
        cost = self._requested.get(operation) or expected_cost or 50.0
        for attempt in range(self.max_retries + 1):
            self._pause(self.throttle.wait_for(cost, self.clock()))
            self.stats.calls += 1
            self.stats.by_operation[operation] = self.stats.by_operation.get(operation, 0) + 1
            try:
                resp = self.session.post(self.url, json={"query": query,
                                                         "variables": dict(variables or {})},
                                         timeout=self.timeout)
            except requests.ConnectionError as exc:
                if attempt == self.max_retries:
                    raise ShopifyError(f"cannot reach Shopify at {self.url}: {exc}") from exc
                self._pause(self.backoff * 2 ** attempt)
                continue
            if resp.status_code in RETRY_STATUSES:
                if resp.status_code == 429:
                    self.stats.http_429 += 1
                else:
                    self.stats.http_5xx += 1
                if attempt == self.max_retries:
                    raise ShopifyError(f"Shopify answered {resp.status_code} "
                                       f"{self.max_retries + 1} times for {operation}")
                self._pause(_retry_after(resp) or self.backoff * 2 ** attempt)
                continue
            if resp.status_code in (401, 403):
                raise ShopifyError(f"Shopify refused the access token ({resp.status_code}); "
                                   "reinstall the app or check the token's scopes")
            if resp.status_code >= 400:
                raise ShopifyError(f"Shopify answered {resp.status_code} for {operation}: "
                                   f"{resp.text[:200]}")
            body = resp.json()
            cost_info = (body.get("extensions") or {}).get("cost")
            if cost_info:
                self._note_cost(operation, cost_info)
            errors = body.get("errors") or []
            if any((e.get("extensions") or {}).get("code") == "THROTTLED" for e in errors):
                self.stats.throttled += 1
                if cost_info:
                    cost = float(cost_info.get("requestedQueryCost") or cost)
                # the next turn waits for the refreshed status; at least one point's worth, so a
                # rounded ``currentlyAvailable`` cannot make us ask again at once
                rate = self.throttle.restore_rate or 1.0
                self._pause(max(1.0 / rate, self.throttle.wait_for(cost, self.clock())))
                continue
            if any((e.get("extensions") or {}).get("code") == "MAX_COST_EXCEEDED"
                   for e in errors):
                raise QueryTooCostly(f"{operation}: {errors[0].get('message')}")
            if errors:
                messages = "; ".join(str(e.get("message")) for e in errors[:3])
                raise ShopifyError(f"Shopify rejected {operation}: {messages}")
            return body.get("data") or {}
        raise ShopifyError(f"Shopify kept throttling {operation} after "
                           f"{self.max_retries + 1} attempts")

    def _note_cost(self, operation: str, info: Mapping[str, Any]) -> None:
        status = info.get("throttleStatus") or {}
        if status:
            self.throttle = ThrottleState(
                maximum=float(status.get("maximumAvailable", self.throttle.maximum)),
                available=float(status.get("currentlyAvailable", self.throttle.available)),
                restore_rate=float(status.get("restoreRate", self.throttle.restore_rate)),
                at=self.clock(),
            )
        if info.get("requestedQueryCost") is not None:
            self._requested[operation] = float(info["requestedQueryCost"])
            self.last_requested = float(info["requestedQueryCost"])
        if info.get("actualQueryCost") is not None:
            self.stats.cost += float(info["actualQueryCost"])

    def download(self, url: str) -> requests.Response:
        """Stream a file Shopify points to (a bulk operation's JSONL), with retries."""
        for attempt in range(self.max_retries + 1):
            resp = requests.get(url, stream=True, timeout=self.timeout)
            if resp.status_code not in RETRY_STATUSES:
                resp.raise_for_status()
                return resp
            if attempt == self.max_retries:
                break
            self._pause(_retry_after(resp) or self.backoff * 2 ** attempt)
        raise ShopifyError(f"cannot download bulk result: HTTP {resp.status_code}")


def _retry_after(resp: requests.Response) -> float | None:
    value = resp.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
