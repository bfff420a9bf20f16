"""A local fake of the Shopify GraphQL Admin API: Shopify's schema, cost bucket, faults on demand.

It runs a werkzeug server on 127.0.0.1 (random port) in a thread and serves only the pinned API
version's path. Every request is checked against Shopify's own Admin schema
(:mod:`tests.fakes.shopify.schema`: validation, variables, deprecations, input lists of at most
250 items, requested cost of at most 1,000 points) and then executed by graphql-core, with the
root fields answered by :class:`Resolvers`; each answer carries ``extensions.cost`` charged from a
leaky bucket (``maximum`` points, ``restore_rate`` points per second of ``clock``). A query whose
requested cost exceeds what the bucket holds gets a ``THROTTLED`` error and no data
(https://shopify.dev/docs/apps/build/apis/graphql-admin/rate-limits).
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

from graphql import execute
from graphql.language import FieldNode, InlineFragmentNode, OperationDefinitionNode, OperationType
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from stammkunde.plugins.adapter import Secret, ShopConnection
from tests.fakes.shopify.data import FakeData
from tests.fakes.shopify.overlay import VERSION
from tests.fakes.shopify.resolvers import Resolvers
from tests.fakes.shopify.schema import ShopifyGraphQLError, admin_schema, check


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        """Keep test and benchmark output clean."""


class Bucket:
    """Shopify's leaky bucket of query cost points."""

    def __init__(self, maximum: float, restore_rate: float, clock: Callable[[], float]) -> None:
        self.maximum, self.restore_rate, self.clock = maximum, restore_rate, clock
        self.available, self.at = maximum, clock()

    def level(self) -> float:
        """Refill for the time passed and return the points available."""
        now = self.clock()
        self.available = min(self.maximum, self.available + (now - self.at) * self.restore_rate)
        self.at = now
        return self.available

    def status(self) -> dict[str, float]:
        """The ``throttleStatus`` object."""
        return {"maximumAvailable": self.maximum, "currentlyAvailable": round(self.level(), 2),
                "restoreRate": self.restore_rate}


