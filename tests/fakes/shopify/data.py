"""The fake shop's data: orders and customers as GraphQL nodes, discounts, tags, bulk exports.

Nodes follow the documented shapes (https://shopify.dev/docs/api/admin-graphql/2026-10/objects/Order,
.../objects/Customer); money is a decimal string, times ISO 8601 with ``Z``.

Generated orders (:meth:`FakeData.generate`) are kept as compact :class:`OrderSpec` tuples and
built into node dicts when read, so a shop of a million orders fits in about a GiB; a bulk
export writes its file line by line from them, to disk (:class:`BulkExport`). Change a node
with ``put(node)``, never in place: a node built from a spec is a fresh dict on every read, and
an export is reused while nothing was ``put``.
"""

from __future__ import annotations

import bisect
import functools
import gc
import json
import os
import random
import tempfile
import time
import weakref
import zlib
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from json.encoder import encode_basestring_ascii as _js  # type: ignore[attr-defined]
from pathlib import Path
from typing import Any, NamedTuple

START = datetime(2023, 1, 1, tzinfo=UTC)
CHUNK_ROOTS = 2000  # root objects per write to a bulk export's file


def iso(value: datetime) -> str:
    """Format an instant the way Shopify does ("2024-05-01T10:00:00Z")."""
    return value.astimezone(UTC).isoformat(timespec="seconds")[:19] + "Z"


def amount(cents: int) -> str:
    """A decimal string of an amount in cents ("1234" -> "12.34")."""
    return f"{cents // 100}.{cents % 100:02d}"


def money(cents: int, currency: str = "EUR") -> dict[str, Any]:
    """A ``MoneyBag`` with the shop money only."""
    return {"shopMoney": {"amount": amount(cents), "currencyCode": currency}}


@functools.lru_cache(maxsize=4096)
def _product(sku: str) -> int:
    return zlib.crc32(sku.encode()) % 10**6


class OrderSpec(NamedTuple):
    """An order as :meth:`FakeData.add_order` takes it; :func:`order_node` builds its node."""

    legacy: int
    created: datetime
    updated: str  # ISO text, the sort key's first part
    lines: tuple[tuple[int, int, str], ...]  # (quantity, unit price in cents, sku)
    customer: int | None
    email: str | None
    status: str
    cancelled: bool
    test: bool
    refunds: tuple[int, ...]  # cents
    codes: tuple[str, ...]
    source: str
    currency: str


def order_spec(legacy: int, created: datetime, lines: Any, customer: int | None,
               email: str | None, status: str, cancelled: bool, test: bool,
               refunds: tuple[int, ...], codes: tuple[str, ...], source: str,
               currency: str) -> OrderSpec:
    """The spec of an order, its ``updatedAt`` worked out (the last refund, or 5 minutes on)."""
    updated = created + timedelta(days=3 + len(refunds)) if refunds else created + \
        timedelta(minutes=5)
    return OrderSpec(legacy, created, iso(updated), tuple(tuple(li) for li in lines), customer,
                     email, status, cancelled, test, tuple(refunds), tuple(codes), source,
                     currency)


def order_node(spec: OrderSpec) -> dict[str, Any]:
    """The GraphQL ``Order`` node of a spec (with its ``lineItems`` connection)."""
    legacy, created, currency = spec.legacy, spec.created, spec.currency
    return {
        "id": f"gid://shopify/Order/{legacy}", "legacyResourceId": str(legacy),
        "createdAt": iso(created), "updatedAt": spec.updated,
        "cancelledAt": iso(created + timedelta(hours=2)) if spec.cancelled else None,
        "test": spec.test, "displayFinancialStatus": spec.status, "currencyCode": currency,
        "email": spec.email, "sourceName": spec.source, "discountCodes": list(spec.codes),
        "totalPriceSet": money(sum(q * p for q, p, _ in spec.lines), currency),
        "customer": {"id": f"gid://shopify/Customer/{spec.customer}"} if spec.customer else None,
        "refunds": [
            {"id": f"gid://shopify/Refund/{legacy * 10 + i}",
             "createdAt": iso(created + timedelta(days=3 + i)),
             "totalRefundedSet": money(cents, currency)}
            for i, cents in enumerate(spec.refunds)],
        "lineItems": {"edges": [
            {"node": {"quantity": q, "sku": sku, "title": f"Product {sku}",
                      "product": {"id": f"gid://shopify/Product/{_product(sku)}"},
                      "originalUnitPriceSet": money(p, currency)}}
            for q, p, sku in spec.lines]},
    }


