"""Historic and incremental sync of orders and customers, resumable from every batch.

Approach (why it cannot skip or repeat an order):

- A sync reads a fixed window: ``modified_after`` = the ``since`` filter, ``modified_before`` = the
  instant the sync started (``dates_are_gmt=true``), ordered by ``id`` ascending, 100 per page. The
  window is snapshotted in the cursor, so a resumed sync reads the same window.
- Inside a fixed window orders can only *leave* (an order modified during the sync gets a
  ``date_modified`` after the window; a deleted order disappears); nothing enters (new orders and
  new modifications are after the upper bound). Leaving shifts later orders to lower positions.
  ``X-WP-Total`` reveals it: when it drops by *d*, the next request starts *d* positions earlier
  (``offset``) and skips ids at or below the last one seen, so the shift is absorbed exactly. Orders
  that left the window are read by the next incremental sync.
- The cursor is JSON: resource, window, last id, position and the total last seen. The high-water
  mark reported to the caller is the window's upper bound minus ``overlap_minutes`` (default 10),
  so a clock difference between us and the store cannot lose an update.
- Refund dates are not in the order JSON. A historic sync reads all refunds once from
  ``GET refunds`` (ceil(refunds/100) calls); otherwise each page looks its new refund ids up with
  one ``GET refunds?include=…``. Stores older than the ``/refunds`` endpoint fall back to
  ``orders/<id>/refunds``.
- The customers endpoint has no date filter, so an incremental sync pages through all customers
  and keeps those modified since ``since``. It asks for ``role=all``: by default the endpoint lists
  only users whose role is ``customer``, and a shop's buyers can hold any WordPress role.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from stammkunde.core.errors import UserError
from stammkunde.core.records import Batch, OrderDeleted, Record
from stammkunde.core.timeutil import to_utc
from stammkunde.plugins.woocommerce.client import WooClient, WooError
from stammkunde.plugins.woocommerce.mapping import customer_record, gmt, order_record

PER_PAGE = 100
ISO = "%Y-%m-%dT%H:%M:%S"


@dataclass
class Cursor:
    """Where a sync stands: its window, the last id read and the position after it."""

    resource: str
    after: str | None
    before: str | None
    last_id: int = 0
    pos: int = 0
    total: int | None = None

    def encode(self) -> str:
        """Return the cursor as compact JSON."""
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True)

    @classmethod
    def decode(cls, text: str, resource: str) -> Cursor:
        """Parse a stored cursor, refusing one from another resource or a damaged one."""
        try:
            data = json.loads(text)
            cursor = cls(**data)
        except (TypeError, ValueError) as exc:
            raise UserError(f"stored {resource} sync cursor is damaged: {text[:80]!r}") from exc
        if cursor.resource != resource:
            raise UserError(f"stored cursor belongs to {cursor.resource}, not {resource}")
        return cursor


def iso(value: datetime) -> str:
    """Format an aware datetime as the GMT string WooCommerce expects with dates_are_gmt."""
    return to_utc(value).strftime(ISO)


class RefundDates:
    """Refund id → creation time, filled in bulk from the refunds endpoint."""

    def __init__(self, client: WooClient) -> None:
        self.client = client
        self.dates: dict[str, datetime] = {}
        self.endpoint = True  # False once the store turned out to lack GET /refunds

    def prefetch(self) -> None:
        """Read every refund's date (historic sync): ceil(refunds / 100) calls."""
        page_no = 1
        while True:
            try:
                page = self.client.page("refunds", {"per_page": PER_PAGE, "page": page_no,
                                                    "orderby": "id", "order": "asc",
                                                    "_fields": "id,date_created_gmt"})
            except WooError as exc:
                if exc.status == 404:
                    self.endpoint = False
                    return
                raise
            self._keep(page.items)
            if page_no >= page.total_pages or not page.items:
                return
            page_no += 1

    def resolve(self, orders: list[Mapping[str, Any]]) -> None:
        """Look up the dates of refunds on these orders that are not known yet."""
        missing = {str(r.get("id")): o for o in orders for r in o.get("refunds") or ()
                   if str(r.get("id")) not in self.dates}
        if not missing:
            return
        ids = sorted(missing, key=int)
        if self.endpoint:
            try:
                for i in range(0, len(ids), PER_PAGE):
                    chunk = ids[i:i + PER_PAGE]
                    page = self.client.page("refunds", {
                        "include": ",".join(chunk), "per_page": PER_PAGE,
                        "_fields": "id,date_created_gmt"})
                    self._keep(page.items)
                return
            except WooError as exc:
                if exc.status != 404:
                    raise
                self.endpoint = False
        for order_id in sorted({str(o["id"]) for o in missing.values()}, key=int):
            items = self.client.json("GET", f"orders/{order_id}/refunds",
                                     {"per_page": PER_PAGE, "_fields": "id,date_created_gmt"})
            self._keep(items or [])

    def _keep(self, items: list[dict[str, Any]]) -> None:
        for item in items:
            when = gmt(item.get("date_created_gmt"))
            if when is not None:
                self.dates[str(item.get("id"))] = when


