"""Historic and incremental sync: bulk export for large shops, cursor pages for increments.

Every batch carries a cursor (a small JSON document) that resumes right after it:
``{"mode": "page", "after": <endCursor>, "since": <iso>}`` for paginated reads and
``{"mode": "bulk", "op": <BulkOperation gid>, "done": <root objects already yielded>}`` for a bulk
export, whose result file stays downloadable for a week, so a killed sync picks up in the file.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import requests

from stammkunde.core.records import Batch, Record
from stammkunde.plugins.shopify import queries as q
from stammkunde.plugins.shopify.client import GraphQLClient, QueryTooCostly, ShopifyError
from stammkunde.plugins.shopify.mapping import customer_from_graphql, order_from_graphql

# An automatic page asks for at most half the bucket: the other half absorbs what restores while a
# response travels and is stored, so no restored point is lost to a full bucket. On larger plans
# half the bucket is more than Shopify lets one query request: a single query may request at most
# 1,000 points (https://shopify.dev/docs/apps/build/apis/graphql-admin/rate-limits), so pages are
# also sized to stay within that.
HEADROOM = 0.5
AUTO_START = 10
MAX_PAGE = 250
MAX_QUERY_COST = 1000
CONNECTION_COST = 2  # the connection itself; each requested node adds its own cost
DOWNLOAD_CHUNK = 1 << 20  # bytes read from a bulk file at a time
PARSE_LINES = 100  # bulk file lines parsed in one call

class BulkGone(ShopifyError):
    """A bulk export to resume no longer exists or its file can no longer be downloaded."""


Mapper = Callable[[Mapping[str, Any], list[Mapping[str, Any]]], Record]


def _map_order(node: Mapping[str, Any], children: list[Mapping[str, Any]]) -> Record:
    return order_from_graphql(node, children)


def _map_customer(node: Mapping[str, Any], children: list[Mapping[str, Any]]) -> Record:
    return customer_from_graphql(node)


RESOURCES: dict[str, dict[str, Any]] = {
    "orders": {"page": q.ORDERS_PAGE, "bulk": q.BULK_ORDERS, "map": _map_order,
               "count": "ordersCount", "children": True},
    "customers": {"page": q.CUSTOMERS_PAGE, "bulk": q.BULK_CUSTOMERS, "map": _map_customer,
                  "count": "customersCount", "children": False},
}


def search_since(since: datetime) -> str:
    """The search filter for records updated after ``since`` (Shopify search syntax)."""
    stamp = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"updated_at:>'{stamp}'"


def fetch(
    client: GraphQLClient, resource: str, since: datetime | None, cursor: str | None, *,
    page_size: int | None, bulk_threshold: int | None, poll_interval: float,
    bulk_batch: int = 250,
) -> Iterator[Batch]:
    """Yield batches of one resource, choosing bulk export or pages, resuming from ``cursor``.

    ``page_size`` None sizes pages automatically to the shop's bucket (see ``HEADROOM``).
    """
    state = json.loads(cursor) if cursor else None
    if state is not None and state.get("mode") == "bulk":
        try:
            yield from _bulk(client, resource, state["op"], int(state.get("done", 0)),
                             poll_interval, bulk_batch)
            return
        except BulkGone:  # the export's file expired (7 days): export again, storing is idempotent
            state = None
    if state is None and since is None and bulk_threshold is not None:
        counts = client.execute(q.COUNTS, operation="Counts", expected_cost=2)
        total = int(((counts.get(RESOURCES[resource]["count"]) or {}).get("count")) or 0)
        if total >= bulk_threshold:
            op = _start_bulk(client, resource)
            yield from _bulk(client, resource, op, 0, poll_interval, bulk_batch, total)
            return
    after = state.get("after") if state else None
    since_text = state.get("since") if state else (since.isoformat() if since else None)
    yield from _pages(client, resource, after, since_text, page_size)


def _pages(client: GraphQLClient, resource: str, after: str | None, since_text: str | None,
           fixed_size: int | None) -> Iterator[Batch]:
    spec = RESOURCES[resource]
    page_size = fixed_size or AUTO_START
    search = search_since(datetime.fromisoformat(since_text)) if since_text else None
    while True:
        try:
            data = client.execute(spec["page"], {"first": page_size, "after": after,
                                                 "query": search}, operation=f"{resource}Page")
        except QueryTooCostly:
            if page_size == 1:
                raise
            page_size = max(1, page_size // 2)  # a smaller page fits the shop's bucket
            continue
        requested = client.last_requested
        if fixed_size is None and requested:
            page_size = fit_page(page_size, requested, client.throttle.maximum)
        conn = data[resource]
        records = tuple(spec["map"](e["node"], _edges(e["node"].get("lineItems")))
                        for e in conn["edges"])
        info = conn["pageInfo"]
        after = info.get("endCursor") or after
        more = bool(info.get("hasNextPage"))
        cursor = json.dumps({"mode": "page", "after": after, "since": since_text})
        if records or not more:
            yield Batch(records, cursor=cursor if after else None, meta={"mode": "page"})
        if not more:
            return


def fit_page(page_size: int, requested: float, maximum: float) -> int:
    """The page size whose requested cost fits half the bucket and the single-query cap."""
    per_node = max(1e-9, (requested - CONNECTION_COST) / page_size)
    budget = min(maximum * HEADROOM, MAX_QUERY_COST)
    return max(1, min(MAX_PAGE, int((budget - CONNECTION_COST) // per_node)))


def _edges(connection: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    return [e["node"] for e in (connection or {}).get("edges") or []]


def _start_bulk(client: GraphQLClient, resource: str) -> str:
    spec = RESOURCES[resource]
    data = client.execute(q.BULK_RUN, {"query": spec["bulk"], "groupObjects": spec["children"]},
                          operation="BulkRun", expected_cost=10)
    payload = data["bulkOperationRunQuery"]
    if payload.get("userErrors"):
        raise ShopifyError("Shopify refused the bulk export: "
                           + "; ".join(e["message"] for e in payload["userErrors"]))
    return payload["bulkOperation"]["id"]


def _await_bulk(client: GraphQLClient, op: str, poll_interval: float) -> dict[str, Any]:
    while True:
        node = client.execute(q.BULK_POLL, {"id": op}, operation="BulkPoll",
                              expected_cost=1)["node"]
        if node is None:
            raise BulkGone(f"bulk operation {op} is gone")
        status = node["status"]
        if status == "COMPLETED":
            return node
        if status in ("FAILED", "CANCELED", "CANCELLED", "EXPIRED"):
            raise ShopifyError(f"bulk export {op} ended {status} ({node.get('errorCode')}); "
                               "run the sync again")
        client.sleep(poll_interval)
        client.stats.slept += poll_interval


def _bulk(client: GraphQLClient, resource: str, op: str, done: int, poll_interval: float,
          bulk_batch: int, total: int | None = None) -> Iterator[Batch]:
    node = _await_bulk(client, op, poll_interval)
    total = total or int(node.get("rootObjectCount") or 0) or None
    if not node.get("url"):  # an export of nothing has no file
        yield Batch((), cursor=None, total=total, meta={"mode": "bulk"})
        return
    mapper: Mapper = RESOURCES[resource]["map"]
    batch: list[Record] = []
    position = 0
    try:
        resp = client.download(node["url"])
    except requests.HTTPError as exc:
        raise BulkGone(f"bulk file of {op} cannot be downloaded: {exc}") from exc
    with resp:
        for root, children in _roots(_objects(resp.iter_content(DOWNLOAD_CHUNK))):
            position += 1
            if position <= done:
                continue
            batch.append(mapper(root, children))
            if len(batch) >= bulk_batch:
                yield Batch(tuple(batch), total=total, meta={"mode": "bulk"},
                            cursor=json.dumps({"mode": "bulk", "op": op, "done": position}))
                batch = []
    yield Batch(tuple(batch), total=total, meta={"mode": "bulk"},
                cursor=json.dumps({"mode": "bulk", "op": op, "done": position}))


def _objects(chunks: Iterable[bytes]) -> Iterator[Any]:
    """The values of a JSONL stream, read in large chunks and parsed a chunk at a time.

    Whole lines are parsed ``PARSE_LINES`` at a time as one JSON array (one call instead of one
    per line; few enough that their objects are mapped and gone before the garbage collector
    moves them to its older generations); only the last, incomplete line of a chunk is carried
    to the next, so memory stays at a chunk.
    """
    tail = b""
    line = 0  # lines before the current chunk
    for chunk in chunks:
        lines = (tail + chunk).split(b"\n") if tail else chunk.split(b"\n")
        tail = lines.pop()
        for lo in range(0, len(lines), PARSE_LINES):
            yield from _parse(lines[lo:lo + PARSE_LINES], line + lo)
        line += len(lines)
    if tail:
        yield from _parse([tail], line)


def _parse(lines: list[bytes], before: int) -> list[Any]:
    """Parse whole JSONL lines (blank ones skipped); a bad line is named by its number."""
    full = [raw for raw in lines if raw and not raw.isspace()]
    if not full:
        return []
    try:
        values = json.loads(b"[" + b",".join(full) + b"]")
        if len(values) == len(full):
            return values  # type: ignore[no-any-return]
    except ValueError:
        pass
    for number, raw in enumerate(lines, before + 1):  # find the line that is not one value
        if raw and not raw.isspace():
            try:
                json.loads(raw)
            except ValueError as exc:
                raise ShopifyError(f"bulk file line {number} is not JSON: {exc}") from None
    raise ShopifyError(f"bulk file: a line after line {before} holds more than one value")


def _roots(objects: Iterable[Any]) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Group JSONL lines into (root object, its child lines); children follow their parent."""
    root: dict[str, Any] | None = None
    children: list[dict[str, Any]] = []
    for obj in objects:
        if not isinstance(obj, dict):
            raise ShopifyError(f"bulk file: a line holds {type(obj).__name__}, not an object")
        parent = obj.pop("__parentId", None)
        if parent is None:
            if root is not None:
                yield root, children
            root, children = obj, []
        elif root is not None and parent == root.get("id"):
            children.append(obj)
        else:
            raise ShopifyError(f"bulk file: a child line of {parent} is not after its parent")
    if root is not None:
        yield root, children