def _bag(cents: int, currency: str) -> str:
    return f'{{"shopMoney":{{"amount":"{amount(cents)}","currencyCode":{_js(currency)}}}}}'


def order_jsonl(spec: OrderSpec) -> tuple[str, list[str]]:
    """The bulk export lines of a spec's order: its root line and its line items' child lines.

    The text is exactly ``json.dumps(node, separators=(",", ":"))`` of :func:`order_node`'s node
    (``lineItems`` taken out; each child with ``__parentId``), written without building the node.
    """
    legacy, created, currency = spec.legacy, spec.created, spec.currency
    oid = f'"gid://shopify/Order/{legacy}"'
    cur = _js(currency)
    customer = f'{{"id":"gid://shopify/Customer/{spec.customer}"}}' if spec.customer else "null"
    refunds = ",".join(
        f'{{"id":"gid://shopify/Refund/{legacy * 10 + i}",'
        f'"createdAt":"{iso(created + timedelta(days=3 + i))}",'
        f'"totalRefundedSet":{_bag(cents, currency)}}}'
        for i, cents in enumerate(spec.refunds))
    root = (
        f'{{"id":{oid},"legacyResourceId":"{legacy}","createdAt":"{iso(created)}",'
        f'"updatedAt":{_js(spec.updated)},"cancelledAt":'
        f'{_js(iso(created + timedelta(hours=2))) if spec.cancelled else "null"},'
        f'"test":{"true" if spec.test else "false"},"displayFinancialStatus":{_js(spec.status)},'
        f'"currencyCode":{cur},"email":{"null" if spec.email is None else _js(spec.email)},'
        f'"sourceName":{_js(spec.source)},'
        f'"discountCodes":[{",".join(_js(c) for c in spec.codes)}],'
        f'"totalPriceSet":{_bag(sum(q * p for q, p, _ in spec.lines), currency)},'
        f'"customer":{customer},'
        f'"refunds":[{refunds}]}}')
    kids = [f'{{"quantity":{q},"sku":{_js(sku)},"title":{_js(f"Product {sku}")},'
            f'"product":{{"id":"gid://shopify/Product/{_product(sku)}"}},'
            f'"originalUnitPriceSet":{_bag(p, currency)},"__parentId":{oid}}}'
            for q, p, sku in spec.lines]
    return root, kids


class Nodes(MutableMapping[str, dict[str, Any]]):
    """Legacy id -> node: nodes stored as they are, or specs built into nodes when read."""

    def __init__(self, build: Callable[[Any], dict[str, Any]] | None = None) -> None:
        self.built: dict[str, dict[str, Any]] = {}
        self.specs: dict[str, Any] = {}
        self.build = build

    def __getitem__(self, key: str) -> dict[str, Any]:
        node = self.built.get(key)
        if node is not None:
            return node
        spec = self.specs[key]
        assert self.build is not None
        return self.build(spec)

    def __setitem__(self, key: str, node: dict[str, Any]) -> None:
        self.specs.pop(key, None)
        self.built[key] = node

    def __delitem__(self, key: str) -> None:
        if key in self.built:
            del self.built[key]
        else:
            del self.specs[key]

    def __contains__(self, key: object) -> bool:
        return key in self.built or key in self.specs

    def __iter__(self) -> Iterator[str]:
        yield from self.built
        yield from self.specs

    def __len__(self) -> int:
        return len(self.built) + len(self.specs)

    def set_spec(self, key: str, spec: Any) -> None:
        """Keep a spec (built into a node when read), replacing any node of that id."""
        self.built.pop(key, None)
        self.specs[key] = spec