class FakeClock:
    """A clock tests share between the fake and the client: sleeping advances it instantly."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        """Advance the clock by ``seconds`` without waiting."""
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)


def encode_cursor(node: dict[str, Any]) -> str:
    """An opaque cursor pointing after ``node`` in UPDATED_AT order."""
    raw = json.dumps([node["updatedAt"], int(node["legacyResourceId"])]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_cursor(cursor: str | None) -> tuple[str, int] | None:
    """Read a cursor made by :func:`encode_cursor`."""
    if not cursor:
        return None
    stamp, legacy = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    return str(stamp), int(legacy)


class FakeShopify:
    """The fake shop and its HTTP server; use as a context manager or call start()/stop()."""

    def __init__(self, *, domain: str = "fake-shop.myshopify.com", token: str = "shpat_fake",
                 maximum: float = 1000.0, restore_rate: float = 50.0,
                 clock: Callable[[], float] = time.monotonic, bulk_polls: int = 1,
                 code_job_polls: int = 1, api_version: str = VERSION,
                 allow_deprecated: bool = False) -> None:
        self.domain, self.token, self.api_version = domain, token, api_version
        self.allow_deprecated = allow_deprecated
        self.refusals: list[list[dict[str, Any]]] = []  # the errors of every refused request
        self.bucket = Bucket(maximum, restore_rate, clock)
        self.data = FakeData()
        self.bulk_polls, self.code_job_polls = bulk_polls, code_job_polls
        self.faults: deque[tuple[int, float | None]] = deque()
        self.stats: Counter[str] = Counter()
        self.cost_used = 0.0
        self.levels: list[tuple[float, float]] = []  # (points available, requested) per query
        self.resolvers = Resolvers(self)
        self._lock = threading.Lock()
        self._server: Any = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> FakeShopify:
        """Start serving on a free port of 127.0.0.1."""
        self._server = make_server("127.0.0.1", 0, self.wsgi, threaded=True,
                                   request_handler=_Quiet)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the server and remove the export files (a million orders' file is a GiB)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        for export in [*self.data.bulk_files.values(), *(e for _, e in self.data.exports.values())]:
            export.path.unlink(missing_ok=True)
        self.data.bulk_files.clear()
        self.data.exports.clear()

    def __enter__(self) -> FakeShopify:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """The server's root URL."""
        return f"http://127.0.0.1:{self._server.server_port}"

    def connection(self, name: str = "fake", **options: Any) -> ShopConnection:
        """A ShopConnection that points the Shopify adapter at this fake."""
        opts = {"base_url": self.base_url, "api_version": self.api_version,
                "poll_interval": 0.0, **options}
        return ShopConnection(name=name, platform="shopify", domain=self.domain,
                              credentials={"access_token": Secret(self.token)}, options=opts)

    def fail_next(self, status: int, times: int = 1, retry_after: float | None = None) -> None:
        """Answer the next ``times`` GraphQL calls with ``status`` (429 or 5xx)."""
        self.faults.extend([(status, retry_after)] * times)

    # --- HTTP -----------------------------------------------------------------------------

    def wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        """The WSGI entry point."""
        request = Request(environ)
        with self._lock:
            response = self._route(request)
        return response(environ, start_response)

    def _route(self, request: Request) -> Response:
        path = request.path
        if path.startswith("/bulk/") and request.method == "GET":
            export = self.data.bulk_files.get(path.rsplit("/", 1)[-1])
            if export is None:
                return Response("not found", status=404)
            # streamed from its file: a million orders' JSONL is never held in memory
            return Response(export.chunks(), mimetype="application/jsonl",
                            direct_passthrough=True)
        if path != f"/admin/api/{self.api_version}/graphql.json" or request.method != "POST":
            return Response("not found", status=404)
        self.stats["requests"] += 1
        if request.headers.get("X-Shopify-Access-Token") != self.token:
            return _json({"errors": "[API] Invalid API key or access token"}, 401)
        if self.faults:
            status, retry_after = self.faults.popleft()
            self.stats[f"served_{status}"] += 1
            headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
            return _json({"errors": "Injected failure"}, status, headers)
        try:
            payload = json.loads(request.get_data())
            return _json(self.graphql(payload["query"], payload.get("variables") or {}))
        except Exception as exc:  # a malformed query answers like Shopify: 200 with errors
            return _json({"errors": [{"message": f"{type(exc).__name__}: {exc}"}]})

    # --- GraphQL --------------------------------------------------------------------------

    def graphql(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        """Execute one document against the fake data, charging its cost.

        The document and variables are first checked against Shopify's Admin schema
        (:func:`tests.fakes.shopify.schema.check`): anything Shopify refuses is refused here.
        """
        try:
            doc, _, requested = check(query, variables,
                                      allow_deprecated=self.allow_deprecated)
        except ShopifyGraphQLError as exc:
            self.stats["refused"] += 1
            self.refusals.append(exc.errors)
            code = (exc.errors[0].get("extensions") or {}).get("code")
            if code == "MAX_COST_EXCEEDED":
                self.stats["max_cost_exceeded"] += 1
            return {"errors": exc.errors}
        op = next(d for d in doc.definitions if isinstance(d, OperationDefinitionNode))
        mutation = op.operation == OperationType.MUTATION
        self.levels.append((self.bucket.level(), requested))
        if self.bucket.level() + 1e-6 < requested:
            self.stats["throttled"] += 1
            return {"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
                    "extensions": {"cost": {"requestedQueryCost": requested,
                                            "actualQueryCost": None,
                                            "throttleStatus": self.bucket.status()}}}
        self.bucket.available -= requested
        result = execute(admin_schema(), doc, variable_values=variables,
                         field_resolver=self._resolve)
        if result.errors:  # type: ignore[union-attr]
            raise result.errors[0].original_error or result.errors[0]  # type: ignore[union-attr]
        data: dict[str, Any] = result.data or {}  # type: ignore[union-attr]
        actual = requested if mutation else self._actual(op.selection_set, data, variables)
        self.bucket.available += requested - actual
        self.cost_used += actual
        self.stats["calls"] += 1
        self.stats[f"op_{op.name.value if op.name else 'anonymous'}"] += 1
        return {"data": data, "extensions": {"cost": {
            "requestedQueryCost": requested, "actualQueryCost": actual,
            "throttleStatus": self.bucket.status()}}}

    def _resolve(self, source: Any, info: Any, **args: Any) -> Any:
        """Root fields go to :class:`Resolvers`; below them, values are read from dicts."""
        schema = info.schema
        if info.parent_type in (schema.query_type, schema.mutation_type):
            resolver = getattr(self.resolvers, info.field_name, None)
            if resolver is None:
                raise NotImplementedError(f"the fake does not implement {info.field_name}")
            return resolver(args)
        if isinstance(source, dict):
            return source.get(info.field_name)
        return None

    def _actual(self, selection_set: Any, value: Any, variables: dict[str, Any]) -> int:
        total = 0
        for s in selection_set.selections:
            if isinstance(s, InlineFragmentNode):
                total += self._actual(s.selection_set, value, variables)
                continue
            if not isinstance(s, FieldNode) or s.selection_set is None:
                continue
            v = value.get((s.alias or s.name).value) if isinstance(value, dict) else None
            if v is None:
                continue
            if isinstance(v, dict) and "edges" in v:
                node_sel = _child(_child(s, "edges"), "node")
                total += 2 + sum(1 + (self._actual(node_sel.selection_set, e["node"], variables)
                                      if node_sel else 0) for e in v["edges"])
            elif isinstance(v, list):
                total += sum(1 + self._actual(s.selection_set, item, variables) for item in v)
            else:
                total += 1 + self._actual(s.selection_set, v, variables)
        return total


def _child(node: FieldNode | None, name: str) -> FieldNode | None:
    if node is None or node.selection_set is None:
        return None
    for s in node.selection_set.selections:
        if isinstance(s, FieldNode) and s.name.value == name:
            return s
    return None


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json",
                    headers=headers or {})