def _window_pages(client: WooClient, endpoint: str, params: dict[str, Any],
                  cursor: Cursor) -> Iterator[list[dict[str, Any]]]:
    """Yield the new items of each page, absorbing shifts (see the module docstring)."""
    while True:
        offset = cursor.pos
        query = dict(params, per_page=PER_PAGE)
        # WordPress refuses a page number past the last page (400), but not an offset past it.
        if offset % PER_PAGE == 0 and (cursor.total is None or offset < cursor.total):
            query["page"] = offset // PER_PAGE + 1
        else:
            query["offset"] = offset
        page = client.page(endpoint, query)
        if cursor.total is not None and page.total < cursor.total:
            # Items left the window: later ones may have moved up to (drop) positions earlier.
            cursor.pos = max(0, cursor.pos - (cursor.total - page.total))
            cursor.total = page.total
            continue
        cursor.total = page.total
        fresh = [item for item in page.items if int(item["id"]) > cursor.last_id]
        cursor.pos = offset + len(page.items)
        if fresh:
            cursor.last_id = max(int(item["id"]) for item in fresh)
        done = len(page.items) < PER_PAGE or cursor.pos >= page.total
        yield fresh
        if done:
            return


def fetch_orders(
    client: WooClient,
    *,
    since: datetime | None,
    cursor: str | None,
    now: datetime,
    currency: str,
    status_map: Mapping[str, str] | None = None,
    overlap: timedelta = timedelta(minutes=10),
    on_unattributed: Callable[[str], None] | None = None,
) -> Iterator[Batch]:
    """Yield batches of order records (one per page) with a cursor resuming after each."""
    cur = Cursor.decode(cursor, "orders") if cursor else Cursor(
        "orders", after=iso(since) if since else None, before=iso(now))
    params: dict[str, Any] = {"orderby": "id", "order": "asc", "dates_are_gmt": "true",
                              "modified_before": cur.before}
    if cur.after:
        params["modified_after"] = cur.after
    high_water = gmt(cur.before) - overlap  # type: ignore[operator]
    refunds = RefundDates(client)
    if cur.after is None:
        refunds.prefetch()
    yielded = False
    for items in _window_pages(client, "orders", params, cur):
        refunds.resolve(items)
        records: list[Record] = []
        skipped = 0
        for item in items:
            rec = order_record(item, shop_currency=currency, refund_dates=refunds.dates,
                               status_map=status_map)
            if rec is None:
                skipped += 1
                if on_unattributed:
                    on_unattributed(str(item.get("id")))
                continue
            records.append(rec)
        yielded = True
        yield Batch(tuple(records), cursor=cur.encode(), total=cur.total,
                    meta={"high_water": high_water, "unattributed": skipped,
                          "deleted": sum(isinstance(r, OrderDeleted) for r in records)})
    if not yielded:
        yield Batch((), cursor=cur.encode(), total=cur.total, meta={"high_water": high_water})


def fetch_customers(
    client: WooClient,
    *,
    since: datetime | None,
    cursor: str | None,
    now: datetime,
    overlap: timedelta = timedelta(minutes=10),
) -> Iterator[Batch]:
    """Yield batches of customer records; with ``since`` only those modified since then."""
    cur = Cursor.decode(cursor, "customers") if cursor else Cursor(
        "customers", after=iso(since) if since else None, before=iso(now))
    after = gmt(cur.after) if cur.after else None
    high_water = gmt(cur.before) - overlap  # type: ignore[operator]
    yielded = False
    # role=all: customers of every WordPress role (the endpoint's default is role=customer only,
    # includes/rest-api/Controllers/Version1/class-wc-rest-customers-v1-controller.php get_items)
    params = {"orderby": "id", "order": "asc", "role": "all"}
    for items in _window_pages(client, "customers", params, cur):
        records = [customer_record(c) for c in items]
        if after is not None:
            records = [r for r in records if r.updated_at is None or r.updated_at >= after]
        yielded = True
        yield Batch(tuple(records), cursor=cur.encode(), total=cur.total,
                    meta={"high_water": high_water})
    if not yielded:
        yield Batch((), cursor=cur.encode(), total=cur.total, meta={"high_water": high_water})