@dataclass
class Keyed:
    """Nodes kept sorted by (updatedAt, legacy id): the order Shopify pages with UPDATED_AT."""

    nodes: Nodes = field(default_factory=Nodes)
    _keys: list[tuple[str, int]] = field(default_factory=list)
    _dirty: bool = True
    version: int = 0  # counts changes: an export of an unchanged store is reused

    def put(self, node: dict[str, Any]) -> None:
        """Insert or replace a node."""
        self.nodes[node["legacyResourceId"]] = node
        self._dirty = True
        self.version += 1

    def put_spec(self, spec: OrderSpec) -> None:
        """Insert or replace an order by its spec."""
        self.nodes.set_spec(str(spec.legacy), spec)
        self._dirty = True
        self.version += 1

    def keys(self) -> list[tuple[str, int]]:
        """Return the sort keys of all nodes, ascending (a new list after every change)."""
        if self._dirty:
            keys = [(n["updatedAt"], int(k)) for k, n in self.nodes.built.items()]
            keys += [(s.updated, s.legacy) for s in self.nodes.specs.values()]
            keys.sort()
            self._keys = keys
            self._dirty = False
        return self._keys

    def page(self, after: tuple[str, int] | None, since: str | None,
             first: int) -> tuple[list[dict[str, Any]], bool]:
        """Return up to ``first`` nodes after the key ``after``, updated after ``since``."""
        keys = self.keys()
        start = 0
        if since is not None:
            start = bisect.bisect_right(keys, (since, 1 << 62))
        if after is not None:
            start = max(start, bisect.bisect_right(keys, after))
        chosen = keys[start:start + first]
        return [self.nodes[str(k[1])] for k in chosen], start + first < len(keys)

    def count(self) -> int:
        """Return how many nodes there are."""
        return len(self.nodes)


class BulkExport:
    """A completed bulk export: its JSONL file, written to disk when the export completes.

    The file is written line by line (a million orders' JSONL is never held in memory) and read
    back in chunks when downloaded; it is removed when the export is dropped. ``grouped``
    (``groupObjects: true``): each parent's child lines follow it. Ungrouped (the default since
    2026-01) gives no order guarantee; the fake then writes every child line before the
    parents, the worst case for a reader that expects grouping.
    """

    def __init__(self, keyed: Keyed, grouped: bool) -> None:
        started = time.perf_counter()
        self.grouped = grouped
        keys = keyed.keys()
        self.root_count = len(keys)
        self.object_count = 0
        fd, name = tempfile.mkstemp(prefix="fake-shopify-bulk-", suffix=".jsonl")
        self.path = Path(name)
        weakref.finalize(self, self.path.unlink, missing_ok=True)
        with os.fdopen(fd, "wb") as fh:
            passes = ("all",) if grouped else ("children", "roots")
            for part in passes:
                for lo in range(0, len(keys), CHUNK_ROOTS):
                    out: list[str] = []
                    for _, legacy in keys[lo:lo + CHUNK_ROOTS]:
                        root, kids = _jsonl(keyed.nodes, str(legacy))
                        if part != "children":
                            out.append(root)
                        if part != "roots":
                            out += kids
                    if out:
                        self.object_count += len(out)
                        fh.write(("\n".join(out) + "\n").encode())
        self.seconds = time.perf_counter() - started  # what Shopify's side of the export took

    def chunks(self, size: int = 1 << 20) -> Iterator[bytes]:
        """The file in chunks of ``size`` bytes."""
        with self.path.open("rb") as fh:
            while block := fh.read(size):
                yield block

    def body(self) -> bytes:
        """The whole file at once (small exports, tests)."""
        return self.path.read_bytes()


def _jsonl(nodes: Nodes, key: str) -> tuple[str, list[str]]:
    """A node's bulk export lines: its root line and its child lines (``__parentId``)."""
    spec = nodes.specs.get(key)
    if spec is not None:
        return order_jsonl(spec)
    node = dict(nodes.built[key])
    lines = node.pop("lineItems", None)
    kids = [json.dumps(dict(edge["node"], __parentId=node["id"]), separators=(",", ":"))
            for edge in (lines or {}).get("edges", [])]
    return json.dumps(node, separators=(",", ":")), kids


@dataclass
class FakeData:
    """Everything the fake shop holds; ``generate`` fills it deterministically."""

    orders: Keyed = field(default_factory=lambda: Keyed(Nodes(order_node)))
    customers: Keyed = field(default_factory=Keyed)
    discounts: dict[str, dict[str, Any]] = field(default_factory=dict)   # discount gid -> data
    codes: dict[str, str] = field(default_factory=dict)                  # code (folded) -> gid
    #: (owner gid, namespace, key) -> {"value", "type"}
    metafields: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    code_jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    bulk_ops: dict[str, dict[str, Any]] = field(default_factory=dict)
    bulk_files: dict[str, BulkExport] = field(default_factory=dict)
    #: (resource, grouped) -> (store version, export): the last export, reused while unchanged
    exports: dict[tuple[str, bool], tuple[int, BulkExport]] = field(default_factory=dict)
    webhooks: dict[str, dict[str, str]] = field(default_factory=dict)    # id -> {topic, uri}
    next_id: int = 1

    def new_id(self) -> int:
        """Return a fresh numeric id."""
        self.next_id += 1
        return self.next_id

    def add_customer(self, legacy: int, email: str | None, created: datetime,
                     first: str = "Kim", last: str = "Muster", tags: tuple[str, ...] = (),
                     subscribed: bool = False) -> dict[str, Any]:
        """Add a customer node."""
        state = "SUBSCRIBED" if subscribed else "NOT_SUBSCRIBED"
        node = {"id": f"gid://shopify/Customer/{legacy}", "legacyResourceId": str(legacy),
                "firstName": first, "lastName": last,
                "createdAt": iso(created), "updatedAt": iso(created + timedelta(hours=1)),
                "tags": list(tags),
                "defaultEmailAddress": {"emailAddress": email, "marketingState": state}
                if email else None}
        self.customers.put(node)
        return node

    def add_order(self, legacy: int, created: datetime, lines: list[tuple[int, int, str]], *,
                  customer: int | None = None, email: str | None = None,
                  status: str = "PAID", cancelled: bool = False, test: bool = False,
                  refunds: tuple[int, ...] = (), codes: tuple[str, ...] = (),
                  source: str = "web", currency: str = "EUR") -> dict[str, Any]:
        """Add an order; ``lines`` are (quantity, unit price in cents, sku)."""
        node = order_node(order_spec(legacy, created, lines, customer, email, status, cancelled,
                                     test, refunds, codes, source, currency))
        self.orders.put(node)
        return node
    def order_payload(self, legacy: str) -> dict[str, Any]:
        """The order as an ``orders/updated`` webhook carries it (REST shape, 2026-10).

        Shapes: https://shopify.dev/docs/api/webhooks/2026-10 (orders/updated): snake_case
        fields, money as decimal strings in the shop's currency, refunds with their
        transactions, the customer as an object holding its numeric id.
        """
        node = self.orders.nodes[str(legacy)]
        customer = node.get("customer")
        return {
            "id": int(node["legacyResourceId"]),
            "admin_graphql_api_id": node["id"],
            "created_at": node["createdAt"], "updated_at": node["updatedAt"],
            "cancelled_at": node["cancelledAt"], "test": node["test"],
            "financial_status": str(node["displayFinancialStatus"]).lower(),
            "currency": node["currencyCode"], "email": node["email"],
            "source_name": node["sourceName"],
            "discount_codes": [{"code": c, "amount": "0.00", "type": "fixed_amount"}
                               for c in node["discountCodes"]],
            "total_price": node["totalPriceSet"]["shopMoney"]["amount"],
            "customer": {"id": int(customer["id"].rsplit("/", 1)[1])} if customer else None,
            "refunds": [{"id": int(r["id"].rsplit("/", 1)[1]), "created_at": r["createdAt"],
                         "order_id": int(node["legacyResourceId"]),
                         "transactions": [{"kind": "refund", "status": "success",
                                           "amount": r["totalRefundedSet"]["shopMoney"]["amount"]}]}
                        for r in node["refunds"]],
            "line_items": [{"quantity": li["quantity"], "sku": li["sku"], "title": li["title"],
                            "product_id": int(li["product"]["id"].rsplit("/", 1)[1]),
                            "price": li["originalUnitPriceSet"]["shopMoney"]["amount"]}
                           for li in (e["node"] for e in node["lineItems"]["edges"])],
        }


    def generate(self, orders: int, customers: int, seed: int = 7) -> None:
        """Fill the shop with a realistic mix: guests, refunds, cancellations, tests, codes.

        Orders are kept as specs (see the module docstring); the same seed gives the same shop.
        """
        rnd = random.Random(seed)
        span = 730 * 24 * 3600
        collecting = gc.isenabled()
        gc.disable()  # millions of small tuples: no collection can free any of them
        try:
            for c in range(1, customers + 1):
                created = START + timedelta(seconds=rnd.randrange(span))
                self.add_customer(1000 + c, f"customer{c}@example.com", created,
                                  subscribed=rnd.random() < 0.4)
            skus = [f"SKU-{i}" for i in range(200)]
            choices = ("web", "web", "web", "pos", "shopify_draft_order")
            welcome = ("WELCOME10",)
            randrange, randint, random_, choice = rnd.randrange, rnd.randint, rnd.random, \
                rnd.choice
            put = self.orders.put_spec
            for o in range(1, orders + 1):
                created = START + timedelta(seconds=randrange(span))
                lines = tuple((randint(1, 3), randrange(500, 8000), skus[randrange(200)])
                              for _ in range(randint(1, 4)))
                total = sum(q * p for q, p, _ in lines)
                guest = customers == 0 or random_() < 0.1
                roll = random_()
                refunds: tuple[int, ...] = ()
                status = "PAID"
                if roll < 0.05:
                    refunds, status = (total,), "REFUNDED"
                elif roll < 0.10:
                    refunds, status = (total // 3,), "PARTIALLY_REFUNDED"
                elif roll < 0.12:
                    status = "PENDING"
                customer = None if guest else 1000 + randint(1, customers)
                email = f"guest{o}@example.com" if guest else None
                cancelled = random_() < 0.03
                test = random_() < 0.01
                codes = welcome if random_() < 0.15 else ()
                source = choice(choices)
                updated = created + timedelta(days=3 + len(refunds)) if refunds else \
                    created + timedelta(minutes=5)
                put(OrderSpec(500_000 + o, created, iso(updated), lines, customer, email,
                              status, cancelled, test, refunds, codes, source, "EUR"))
        finally:
            if collecting:
                gc.enable()
        self.next_id = 10_000_000

    def bulk_export(self, resource: str, grouped: bool = True) -> BulkExport:
        """The export of ``resource`` as it stands now.

        Its file is written now, unless the last export of the same resource and grouping saw
        the same store (nothing ``put`` since): that one is reused, so a benchmark exporting a
        million orders again does not write the same file again.
        """
        keyed = self.orders if resource == "orders" else self.customers
        version, export = self.exports.get((resource, grouped), (-1, None))
        if export is None or version != keyed.version:
            export = BulkExport(keyed, grouped)
            self.exports[(resource, grouped)] = (keyed.version, export)
        return export

    def bulk_file(self, resource: str, grouped: bool = True) -> bytes:
        """Build the whole JSONL a bulk export of ``resource`` produces (small shops, tests)."""
        return self.bulk_export(resource, grouped).body()
